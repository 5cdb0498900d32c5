//! The proxy's side of the partner protocol for tests: mutual TLS to a share
//! service, HTTP/1.1 with keep-alive, the request built by the wire contract.

use std::net::SocketAddr;

use xks_threshold::{CombiningSet, HolderId, KeyPath};
use xks_wire::partner::{PARTIAL_PATH, PARTIALS_PATH, POINT_ENCODING_HEADER, PartialRequest, RequestId, encode_batch};

use xks_pki::CertifiedKey;

use crate::conn::{Connection, tls_config};

/// A client of one share service, verifying its certificate for `localhost`.
pub struct PartnerClient {
    connection: Connection,
}

impl PartnerClient {
    /// Trusts the CA certificates in `ca_pem`; presents `client` when given.
    pub fn new(addr: SocketAddr, ca_pem: &str, client: Option<&CertifiedKey>) -> Self {
        Self { connection: Connection::tls(addr, tls_config(ca_pem.as_bytes(), client), "localhost") }
    }

    /// Sends a request; `Err` when TLS or the connection fails (e.g. a refused
    /// certificate). The body is answered as text.
    ///
    /// # Errors
    /// The transport failure, as text.
    pub async fn request(&mut self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Result<(u16, String), String> {
        self.request_with(method, path, content_type, &[], body).await
    }

    /// As [`PartnerClient::request`], with `extra` headers.
    ///
    /// # Errors
    /// The transport failure, as text.
    pub async fn request_with(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        let mut headers = vec![("host".to_owned(), "localhost".to_owned())];
        if let Some(ct) = content_type {
            headers.push(("content-type".to_owned(), ct.to_owned()));
        }
        headers.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let (status, bytes) = self.connection.send(method, path, &headers, body).await?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// A partial for `key_path` (generation 1, epoch 0) towards combining set
    /// `set`, with or without its proof: the status and the body.
    ///
    /// # Panics
    /// On an invalid key path or set (test input), or a transport failure.
    #[allow(clippy::expect_used)]
    pub async fn partial(&mut self, key_path: &str, set: &[u32], proof: bool) -> (u16, String) {
        let body = request("test-req", key_path, set, proof).to_json().into_bytes();
        self.request("POST", PARTIAL_PATH, Some("application/json"), body).await.expect("an answer")
    }

    /// As [`PartnerClient::partial`], with [`POINT_ENCODING_HEADER`] set to `encoding`.
    ///
    /// # Panics
    /// As [`PartnerClient::partial`].
    #[allow(clippy::expect_used)]
    pub async fn partial_with_encoding(&mut self, key_path: &str, set: &[u32], proof: bool, encoding: &str) -> (u16, String) {
        let body = request("test-req", key_path, set, proof).to_json().into_bytes();
        let header = [(POINT_ENCODING_HEADER, encoding)];
        self.request_with("POST", PARTIAL_PATH, Some("application/json"), &header, body).await.expect("an answer")
    }

    /// A batch (`POST /v1/partials`) of one request per `(key path, proof)`,
    /// towards combining set `set`: the status and the body.
    ///
    /// # Panics
    /// On an invalid key path or set (test input), or a transport failure.
    #[allow(clippy::expect_used)]
    pub async fn batch(&mut self, requests: &[(&str, bool)], set: &[u32]) -> (u16, String) {
        let requests: Vec<_> =
            requests.iter().enumerate().map(|(i, (key_path, proof))| request(&format!("test-batch-{i}"), key_path, set, *proof)).collect();
        self.request("POST", PARTIALS_PATH, Some("application/json"), encode_batch(&requests).into_bytes()).await.expect("an answer")
    }
}

/// A partial request of generation 1, epoch 0.
#[allow(clippy::expect_used)]
fn request(id: &str, key_path: &str, set: &[u32], proof: bool) -> PartialRequest {
    PartialRequest {
        request_id: RequestId::new(id).expect("a request id"),
        key_path: KeyPath::new(key_path).expect("a key path"),
        generation: 1,
        epoch: 0,
        set: CombiningSet::new(set.iter().map(|&h| HolderId::new(h).expect("a holder id"))).expect("a combining set"),
        proof,
    }
}
