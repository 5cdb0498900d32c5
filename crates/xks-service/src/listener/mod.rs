//! Connection admission and lifetimes for the listeners of both services: no
//! client that has not authenticated can hold what authenticated traffic
//! needs (docs/xks-proxy.md and docs/share-service.md, "Connections and
//! timeouts").
//!
//! - A connection is *unauthenticated* from accept until the service says
//!   otherwise (the XKS proxy: one of its requests passed SigV4; the share
//!   service: the mutual TLS handshake completed). At most `max_unauthenticated_connections` are; a new
//!   connection beyond that, or beyond `max_connections`, evicts the oldest
//!   unauthenticated one (it had the most time to authenticate) instead of
//!   being refused. Only when every open connection is authenticated is a
//!   new one refused.
//! - An unauthenticated connection is closed `unauthenticated_timeout_ms`
//!   after accept (TLS handshake, slow headers, slow body, idle: all count).
//! - Any connection with no request in progress for `idle_timeout_ms` is shut
//!   down gracefully (HTTP/1.1 keep-alive, HTTP/2).
//! - A request body must arrive within `body_timeout_ms` (in the API layer).
//!
//! [`http_builder`] gives both services the same HTTP/1.1 and HTTP/2 settings.

pub mod accept;
pub mod linger;

pub use accept::{HandshakeFailure, accept_loop, tls_handshake};

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::{Notify, watch};

/// What happened to connections (each service renders them as metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Refused at the bound (every open connection authenticated).
    pub refused: AtomicU64,
    /// Unauthenticated connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// Unauthenticated connections closed at the unauthenticated timeout.
    pub timed_out: AtomicU64,
    /// Connections closed (gracefully) at the idle timeout.
    pub idle_closed: AtomicU64,
}

/// The bounds, from each service's `[limits]`.
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
    /// Already taken off the open count by its eviction.
    released: AtomicBool,
}

impl ConnState {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            authenticated: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            evicted: Notify::new(),
            released: AtomicBool::new(false),
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
    counters: Counters,
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
    pub fn new(bounds: Bounds) -> Arc<Self> {
        Arc::new(Self { bounds, registry: Mutex::new(Registry::default()), counters: Counters::default(), all_closed: Notify::new() })
    }

    /// What happened to connections so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
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
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            // It no longer counts from now: its task closes it on the notice.
            oldest.released.store(true, Ordering::Release);
            r.open = r.open.saturating_sub(1);
            oldest.evicted.notify_one();
            self.counters.evicted.fetch_add(1, Ordering::Relaxed);
        }
        r.next_id += 1;
        r.open += 1;
        let id = r.next_id;
        let state = Arc::new(ConnState::new());
        r.unauthenticated.insert(id, state.clone());
        Some(Admitted { id, state, connections: self.clone() })
    }

    /// Marks connection `id` authenticated: no longer evictable, no longer
    /// bound by the unauthenticated timeout.
    fn authenticate(&self, id: u64, state: &ConnState) {
        if !state.authenticated.swap(true, Ordering::AcqRel)
            && let Ok(mut r) = self.registry.lock()
        {
            r.unauthenticated.remove(&id);
        }
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

    /// Closes a connection whose TLS handshake failed so that the peer reads
    /// the alert ([`linger::linger_close`]), sooner if it is evicted.
    pub async fn close_refused<S>(&self, io: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        tokio::select! {
            () = linger::linger_close(io) => {}
            () = self.evicted() => {}
        }
    }

    /// The connection is authenticated (the share service: after the mutual
    /// TLS handshake).
    pub fn authenticated(&self) {
        self.connections.authenticate(self.id, &self.state);
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
                    self.connections.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Check::Idle if !closing => {
                    closing = true;
                    self.connections.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
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
            if !self.state.released.swap(true, Ordering::AcqRel) {
                r.open = r.open.saturating_sub(1);
            }
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
        self.connections.authenticate(self.id, &self.state);
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

/// HTTP/1.1 and HTTP/2 settings of both listeners: hyper's timer, so that an
/// HTTP/1.1 request head must arrive within the idle timeout of the previous
/// response (or of the connection's start); HTTP/2 pings find dead peers; a
/// bounded number of concurrent streams per connection.
pub fn http_builder(b: &Bounds) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(b.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(H2_MAX_STREAMS);
    builder
}

/// Streams one HTTP/2 connection may have open at once.
pub const H2_MAX_STREAMS: u32 = 256;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn bounds(max: usize, unauth: usize) -> Bounds {
        Bounds {
            max_connections: max,
            max_unauthenticated: unauth,
            unauthenticated_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn the_oldest_unauthenticated_connection_makes_room_and_authenticated_ones_stay() {
        let c = Connections::new(bounds(3, 2));
        let a = c.admit().unwrap();
        a.authenticated();
        let b = c.admit().unwrap();
        let d = c.admit().unwrap();
        // Three open (max): a fourth evicts b, the oldest unauthenticated one.
        let e = c.admit().unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(50), b.evicted()).await.is_ok(), "b evicted");
        assert!(tokio::time::timeout(Duration::from_millis(50), d.evicted()).await.is_err(), "d kept");
        assert_eq!(c.counters().evicted.load(Ordering::Relaxed), 1);
        drop(b);
        d.authenticated();
        e.authenticated();
        // All three authenticated: a new connection is refused, none evicted.
        assert!(c.admit().is_none());
        assert_eq!(c.counters().refused.load(Ordering::Relaxed), 1);
        assert!(tokio::time::timeout(Duration::from_millis(50), a.evicted()).await.is_err());
        drop((a, d, e));
        assert_eq!(c.open(), 0);
        assert!(c.closed(Duration::from_millis(10)).await);
    }
}
