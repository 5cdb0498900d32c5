//! Start-up and the connection loops: the XKS listener (TLS or plain), the
//! optional private metrics listener, bounded connections, graceful shutdown,
//! and key-store reloads that never drop a connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use xks_service::listener::{self, Bounds, Connections};
use xks_service::startup::{IoFailure, io};
use xks_service::tls::{self, ClientAuth, ClientRule};

use crate::api::{App, AppInner};
use crate::health::HealthMonitor;
use crate::keyring::Keyring;
use crate::metrics::Metrics;
use crate::partners::Pool;
use crate::stores::Reloadable;
use crate::witness::Witness;
use xks_config::proxy::{Config, FrontConfig, FrontMode, Limits};
use xks_service::BuildInfo;

/// Start-up failures, each with an actionable message.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Own shares or key sets.
    #[error(transparent)]
    Keys(#[from] xks_service::keys::KeyLoadError),
    /// Key-store file.
    #[error(transparent)]
    Stores(#[from] crate::stores::StoreError),
    /// The age identity that opens the sealed files.
    #[error("age identity: {0}")]
    Identity(#[source] xks_sops::Error),
    /// A combination of settings the proxy cannot serve.
    #[error("configuration: {0}")]
    Config(String),
    /// TLS files (the front, or the partner client).
    #[error("{what}: {source}")]
    Tls {
        /// `front TLS` or `partner_tls`.
        what: &'static str,
        /// Why.
        source: xks_service::tls::TlsError,
    },
    /// A socket.
    #[error(transparent)]
    Io(#[from] IoFailure),
}

/// A running proxy.
pub struct Running {
    /// The XKS listener.
    pub addr: SocketAddr,
    /// The metrics listener, if configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Shared state.
    pub app: App,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Re-reads the key-store file (credentials, keys, policies, quotas).
    /// On error the running configuration stays.
    ///
    /// # Errors
    /// The reason the new file was refused.
    pub fn reload(&self) -> Result<(), String> {
        let s = &self.app.0;
        match s.stores.reload() {
            Ok(stores) => {
                s.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(key_stores = stores.iter().count(), "key stores reloaded");
                Ok(())
            }
            Err(e) => {
                s.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "key-store reload refused; the previous configuration stays in force");
                Err(e.to_string())
            }
        }
    }

    /// Serves until Ctrl-C or SIGTERM, re-reading the key-store file on each
    /// SIGHUP ([`Running::reload`]; `on_reload` also sees each result).
    pub async fn serve_signals(&self, on_reload: impl Fn(&Result<(), String>)) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hup.recv() => on_reload(&self.reload()),
            }
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to 10 s).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Loads everything, binds and serves in the background.
///
/// # Errors
/// [`StartError`].
pub async fn start(cfg: Config, build: &BuildInfo) -> Result<Running, StartError> {
    let ids = xks_sops::Identities::load(cfg.secrets.age_identity_file.as_deref()).map_err(StartError::Identity)?.map(Arc::new);
    let keyring = load_keyring(&cfg, ids.as_deref())?;
    if cfg.partners.len() > 9 {
        return Err(StartError::Config("at most 9 partners (GetHealthStatus reports at most 10 fleet entries)".into()));
    }
    let stores = Arc::new(Reloadable::load(cfg.key_stores.clone(), cfg.health.key_path.clone(), ids.clone())?);
    for s in stores.get().iter() {
        tracing::info!(key_store = %s.name, uri_path = %s.uri_path(), keys = s.key_count(), credentials = s.credential_count(), "key store");
    }
    let partner_ids: Vec<String> = cfg.partners.iter().map(|p| p.id.clone()).collect();
    let connections = Connections::new(bounds(&cfg.limits));
    let metrics = Arc::new(Metrics::new(&partner_ids, connections.clone(), certificates(&cfg)?));
    let tls = tls::client_config(&cfg.partner_tls.ca, &cfg.partner_tls.client_cert, &cfg.partner_tls.client_key, ids.as_deref())
        .map_err(|source| StartError::Tls { what: "partner_tls", source })?;
    let pool = Arc::new(
        Pool::new(&cfg.partners, Arc::new(tls), cfg.pool.clone(), keyring, metrics.clone(), &build.version).map_err(StartError::Config)?,
    );
    pool.warm_up(Duration::from_millis(cfg.pool.connect_timeout_ms)).await;
    let health = Arc::new(HealthMonitor::new(pool.clone(), cfg.health.clone(), metrics.clone()).map_err(StartError::Config)?);
    let app = App(Arc::new(AppInner {
        stores,
        pool,
        health: health.clone(),
        limits: cfg.limits.clone(),
        metrics: metrics.clone(),
        in_flight: Semaphore::new(cfg.limits.max_in_flight),
        fleet: cfg.fleet.clone(),
        build: build.clone(),
        server_names: cfg.front.server_names.iter().map(|n| n.to_ascii_lowercase()).collect(),
    }));

    // Everything that can refuse the configuration comes before anything is spawned.
    let witness =
        Witness::new(&cfg.witness, &cfg.partners, app.0.pool.partners(), metrics.clone()).map_err(|e| StartError::Config(e.to_string()))?;
    let acceptor = front_acceptor(&cfg.front, ids.as_deref())?;
    let listener = TcpListener::bind(cfg.listen).await.map_err(io(format!("bind {}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(io("listener address"))?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    health.spawn(shutdown_rx.clone());
    let mode = if acceptor.is_some() { "TLS (HTTP/1.1, HTTP/2)" } else { "plain HTTP (behind a TLS-terminating platform)" };
    tracing::info!(%addr, mode, mtls = cfg.front.client_ca.is_some(), "XKS API listening");

    let mut tasks: Vec<_> = witness.spawn(shutdown_rx.clone()).into_iter().collect();
    let handshake_timeout = Duration::from_millis(cfg.front.handshake_timeout_ms);
    tasks.push(tokio::spawn(accept_loop(listener, acceptor, app.clone(), connections, handshake_timeout, shutdown_rx.clone())));

    let mut metrics_addr = None;
    if let Some(m) = cfg.metrics_listen {
        let l = TcpListener::bind(m).await.map_err(io(format!("bind metrics {m}")))?;
        metrics_addr = l.local_addr().ok();
        tracing::info!(addr = ?metrics_addr, "metrics listening (GET /metrics, GET /ping)");
        tasks.push(tokio::spawn(metrics_loop(l, app.clone(), shutdown_rx)));
    }
    Ok(Running { addr, metrics_addr, app, shutdown, tasks })
}

/// The proxy's own shares, verified against their key sets.
fn load_keyring(cfg: &Config, ids: Option<&xks_sops::Identities>) -> Result<Arc<Keyring>, StartError> {
    let keyring = Keyring::load(&cfg.shares.key_sets, &cfg.shares.share_files, cfg.shares.holder, cfg.pool.commitment_cache, ids)?;
    let generations: Vec<u32> = keyring.generations().map(|g| g.key_set().generation()).collect();
    tracing::info!(holder = keyring.holder().get(), ?generations, "own shares loaded and verified against their key sets");
    Ok(Arc::new(keyring))
}

/// The end of validity of the partner client certificate and, with a TLS
/// front, the front's (for the certificate gauges, docs/monitoring.md).
fn certificates(cfg: &Config) -> Result<Vec<(&'static str, i64)>, StartError> {
    let not_after =
        |what: &'static str, path: &std::path::Path| tls::leaf_not_after(path).map_err(|source| StartError::Tls { what, source });
    let mut out = vec![("partner_client", not_after("partner_tls", &cfg.partner_tls.client_cert)?)];
    if let (Some(cert), FrontMode::Tls) = (&cfg.front.cert, &cfg.front.mode) {
        out.push(("front", not_after("front TLS", cert)?));
    }
    Ok(out)
}

/// The connection bounds of `[limits]`.
fn bounds(l: &Limits) -> Bounds {
    Bounds {
        max_connections: l.max_connections,
        max_unauthenticated: l.max_unauthenticated_connections,
        unauthenticated_timeout: Duration::from_millis(l.unauthenticated_timeout_ms),
        idle_timeout: Duration::from_millis(l.idle_timeout_ms),
    }
}

/// The front's TLS acceptor (`None` for a plain front). With `client_ca`,
/// mutual TLS: the client certificate must chain to that CA *and* carry one
/// of `client_subjects` as its common name (KMS presents
/// `CN=cks.kms.<region>.amazonaws.com`).
fn front_acceptor(front: &FrontConfig, ids: Option<&xks_sops::Identities>) -> Result<Option<TlsAcceptor>, StartError> {
    if front.mode == FrontMode::Plain {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&front.cert, &front.key) else {
        return Err(StartError::Config("front.mode = \"tls\" needs front.cert and front.key".into()));
    };
    let rule = ClientRule::CommonNames(front.client_subjects.clone());
    let client_auth = match front.client_ca.as_deref() {
        None => ClientAuth::None,
        Some(ca) => ClientAuth::Required { ca, rule: &rule },
    };
    let config = tls::server_config(cert, key, ids, tls::TLS13_AND_12, client_auth)
        .map_err(|source| StartError::Tls { what: "front TLS", source })?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: App,
    connections: Arc<Connections>,
    handshake_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(xks_service::listener::http_builder(connections.bounds()));
    listener::accept_loop(listener, connections, shutdown, move |tcp, peer, admitted, shutdown| {
        let (acceptor, app, builder) = (acceptor.clone(), app.clone(), builder.clone());
        async move {
            let marker = admitted.marker();
            let metrics = app.0.metrics.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (app, marker) = (app.clone(), marker.clone());
                async move {
                    let _in_request = marker.state().request();
                    Ok::<_, Infallible>(app.handle(req, &marker).await)
                }
            });
            match acceptor {
                None => admitted.drive(builder.serve_connection(TokioIo::new(tcp), svc), shutdown).await,
                Some(acceptor) => {
                    let failed = || {
                        metrics.handshake_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    };
                    if let Ok(tls) = listener::tls_handshake(&acceptor, tcp, handshake_timeout, &admitted, peer, failed).await {
                        admitted.drive(builder.serve_connection(TokioIo::new(tls), svc), shutdown).await;
                    }
                }
            }
        }
    })
    .await;
}

async fn metrics_loop(listener: TcpListener, app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        let tcp = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted { Ok((t, _)) => t, Err(_) => continue },
        };
        let app = app.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move {
                    let (status, ct, body) = match req.uri().path() {
                        "/metrics" => {
                            let s = &app.0;
                            let in_flight = s.limits.max_in_flight.saturating_sub(s.in_flight.available_permits());
                            (StatusCode::OK, "text/plain; version=0.0.4", s.metrics.render(&s.stores.get(), in_flight))
                        }
                        "/ping" => (StatusCode::OK, "application/json", "{\"status\":\"ok\"}".to_owned()),
                        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_owned()),
                    };
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    *r.status_mut() = status;
                    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(ct));
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tcp), svc).await;
        });
    }
}
