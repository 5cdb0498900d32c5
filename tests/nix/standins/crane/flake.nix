# Stand-in for crane (tests/nix/check): `mkLib` and the functions of crane's
# docs/API.md that this repository's nix/ files call, with the attributes the
# API requires. Derivations are placeholders that are never built.
{
  outputs = _: {
    mkLib = pkgs: let
      drv = name:
        derivation {
          inherit name;
          inherit (pkgs) system;
          builder = "/bin/sh";
          args = ["-c" "exit 1"];
        };
      # mkCargoDerivation passes every other attribute to mkDerivation.
      cargoDerivation = suffix: args:
        assert args ? src || args ? cargoArtifacts;
          drv "${args.pname or "crate"}${suffix}-${args.version or "0.0.0"}"
          // {version = args.version or "0.0.0";};
      craneLib = {
        overrideToolchain = toolchain:
          assert builtins.isFunction toolchain || toolchain ? outPath; craneLib;
        fileset = {
          commonCargoSources = path: assert builtins.pathExists (path + "/Cargo.lock"); [path];
          cargoTomlAndLock = path: [path];
          rust = path: [path];
          toml = path: [path];
        };
        buildDepsOnly = args: assert args ? src; cargoDerivation "-deps" args;
        buildPackage = args: assert args ? src; cargoDerivation "" args;
        mkCargoDerivation = args:
          assert args ? buildPhaseCargoCommand && args ? cargoArtifacts; cargoDerivation "" args;
        cargoClippy = args: assert args ? cargoArtifacts; cargoDerivation "-clippy" args;
        cargoDoc = args: assert args ? cargoArtifacts; cargoDerivation "-doc" args;
        cargoNextest = args: assert args ? cargoArtifacts; cargoDerivation "-nextest" args;
        cargoFmt = args: assert args ? src; cargoDerivation "-fmt" args;
        cargoAudit = args: assert args ? src && args ? advisory-db; cargoDerivation "-audit" args;
        cargoDeny = args: assert args ? src; cargoDerivation "-deny" args;
      };
    in
      craneLib;
  };
}
