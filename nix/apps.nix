# `nix run .#verify-images -- …` and `nix run .#up -- …`.
{
  pkgs,
  packages,
  images,
}: let
  # Rebuilds (evaluates) both images and compares each image's digest (the
  # SHA-256 of its configuration, which names every layer by digest: what
  # `docker image inspect` calls the ID and a registry manifest's
  # config.digest) with the digest the auditor gives. docs/auditing.md.
  verify-images = pkgs.writeShellApplication {
    name = "verify-images";
    runtimeInputs = [pkgs.coreutils pkgs.gnutar pkgs.gzip pkgs.jq];
    text = ''
      usage() {
        cat >&2 <<'EOF'
      usage: verify-images xks-proxy=sha256:<hex> share-service=sha256:<hex>
             verify-images --json <file>   # {"xks-proxy": "sha256:…", "share-service": "sha256:…"},
                                           # or a Terraform output with them under .value
      Exit 0 only when every image's digest matches.
      EOF
        exit 2
      }
      declare -A expected=()
      if [ "''${1:-}" = --json ]; then
        [ $# -eq 2 ] || usage
        while IFS='=' read -r service digest; do
          expected[$service]=$digest
        done < <(jq -r '(.value // .) | to_entries[] | "\(.key)=\(.value)"' "$2")
      else
        [ $# -ge 1 ] || usage
        for arg in "$@"; do
          case "$arg" in
            *=sha256:*) expected[''${arg%%=*}]=''${arg#*=} ;;
            *) usage ;;
          esac
        done
      fi
      digest() {
        local config
        config=$(tar -xzOf "$1" manifest.json | jq -r '.[0].Config')
        printf 'sha256:%s' "$(tar -xzOf "$1" "$config" | sha256sum | cut -d' ' -f1)"
      }
      declare -A built=(
        [xks-proxy]=${images.xks-proxy-image}
        [share-service]=${images.share-service-image}
      )
      status=0
      for service in xks-proxy share-service; do
        want=''${expected[$service]:-}
        have=$(digest "''${built[$service]}")
        if [ -z "$want" ]; then
          printf '%-14s built %s  (no digest given)\n' "$service" "$have"
          status=1
        elif [ "$want" = "$have" ]; then
          printf '%-14s built %s  given %s  MATCH\n' "$service" "$have" "$want"
        else
          printf '%-14s built %s  given %s  MISMATCH\n' "$service" "$have" "$want"
          status=1
        fi
      done
      exit "$status"
    '';
  };

  # `xksctl up`: a whole local deployment (docs/xksctl.md); arguments pass
  # through. xksctl runs the service binaries it finds on PATH.
  up = pkgs.writeShellApplication {
    name = "xksctl-up";
    runtimeInputs = [packages.binaries.share-service packages.binaries.xks-proxy];
    text = ''
      exec ${packages.binaries.xksctl}/bin/xksctl up "$@"
    '';
  };
in {
  verify-images = {
    type = "app";
    program = "${verify-images}/bin/verify-images";
  };
  up = {
    type = "app";
    program = "${up}/bin/xksctl-up";
  };
}
