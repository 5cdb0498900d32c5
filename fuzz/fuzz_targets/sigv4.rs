//! SigV4 as the proxy verifies it: the Authorization header parser, canonical
//! headers, path and query handling over arbitrary requests (never a panic,
//! never accepted without the secret), and a differential property: a request
//! signed the way KMS signs it always verifies.
//!
//! Input layout: parts separated by 0xFF bytes: authorization header, other
//! header lines (`name: value`, newline-separated), path, query, body.
#![no_main]

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use xks_wire::xks::SecretAccessKey;
use xks_wire::xks::sigv4::{self, Request};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";

fn secret() -> SecretAccessKey {
    SecretAccessKey::any_sigv4("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY0123")
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let auth = parts.next().unwrap_or_default();
    let header_lines = parts.next().unwrap_or_default();
    let path = std::str::from_utf8(parts.next().unwrap_or_default()).unwrap_or("/");
    let query = parts.next().and_then(|q| std::str::from_utf8(q).ok());
    let body = parts.next().unwrap_or_default();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let amz_date = sigv4::format_amz_date(now);
    let secret = secret();

    if let Ok(a) = std::str::from_utf8(auth) {
        let _ = sigv4::parse_authorization(a);
    }
    // Arbitrary headers: whatever they hold, no signature made without the secret verifies.
    let mut headers = HeaderMap::new();
    for line in header_lines.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = line.split_at(colon);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value.get(1..).unwrap_or_default())) {
            headers.append(n, v);
        }
    }
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let req = Request { method: "POST", path, query, headers: &headers, authority: None, body };
    assert!(sigv4::verify(&req, |_| Some(&secret), "kms-xks-proxy", now, Duration::from_secs(300)).is_err());

    // Differential: what our KMS-style signer signs, the verifier accepts.
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b)) {
        let host = "xks.example.com";
        let authorization = sigv4::sign(AKID, &secret, "eu-west-1", "POST", path, host, &amz_date, body);
        let mut signed = HeaderMap::new();
        signed.insert("host", HeaderValue::from_static(host));
        if let (Ok(d), Ok(a)) = (HeaderValue::from_str(&amz_date), HeaderValue::from_str(&authorization)) {
            signed.insert("x-amz-date", d);
            signed.insert(http::header::AUTHORIZATION, a);
        }
        let req = Request { method: "POST", path, query: None, headers: &signed, authority: None, body };
        let lookup = |id: &str| (id == AKID).then_some(&secret);
        assert!(
            sigv4::verify(&req, lookup, "kms-xks-proxy", now, Duration::from_secs(300)).is_ok(),
            "genuine signature refused for {path:?}"
        );
    }
});
