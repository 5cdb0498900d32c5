# Every output of the flake for one system, wired from the files of ./nix.
{
  inputs,
  system,
}: let
  rust = import ./rust.nix {inherit inputs system;};
  inherit (rust) pkgs;
  packages = import ./packages.nix {inherit rust;};
  images = import ./images.nix {
    inherit pkgs packages;
    inherit (inputs) self;
  };
  apps = import ./apps.nix {inherit pkgs packages images;};
in {
  packages =
    packages.binaries
    // images
    // {default = packages.binaries.xksctl;};
  checks =
    import ./checks.nix {
      inherit rust packages;
      inherit (inputs) advisory-db;
    }
    // {
      container-suite = import ./vm-test.nix {inherit pkgs rust packages images;};
    };
  devShells.default = import ./shell.nix {inherit rust;};
  inherit apps;
  formatter = pkgs.alejandra;
}
