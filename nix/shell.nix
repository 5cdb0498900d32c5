# `nix develop`: every tool an operator of this product needs. Terraform
# itself is unfree in nixpkgs, so the shell carries OpenTofu (docs/nix.md).
{rust}: let
  inherit (rust) pkgs;
in
  pkgs.mkShell {
    packages = [
      rust.toolchain
      pkgs.cargo-nextest
      pkgs.sops
      pkgs.age
      pkgs.opentofu
      pkgs.awscli2
      pkgs.scaleway-cli
      pkgs.exoscale-cli
      pkgs.hcloud
      pkgs.jq
      pkgs.curl
      pkgs.alejandra
    ];
  }
