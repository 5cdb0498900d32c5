//! Connection admission and lifetimes on the XKS listener: no client that has
//! not authenticated can hold resources that signed KMS traffic needs
//! (docs/xks-proxy.md, "Connections and timeouts").
//!
//! - A connection is *unauthenticated* from accept until one of its requests
//!   passes SigV4. At most `max_unauthenticated_connections` are; a new
//!   connection beyond that, or beyond `max_connections`, evicts the oldest
//!   unauthenticated one (it had the most time to authenticate) instead of
//!   being refused. Only when every open connection is authenticated is a
//!   new one refused.
//! - An unauthenticated connection is closed `unauthenticated_timeout_ms`
//!   after accept (TLS handshake, slow headers, slow body, idle: all count).
//! - Any connection with no request in progress for `idle_timeout_ms` is shut
//!   down gracefully (HTTP/1.1 keep-alive, HTTP/2).
//! - A request body must arrive within `body_timeout_ms` (in the API layer).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;

/// The bounds, from `[limits]`.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Open connections at most.
    pub max_connections: usize,
    /// Unauthenticated connections at most.
    pub max_unauthenticated: usize,
    /// Time a connection gets to authenticate a request.
    pub unauthenticated_timeout: Duration,
    /// Time a connection may sit without a request in progress.
    pub idle_timeout: Duration,
}

/// What the request path tells a connection, and the connection's watchdog reads.
#[derive(Debug)]
pub struct ConnState {
    accepted: Instant,
    authenticated: AtomicBool,
    active: AtomicUsize,
    /// Milliseconds after `accepted` when the last request finished.
    idle_since_ms: AtomicU64,
    evicted: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            authenticated: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            evicted: Notify::new(),
        }
    }

    /// Whether a request of this connection passed SigV4.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// A request starts; it ends when the guard drops.
    pub fn request(&self) -> InRequest<'_> {
        self.active.fetch_add(1, Ordering::AcqRel);
        InRequest(self)
    }

    fn end(&self) {
        self.idle_since_ms.store(u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX), Ordering::Release);
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the watchdog must look again, or `None` when the connection is due to close.
    fn next_check(&self, b: &Bounds) -> Check {
        let now = Instant::now();
        if !self.is_authenticated() {
            let due = self.accepted + b.unauthenticated_timeout;
            return if now >= due { Check::Close } else { Check::At(due) };
        }
        if self.active.load(Ordering::Acquire) > 0 {
            return Check::At(now + b.idle_timeout);
        }
        let due = self.accepted + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire)) + b.idle_timeout;
        if now >= due { Check::Idle } else { Check::At(due) }
    }
}

/// A request in progress on a connection.
#[derive(Debug)]
pub struct InRequest<'a>(&'a ConnState);

impl Drop for InRequest<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

enum Check {
    At(Instant),
    Close,
    Idle,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: usize,
    /// Unauthenticated connections by age (ids increase).
    unauthenticated: BTreeMap<u64, Arc<ConnState>>,
}

/// The listener's connections.
#[derive(Debug)]
pub struct Connections {
    bounds: Bounds,
    registry: Mutex<Registry>,
    metrics: Arc<Metrics>,
    all_closed: Notify,
}

/// One admitted connection; dropping it releases its place.
#[derive(Debug)]
pub struct Admitted {
    id: u64,
    /// Shared with the request path.
    pub state: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl Connections {
    /// An empty registry.
    pub fn new(bounds: Bounds, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self { bounds, registry: Mutex::new(Registry::default()), metrics, all_closed: Notify::new() })
    }

    /// The bounds.
    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// Admits a new connection, evicting the oldest unauthenticated one when
    /// a bound is reached. `None`: every open connection is authenticated and
    /// `max_connections` are open.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let Ok(mut r) = self.registry.lock() else { return None };
        while r.unauthenticated.len() >= self.bounds.max_unauthenticated || r.open >= self.bounds.max_connections {
            let Some((_, oldest)) = r.unauthenticated.pop_first() else {
                self.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            oldest.evicted.notify_one();
            self.metrics.connections_evicted.fetch_add(1, Ordering::Relaxed);
        }
        r.next_id += 1;
        r.open += 1;
        let id = r.next_id;
        let state = Arc::new(ConnState::new());
        r.unauthenticated.insert(id, state.clone());
        Some(Admitted { id, state, connections: self.clone() })
    }

    /// Open connections (metrics, shutdown).
    pub fn open(&self) -> usize {
        self.registry.lock().map_or(0, |r| r.open)
    }

    /// Waits until every connection has closed, at most `limit`; false if some are left.
    pub async fn closed(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.all_closed.notified();
            if self.open() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.open() == 0;
            }
        }
    }
}

impl Admitted {
    /// Resolves when this connection is evicted (to make room for a new one).
    pub async fn evicted(&self) {
        self.state.evicted.notified().await;
    }

    /// A handle the request path uses to mark the connection authenticated.
    pub fn marker(&self) -> AuthMarker {
        AuthMarker { id: self.id, state: self.state.clone(), connections: self.connections.clone() }
    }

    /// Drives `conn` until it ends, closing it when evicted, when it has not
    /// authenticated in time, or (gracefully) when idle or on shutdown.
    pub async fn drive<C>(&self, conn: C, mut shutdown: watch::Receiver<bool>)
    where
        C: GracefulConnection,
    {
        let mut conn = std::pin::pin!(conn);
        let mut closing = false;
        let b = *self.connections.bounds();
        loop {
            let wake = match self.state.next_check(&b) {
                Check::Close => {
                    self.connections.metrics.connections_timed_out.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Check::Idle if !closing => {
                    closing = true;
                    conn.as_mut().shutdown_gracefully();
                    Instant::now() + b.idle_timeout
                }
                Check::Idle => Instant::now() + b.idle_timeout,
                Check::At(t) => t,
            };
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = self.state.evicted.notified() => return,
                _ = shutdown.changed(), if !closing => {
                    closing = true;
                    conn.as_mut().shutdown_gracefully();
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut r) = self.connections.registry.lock() {
            r.unauthenticated.remove(&self.id);
            r.open = r.open.saturating_sub(1);
            if r.open == 0 {
                self.connections.all_closed.notify_waiters();
            }
        }
    }
}

/// Given to the request path: marks the connection authenticated.
#[derive(Clone, Debug)]
pub struct AuthMarker {
    id: u64,
    state: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl AuthMarker {
    /// A request of this connection passed SigV4: it is no longer evictable
    /// and no longer bound by the unauthenticated timeout.
    pub fn authenticated(&self) {
        if !self.state.authenticated.swap(true, Ordering::AcqRel)
            && let Ok(mut r) = self.connections.registry.lock()
        {
            r.unauthenticated.remove(&self.id);
        }
    }

    /// The connection's state.
    pub fn state(&self) -> &ConnState {
        &self.state
    }
}

/// A connection future that can be asked to finish gracefully (hyper-util's
/// auto connection).
pub trait GracefulConnection: Future {
    /// Finish the requests in progress, accept no more.
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S, E, B> GracefulConnection for hyper_util::server::conn::auto::Connection<'_, I, S, E>
where
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}
