//! Start-up and the connection loop: bounded connections (a connection still
//! in its mutual TLS handshake is evictable, [`xks_service::listener`]), TLS handshake
//! with timeout, HTTP/1.1 and HTTP/2 on the same port with idle and header
//! timeouts, the client identity attached to every request, graceful shutdown
//! that lets in-flight requests finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use xks_audit::{CheckpointSigner, Entry, Reason, RecordKind, WriterConfig};
use xks_service::listener::{self, Bounds, Connections};

use crate::anomaly::Detector;
use crate::api::{App, AppInner, router};
use crate::audit::{Audit, CheckpointPolicy};
use crate::controls::Controls;
use crate::keys::ShareStore;
use crate::metrics::Metrics;
use xks_config::share::Config;
use xks_service::BuildInfo;
use xks_service::startup::{IoFailure, io};
use xks_service::tls::{self, ClientAuth, ClientIdentity, ClientRule};

/// Start-up failures, each with an actionable message.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Shares or key sets.
    #[error(transparent)]
    Keys(#[from] xks_service::keys::KeyLoadError),
    /// TLS files.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The age identity that opens the sealed files.
    #[error("age identity: {0}")]
    Identity(#[source] xks_sops::Error),
    /// Audit log.
    #[error("audit log: {0}")]
    Audit(#[from] xks_audit::WriterError),
    /// The checkpoint signing key.
    #[error("audit.checkpoint_key {path}: {reason}")]
    CheckpointKey {
        /// The file.
        path: String,
        /// Why (never key material).
        reason: String,
    },
    /// Sockets, state file.
    #[error(transparent)]
    Io(#[from] IoFailure),
}

/// A running service.
pub struct Running {
    /// Bound mTLS address.
    pub addr: SocketAddr,
    /// Admin socket path.
    pub admin_socket: PathBuf,
    /// Shared state (tests inspect metrics and controls through it).
    pub app: App,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to 10 s), signs
    /// the shutdown checkpoint of the audit log, returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.app.0.audit.checkpoint(Reason::Shutdown).await;
    }
}

/// Loads everything, logs the start-up lines, binds, and serves in the background.
///
/// # Errors
/// [`StartError`].
pub async fn start(cfg: Config, build: &BuildInfo) -> Result<Running, StartError> {
    let ids = xks_sops::Identities::load(cfg.secrets.age_identity_file.as_deref()).map_err(StartError::Identity)?;
    let store = ShareStore::load(&cfg.shares.key_sets, &cfg.shares.share_files, cfg.shares.holder, ids.as_ref())?;
    tracing::info!(share_id = store.holder().get(), key_count = store.key_count(), "Share store initialized");
    let controls = Controls::load(&cfg.admin.state_file).map_err(io(format!("control state {}", cfg.admin.state_file.display())))?;
    if let Some(reason) = controls.snapshot().locked {
        tracing::warn!(%reason, "starting LOCKED (persisted operator or anomaly lock); unlock through the admin socket");
    }
    let l = &cfg.limits;
    let connections = Connections::new(Bounds {
        max_connections: l.max_connections,
        max_unauthenticated: l.max_handshaking_connections,
        unauthenticated_timeout: Duration::from_millis(cfg.tls.handshake_timeout_ms),
        idle_timeout: Duration::from_millis(l.idle_timeout_ms),
    });
    let metrics = Arc::new(Metrics::new(connections.clone(), vec![("server", tls::leaf_not_after(&cfg.tls.cert)?)]));
    let policy = CheckpointPolicy {
        signer: checkpoint_signer(&cfg, &store, build, ids.as_ref())?,
        every: (cfg.audit.checkpoint_seconds > 0).then(|| Duration::from_secs(cfg.audit.checkpoint_seconds)),
    };
    let (audit, note) = Audit::start(
        WriterConfig { dir: cfg.audit.dir.clone(), max_file_bytes: cfg.audit.max_file_bytes },
        cfg.audit.max_batch,
        policy,
        metrics.clone(),
    )?;
    if let Some(n) = &note {
        tracing::warn!(note = %n, "audit log recovered");
    }
    let mut start_entry = Entry::new(RecordKind::Start, "share-service", note.unwrap_or_else(|| "ok".into()));
    start_entry.request_id = Some(format!("{} sha256:{}", build.version, build.executable_sha256));
    audit.record(start_entry).await.map_err(|e| io("audit log")(std::io::Error::other(e)))?;
    audit.checkpoint(Reason::Start).await;
    let head = audit.head();
    tracing::info!(seq = head.seq, head = %head.hash, dir = %cfg.audit.dir.display(), "audit log ready");

    let rule =
        if cfg.tls.allowed_clients.is_empty() { ClientRule::AnyFromCa } else { ClientRule::Identities(cfg.tls.allowed_clients.clone()) };
    let client_auth = ClientAuth::Required { ca: &cfg.tls.client_ca, rule: &rule };
    let tls = tls::server_config(&cfg.tls.cert, &cfg.tls.key, ids.as_ref(), tls::TLS13, client_auth)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind(cfg.listen).await.map_err(io(format!("bind {}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(io("local address"))?;

    let app = App(Arc::new(AppInner {
        store,
        controls,
        anomaly: Detector::new(cfg.anomaly.clone()),
        metrics: metrics.clone(),
        audit: audit.clone(),
        limits: cfg.limits.clone(),
        in_flight: Semaphore::new(cfg.limits.max_in_flight),
        bucket: xks_service::rate::TokenBucket::new(cfg.limits.max_requests_per_second, cfg.limits.max_requests_per_second),
        build: build.clone(),
    }));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let admin_socket = crate::admin::spawn(&cfg.admin.socket, app.clone(), shutdown_rx.clone())
        .map_err(io(format!("admin socket {}", cfg.admin.socket.display())))?;
    tracing::info!(%addr, admin_socket = %admin_socket.display(), "listening (mTLS)");

    let handshake_timeout = Duration::from_millis(cfg.tls.handshake_timeout_ms);
    let router = router(app.clone());
    let task = tokio::spawn(accept_loop(listener, acceptor, router, connections, handshake_timeout, metrics, shutdown_rx));
    Ok(Running { addr, admin_socket, app, shutdown, task })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: axum::Router,
    connections: Arc<Connections>,
    handshake_timeout: Duration,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(xks_service::listener::http_builder(connections.bounds()));
    listener::accept_loop(listener, connections, shutdown, move |tcp, peer, admitted, shutdown| {
        let (acceptor, router, metrics, builder) = (acceptor.clone(), router.clone(), metrics.clone(), builder.clone());
        async move {
            let failed = || {
                metrics.handshake_failures.fetch_add(1, Ordering::Relaxed);
            };
            let Ok(tls) = listener::tls_handshake(&acceptor, tcp, handshake_timeout, &admitted, peer, failed).await else { return };
            let identity = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                Some(der) => Arc::new(ClientIdentity::from_der(der)),
                None => return, // unreachable: client certificates are mandatory
            };
            // Mutual TLS is this service's authentication.
            admitted.authenticated();
            let marker = admitted.marker();
            let svc = router.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(identity.clone());
                req
            });
            let svc = TowerToHyperService::new(svc);
            let svc = hyper::service::service_fn(move |req| {
                let (svc, marker) = (svc.clone(), marker.clone());
                async move {
                    let _in_request = marker.state().request();
                    hyper::service::Service::call(&svc, req).await
                }
            });
            admitted.drive(builder.serve_connection(TokioIo::new(tls), svc), shutdown).await;
        }
    })
    .await;
}

/// The checkpoint signer of `audit.checkpoint_key` (sealed or plain), which
/// signs as `holder-<id> <server certificate name>` with this build's digest;
/// none (and a warning) when the key is not configured.
fn checkpoint_signer(
    cfg: &Config,
    store: &ShareStore,
    build: &BuildInfo,
    ids: Option<&xks_sops::Identities>,
) -> Result<Option<CheckpointSigner>, StartError> {
    let Some(path) = &cfg.audit.checkpoint_key else {
        tracing::warn!("audit.checkpoint_key is not set: audit checkpoints are logged but not signed, and no witness can hold them");
        return Ok(None);
    };
    let fail = |reason: String| StartError::CheckpointKey { path: path.display().to_string(), reason };
    let pem = xks_sops::read_file(path, ids).map_err(|e| fail(e.to_string()))?;
    let server = tls::load_certs(&cfg.tls.cert)?;
    let name = server.first().map_or_else(|| "unknown".to_owned(), |c| ClientIdentity::from_der(c.as_ref()).name);
    let service = format!("holder-{} {name}", store.holder().get());
    let digest = format!("{} sha256:{}", build.version, build.executable_sha256);
    let signer = CheckpointSigner::from_pem(&pem, &service, &digest).map_err(|e| fail(e.to_string()))?;
    tracing::info!(key_id = %signer.public_key().id(), %service, "audit checkpoints signed");
    Ok(Some(signer))
}
