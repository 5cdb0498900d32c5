# The checks of `nix flake check` that run in the build sandbox: clippy, fmt,
# docs, the tests nextest's `hermetic` profile selects, cargo-audit and
# cargo-deny; plus the packages themselves (they must build). The container
# suite's VM test is added in nix/default.nix.
{
  rust,
  packages,
  advisory-db,
}: let
  inherit (rust) pkgs craneLib commonArgs src;
  inherit (commonArgs) pname version;
  inherit (packages) cargoArtifacts;
  withArtifacts = args: commonArgs // {inherit cargoArtifacts;} // args;
in
  packages.binaries
  // {
    clippy = craneLib.cargoClippy (withArtifacts {
      cargoExtraArgs = "--locked --workspace --exclude nix-fmt --all-features";
      cargoClippyExtraArgs = "--all-targets -- -D warnings";
    });

    fmt = craneLib.cargoFmt {inherit src pname version;};

    doc = craneLib.cargoDoc (withArtifacts {
      cargoExtraArgs = "--locked --workspace --exclude nix-fmt --all-features";
      cargoDocExtraArgs = "--no-deps";
      RUSTDOCFLAGS = "-D warnings";
    });

    # Interop peers the tests call: curl (--aws-sigv4), Debian's age CLI's
    # counterpart, and Python with botocore and cryptography.
    nextest = craneLib.cargoNextest (withArtifacts {
      cargoExtraArgs = "--locked --workspace --exclude nix-fmt --all-features";
      cargoNextestExtraArgs = "--profile hermetic --no-tests=fail";
      nativeBuildInputs = [
        pkgs.curl
        pkgs.age
        (pkgs.python3.withPackages (ps: [ps.botocore ps.cryptography]))
      ];
    });

    audit = craneLib.cargoAudit {inherit src advisory-db pname version;};

    deny = craneLib.cargoDeny {inherit src pname version;};
  }
