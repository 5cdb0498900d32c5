# share-service, FROM scratch: the static (musl) binary, the CA bundle, passwd/group
# naming the non-root user, nothing else (no shell, no package manager).
# Built by images/build from the binary it builds first; nothing is pulled.
# The Nix image (nix/) carries the same binary at the same path with the same
# entrypoint, user and CA bundle.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY share-service /bin/share-service
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/share-service
ENTRYPOINT ["/bin/share-service"]
CMD ["--config", "/etc/share-service/share-service.toml", "--log-format", "json"]
