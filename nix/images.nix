# Distroless images of both services, layered: the static binary, a CA bundle
# and passwd/group naming the non-root user, nothing else (no shell, no
# package manager). Same binary path, entrypoint, arguments, user and CA
# bundle location as images/<service>.Dockerfile, so the container tests and
# the deployment run either.
{
  pkgs,
  packages,
  self,
}: let
  inherit (packages.binaries.xks-proxy) version;

  # Debian's path for the bundle, which the services and images/build use.
  caBundle = pkgs.runCommand "ca-certificates" {} ''
    install -D -m 0444 ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
  '';
  users = pkgs.runCommand "nonroot-user" {} ''
    mkdir -p $out/etc
    printf 'root:x:0:0:root:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >$out/etc/passwd
    printf 'root:x:0:\nnonroot:x:65532:\n' >$out/etc/group
  '';

  image = service:
    pkgs.dockerTools.buildLayeredImage {
      name = "split-key-xks/${service}";
      tag = version;
      contents = [packages.binaries.${service} caBundle users];
      # A fixed date: the same inputs give the same image digest.
      created = "1970-01-01T00:00:01Z";
      extraCommands = ''
        mkdir -p var/lib/${service}
      '';
      config = {
        Entrypoint = ["/bin/${service}"];
        Cmd = ["--config" "/etc/${service}/${service}.toml" "--log-format" "json"];
        User = "65532:65532";
        WorkingDir = "/var/lib/${service}";
        Env = ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"];
        Labels = {
          "org.opencontainers.image.version" = version;
          "org.opencontainers.image.revision" = self.rev or "dirty";
          "org.opencontainers.image.licenses" = "Apache-2.0";
          "org.opencontainers.image.title" = service;
        };
      };
    };
in {
  xks-proxy-image = image "xks-proxy";
  share-service-image = image "share-service";
}
