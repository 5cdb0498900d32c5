//! `xksctl up`: the whole system on this machine, on an embedded default.
//!
//! A state directory with a 2-of-3 ceremony, the PKI and a key store
//! ([`crate::deploy`]), made on the first run and reused afterwards; then share
//! services 2 and 3 (mutual TLS) and the XKS proxy (TLS) on loopback, each the
//! real service binary in its own process with its own configuration file
//! (xksctl links no server: it finds `share-service` and `xks-proxy` next to
//! itself, in `--bin-dir`, or on PATH); a checked Encrypt/Decrypt round trip;
//! the KMS configuration and a `curl --aws-sigv4` example; serving until
//! Ctrl-C or SIGTERM, passing SIGHUP on to the proxy.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
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
    /// Where the `share-service` and `xks-proxy` binaries are (default: next
    /// to xksctl, else on PATH).
    #[arg(long, env = "XKSCTL_BIN_DIR")]
    bin_dir: Option<PathBuf>,
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
    let binaries = Binaries::find(args.bin_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("async runtime: {e}"))?;
    if args.kms_mtls {
        state.ensure_kms_client()?;
    }
    runtime.block_on(serve(&state, &binaries, args.proxy_port, [p2, p3], args.kms_mtls))
}

/// The service binaries `xksctl up` runs.
struct Binaries {
    share_service: PathBuf,
    xks_proxy: PathBuf,
}

impl Binaries {
    /// In `dir`, else next to this executable, else on PATH.
    fn find(dir: Option<&Path>) -> Result<Self, String> {
        Ok(Self { share_service: find_binary("share-service", dir)?, xks_proxy: find_binary("xks-proxy", dir)? })
    }
}

fn find_binary(name: &str, dir: Option<&Path>) -> Result<PathBuf, String> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates: Vec<PathBuf> = match dir {
        Some(d) => vec![d.join(name)],
        None => beside.into_iter().chain(std::env::split_paths(&path)).map(|d| d.join(name)).collect(),
    };
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "cannot find the {name} binary {}; build it (cargo build -p {name}) or name its directory with --bin-dir",
            dir.map_or_else(|| "next to xksctl or on PATH".to_owned(), |d| format!("in {}", d.display()))
        )
    })
}

/// A free port on loopback for `port` 0 (else `port`). The port is free when
/// chosen; another process could take it before the service binds it, and
/// the service then fails to start with a clear message.
fn choose_port(port: u16) -> Result<u16, String> {
    if port != 0 {
        return Ok(port);
    }
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port on loopback: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Starts a service binary with its configuration file; its log goes to our
/// standard error. The process is killed if `xksctl up` returns without
/// stopping it.
fn spawn(binary: &Path, config: &Path) -> Result<Child, String> {
    Command::new(binary)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

/// Waits until `port` on loopback accepts connections (the service listens).
async fn listening(name: &str, child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited at start-up ({status}); its log is above{}", port_hint(port)));
        }
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{name} did not listen on port {port} within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` to a child process.
fn send(child: &Child, signal: rustix::process::Signal) {
    if let Some(pid) = child.id().and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).unwrap_or(0))) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Stops a child gracefully (SIGTERM), then forcibly after 10 s.
async fn stop(mut child: Child) {
    send(&child, rustix::process::Signal::TERM);
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// The processes `xksctl up` started. [`serve`] stops them however the run
/// ends; a panic drops them, and `kill_on_drop` kills them.
#[derive(Default)]
struct Services {
    proxy: Option<Child>,
    /// Share services 2 and 3, in the order of [`deploy::PARTNERS`].
    shares: Vec<Child>,
}

impl Services {
    /// The proxy first (no new partials are asked for), then the share services.
    async fn stop(self) {
        if let Some(p) = self.proxy {
            stop(p).await;
        }
        for s in self.shares {
            stop(s).await;
        }
    }
}

async fn serve(state: &State, binaries: &Binaries, proxy_port: u16, share_ports: [u16; 2], kms_mtls: bool) -> Result<(), String> {
    let mut services = Services::default();
    let outcome = start_and_watch(&mut services, state, binaries, proxy_port, share_ports, kms_mtls).await;
    services.stop().await;
    outcome
}

/// Starts the share services and the proxy, checks a round trip, then serves
/// until a signal or a service's exit.
async fn start_and_watch(
    services: &mut Services,
    state: &State,
    binaries: &Binaries,
    proxy_port: u16,
    share_ports: [u16; 2],
    kms_mtls: bool,
) -> Result<(), String> {
    let partners = start_shares(services, state, binaries, share_ports).await?;
    let proxy_port = choose_port(proxy_port)?;
    let path = state.write_proxy_config(&format!("127.0.0.1:{proxy_port}"), &partners, kms_mtls)?;
    let proxy = services.proxy.insert(spawn(&binaries.xks_proxy, &path)?);
    listening("xks-proxy", proxy, proxy_port).await?;
    let endpoint = format!("https://localhost:{proxy_port}");
    let addresses: Vec<(u32, String)> = partners.iter().map(|(h, a, _)| (*h, a.clone())).collect();
    let kms = state.write_kms_config(&endpoint, &addresses, kms_mtls)?;
    round_trip_until_ready(state).await?;
    print_ready(state, &kms);
    let outcome = watch(services).await;
    crate::say("stopping: proxy, then share services");
    outcome
}

/// Starts share services 2 and 3 and waits until each listens; returns the
/// proxy's view of them: (holder, address, TLS server name).
async fn start_shares(
    services: &mut Services,
    state: &State,
    binaries: &Binaries,
    share_ports: [u16; 2],
) -> Result<Vec<(u32, String, String)>, String> {
    let mut partners = Vec::new();
    for (holder, port) in deploy::PARTNERS.iter().zip(share_ports) {
        let port = choose_port(port)?;
        let address = format!("127.0.0.1:{port}");
        let path = state.write_share_config(*holder, &address)?;
        services.shares.push(spawn(&binaries.share_service, &path)?);
        let child = services.shares.last_mut().ok_or("no share service started")?;
        listening(&format!("share service {holder}"), child, port).await?;
        partners.push((*holder, address, "localhost".to_owned()));
    }
    Ok(partners)
}

/// Encrypt and Decrypt through the proxy until they succeed: connections and
/// first proofs warm up, and a busy machine may need a few tries (30 s at most).
async fn round_trip_until_ready(state: &State) -> Result<(), String> {
    let target = std::sync::Arc::new(crate::bench::Target::from_config(&state.kms_config())?);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match crate::bench::round_trip(target.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("readiness round trip failed: {e}")),
            Err(e) => {
                eprintln!("readiness round trip failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Serves until SIGINT or SIGTERM; SIGHUP is passed on to the proxy, which
/// re-reads its key-store file (its log says whether it took the new one). A
/// service that exits on its own ends the run with an error.
async fn watch(services: &mut Services) -> Result<(), String> {
    let Some(proxy) = services.proxy.as_mut() else {
        return Err("the proxy is not running".into());
    };
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        return Err("cannot install the signal handlers".into());
    };
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => {
                send(proxy, rustix::process::Signal::HUP);
                crate::say("SIGHUP: passed on to the proxy (it re-reads its key-store file; its log says whether it took it)");
            }
            _ = check.tick() => {
                if let Ok(Some(status)) = proxy.try_wait() {
                    return Err(format!("xks-proxy exited ({status}); its log is above"));
                }
                for (holder, child) in deploy::PARTNERS.iter().zip(services.shares.iter_mut()) {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("share service {holder} exited ({status}); its log is above"));
                    }
                }
            }
        }
    }
}

fn port_hint(port: u16) -> String {
    if port == 0 { String::new() } else { format!(" (is port {port} taken? choose others with --proxy-port / --share-ports)") }
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
