//! `xksctl up`: the whole system on this machine, on an embedded default.
//!
//! A state directory with a 2-of-3 ceremony, the PKI and a key store
//! ([`crate::deploy`]), made on the first run and reused afterwards; then share
//! services 2 and 3 (mutual TLS) and the XKS proxy (TLS) on loopback, each the
//! real service with its own configuration file; a checked Encrypt/Decrypt
//! round trip; the KMS configuration and a `curl --aws-sigv4` example; serving
//! until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use xks_proxy::BuildInfo;

use xks_config::key_stores::KeyStatus;

use crate::deploy::{self, KmsConfig, Network, State};

/// Options of `xksctl up`.
#[derive(clap::Args)]
pub struct Args {
    /// State directory: made on the first run, reused afterwards (earlier ciphertext keeps decrypting).
    #[arg(long, env = "XKSCTL_STATE_DIR", default_value = "xks-local")]
    state_dir: PathBuf,
    /// Port of the proxy's HTTPS listener (0: any free port).
    #[arg(long, default_value_t = 8443)]
    proxy_port: u16,
    /// Ports of share services 2 and 3 (0: any free port).
    #[arg(long, value_delimiter = ',', default_values_t = [9442, 9443])]
    share_ports: Vec<u16>,
    /// Make (or check) the state and write the service configurations, then exit without serving.
    #[arg(long)]
    init_only: bool,
    /// Where the services will run: here on loopback, or in containers on a
    /// Docker network (with --init-only; hosts xks-proxy, share-2, share-3).
    #[arg(long, value_enum, default_value = "loopback")]
    network: Network,
    /// With --network containers: the containers are named <PREFIX>xks-proxy,
    /// <PREFIX>share-2, <PREFIX>share-3 (the certificates keep the plain names).
    #[arg(long, default_value = "")]
    name_prefix: String,
    /// Require mutual TLS on the proxy's front, as KMS can be configured to:
    /// only a client certificate with the subject KMS presents
    /// (cks.kms.us-east-1.amazonaws.com), issued by the state's CA, is served.
    /// The stand-in certificate and key are written to <state>/kms-client/.
    #[arg(long)]
    kms_mtls: bool,
}

/// Runs `xksctl up`.
///
/// # Errors
/// A message for the operator: the state is unusable, a port is taken, a
/// service failed to start, or the round trip failed.
pub fn run(args: &Args) -> Result<(), String> {
    let [p2, p3] = <[u16; 2]>::try_from(args.share_ports.as_slice()).map_err(|_| "--share-ports takes two ports")?;
    if args.network == Network::Containers && !args.init_only {
        return Err("--network containers prepares a state for the service images; add --init-only".into());
    }
    let (state, created) = State::open_or_create(&args.state_dir)?;
    let state_dir = state.dir().display().to_string();
    crate::say(&if created {
        format!("state {state_dir}: new 2-of-3 key set, CA and certificates, SigV4 credential (every secret sealed to its holder)")
    } else {
        format!("state {state_dir}: reused (same keys: earlier ciphertext decrypts)")
    });
    if args.init_only {
        if args.kms_mtls {
            state.ensure_kms_client()?;
        }
        state.write_configs(args.network, &args.name_prefix, args.proxy_port, [p2, p3], args.kms_mtls)?;
        crate::say(&format!(
            "configurations written: {}, {}, {}",
            state.proxy_config().display(),
            state.share_config(2).display(),
            state.share_config(3).display()
        ));
        return Ok(());
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("async runtime: {e}"))?;
    if args.kms_mtls {
        state.ensure_kms_client()?;
    }
    runtime.block_on(serve(&state, args.proxy_port, [p2, p3], args.kms_mtls))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,xks_proxy=info,share_service=info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

async fn serve(state: &State, proxy_port: u16, share_ports: [u16; 2], kms_mtls: bool) -> Result<(), String> {
    let build = BuildInfo::current("xks-proxy");
    let mut shares = Vec::new();
    for (holder, port) in deploy::PARTNERS.iter().zip(share_ports) {
        let path = state.write_share_config(*holder, &format!("127.0.0.1:{port}"))?;
        let cfg = share_service::Config::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let share_build = share_service::BuildInfo::current("share-service");
        let running =
            share_service::start(cfg, &share_build).await.map_err(|e| format!("share service {holder}: {e}{}", port_hint(port)))?;
        shares.push((*holder, running));
    }
    let partners: Vec<(u32, String, String)> =
        shares.iter().map(|(h, r)| (*h, format!("127.0.0.1:{}", r.addr.port()), "localhost".to_owned())).collect();
    let path = state.write_proxy_config(&format!("127.0.0.1:{proxy_port}"), &partners, kms_mtls)?;
    let cfg = xks_proxy::Config::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let proxy = match xks_proxy::start(cfg, &build).await {
        Ok(p) => p,
        Err(e) => {
            stop(None, shares).await;
            return Err(format!("xks-proxy: {e}{}", port_hint(proxy_port)));
        }
    };
    let endpoint = format!("https://localhost:{}", proxy.addr.port());
    let addresses: Vec<(u32, String)> = partners.iter().map(|(h, a, _)| (*h, a.clone())).collect();
    let ready = async {
        let kms = state.write_kms_config(&endpoint, &addresses, kms_mtls)?;
        // Connections and first proofs warm up; a busy machine may need a few tries.
        let target = std::sync::Arc::new(crate::bench::Target::from_config(&state.kms_config())?);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match crate::bench::round_trip(target.clone()).await {
                Ok(()) => break,
                Err(e) if std::time::Instant::now() >= deadline => return Err(format!("readiness round trip failed: {e}")),
                Err(e) => {
                    eprintln!("readiness round trip failed ({e}); retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
        Ok::<_, String>(kms)
    }
    .await;
    let kms = match ready {
        Ok(k) => k,
        Err(e) => {
            stop(Some(proxy), shares).await;
            return Err(e);
        }
    };
    print_ready(state, &kms);
    // SIGHUP re-reads the proxy's key-store file, as the proxy binary does.
    proxy
        .serve_signals(|r| match r {
            Ok(()) => crate::say("SIGHUP: key stores reloaded"),
            Err(e) => crate::say(&format!("SIGHUP: key-store file refused, the previous one stays in force: {e}")),
        })
        .await;
    crate::say("stopping: proxy, then share services");
    stop(Some(proxy), shares).await;
    Ok(())
}

fn port_hint(port: u16) -> String {
    if port == 0 { String::new() } else { format!(" (is port {port} taken? choose others with --proxy-port / --share-ports)") }
}

async fn stop(proxy: Option<xks_proxy::Running>, shares: Vec<(u32, share_service::Running)>) {
    if let Some(p) = proxy {
        p.shutdown().await;
    }
    for (_, s) in shares {
        s.shutdown().await;
    }
}

/// Quotes a string for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The ready message: KMS settings, the files, a curl example.
fn print_ready(state: &State, kms: &KmsConfig) {
    let key = kms.key_ids.first().map_or("demo-key-1", String::as_str);
    let body = format!(
        r#"{{"requestMetadata":{{"awsPrincipalArn":"arn:aws:iam::111122223333:user/alice","kmsOperation":"Encrypt","kmsRequestId":"curl-1","kmsKeyArn":"arn:aws:kms:us-east-1:111122223333:key/{key}"}},"plaintext":"SGVsbG8gV29ybGQh","encryptionAlgorithm":"AES_GCM","additionalAuthenticatedData":"cHJvamVjdD1uaWxl"}}"#
    );
    let lines = [
        "".to_owned(),
        "== split-key XKS is up: proxy (holder 1) + share services 2 and 3, 2-of-3 on P-256 ==".to_owned(),
        format!("endpoint             {}", kms.endpoint),
        format!("XksProxyUriPath      {}", kms.uri_path),
        format!("access key id        {}", kms.access_key_id),
        format!("secret access key    {}", kms.secret.expose()),
        format!("external key ids     {} (Encrypt and Decrypt)", kms.key_ids.join(", ")),
        format!(
            "                     {} (the spec's error paths)",
            kms.other_keys
                .iter()
                .map(|k| match (k.status, k.usage) {
                    (KeyStatus::Enabled, []) => format!("{} (no usage)", k.id),
                    (KeyStatus::Enabled, usage) => {
                        format!("{} ({} only)", k.id, usage.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", "))
                    }
                    (status, _) => format!("{} ({})", k.id, status.as_str()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("TLS CA certificate   {}", kms.ca_certificate.display()),
        match &kms.client {
            Some((cert, key)) => format!("mutual TLS           required: client certificate {} (key {})", cert.display(), key.display()),
            None => "mutual TLS           off (--kms-mtls to require KMS's client certificate)".to_owned(),
        },
        format!(
            "partners             {}",
            kms.partners.iter().map(|(h, a)| format!("share-{h} at {a} (mTLS)")).collect::<Vec<_>>().join(", ")
        ),
        format!("all of the above     {} (read by `xksctl bench --config`)", state.kms_config().display()),
        format!("audit logs           {}/share-{{2,3}}/audit (verify: xksctl audit verify <dir>)", state.dir().display()),
        "checked              Encrypt + Decrypt round trip through the proxy and share service 2".to_owned(),
        "".to_owned(),
        "Encrypt with curl (a real SigV4 client):".to_owned(),
        format!(
            "curl --cacert {}{} --aws-sigv4 'aws:amz:us-east-1:kms-xks-proxy' --user {} \\\n  -H 'Content-Type: application/json' --data {} \\\n  {}{}/keys/{key}/encrypt",
            sh(&kms.ca_certificate.display().to_string()),
            kms.client.as_ref().map_or_else(String::new, |(c, k)| format!(
                " --cert {} --key {}",
                sh(&c.display().to_string()),
                sh(&k.display().to_string())
            )),
            sh(&format!("{}:{}", kms.access_key_id, kms.secret.expose())),
            sh(&body),
            kms.endpoint,
            kms.uri_path,
        ),
        "".to_owned(),
        format!("Load test: xksctl bench --config {} --operation encrypt -c 16 -d 10", state.kms_config().display()),
        "Real KMS needs a public HTTPS endpoint: see docs/xksctl.md. Serving until Ctrl-C.".to_owned(),
    ];
    for l in lines {
        crate::say(&l);
    }
}
