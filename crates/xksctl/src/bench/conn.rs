//! One client connection to the XKS endpoint: plain TCP or TLS (rustls, with
//! optional client certificate), HTTP/1.1 keep-alive or HTTP/2.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::target::Target;

/// How to reach the endpoint; cheap to clone into every worker.
#[derive(Clone)]
pub struct Connector {
    authority: String,
    server_name: ServerName<'static>,
    tls: Option<TlsConnector>,
    http2: bool,
}

/// A request sender over one connection.
pub enum Sender {
    /// HTTP/1.1 keep-alive.
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    /// HTTP/2.
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Sends one request on this connection.
    pub async fn send(&mut self, req: hyper::Request<Full<Bytes>>) -> hyper::Result<hyper::Response<hyper::body::Incoming>> {
        match self {
            Self::H1(s) => s.send_request(req).await,
            Self::H2(s) => s.send_request(req).await,
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl Connector {
    /// Builds the connector (TLS trust from `--ca-cert`, else the system's
    /// platform roots are not consulted: a private CA is the normal case here).
    ///
    /// # Errors
    /// Unreadable or invalid certificate files.
    pub fn new(target: &Target, http2: bool) -> Result<Self, String> {
        let server_name = ServerName::try_from(target.host.clone()).map_err(|e| format!("invalid host {:?}: {e}", target.host))?;
        let tls = if target.tls {
            let ca =
                target.ca_certificate.as_ref().ok_or("an https endpoint needs --ca-cert (the CA that issued the proxy's certificate)")?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read(ca)?) {
                roots.add(c.map_err(|e| format!("{}: {e}", ca.display()))?).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{} holds no certificate", ca.display()));
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots);
            let mut cfg = match (&target.client_cert, &target.client_key) {
                (Some(c), Some(k)) => {
                    let chain = CertificateDer::pem_slice_iter(&read(c)?)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("{}: {e}", c.display()))?;
                    let key = PrivateKeyDer::from_pem_slice(&read(k)?).map_err(|e| format!("{}: {e}", k.display()))?;
                    builder.with_client_auth_cert(chain, key).map_err(|e| e.to_string())?
                }
                (None, None) => builder.with_no_client_auth(),
                _ => return Err("--client-cert and --client-key go together".into()),
            };
            cfg.alpn_protocols = vec![if http2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
            Some(TlsConnector::from(Arc::new(cfg)))
        } else {
            None
        };
        Ok(Self { authority: target.authority.clone(), server_name, tls, http2 })
    }

    /// Opens a connection.
    ///
    /// # Errors
    /// Connect, TLS or HTTP handshake failure, as text.
    pub async fn connect(&self) -> Result<Sender, String> {
        let tcp = TcpStream::connect(&self.authority).await.map_err(|e| format!("connect {}: {e}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(tls) => {
                let stream =
                    tls.connect(self.server_name.clone(), tcp).await.map_err(|e| format!("TLS handshake with {}: {e}", self.authority))?;
                self.handshake(TokioIo::new(stream)).await
            }
            None => self.handshake(TokioIo::new(tcp)).await,
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>) -> Result<Sender, String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if self.http2 {
            let (sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.map_err(|e| format!("HTTP/2 handshake: {e}"))?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
    }
}
