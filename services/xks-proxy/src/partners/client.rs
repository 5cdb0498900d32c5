//! One partner share service: a small pool of warm mutual-TLS HTTP/2
//! connections (pinned CA, the proxy's client certificate), multiplexed,
//! reconnected on demand, with keep-alive pings so a dead link is noticed
//! between requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use xks_wire::partner;

use super::batch::Batcher;

/// Largest partner response read for one request (a partial with proof is
/// ~400 bytes); a batch may be this many times its length.
pub const MAX_RESPONSE: usize = 8192;

/// Transport failures (the partner's answers, even errors, are not failures here).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect failed or timed out.
    #[error("connect: {0}")]
    Connect(String),
    /// TLS handshake failed (wrong CA, refused client certificate, …).
    #[error("TLS: {0}")]
    Tls(String),
    /// HTTP/2 failure.
    #[error("HTTP/2: {0}")]
    Http(String),
    /// The response was too large or unreadable.
    #[error("response: {0}")]
    Body(String),
    /// No answer before the caller's deadline.
    #[error("timed out")]
    TimedOut,
}

/// Overwrites a response body the proxy holds alone (a partner's answer
/// carries its partial). A buffer still shared with the HTTP/2 layer cannot be
/// reached from here; docs/xks-proxy.md lists what remains.
pub fn wipe(body: Bytes) {
    if let Ok(mut owned) = body.try_into_mut() {
        zeroize::Zeroize::zeroize(owned.as_mut());
    }
}

/// Connections to one partner.
pub struct PartnerClient {
    address: String,
    server_name: ServerName<'static>,
    authority: String,
    connector: TlsConnector,
    slots: Vec<Mutex<Option<SendRequest<Full<Bytes>>>>>,
    next: AtomicUsize,
    connect_timeout: Duration,
    batcher: Batcher,
}

impl std::fmt::Debug for PartnerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerClient").field("address", &self.address).field("connections", &self.slots.len()).finish()
    }
}

impl PartnerClient {
    /// A client for `address` (`host:port`) verifying `server_name`.
    ///
    /// # Errors
    /// If `server_name` is not a valid DNS name or IP address.
    pub fn new(
        address: String,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        connections: usize,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| format!("server name {server_name:?}: {e}"))?;
        let port = address.rsplit_once(':').map(|(_, p)| p).unwrap_or("443");
        let authority = format!("{}:{port}", server_name.to_str());
        Ok(Self {
            address,
            server_name,
            authority,
            connector: TlsConnector::from(tls),
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
            batcher: Batcher::new(connections),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| ClientError::Connect("timed out".into()))?
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(self.connect_timeout, self.connector.connect(self.server_name.clone(), tcp))
            .await
            .map_err(|_| ClientError::Tls("handshake timed out".into()))?
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(10)))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let address = self.address.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(partner = %address, error = %e, "partner connection closed");
            }
        });
        Ok(sender)
    }

    /// The sender of connection `i` (reconnected if it closed), or of the
    /// next connection in turn.
    async fn sender(&self, connection: Option<usize>) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let i = connection.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed)) % self.slots.len();
        let Some(slot) = self.slots.get(i) else { return Err(ClientError::Connect("no connection slot".into())) };
        let mut slot = slot.lock().await;
        if let Some(s) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        *slot = None;
        let s = self.connect().await?;
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Opens every connection now (start-up and after failures), so requests
    /// find them warm. Errors are returned for logging only.
    pub async fn warm_up(&self) -> Result<(), ClientError> {
        for i in 0..self.slots.len() {
            self.sender(Some(i)).await?;
        }
        Ok(())
    }

    /// The partner's address (logs).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The batching state ([`super::batch`]).
    pub(super) fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// POSTs a JSON body to `path` over connection `connection` (or the next
    /// in turn) and returns the status and body (at most `limit` bytes of
    /// it). Partials are asked for as uncompressed points, which the proxy
    /// reads without a square root (an older partner answers
    /// `SerializeElement`, read as well).
    ///
    /// # Errors
    /// [`ClientError`] on transport failures.
    pub async fn post(&self, connection: Option<usize>, path: &str, body: Bytes, limit: usize) -> Result<(StatusCode, Bytes), ClientError> {
        let req = Request::post(format!("https://{}{path}", self.authority))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(partner::POINT_ENCODING_HEADER, partner::POINT_ENCODING_UNCOMPRESSED)
            .body(Full::new(body))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Self::send_on(self.sender(connection).await?, req, limit).await
    }

    /// GETs `path` over a connection of its own, opened for this request and
    /// closed after, and returns the status and body (at most `limit` bytes of
    /// it). For the witness: it never takes, waits for or re-opens one of the
    /// connections the partials use.
    ///
    /// # Errors
    /// [`ClientError`] on transport failures.
    pub async fn get_alone(&self, path: &str, limit: usize) -> Result<(StatusCode, Bytes), ClientError> {
        let req = Request::get(format!("https://{}{path}", self.authority))
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let sender = self.connect().await?;
        Self::send_on(sender, req, limit).await
    }

    async fn send_on(
        mut sender: SendRequest<Full<Bytes>>,
        req: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        sender.ready().await.map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| ClientError::Http(e.to_string()))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), limit).collect().await.map_err(|e| ClientError::Body(e.to_string()))?.to_bytes();
        Ok((status, bytes))
    }
}
