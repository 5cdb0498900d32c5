//! A complete share-service deployment in a temporary directory: our own CA
//! (xks-pki), a 2-of-3 dealer key set, share 2 on disk, the service on port 0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use share_service::{BuildInfo, Config, Running};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use xks_pki::{Ca, CertifiedKey, Validity};
use xks_threshold::{HolderKey, KeySet, Share, dealer};

pub struct Deployment {
    pub dir: PathBuf,
    pub ca: Ca,
    pub client: CertifiedKey,
    pub key_set: KeySet,
    pub shares: Vec<Share>,
    pub running: Option<Running>,
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("share-service-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the deployment's files and a config; `extra` is appended to the TOML.
pub fn write_files(name: &str, extra_tls: &str, extra: &str) -> (PathBuf, Ca, CertifiedKey, KeySet, Vec<Share>) {
    let dir = tempdir(name);
    let ca = Ca::new("test CA", Validity::days(2)).unwrap();
    let server = ca.issue_server("share-2", &["localhost", "127.0.0.1"], Validity::days(2)).unwrap();
    let client = ca.issue_client("xks-proxy", &["spiffe://xks/proxy"], Validity::days(2)).unwrap();
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("tls/ca.crt"), &ca.certificate().cert_pem).unwrap();
    std::fs::write(dir.join("tls/server.crt"), &server.cert_pem).unwrap();
    std::fs::write(dir.join("tls/server.key"), server.key_pem.as_bytes()).unwrap();
    let (key_set, shares) = dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(7)).unwrap();
    std::fs::write(dir.join("keys/keyset-gen1.json"), key_set.to_json().unwrap()).unwrap();
    std::fs::write(dir.join("keys/share-gen1.json"), shares[1].to_json().unwrap().as_bytes()).unwrap();
    let pinned = if extra_tls.contains("allowed_clients") || extra_tls.contains("allow_any_client") {
        ""
    } else {
        "allowed_clients = [\"uri:spiffe://xks/proxy\"]"
    };
    let toml = format!(
        r#"
listen = "127.0.0.1:0"
[tls]
{pinned}
cert = "tls/server.crt"
key = "tls/server.key"
client_ca = "tls/ca.crt"
{extra_tls}
[shares]
key_sets = ["keys/keyset-gen1.json"]
share_files = ["keys/share-gen1.json"]
holder = 2
[audit]
dir = "audit"
checkpoint_seconds = 1
[admin]
socket = "admin.sock"
state_file = "controls.json"
{extra}
"#
    );
    std::fs::write(dir.join("share-service.toml"), toml).unwrap();
    (dir, ca, client, key_set, shares)
}

impl Deployment {
    pub async fn start(name: &str, extra_tls: &str, extra: &str) -> Self {
        let (dir, ca, client, key_set, shares) = write_files(name, extra_tls, extra);
        let mut d = Self { dir, ca, client, key_set, shares, running: None };
        d.restart().await;
        d
    }

    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        let cfg = Config::load(&self.dir.join("share-service.toml")).unwrap();
        self.running = Some(share_service::start(cfg, &BuildInfo::current("share-service")).await.unwrap());
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running().addr
    }

    pub fn holder_key(&self, i: usize) -> HolderKey {
        HolderKey::new(self.shares[i].clone(), self.key_set.clone()).unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr(), &self.ca.certificate().cert_pem, Some(&self.client))
    }

    pub async fn admin(&self, cmd: &str) -> serde_json::Value {
        admin(&self.running().admin_socket, cmd).await
    }
}

pub use xks_testkit::admin;

/// An mTLS HTTP/1.1 client with keep-alive.
pub struct Client {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

pub fn tls_client_config(ca_pem: &str, client: Option<&CertifiedKey>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots);
    match client {
        Some(c) => {
            let chain = vec![CertificateDer::from(c.cert_der.clone())];
            let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
        None => b.with_no_client_auth(),
    }
}

impl Client {
    pub fn new(addr: std::net::SocketAddr, ca_pem: &str, client: Option<&CertifiedKey>) -> Self {
        Self { addr, connector: TlsConnector::from(Arc::new(tls_client_config(ca_pem, client))), sender: None }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let tcp = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
        let tls = self.connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends a request; `Err` when TLS or the connection fails (e.g. a refused certificate).
    pub async fn request(&mut self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Result<(u16, String), String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().unwrap();
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", "localhost");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = sender.send_request(req.body(Full::new(Bytes::from(body))).unwrap()).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub async fn partial(&mut self, key_path: &str, set: &[u32], proof: bool) -> (u16, String) {
        let body = serde_json::json!({"version": 1, "requestId": "test-req", "keyPath": key_path, "generation": 1, "epoch": 0, "set": set, "proof": proof});
        self.request("POST", "/v1/partial", Some("application/json"), body.to_string().into_bytes()).await.unwrap()
    }
}
