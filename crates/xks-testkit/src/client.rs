//! KMS's side of the XKS API for tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio_rustls::TlsConnector;
use xks_wire::xks::SecretAccessKey;
use xks_wire::xks::sigv4;

/// The `requestMetadata` a suite sends: (kmsOperation, externalKeyId, request
/// number) → the JSON object.
pub type MetadataFn = fn(&str, &str, u64) -> Value;

/// A SigV4-signing XKS client over one HTTP/1.1 connection (plain or TLS),
/// reopened when the server has closed it. A transport failure is answered as
/// status 0 with `{"transport": <error>}`, so a test asserts on it like on
/// any status.
pub struct XksClient {
    /// The proxy's address.
    pub addr: SocketAddr,
    /// The `Host` header (signed).
    pub host: String,
    /// SigV4 access key id.
    pub access_key_id: String,
    /// SigV4 secret.
    pub secret: SecretAccessKey,
    /// The region of the credential scope.
    pub region: String,
    /// The key store's `XksProxyUriPath` (`[/<prefix>]/kms/xks/v1`).
    pub uri_path: String,
    /// The suite's request metadata.
    pub metadata: MetadataFn,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Option<Duration>,
    sender: Option<SendRequest<Full<Bytes>>>,
    requests: u64,
}

impl XksClient {
    /// A plain-HTTP client for `addr` (Host `localhost:<port>`, region `eu-west-1`).
    pub fn new(addr: SocketAddr, access_key_id: &str, secret: &str, uri_path: &str, metadata: MetadataFn) -> Self {
        Self {
            addr,
            host: format!("localhost:{}", addr.port()),
            access_key_id: access_key_id.to_owned(),
            secret: SecretAccessKey::any_sigv4(secret),
            region: "eu-west-1".to_owned(),
            uri_path: uri_path.to_owned(),
            metadata,
            tls: None,
            timeout: None,
            sender: None,
            requests: 0,
        }
    }

    /// Over TLS, trusting the CA certificates in `ca_pem`, checking `server_name`.
    ///
    /// # Panics
    /// On a malformed PEM or server name (test input).
    #[allow(clippy::expect_used)]
    pub fn tls(mut self, ca_pem: &[u8], server_name: &str) -> Self {
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.expect("a PEM certificate")).expect("a CA certificate");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_owned()).expect("a server name");
        self.tls = Some((TlsConnector::from(Arc::new(config)), name));
        self
    }

    /// Gives up on an answer after `limit` (and reconnects for the next request).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The `Host` header to sign and send.
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.to_owned();
        self
    }

    /// The region of the credential scope.
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.to_owned();
        self
    }

    /// Whether the connection has been closed (by the server), or none is open.
    pub fn is_closed(&self) -> bool {
        self.sender.as_ref().is_none_or(SendRequest::is_closed)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let sender = match &self.tls {
            None => {
                let (s, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
                tokio::spawn(c);
                s
            }
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| e.to_string())?;
                let (s, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
                tokio::spawn(c);
                s
            }
        };
        Ok(sender)
    }

    /// Sends a request with exactly these headers (nothing is signed or added).
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

    /// [`XksClient::send`] with the answer as JSON (`Null` when it is not);
    /// a transport failure is status 0 with `{"transport": <error>}`.
    pub async fn raw(&mut self, method: &str, path: &str, headers: &[(String, String)], body: Vec<u8>) -> (u16, Value) {
        match self.send(method, path, headers, body).await {
            Ok((status, bytes)) => (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
            Err(e) => (0, json!({ "transport": e })),
        }
    }

    /// The headers KMS sends for a request signed at `time`: Host,
    /// X-Amz-Date, Authorization, Content-Type.
    pub fn signed_headers(&self, method: &str, path: &str, body: &[u8], time: SystemTime) -> Vec<(String, String)> {
        self.signed_headers_with(&self.secret, method, path, body, time)
    }

    /// As [`XksClient::signed_headers`], signed with another secret.
    pub fn signed_headers_with(
        &self,
        secret: &SecretAccessKey,
        method: &str,
        path: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Vec<(String, String)> {
        let amz_date = sigv4::format_amz_date(time);
        let auth = sigv4::sign(&self.access_key_id, secret, &self.region, method, path, &self.host, &amz_date, body);
        vec![
            ("host".into(), self.host.clone()),
            ("x-amz-date".into(), amz_date),
            ("authorization".into(), auth),
            ("content-type".into(), "application/json".into()),
        ]
    }

    /// A signed POST of a JSON body to a path.
    pub async fn post(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string().into_bytes();
        let headers = self.signed_headers("POST", path, &body, SystemTime::now());
        self.raw("POST", path, &headers, body).await
    }

    /// The next request's metadata for `operation` on `key`.
    pub fn next_metadata(&mut self, operation: &str, key: &str) -> Value {
        self.requests += 1;
        (self.metadata)(operation, key, self.requests)
    }

    /// Encrypt with `key` (AAD and a CDIV request optional).
    pub async fn encrypt(&mut self, key: &str, plaintext: &[u8], aad: Option<&[u8]>, cdiv: bool) -> (u16, Value) {
        let mut body = json!({
            "requestMetadata": self.next_metadata("Encrypt", key),
            "plaintext": STANDARD.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        });
        if let Some(a) = aad {
            set(&mut body, "additionalAuthenticatedData", STANDARD.encode(a).into());
        }
        if cdiv {
            set(&mut body, "ciphertextDataIntegrityValueAlgorithm", "SHA_256".into());
        }
        let path = format!("{}/keys/{key}/encrypt", self.uri_path);
        self.post(&path, &body).await
    }

    /// Decrypt an Encrypt answer `sealed` with `key`.
    pub async fn decrypt(&mut self, key: &str, sealed: &Value, aad: Option<&[u8]>) -> (u16, Value) {
        let mut body = json!({
            "requestMetadata": self.next_metadata("Decrypt", key),
            "ciphertext": sealed.get("ciphertext"),
            "initializationVector": sealed.get("initializationVector"),
            "authenticationTag": sealed.get("authenticationTag"),
            "encryptionAlgorithm": "AES_GCM",
        });
        if let Some(metadata) = sealed.get("ciphertextMetadata").filter(|m| !m.is_null()) {
            set(&mut body, "ciphertextMetadata", metadata.clone());
        }
        if let Some(a) = aad {
            set(&mut body, "additionalAuthenticatedData", STANDARD.encode(a).into());
        }
        let path = format!("{}/keys/{key}/decrypt", self.uri_path);
        self.post(&path, &body).await
    }

    /// GetHealthStatus.
    pub async fn health(&mut self) -> (u16, Value) {
        self.requests += 1;
        let body = json!({"requestMetadata": {"kmsRequestId": format!("health-{}", self.requests), "kmsOperation": "KmsHealthCheck"}});
        let path = format!("{}/health", self.uri_path);
        self.post(&path, &body).await
    }
}

/// Adds a field to a JSON object.
fn set(body: &mut Value, field: &str, value: Value) {
    if let Some(object) = body.as_object_mut() {
        object.insert(field.to_owned(), value);
    }
}
