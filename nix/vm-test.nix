# `nix flake check`'s container suite: the scenarios of tests/containers, run
# by nextest inside a NixOS VM with Docker against the Nix-built images,
# loaded with `docker load` (no registry). The suite's test binary is built by
# crane into a nextest archive, so the VM runs exactly the compiled tests.
{
  pkgs,
  rust,
  packages,
  images,
}: let
  inherit (rust) craneLib commonArgs;

  suite = craneLib.mkCargoDerivation (commonArgs
    // {
      inherit (packages) cargoArtifacts;
      pname = "xks-container-tests";
      nativeBuildInputs = [pkgs.cargo-nextest];
      buildPhaseCargoCommand = ''
        cargo nextest archive --locked --all-features -p xks-container-tests \
          --archive-file container-tests.tar.zst
      '';
      installPhaseCommand = ''
        install -D -m 0444 container-tests.tar.zst $out/container-tests.tar.zst
      '';
      doInstallCargoArtifacts = false;
    });

  tag = packages.binaries.xks-proxy.version;
in
  pkgs.testers.runNixOSTest {
    name = "xks-container-suite";
    nodes.machine = {
      virtualisation = {
        docker.enable = true;
        cores = 2;
        memorySize = 4096;
        diskSize = 8192;
      };
      environment.systemPackages = [pkgs.cargo-nextest];
    };
    testScript = ''
      machine.wait_for_unit("docker.service")
      machine.succeed("docker load -i ${images.xks-proxy-image}")
      machine.succeed("docker load -i ${images.share-service-image}")
      machine.succeed(
        "cd /tmp && "
        + "XKS_PROXY_IMAGE=split-key-xks/xks-proxy:${tag} "
        + "XKS_SHARE_SERVICE_IMAGE=split-key-xks/share-service:${tag} "
        + "XKS_BIN_DIR=${packages.binaries.xksctl}/bin "
        + "cargo-nextest nextest run --archive-file ${suite}/container-tests.tar.zst "
        + "--workspace-remap ${rust.src} --no-fail-fast"
      )
    '';
  }
