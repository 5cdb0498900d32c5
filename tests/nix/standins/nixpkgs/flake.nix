# Stand-in for nixpkgs, for evaluating this repository's flake offline
# (tests/nix/check). Not nixpkgs: every function our nix/ files call exists
# here with the argument names of the real one (read from nixpkgs's sources,
# docs/nix.md) and without `...` where the real one has none, so a misspelt
# or unknown argument fails evaluation here as it would there. Derivations
# are placeholders that are never built.
{
  outputs = _: {
    lib = import ./lib.nix;
  };
}
