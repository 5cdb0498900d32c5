//! Spec "Logging": plaintext (and AAD) sent to Encrypt or returned by Decrypt
//! never appears in the proxy's or the share services' logs, at any level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

// The suite's deployment; this binary uses only part of it.
#[allow(dead_code)]
#[path = "suite/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_logging_never_contains_plaintext_or_aad() {
    let capture = Capture::default();
    let w = capture.clone();
    tracing_subscriber::fmt().json().with_env_filter("trace").with_writer(move || w.clone()).init();
    let mut d = Deployment::start("logs", Options::default()).await;
    let mut c = d.client();
    let plaintext = b"PLAINTEXT-CANARY-7f3a9b2c-do-not-log";
    let aad = b"AAD-CANARY-51d0e8";
    let (s, enc) = c.encrypt(KEY, plaintext, Some(aad), true).await;
    assert_eq!(s, 200);
    let (s, dec) = c.decrypt(KEY, &enc, Some(aad)).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, plaintext.to_vec()));
    let (s, _) = c.decrypt(KEY, &enc, Some(b"AAD-CANARY-wrong")).await;
    assert_eq!(s, 400);
    // Issue 15 §6: a validation failure's log line carries its kmsRequestId; an
    // over-long kmsRequestId (opaque: never refused) is logged bounded.
    let mut no_plaintext = serde_json::json!({"requestMetadata": metadata("Encrypt"), "encryptionAlgorithm": "AES_GCM"});
    no_plaintext["requestMetadata"]["kmsRequestId"] = "validation-failure-request-id-1".into();
    let (s, _) = c.post(&format!("{PREFIX}/kms/xks/v1/keys/{KEY}/encrypt"), &no_plaintext).await;
    assert_eq!(s, 400);
    let long_id = format!("LONG-ID-{}\ninjected line", "x".repeat(5000));
    let mut long = serde_json::json!({"requestMetadata": metadata("Encrypt"), "plaintext": "AAEC", "encryptionAlgorithm": "AES_GCM"});
    long["requestMetadata"]["kmsRequestId"] = long_id.clone().into();
    let (s, r) = c.post(&format!("{PREFIX}/kms/xks/v1/keys/{KEY}/encrypt"), &long).await;
    assert_eq!(s, 200, "a long kmsRequestId is not refused: {r}");
    d.stop_share(2).await;
    let _ = c.encrypt(KEY, plaintext, Some(aad), false).await;
    d.proxy.take().unwrap().shutdown().await;
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(logs.contains("xks request"), "the capture works");
    let failure =
        logs.lines().find(|l| l.contains("validation-failure-request-id-1")).expect("the validation failure names its kmsRequestId");
    assert!(failure.contains("ValidationException"), "{failure}");
    let long_line = logs.lines().find(|l| l.contains("LONG-ID-")).expect("the long id is logged");
    assert!(long_line.len() < 2000 && long_line.contains("characters)") && !long_line.contains("injected line\""), "{long_line}");
    for needle in [
        String::from_utf8_lossy(plaintext).into_owned(),
        STANDARD.encode(plaintext),
        String::from_utf8_lossy(aad).into_owned(),
        STANDARD.encode(aad),
        hex::encode(plaintext),
        SECRET.to_owned(),
    ] {
        assert!(!logs.contains(&needle), "logs contain {needle}");
    }
}
