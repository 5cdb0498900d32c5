//! Batches: several partial requests in one exchange, `POST` [`PARTIALS_PATH`]
//! (docs/share-service.md, "Batches").
//!
//! A proxy under load has many partial requests to the same partner in
//! flight at once. Sent as one exchange, they share one HTTP/2 stream, one
//! round of system calls and wake-ups at both ends, and one audit group
//! commit at the partner, instead of paying for each. The rules:
//! - a batch is `{"version": 1, "requests": [...]}` with 1 to [`MAX_BATCH`]
//!   requests, each exactly the body `POST /v1/partial` takes (its own
//!   `version` included); no other field is allowed, at either level;
//! - the service treats every request of a batch as it treats one that came
//!   alone: its own refusal check, rate and in-flight bounds and audit record,
//!   durable before anything is released. It answers `200` with
//!   `{"version": 1, "answers": [{"status": <u16>, "body": <JSON>}, ...]}`:
//!   one answer per request, in request order, each the status and body that
//!   `POST /v1/partial` would have answered for it alone;
//! - a batch that cannot be read is answered as a whole, like a single
//!   request that cannot be read (400, or 423 while the service is locked);
//!   so is a batch that runs out of time (503);
//! - a service that predates batches answers `404 not_found`; the proxy then
//!   sends the requests one by one.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{PartialRequest, PartialRequestWire, VERSION, json_error};

/// `POST`: a batch of partial requests.
pub const PARTIALS_PATH: &str = "/v1/partials";
/// Most requests in one batch.
pub const MAX_BATCH: usize = 64;

/// The body of `POST /v1/partials` (version 1), as it travels.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BatchWire {
    version: u32,
    requests: Vec<PartialRequestWire>,
}

/// The answer to a batch, as it travels.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AnswersWire<'a> {
    version: u32,
    #[serde(borrow)]
    answers: Vec<AnswerWire<'a>>,
}

/// One request's answer inside a batch answer.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AnswerWire<'a> {
    status: u16,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// The body of `POST /v1/partials` for `requests` (1 to [`MAX_BATCH`] of
/// them; the caller splits longer runs).
pub fn encode_batch<'a>(requests: impl IntoIterator<Item = &'a PartialRequest>) -> String {
    let wire = BatchWire { version: VERSION, requests: requests.into_iter().map(PartialRequest::to_wire).collect() };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Strict parse of a batch: the version-1 envelope with 1 to [`MAX_BATCH`]
/// requests, each checked as [`PartialRequest::parse`] checks it. One bad
/// request makes the whole batch bad (a proxy never sends one).
///
/// # Errors
/// A message naming the problem (never echoing a field's value).
pub fn parse_batch(body: &[u8]) -> Result<Vec<PartialRequest>, String> {
    let wire: BatchWire = serde_json::from_slice(body).map_err(|e| json_error(&e, "partial batch"))?;
    if wire.version != VERSION {
        return Err(format!("unsupported batch version (expected {VERSION})"));
    }
    if wire.requests.is_empty() || wire.requests.len() > MAX_BATCH {
        return Err(format!("a batch carries 1 to {MAX_BATCH} requests"));
    }
    wire.requests.into_iter().enumerate().map(|(i, r)| PartialRequest::from_wire(r).map_err(|e| format!("request {i}: {e}"))).collect()
}

/// The answer to a batch: one `(status, body)` per request, in request order,
/// where each body is the JSON text `POST /v1/partial` would have answered.
/// The result carries partials: it is wiped when dropped.
///
/// # Errors
/// When a body is not JSON (a bug of the caller: nothing is sent).
pub fn render_answers<'a>(answers: impl IntoIterator<Item = (StatusCode, &'a str)>) -> Result<Zeroizing<String>, String> {
    let answers = answers
        .into_iter()
        .map(|(status, body)| {
            let body = serde_json::from_str::<&RawValue>(body).map_err(|_| "an answer body is not JSON".to_owned())?;
            Ok(AnswerWire { status: status.as_u16(), body })
        })
        .collect::<Result<Vec<_>, String>>()?;
    serde_json::to_string(&AnswersWire { version: VERSION, answers }).map(Zeroizing::new).map_err(|_| "answers not encodable".to_owned())
}

/// Reads the answer to a batch of `expected` requests: one `(status, body)`
/// per request, in request order, each body to be read by
/// [`super::read_answer`]. The bodies borrow from `body`.
///
/// # Errors
/// A message when the answer is malformed, of another version, or does not
/// hold exactly one answer per request.
pub fn parse_answers(body: &[u8], expected: usize) -> Result<Vec<(StatusCode, &[u8])>, String> {
    let wire: AnswersWire<'_> = serde_json::from_slice(body).map_err(|e| json_error(&e, "batch answer"))?;
    if wire.version != VERSION {
        return Err(format!("unsupported batch answer version (expected {VERSION})"));
    }
    if wire.answers.len() != expected {
        return Err(format!("{} answers to a batch of {expected}", wire.answers.len()));
    }
    wire.answers
        .into_iter()
        .map(|a| {
            let status = StatusCode::from_u16(a.status).map_err(|_| "an answer's status is not an HTTP status".to_owned())?;
            Ok((status, a.body.get().as_bytes()))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::super::{ErrorBody, ErrorCode, RefusalScope, RequestId};
    use super::*;
    use xks_threshold::{CombiningSet, HolderId, KeyPath};

    fn request(i: usize) -> PartialRequest {
        PartialRequest {
            request_id: RequestId::new(format!("req-{i}")).unwrap(),
            key_path: KeyPath::new(format!("tenant/key-{i}")).unwrap(),
            generation: 1,
            epoch: 0,
            set: CombiningSet::new([HolderId::new(1).unwrap(), HolderId::new(2).unwrap()]).unwrap(),
            proof: i.is_multiple_of(2),
        }
    }

    #[test]
    fn a_batch_survives_its_own_encoding_and_each_request_is_the_single_form() {
        let requests: Vec<_> = (0..3).map(request).collect();
        let body = encode_batch(&requests);
        assert_eq!(parse_batch(body.as_bytes()).unwrap(), requests);
        let singles: Vec<_> = requests.iter().map(PartialRequest::to_json).collect();
        assert_eq!(body, format!(r#"{{"version":1,"requests":[{}]}}"#, singles.join(",")));
    }

    #[test]
    fn malformed_batches_are_refused_as_a_whole() {
        let ok = encode_batch(&[request(0), request(1)]);
        let too_many = encode_batch(&(0..=MAX_BATCH).map(request).collect::<Vec<_>>());
        for (what, body) in [
            ("empty", r#"{"version":1,"requests":[]}"#.to_owned()),
            ("too many", too_many),
            ("batch version", ok.replacen("\"version\":1", "\"version\":2", 1)),
            ("unknown batch field", ok.replacen("{\"version\":1,", "{\"version\":1,\"x\":1,", 1)),
            ("unknown request field", ok.replace("\"proof\":true", "\"proof\":true,\"x\":1")),
            ("one bad request id", ok.replace("req-1", "a b")),
            ("not an array", r#"{"version":1,"requests":{}}"#.to_owned()),
        ] {
            assert!(parse_batch(body.as_bytes()).is_err(), "{what}");
        }
        let second_version_2 = ok.replace("{\"version\":1,\"requestId\":\"req-1\"", "{\"version\":2,\"requestId\":\"req-1\"");
        assert_ne!(second_version_2, ok);
        assert!(parse_batch(second_version_2.as_bytes()).unwrap_err().starts_with("request 1:"));
    }

    #[test]
    fn answers_keep_each_status_and_body_in_order() {
        let refusal = ErrorBody::render(ErrorCode::KeyPathDenied, "denied");
        let partial = r#"{"version":1,"partial":"00"}"#;
        let rendered = render_answers([(StatusCode::OK, partial), (StatusCode::FORBIDDEN, refusal.as_str())]).unwrap();
        let answers = parse_answers(rendered.as_bytes(), 2).unwrap();
        assert_eq!(answers, vec![(StatusCode::OK, partial.as_bytes()), (StatusCode::FORBIDDEN, refusal.as_bytes())]);
        // Each body reads as a single answer would: the refusal stays a refusal.
        let body: ErrorBody = serde_json::from_slice(answers[1].1).unwrap();
        assert_eq!(RefusalScope::of_answer(answers[1].0, &body.error), Some(RefusalScope::KeyPath));
    }

    #[test]
    fn malformed_answers_are_refused() {
        let one = render_answers([(StatusCode::OK, "{}")]).unwrap();
        assert!(parse_answers(one.as_bytes(), 2).is_err(), "count");
        assert!(parse_answers(one.replace("200", "1000").as_bytes(), 1).is_err(), "status");
        assert!(parse_answers(one.replace("\"version\":1", "\"version\":2").as_bytes(), 1).is_err(), "version");
        assert!(parse_answers(one.replace("\"body\"", "\"x\":1,\"body\"").as_bytes(), 1).is_err(), "unknown field");
        assert!(parse_answers(b"[", 1).is_err(), "JSON");
        assert!(render_answers([(StatusCode::OK, "not json")]).is_err());
    }
}
