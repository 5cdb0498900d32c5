//! KMS's side of the XKS API for tests.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use xks_wire::xks::SecretAccessKey;
use xks_wire::xks::sigv4;

use crate::conn::{Connection, tls_config};

/// The `requestMetadata` a suite sends: (kmsOperation, externalKeyId, request
/// number) → the JSON object.
pub type MetadataFn = fn(&str, &str, u64) -> Value;

/// A SigV4-signing XKS client over one HTTP/1.1 connection (plain or TLS),
/// reopened when the server has closed it. A transport failure is answered as
/// status 0 with `{"transport": <error>}`, so a test asserts on it like on
/// any status.
pub struct XksClient {
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
    connection: Connection,
    requests: u64,
}

impl XksClient {
    /// A plain-HTTP client for `addr` (Host `localhost:<port>`, region `eu-west-1`).
    pub fn new(addr: SocketAddr, access_key_id: &str, secret: &str, uri_path: &str, metadata: MetadataFn) -> Self {
        Self {
            host: format!("localhost:{}", addr.port()),
            access_key_id: access_key_id.to_owned(),
            secret: SecretAccessKey::any_sigv4(secret),
            region: "eu-west-1".to_owned(),
            uri_path: uri_path.to_owned(),
            metadata,
            connection: Connection::plain(addr),
            requests: 0,
        }
    }

    /// Over TLS, trusting the CA certificates in `ca_pem`, checking `server_name`.
    pub fn tls(mut self, ca_pem: &[u8], server_name: &str) -> Self {
        self.connection = Connection::tls(self.connection.addr, tls_config(ca_pem, None), server_name);
        self
    }

    /// Gives up on an answer after `limit` (and reconnects for the next request).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.connection.set_timeout(limit);
        self
    }

    /// The same client towards another address (same TLS settings and Host).
    pub fn at(mut self, addr: SocketAddr) -> Self {
        self.connection.set_addr(addr);
        self
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.connection.addr
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
        self.connection.is_closed()
    }

    /// Sends a request with exactly these headers (nothing is signed or added).
    ///
    /// # Errors
    /// A transport failure (the connection is dropped and reopened next time).
    pub async fn send(&mut self, method: &str, path: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        self.connection.send(method, path, headers, body).await
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
