{
  # Split-key external key store for AWS KMS: reproducible static binaries,
  # distroless images, checks (including the container suite in a NixOS VM),
  # an operator dev shell and image verification for auditors. The logic is in
  # ./nix, one file per job; docs/nix.md says what each output is.
  description = "Split-key external key store (XKS) for AWS KMS: 2-of-3 threshold key derivation on P-256";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    advisory-db = {
      url = "github:rustsec/advisory-db";
      flake = false;
    };
  };

  outputs = inputs: let
    systems = ["x86_64-linux" "aarch64-linux"];
    perSystem = inputs.nixpkgs.lib.genAttrs systems (system: import ./nix {inherit inputs system;});
    output = name: builtins.mapAttrs (_: outputs: outputs.${name}) perSystem;
  in {
    packages = output "packages";
    checks = output "checks";
    devShells = output "devShells";
    apps = output "apps";
    formatter = output "formatter";
  };
}
