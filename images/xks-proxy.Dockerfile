# xks-proxy, FROM scratch: the static (musl) binary, the CA bundle, passwd/group
# naming the non-root user, nothing else (no shell, no package manager).
# Built by images/build from the binary it builds first; nothing is pulled.
# The Nix image (nix/) carries the same binary at the same path with the same
# entrypoint, user and CA bundle.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY xks-proxy /bin/xks-proxy
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/xks-proxy
ENTRYPOINT ["/bin/xks-proxy"]
CMD ["--config", "/etc/xks-proxy/xks-proxy.toml", "--log-format", "json"]
