//! The requests KMS would send (XKS Proxy API v1 bodies, SigV4-signed) and
//! the checks on every answer: a 200 with the fields the spec requires, and
//! for Decrypt the plaintext that was encrypted.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use xks_wire::xks::sigv4;

use super::target::Target;

/// One Encrypt answer, kept to be decrypted later.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    authentication_tag: String,
    ciphertext: String,
    initialization_vector: String,
    #[serde(default)]
    ciphertext_metadata: Option<String>,
    #[serde(default)]
    ciphertext_data_integrity_value: Option<String>,
    #[serde(skip)]
    key_id: String,
    #[serde(skip)]
    plaintext: String,
    #[serde(skip)]
    aad: String,
}

#[derive(Deserialize)]
struct Opened {
    plaintext: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct XksError {
    error_name: String,
}

/// Signs and builds requests for one worker.
pub struct Workload {
    target: Arc<Target>,
    worker: usize,
    counter: u64,
    plaintext: String,
    aad: String,
}

/// What an answer was judged to be.
pub enum Outcome {
    /// A correct answer.
    Ok,
    /// Anything else, by kind (the XKS errorName, or what was wrong).
    Error(String),
}

fn metadata(operation: &str, request_id: &str, key_arn: Option<&str>) -> serde_json::Value {
    let mut m = serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:role/xksctl-bench",
        "kmsOperation": operation,
        "kmsRequestId": request_id,
    });
    if let (Some(arn), Some(obj)) = (key_arn, m.as_object_mut()) {
        obj.insert("kmsKeyArn".into(), arn.into());
        obj.insert("kmsViaService".into(), "bench".into());
    }
    m
}

impl Workload {
    /// A workload with its own random plaintext and AAD of the given sizes.
    pub fn new(target: Arc<Target>, worker: usize, plaintext_bytes: usize, aad_bytes: usize) -> Self {
        let mut p = vec![0u8; plaintext_bytes];
        let mut a = vec![0u8; aad_bytes];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut p);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut a);
        Self { target, worker, counter: 0, plaintext: B64.encode(p), aad: B64.encode(a) }
    }

    fn next_request_id(&mut self) -> String {
        self.counter += 1;
        format!("xksctl-bench-{:04x}-{:012x}", self.worker, self.counter)
    }

    fn key_id(&self, n: u64) -> &str {
        let keys = &self.target.key_ids;
        let idx = usize::try_from(n).unwrap_or(0) % keys.len().max(1);
        keys.get(idx).map_or("", String::as_str)
    }

    fn signed(&self, path: String, body: Vec<u8>) -> hyper::Request<Full<Bytes>> {
        let t = &*self.target;
        let amz_date = sigv4::format_amz_date(SystemTime::now());
        let auth = sigv4::sign(&t.access_key_id, &t.secret, &t.region, "POST", &path, t.host_header(), &amz_date, &body);
        let builder = hyper::Request::post(path)
            .header("host", t.host_header())
            .header("x-amz-date", amz_date)
            .header("authorization", auth)
            .header("content-type", "application/json");
        // Every part is valid by construction; an error here would be a bug, reported as a failed request.
        builder.body(Full::new(Bytes::from(body))).unwrap_or_else(|_| hyper::Request::new(Full::new(Bytes::new())))
    }

    /// An Encrypt request (with CDIV, as KMS sends it) for the n-th key id.
    pub fn encrypt(&mut self, n: u64) -> hyper::Request<Full<Bytes>> {
        let rid = self.next_request_id();
        let key_id = self.key_id(n).to_owned();
        let body = serde_json::json!({
            "requestMetadata": metadata("Encrypt", &rid, Some(&format!("arn:aws:kms:us-east-1:123456789012:key/{key_id}"))),
            "plaintext": self.plaintext,
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": self.aad,
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
        });
        self.signed(format!("{}/keys/{key_id}/encrypt", self.target.uri_path), body.to_string().into_bytes())
    }

    /// A Decrypt request for an earlier Encrypt answer.
    pub fn decrypt(&mut self, sealed: &Sealed) -> hyper::Request<Full<Bytes>> {
        let rid = self.next_request_id();
        let mut body = serde_json::json!({
            "requestMetadata": metadata("Decrypt", &rid, Some(&format!("arn:aws:kms:us-east-1:123456789012:key/{}", sealed.key_id))),
            "ciphertext": sealed.ciphertext,
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": sealed.initialization_vector,
            "authenticationTag": sealed.authentication_tag,
            "additionalAuthenticatedData": sealed.aad,
        });
        if let (Some(m), Some(obj)) = (&sealed.ciphertext_metadata, body.as_object_mut()) {
            obj.insert("ciphertextMetadata".into(), m.clone().into());
        }
        self.signed(format!("{}/keys/{}/decrypt", self.target.uri_path, sealed.key_id), body.to_string().into_bytes())
    }

    /// A GetHealthStatus request.
    pub fn health(&mut self) -> hyper::Request<Full<Bytes>> {
        let rid = self.next_request_id();
        let body = serde_json::json!({ "requestMetadata": { "kmsRequestId": rid, "kmsOperation": "CreateCustomKeyStore" } });
        self.signed(format!("{}/health", self.target.uri_path), body.to_string().into_bytes())
    }

    /// Judges an Encrypt answer; on success returns what Decrypt needs.
    pub fn check_encrypt(&self, status: u16, body: &[u8], n: u64) -> (Outcome, Option<Sealed>) {
        if status != 200 {
            return (error_outcome(status, body), None);
        }
        match serde_json::from_slice::<Sealed>(body) {
            Ok(mut s) if s.ciphertext_data_integrity_value.is_some() && B64.decode(&s.authentication_tag).is_ok_and(|t| t.len() == 16) => {
                s.key_id = self.key_id(n).to_owned();
                s.plaintext.clone_from(&self.plaintext);
                s.aad.clone_from(&self.aad);
                (Outcome::Ok, Some(s))
            }
            _ => (Outcome::Error("invalid Encrypt response".into()), None),
        }
    }

    /// Judges a Decrypt answer: it must give back the plaintext that was sealed.
    pub fn check_decrypt(status: u16, body: &[u8], sealed: &Sealed) -> Outcome {
        if status != 200 {
            return error_outcome(status, body);
        }
        match serde_json::from_slice::<Opened>(body) {
            Ok(o) if o.plaintext == sealed.plaintext => Outcome::Ok,
            Ok(_) => Outcome::Error("WRONG PLAINTEXT from Decrypt".into()),
            Err(_) => Outcome::Error("invalid Decrypt response".into()),
        }
    }

    /// Judges a health answer.
    pub fn check_health(status: u16, body: &[u8]) -> Outcome {
        if status != 200 {
            return error_outcome(status, body);
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) if v.get("ekmFleetDetails").is_some() => Outcome::Ok,
            _ => Outcome::Error("invalid GetHealthStatus response".into()),
        }
    }
}

/// A non-200 answer as an error kind: its status and the XKS `errorName`.
pub fn error_outcome(status: u16, body: &[u8]) -> Outcome {
    match serde_json::from_slice::<XksError>(body) {
        Ok(e) => Outcome::Error(format!("{status} {}", e.error_name)),
        Err(_) => Outcome::Error(format!("{status} (no XKS error body)")),
    }
}
