# The static (musl) binaries: one dependency build (`buildDepsOnly`) that every
# package and check reuses, then one package per binary.
{rust}: let
  inherit (rust) craneLib commonArgs;

  # Dependencies for the release binaries (default features) and for the
  # checks (all targets, all features), compiled once.
  cargoArtifacts = craneLib.buildDepsOnly (commonArgs
    // {
      buildPhaseCargoCommand = ''
        cargoWithProfile build --locked -p xks-proxy -p share-service -p xksctl --bins
        cargoWithProfile check --locked --workspace --exclude nix-fmt --all-targets --all-features
      '';
      doCheck = false;
    });

  binary = name:
    craneLib.buildPackage (commonArgs
      // {
        inherit cargoArtifacts;
        pname = name;
        cargoExtraArgs = "--locked -p ${name} --bin ${name}";
        # The tests run in the checks (nix/checks.nix), not once per binary.
        doCheck = false;
        meta = {
          mainProgram = name;
          description = "split-key XKS: ${name} (static, musl)";
          license = rust.lib.licenses.asl20;
        };
      });
in {
  inherit cargoArtifacts;
  binaries = {
    xks-proxy = binary "xks-proxy";
    share-service = binary "share-service";
    xksctl = binary "xksctl";
  };
}
