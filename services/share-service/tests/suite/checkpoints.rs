//! Signed audit checkpoints (docs/oversight.md, "Checkpoints"): signed at
//! start, periodically, on rotation and at shutdown with the sealed key,
//! appended to checkpoints.jsonl, served over mutual TLS, and reproduced by
//! the log they pin.

use std::time::Duration;

use xks_audit::{Checkpoint, Reason};
use xks_wire::partner::CHECKPOINT_PATH;

use crate::common::{Deployment, HOLDER};

async fn latest(d: &Deployment) -> (u16, String) {
    d.client().request("GET", CHECKPOINT_PATH, None, Vec::new()).await.unwrap()
}

#[tokio::test]
async fn checkpoints_are_signed_at_start_interval_rotation_and_shutdown_and_pin_the_log() {
    let mut d = Deployment::start("checkpoints", |c| c.audit.max_file_bytes = 4096).await;
    let key = d.layout().checkpoint_key(HOLDER);

    // At start: the start record, signed, served over mutual TLS.
    let (status, body) = latest(&d).await;
    assert_eq!(status, 200, "{body}");
    let start = Checkpoint::from_json(body.as_bytes()).unwrap();
    key.verify(&start).unwrap();
    assert_eq!((start.reason, start.seq), (Reason::Start, 1));
    assert_eq!(start.service, "holder-2 localhost", "holder and the server certificate's name");
    assert!(start.build.contains("sha256:"), "{}", start.build);

    // Enough partials to rotate the 4 KiB files twice, then a period.
    let mut client = d.client();
    for i in 0..30 {
        let (status, body) = client.partial(&format!("ks1/key-{i}"), &[1, 2], false).await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let head = d.running().app.0.audit.head();
    let (_, body) = latest(&d).await;
    let interval = Checkpoint::from_json(body.as_bytes()).unwrap();
    key.verify(&interval).unwrap();
    assert_eq!((interval.reason, interval.seq, interval.head.as_str()), (Reason::Interval, head.seq, head.hash.as_str()));

    // At shutdown: the last record.
    d.cluster.stop_share(HOLDER).await;
    let audit = d.dir().join("audit");
    let all = xks_audit::read_checkpoints(&audit.join(xks_audit::CHECKPOINTS_FILE)).unwrap();
    let reasons: Vec<Reason> = all.iter().map(|c| c.reason).collect();
    assert_eq!(reasons.first(), Some(&Reason::Start));
    assert!(reasons.iter().filter(|r| **r == Reason::Rotation).count() >= 2, "{reasons:?}");
    assert!(reasons.contains(&Reason::Interval), "{reasons:?}");
    let last = all.last().unwrap();
    assert_eq!((last.reason, last.seq), (Reason::Shutdown, head.seq));
    for c in &all {
        key.verify(c).unwrap();
    }
    // Each rotation checkpoint is the last record of a closed file.
    let files = xks_audit::log_files(&audit).unwrap();
    assert!(files.len() >= 3);
    let report = xks_audit::verify_files_with_checkpoints(&files, None, &all, &key).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints.unwrap().matched, all.len() as u64);

    // The key survives a restart: the next start is signed by the same key.
    d.restart().await;
    let (_, body) = latest(&d).await;
    let again = Checkpoint::from_json(body.as_bytes()).unwrap();
    key.verify(&again).unwrap();
    assert_eq!((again.reason, again.seq), (Reason::Start, head.seq + 1));
}

#[tokio::test]
async fn without_a_signing_key_nothing_signed_is_served() {
    let d = Deployment::start("checkpoints-off", |c| c.audit.checkpoint_key = None).await;
    let (status, body) = latest(&d).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("audit.checkpoint_key is not set"), "{body}");
    assert!(!d.dir().join("audit").join(xks_audit::CHECKPOINTS_FILE).exists());
}

#[tokio::test]
async fn a_signing_key_that_does_not_open_stops_the_start_with_its_name() {
    let config = crate::common::write_files("checkpoints-badkey", |c| c.audit.checkpoint_key = Some("server.crt".into()));
    let cfg = share_service::Config::load(&config).unwrap();
    let err = share_service::start(cfg, &xks_service::BuildInfo::current("share-service")).await.err().unwrap();
    let message = err.to_string();
    assert!(message.contains("audit.checkpoint_key") && message.contains("server.crt"), "{message}");
}
