# The package set: the functions and packages this repository's nix/ files
# use, with the overlays applied as nixpkgs applies them (a fixpoint).
{
  system,
  overlays,
}: let
  lib = import ./lib.nix;

  # A placeholder derivation (evaluates, is never built).
  drv = name:
    derivation {
      inherit name system;
      builder = "/bin/sh";
      args = ["-c" "echo stand-in derivations are never built >&2; exit 1"];
    };

  # The NixOS options the VM test may set, read from nixpkgs's
  # nixos/modules/virtualisation/{docker,qemu-vm}.nix and
  # nixos/modules/config/system-path.nix.
  knownOptions = [
    "virtualisation.docker.enable"
    "virtualisation.cores"
    "virtualisation.memorySize"
    "virtualisation.diskSize"
    "environment.systemPackages"
  ];
  optionPaths = prefix: value:
    if builtins.isAttrs value && !(value ? outPath)
    then builtins.concatLists (map (n: optionPaths "${prefix}${n}." value.${n}) (builtins.attrNames value))
    else [(builtins.substring 0 (builtins.stringLength prefix - 1) prefix)];
  checkNode = node: let
    unknown = builtins.filter (p: !(builtins.elem p knownOptions)) (optionPaths "" node);
  in
    if unknown == []
    then true
    else throw "NixOS options not known to the stand-in: ${toString unknown}";

  # Packages used only as inputs (each name exists in nixpkgs, docs/nix.md).
  packages =
    lib.genAttrs [
      "cacert"
      "cargo-nextest"
      "curl"
      "age"
      "sops"
      "opentofu"
      "awscli2"
      "scaleway-cli"
      "exoscale-cli"
      "hcloud"
      "jq"
      "alejandra"
      "coreutils"
      "gnutar"
      "gzip"
    ]
    drv;

  base = final:
    packages
    // {
      inherit lib system;
      pkgsStatic = final // {isStatic = true;};

      runCommand = name: env: buildCommand:
        assert builtins.isAttrs env;
        assert builtins.isString buildCommand; drv name;

      # pkgs/build-support/trivial-builders/default.nix
      writeShellApplication = {
        name,
        text,
        runtimeInputs ? [],
        runtimeEnv ? null,
        meta ? {},
        passthru ? {},
        checkPhase ? null,
        excludeShellChecks ? [],
        extraShellCheckFlags ? [],
        bashOptions ? ["errexit" "nounset" "pipefail"],
        derivationArgs ? {},
        inheritPath ? true,
      }:
        assert builtins.isString text; drv name;

      # pkgs/build-support/mkshell/default.nix
      mkShell = {
        name ? "nix-shell",
        packages ? [],
        inputsFrom ? [],
        buildInputs ? [],
        nativeBuildInputs ? [],
        propagatedBuildInputs ? [],
        propagatedNativeBuildInputs ? [],
        shellHook ? "",
        ...
      }:
        assert builtins.all (p: p ? outPath) packages; drv name;

      # pkgs/build-support/docker/default.nix (streamLayeredImage's arguments)
      dockerTools.buildLayeredImage = {
        name,
        tag ? null,
        fromImage ? null,
        contents ? [],
        config ? {},
        architecture ? "amd64",
        streamScript ? null,
        created ? "1970-01-01T00:00:01Z",
        mtime ? "1970-01-01T00:00:01Z",
        uid ? 0,
        gid ? 0,
        uname ? "root",
        gname ? "root",
        maxLayers ? 100,
        extraCommands ? "",
        fakeRootCommands ? "",
        enableFakechroot ? false,
        includeStorePaths ? true,
        includeNixDB ? false,
        passthru ? {},
        meta ? {},
        layeringPipeline ? null,
        debug ? false,
        compressor ? "gz",
      }:
        assert builtins.all (c: c ? outPath) contents;
          drv "${baseNameOf name}.tar.gz" // {imageName = name;};

      # nixos/lib/testing (runNixOSTest takes a test module)
      testers.runNixOSTest = {
        name,
        nodes,
        testScript,
        ...
      }:
        assert builtins.all checkNode (builtins.attrValues nodes); drv "vm-test-run-${name}";

      python3.withPackages = f: let
        used = f {
          botocore = drv "python3-botocore";
          cryptography = drv "python3-cryptography";
        };
      in
        assert builtins.isList used; drv "python3-env";
    };

  fix = f: let x = f x; in x;
  withOverlays = builtins.foldl' (acc: overlay: final: let prev = acc final; in prev // overlay final prev) base overlays;
in
  fix withOverlays
