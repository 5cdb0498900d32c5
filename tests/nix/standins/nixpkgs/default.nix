# `import nixpkgs { ... }`: the argument names of nixpkgs's pkgs/top-level/impure.nix.
{
  system ? builtins.currentSystem,
  localSystem ? {inherit system;},
  crossSystem ? localSystem,
  config ? {},
  overlays ? [],
  crossOverlays ? [],
}:
import ./pkgs.nix {inherit system overlays;}
