# The Rust side of the build: nixpkgs with rust-overlay, the toolchain pinned
# to the Rust our CI uses (with both musl targets), crane bound to nixpkgs'
# static (musl) package set, the filtered source and the arguments every
# cargo derivation shares.
{
  inputs,
  system,
}: let
  pkgs = import inputs.nixpkgs {
    inherit system;
    overlays = [inputs.rust-overlay.overlays.default];
  };
  inherit (pkgs) lib;

  # The same Rust as CI (docs/nix.md); clippy and rustfmt come with the default profile.
  toolchain = pkgs.rust-bin.stable."1.95.0".default.override {
    targets = ["x86_64-unknown-linux-musl" "aarch64-unknown-linux-musl"];
  };

  # pkgsStatic: the host's architecture with musl, statically linked. crane
  # sets cargo's target, linker and the C compiler of the `cc` crate (AWS-LC)
  # for it.
  craneLib = (inputs.crane.mkLib pkgs.pkgsStatic).overrideToolchain (_: toolchain);

  root = ../.;
  # Cargo sources plus what `include_str!`, the tests and the docs read: the
  # vectors (JSON and AWS's SigV4 suite), proptest regressions, nextest's
  # configuration, the alerting rules and dashboard (the proxy's and xksctl's
  # tests check the metric names they use), and the sealed environments with
  # the example's test-only identities (crates/xksctl/tests/suite/env.rs opens
  # every file of secrets/example).
  # Nothing else of the tree reaches a build.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      ../tests/vectors
      (lib.fileset.fileFilter (file: file.hasExt "proptest-regressions") root)
      ../.config/nextest.toml
      ../monitoring
      ../secrets
      ../tests/deploy/example-identities
    ];
  };

  inherit ((lib.importTOML ../Cargo.toml).workspace.package) version;

  # Shared by the dependency build, the packages and the checks, so that they
  # reuse one set of compiled dependencies. Build paths are remapped out of
  # everything compiled (the sandbox's directory to /build, like
  # images/static-binaries does).
  commonArgs = {
    inherit src version;
    pname = "split-key-xks";
    strictDeps = true;
    # No debug line tables (as images/static-binaries): one proc macro in the
    # tree orders them differently from build to build (docs/containers.md).
    CARGO_PROFILE_RELEASE_DEBUG = "false";
    preConfigure = ''
      export RUSTFLAGS="--remap-path-prefix=$NIX_BUILD_TOP=/build"
      export CFLAGS="-ffile-prefix-map=$NIX_BUILD_TOP=/build"
    '';
  };
in {
  inherit pkgs lib toolchain craneLib src version commonArgs;
}
