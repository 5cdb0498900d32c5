{
  # Reproducible builds of the split-key XKS proxy. The package and image
  # definitions live in ./nix and arrive with the Nix issue; this flake already
  # gives operators a dev shell with the toolchain the repository uses.
  description = "Split-key external key store (XKS) for AWS KMS: 2-of-3 threshold key derivation on P-256";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
  };

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ cargo rustc clippy rustfmt cargo-nextest age sops ];
        };
      });
    };
}
