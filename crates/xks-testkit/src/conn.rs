//! One HTTP/1.1 connection of a test client, plain or TLS, reused across
//! requests and reopened when the server has closed it: the transport of
//! both kit clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;
use xks_pki::CertifiedKey;

/// A TLS client configuration trusting the CA certificates in `ca_pem`,
/// presenting `client` when given (the default protocol versions, aws-lc-rs).
///
/// # Panics
/// On malformed PEM (test input).
#[allow(clippy::expect_used)]
pub fn tls_config(ca_pem: &[u8], client: Option<&CertifiedKey>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("a PEM certificate")).expect("a CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    match client {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let chain = vec![CertificateDer::from(c.cert_der.clone())];
            let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("a PEM private key");
            builder.with_client_auth_cert(chain, key).expect("a usable client certificate")
        }
    }
}

/// The connection of one client.
pub struct Connection {
    /// Where it connects.
    pub addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Option<Duration>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Plain HTTP to `addr`.
    pub fn plain(addr: SocketAddr) -> Self {
        Self { addr, tls: None, timeout: None, sender: None }
    }

    /// TLS to `addr` with `config`, checking `server_name`.
    ///
    /// # Panics
    /// On a malformed server name (test input).
    #[allow(clippy::expect_used)]
    pub fn tls(addr: SocketAddr, config: rustls::ClientConfig, server_name: &str) -> Self {
        let name = ServerName::try_from(server_name.to_owned()).expect("a server name");
        Self { tls: Some((TlsConnector::from(Arc::new(config)), name)), ..Self::plain(addr) }
    }

    /// Connects to `addr` from the next request on (same TLS settings).
    pub fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = addr;
        self.sender = None;
    }

    /// Gives up on an answer after `limit` (and reconnects for the next request).
    pub fn set_timeout(&mut self, limit: Duration) {
        self.timeout = Some(limit);
    }

    /// Whether the connection has been closed (by the server), or none is open.
    pub fn is_closed(&self) -> bool {
        self.sender.as_ref().is_none_or(SendRequest::is_closed)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => handshake(connector.connect(name.clone(), tcp).await.map_err(|e| e.to_string())?).await,
        }
    }

    /// Sends a request with exactly these headers and returns the status and body.
    ///
    /// # Errors
    /// A transport failure (the connection is dropped and reopened next time).
    pub async fn send(&mut self, method: &str, path: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let mut req = hyper::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        let exchange = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((status, bytes.to_vec()))
        };
        let answer = match self.timeout {
            None => exchange.await,
            Some(limit) => tokio::time::timeout(limit, exchange).await.unwrap_or_else(|_| Err(format!("no answer within {limit:?}"))),
        };
        if answer.is_ok() {
            self.sender = Some(sender);
        }
        answer
    }
}

/// HTTP/1.1 over `io`; the connection is driven by its own task.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}
