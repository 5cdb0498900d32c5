//! The partner protocol: what the proxy asks a share service over mutual TLS
//! and what it answers (docs/share-service.md describes the service).
//!
//! - `POST` [`PARTIAL_PATH`]: a [`PartialRequest`] in, the holder's weighted
//!   partial (`xks_threshold::Partial` JSON) out, or an [`ErrorBody`] whose
//!   [`ErrorCode`] fixes the HTTP status;
//! - `POST` [`PARTIALS_PATH`]: up to [`MAX_BATCH`] requests in one exchange,
//!   each answered as if it had come alone ([`batch`]);
//! - [`RequestId`]: the id the partner writes into its audit log, derived from
//!   the kmsRequestId by one rule;
//! - [`read_answer`]: the proxy's reading of an answer, which accepts a partial
//!   only once it is proven and tells a refusal from a failure.

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
pub mod batch;

pub use batch::{MAX_BATCH, PARTIALS_PATH, encode_batch, parse_answers, parse_batch, render_answers};

use xks_threshold::encoding::PointEncoding;
use xks_threshold::{Combiner, CombiningSet, HolderId, KeyPath, KeyPoint, Partial, PartialCommitment, VerifiedPartial};

/// `POST`: one weighted partial.
pub const PARTIAL_PATH: &str = "/v1/partial";
/// `GET`: the service's health (`ok`, `locked`, `audit_failed`).
pub const HEALTH_PATH: &str = "/v1/health";
/// `POST`: evaluate and verify a proven partial for every held share.
pub const SELF_TEST_PATH: &str = "/v1/self-test";
/// `GET`: Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";
/// The latest signed audit checkpoint (GET; `xks_audit::Checkpoint` as JSON),
/// which the proxy fetches and keeps as the partner's witness.
pub const CHECKPOINT_PATH: &str = "/v1/audit/checkpoint";
/// Request header by which a proxy asks for its partials as SEC1 uncompressed
/// points ([`POINT_ENCODING_UNCOMPRESSED`]), which it reads without a square
/// root (docs/share-service.md, "The point's form"). A service that predates
/// it ignores it and answers `SerializeElement`; a proxy reads both.
pub const POINT_ENCODING_HEADER: &str = "xks-point-encoding";
/// The value of [`POINT_ENCODING_HEADER`] that asks for uncompressed points.
pub const POINT_ENCODING_UNCOMPRESSED: &str = "uncompressed";
/// The version of [`PartialRequest`] this crate speaks.
pub const VERSION: u32 = 1;
/// Longest request id.
pub const MAX_REQUEST_ID: usize = 128;

/// The id of one partial request in the partner's audit log: 1 to 128
/// printable ASCII characters without spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Checks the rule.
    ///
    /// # Errors
    /// A message naming the rule.
    pub fn new(id: impl Into<String>) -> Result<Self, String> {
        let id = id.into();
        if Self::allowed(&id) {
            Ok(Self(id))
        } else {
            Err(format!("requestId must be 1 to {MAX_REQUEST_ID} printable ASCII characters without spaces"))
        }
    }

    /// The id the proxy sends for a KMS request: the kmsRequestId itself when
    /// the rule allows it (a UUID always does), otherwise `sha256:` and the
    /// first 32 hex digits of its SHA-256 (kmsRequestId is opaque and is never
    /// rejected for its structure). Reconciling the partner's audit log with
    /// CloudTrail applies the same rule.
    pub fn for_kms_request(kms_request_id: &str) -> Self {
        if Self::allowed(kms_request_id) {
            return Self(kms_request_id.to_owned());
        }
        let h = hex::encode(Sha256::digest(kms_request_id.as_bytes()));
        Self(format!("sha256:{}", h.get(..32).unwrap_or(&h)))
    }

    fn allowed(id: &str) -> bool {
        !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of `POST /v1/partial` (version 1), as it travels.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PartialRequestWire {
    version: u32,
    request_id: String,
    key_path: String,
    generation: u32,
    epoch: u32,
    set: Vec<u32>,
    proof: bool,
}

/// A partial request, every field checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialRequest {
    /// The caller's request id (the proxy sends [`RequestId::for_kms_request`]).
    pub request_id: RequestId,
    /// The key path; the share service hashes it to the curve itself.
    pub key_path: KeyPath,
    /// Generation of the key set.
    pub generation: u32,
    /// Epoch of the key set.
    pub epoch: u32,
    /// Combining set whose Lagrange coefficient weights the partial.
    pub set: CombiningSet,
    /// Whether to include a DLEQ proof.
    pub proof: bool,
}

impl PartialRequest {
    /// Strict parse: a JSON object with exactly the version-1 fields, then
    /// value checks.
    ///
    /// # Errors
    /// A message naming the problem (never echoing a field's value).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let wire: PartialRequestWire = serde_json::from_slice(body).map_err(|e| json_error(&e, "partial request"))?;
        Self::from_wire(wire)
    }

    /// Value checks of one request as it travelled.
    fn from_wire(wire: PartialRequestWire) -> Result<Self, String> {
        if wire.version != VERSION {
            return Err(format!("unsupported request version (expected {VERSION})"));
        }
        let request_id = RequestId::new(wire.request_id)?;
        let key_path = KeyPath::new(wire.key_path).map_err(|e| e.to_string())?;
        if wire.set.len() > usize::from(HolderId::MAX) {
            return Err("set is too long".into());
        }
        let ids = wire.set.into_iter().map(HolderId::new).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let set = CombiningSet::new(ids).map_err(|e| e.to_string())?;
        Ok(Self { request_id, key_path, generation: wire.generation, epoch: wire.epoch, set, proof: wire.proof })
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_wire()).unwrap_or_default()
    }

    /// The request as it travels.
    fn to_wire(&self) -> PartialRequestWire {
        PartialRequestWire {
            version: VERSION,
            request_id: self.request_id.0.clone(),
            key_path: self.key_path.as_str().to_owned(),
            generation: self.generation,
            epoch: self.epoch,
            set: self.set.holders().iter().map(|h| u32::from(h.get())).collect(),
            proof: self.proof,
        }
    }
}

/// The form a request's [`POINT_ENCODING_HEADER`] asks for: uncompressed
/// when it says so, `SerializeElement` otherwise (absent or unknown values).
pub fn requested_point_encoding(header: Option<&[u8]>) -> PointEncoding {
    match header {
        Some(v) if v == POINT_ENCODING_UNCOMPRESSED.as_bytes() => PointEncoding::Uncompressed,
        _ => PointEncoding::Compressed,
    }
}

/// A serde_json error as a message that names where, never what.
fn json_error(e: &serde_json::Error, schema: &str) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON".to_owned(),
        _ => format!("JSON does not match the {schema} schema"),
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Every error a share service answers, with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the request breaks the protocol.
    InvalidRequest,
    /// 413: the body is larger than the service accepts.
    BodyTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 404: no such route.
    NotFound,
    /// 404: no share for the requested generation and epoch.
    UnknownKeySet,
    /// 423: the service is locked (by its operator, or by the anomaly detector).
    Locked,
    /// 403: the key path is denied by the service's operator.
    KeyPathDenied,
    /// 423: the key path is locked by the anomaly detector.
    KeyPathLocked,
    /// 429: above the service's request rate.
    RateLimited,
    /// 503: too many requests in flight.
    Overloaded,
    /// 503: the request did not finish in time.
    Timeout,
    /// 503: the audit record could not be made durable, so nothing was released.
    AuditUnavailable,
    /// 500: the service failed.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidRequest,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::UnknownKeySet,
        ErrorCode::Locked,
        ErrorCode::KeyPathDenied,
        ErrorCode::KeyPathLocked,
        ErrorCode::RateLimited,
        ErrorCode::Overloaded,
        ErrorCode::Timeout,
        ErrorCode::AuditUnavailable,
        ErrorCode::Internal,
    ];

    /// The wire `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnknownKeySet => "unknown_key_set",
            ErrorCode::Locked => "locked",
            ErrorCode::KeyPathDenied => "key_path_denied",
            ErrorCode::KeyPathLocked => "key_path_locked",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Timeout => "timeout",
            ErrorCode::AuditUnavailable => "audit_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code for its wire `error`.
    pub fn from_wire(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The HTTP status the service answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotFound | ErrorCode::UnknownKeySet => StatusCode::NOT_FOUND,
            ErrorCode::Locked | ErrorCode::KeyPathLocked => StatusCode::LOCKED,
            ErrorCode::KeyPathDenied => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Overloaded | ErrorCode::Timeout | ErrorCode::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer: `{"error": <code>, "message": <text>}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ErrorBody {
    /// The wire [`ErrorCode`].
    pub error: String,
    /// A human message (never a secret, never a request value).
    pub message: String,
}

impl ErrorBody {
    /// The JSON body for a code and a message.
    pub fn render(code: ErrorCode, message: &str) -> String {
        serde_json::to_string(&ErrorBody { error: code.as_str().to_owned(), message: message.to_owned() }).unwrap_or_default()
    }
}

/// What a partner's refusal covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalScope {
    /// Every key path (operator lock, automatic lock of the whole service).
    Partner,
    /// The key path of the request (deny, automatic lock of one key path).
    KeyPath,
}

impl RefusalScope {
    /// Whether an error answer is a refusal (423 locked, 403 denied), and what
    /// it covers: the key path for the key-path codes, else the whole partner
    /// (a code this side does not know refuses more, never less).
    pub fn of_answer(status: StatusCode, code: &str) -> Option<Self> {
        if status != StatusCode::LOCKED && status != StatusCode::FORBIDDEN {
            return None;
        }
        Some(match ErrorCode::from_wire(code) {
            Some(ErrorCode::KeyPathDenied | ErrorCode::KeyPathLocked) => RefusalScope::KeyPath,
            _ => RefusalScope::Partner,
        })
    }
}

/// Why an answer gave no accepted partial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// A deliberate "no" (423 or 403): the partner's operator or anomaly lock.
    /// A code this side does not know is taken as covering the whole partner.
    Refused {
        /// What it covers.
        scope: RefusalScope,
        /// The HTTP status.
        status: u16,
        /// The partner's error code, sanitised ([`loggable_code`]).
        code: String,
    },
    /// Another error status, with the partner's error code (sanitised).
    Status(u16, String),
    /// A 200 whose partial is malformed, from another holder, or unproven.
    Invalid(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Refused { status, code, .. } => write!(f, "{status} {code}"),
            AnswerError::Status(s, c) => write!(f, "status {s} {c}"),
            AnswerError::Invalid(e) => write!(f, "invalid partial: {e}"),
        }
    }
}

/// Reads a partner's answer and accepts its partial only once it is proven:
/// by its DLEQ proof, or (when `commitment` is given) by matching a commitment
/// to a partial whose proof was verified earlier. A refusal (423, 403) is
/// reported as such so the caller does not route around it. Pure, so the
/// fuzzer drives it with arbitrary answers.
///
/// # Errors
/// [`AnswerError`].
pub fn read_answer(
    status: StatusCode,
    bytes: &[u8],
    holder: HolderId,
    combiner: &Combiner,
    point: &KeyPoint,
    commitment: Option<&PartialCommitment>,
) -> Result<VerifiedPartial, AnswerError> {
    if status != StatusCode::OK {
        let code = serde_json::from_slice::<ErrorBody>(bytes).map(|b| loggable_code(&b.error)).unwrap_or_default();
        return Err(match RefusalScope::of_answer(status, &code) {
            Some(scope) => AnswerError::Refused { scope, status: status.as_u16(), code },
            None => AnswerError::Status(status.as_u16(), code),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| AnswerError::Invalid("response is not UTF-8".into()))?;
    let partial = Partial::from_json(text).map_err(|e| AnswerError::Invalid(e.to_string()))?;
    if partial.holder() != holder {
        return Err(AnswerError::Invalid(format!("partial from holder {} instead of {}", partial.holder(), holder)));
    }
    match commitment {
        Some(c) => combiner.check_commitment(point, partial, c).map_err(|e| AnswerError::Invalid(format!("commitment check: {e}"))),
        None => combiner.verify(point, partial).map_err(|e| AnswerError::Invalid(format!("DLEQ proof: {e}"))),
    }
}

/// A partner's error code as it may be logged: printable ASCII without
/// spaces, at most 64 characters; anything else becomes `?`.
pub fn loggable_code(code: &str) -> String {
    code.chars().take(64).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn request() -> PartialRequest {
        PartialRequest {
            request_id: RequestId::new("req-1").unwrap(),
            key_path: KeyPath::new("tenant/key-1").unwrap(),
            generation: 1,
            epoch: 0,
            set: CombiningSet::new([HolderId::new(1).unwrap(), HolderId::new(2).unwrap()]).unwrap(),
            proof: true,
        }
    }

    #[test]
    fn a_request_survives_its_own_encoding() {
        let r = request();
        assert_eq!(PartialRequest::parse(r.to_json().as_bytes()).unwrap(), r);
        assert_eq!(
            r.to_json(),
            r#"{"version":1,"requestId":"req-1","keyPath":"tenant/key-1","generation":1,"epoch":0,"set":[1,2],"proof":true}"#
        );
    }

    #[test]
    fn malformed_requests_are_refused_by_name() {
        let ok = request().to_json();
        for (what, body) in [
            ("unknown field", ok.replace("\"proof\":true", "\"proof\":true,\"x\":1")),
            ("version", ok.replace("\"version\":1", "\"version\":2")),
            ("request id", ok.replace("req-1", "a b")),
            ("request id length", ok.replace("req-1", &"r".repeat(129))),
            ("key path", ok.replace("tenant/key-1", &"k".repeat(256))),
            ("holder 0", ok.replace("[1,2]", "[0,2]")),
            ("duplicate holder", ok.replace("[1,2]", "[2,2]")),
            ("empty set", ok.replace("[1,2]", "[]")),
        ] {
            assert!(PartialRequest::parse(body.as_bytes()).is_err(), "{what}");
        }
    }

    /// The kmsRequestId → partner request id rule (docs/xks-proxy.md).
    #[test]
    fn request_ids_for_kms_requests() {
        let uuid = "b4a6e8a0-2b5e-4c9a-9a8e-0d3c9f1e2a7b";
        assert_eq!(RequestId::for_kms_request(uuid).as_str(), uuid);
        for odd in ["", "has space", &"x".repeat(129), "ü"] {
            let id = RequestId::for_kms_request(odd);
            assert!(id.as_str().starts_with("sha256:") && id.as_str().len() == 39, "{odd:?}");
            assert!(RequestId::new(id.as_str()).is_ok());
        }
    }

    #[test]
    fn every_error_code_has_one_status_and_round_trips() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(c.as_str()), Some(c));
            let body: ErrorBody = serde_json::from_str(&ErrorBody::render(c, "m")).unwrap();
            assert_eq!(body.error, c.as_str());
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
        assert_eq!(ErrorCode::Locked.status(), StatusCode::LOCKED);
        assert_eq!(ErrorCode::KeyPathDenied.status(), StatusCode::FORBIDDEN);
    }

    /// Issue 15 §6: a partner's error code cannot inject lines or escape
    /// sequences into the proxy's log, nor make it long.
    #[test]
    fn partner_error_codes_are_sanitised_before_they_are_logged() {
        assert_eq!(loggable_code("locked"), "locked");
        assert_eq!(loggable_code("x\nFAKE log line\u{1b}[31m"), "x?FAKE?log?line?[31m");
        assert_eq!(loggable_code(&"a".repeat(1000)).len(), 64);
    }
}
