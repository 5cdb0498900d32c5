# Stand-in for rust-overlay (tests/nix/check): `overlays.default` adds
# `rust-bin` with the toolchain this repository pins; `override` takes the
# arguments of rust-overlay's toolchain override (docs/reference.md there).
{
  # As the real flake: its nixpkgs follows ours (flake.nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  outputs = _: {
    overlays.default = final: _prev: let
      toolchain =
        derivation {
          name = "rust-default-1.95.0";
          inherit (final) system;
          builder = "/bin/sh";
          args = ["-c" "exit 1"];
        }
        // {
          override = {
            extensions ? [],
            targets ? [],
            targetExtensions ? [],
          }:
            assert builtins.isList extensions && builtins.isList targets && builtins.isList targetExtensions; toolchain;
        };
    in {
      rust-bin.stable."1.95.0".default = toolchain;
    };
  };
}
