//! The witness (docs/oversight.md, "Checkpoints"): the proxy fetches each
//! partner's signed audit checkpoints over mutual TLS, verifies them under the
//! pinned key and keeps them; a partner whose log is later rewritten is caught
//! by those kept checkpoints, and the proxy itself flags a checkpoint that
//! goes back.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use xks_audit::{Checkpoint, CheckpointFindingKind, Reason};
use xks_proxy::metrics::WitnessFailure;

use crate::common::*;

fn archive(d: &Deployment, partner: &str) -> PathBuf {
    d.layout.proxy_dir().join("witness").join(format!("{partner}.checkpoints.jsonl"))
}

fn held(path: &Path) -> Vec<Checkpoint> {
    if path.exists() { xks_audit::read_checkpoints(path).unwrap() } else { Vec::new() }
}

/// Waits (at most 15 s) until the archive holds a checkpoint `done` accepts.
async fn until(path: &Path, done: impl Fn(&[Checkpoint]) -> bool) -> Vec<Checkpoint> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = held(path);
        if done(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "the witness archive {} never got there: {all:?}", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn with_witness(c: &mut xks_config::proxy::Config) {
    c.witness.interval_seconds = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_keeps_each_partners_signed_checkpoints_and_a_rewritten_log_is_caught_by_them() {
    let mut d = Deployment::start("witness", Options { proxy: with_witness, ..Options::default() }).await;
    let key2 = d.layout.checkpoint_key(2);
    // Both partners' start checkpoints are witnessed.
    for (partner, holder) in [("share-2", 2), ("share-3", 3)] {
        let all = until(&archive(&d, partner), |a| !a.is_empty()).await;
        d.layout.checkpoint_key(holder).verify(&all[0]).unwrap();
        assert_eq!(all[0].reason, Reason::Start);
    }
    // Traffic, then share 2 stops: its shutdown checkpoint pins the last record.
    let mut c = d.client();
    for _ in 0..5 {
        assert_eq!(c.encrypt(KEY, b"x", None, false).await.0, 200);
    }
    d.cluster.stop_share(2).await;
    let audit = d.layout.share_dir(2).join("audit");
    let files = xks_audit::log_files(&audit).unwrap();
    let honest = xks_audit::verify_files(&files, None).unwrap();
    assert!(honest.records >= 6, "{honest:?}");
    // The proxy held the start checkpoint at least; add the partner's own
    // (later) ones to what the proxy witnessed from now on.
    let witnessed = held(&archive(&d, "share-2"));

    // Share 2's operator rewrites history: removes the log (and their own
    // checkpoints) and starts afresh. The chain of the new log is perfect.
    std::fs::remove_dir_all(&audit).unwrap();
    d.cluster.start_share(2).await;
    let all = until(&archive(&d, "share-2"), |a| a.len() > witnessed.len()).await;
    // The proxy saw the sequence go back and says so.
    let m = d.proxy().app.0.metrics.partner("share-2").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while m.witness_failures(WitnessFailure::Inconsistent) == 0 {
        assert!(Instant::now() < deadline, "the witness did not flag the sequence going back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(m.checkpoint_time.load(Ordering::Relaxed) > 0);

    // The auditor: the new log verifies on its own, but not against what the proxy kept.
    let files = xks_audit::log_files(&audit).unwrap();
    assert!(xks_audit::verify_files(&files, None).unwrap().is_intact());
    let report = xks_audit::verify_files_with_checkpoints(&files, None, &all, &key2).unwrap();
    assert!(!report.is_intact());
    let kinds: Vec<CheckpointFindingKind> = report.checkpoints.unwrap().findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&CheckpointFindingKind::Rewritten), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_under_another_key_is_refused_not_kept() {
    // The proxy pins share 3's key for share 2: share 2's checkpoints do not verify.
    fn swapped(c: &mut xks_config::proxy::Config) {
        with_witness(c);
        let three = c.partners.iter().find(|p| p.id == "share-3").and_then(|p| p.checkpoint_key.clone());
        if let Some(p) = c.partners.iter_mut().find(|p| p.id == "share-2") {
            p.checkpoint_key = three;
        }
    }
    let d = Deployment::start("witness-foreign", Options { proxy: swapped, ..Options::default() }).await;
    until(&archive(&d, "share-3"), |a| !a.is_empty()).await;
    let m = d.proxy().app.0.metrics.partner("share-2").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while m.witness_failures(WitnessFailure::Invalid) == 0 {
        assert!(Instant::now() < deadline, "the witness did not refuse the foreign checkpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held(&archive(&d, "share-2")).is_empty(), "nothing unverified is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_archive_does_not_stop_the_proxy_and_is_appended_to() {
    let mut d = Deployment::start("witness-garbled", Options { proxy: with_witness, partners: vec![2], ..Options::default() }).await;
    let path = archive(&d, "share-2");
    until(&path, |a| !a.is_empty()).await;
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("not a checkpoint\n");
    std::fs::write(&path, &text).unwrap();
    // share-2 restarts (a new start checkpoint), then the proxy, over the garbled archive.
    d.cluster.stop_share(2).await;
    d.cluster.start_share(2).await;
    d.restart_proxy().await;
    assert_eq!(d.client().encrypt(KEY, b"x", None, false).await.0, 200, "the proxy serves");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::fs::read_to_string(&path).unwrap().lines().count() <= text.lines().count() {
        assert!(Instant::now() < deadline, "the witness appends after the garbled line");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = std::fs::read_to_string(&path).unwrap().lines().last().unwrap().to_owned();
    d.layout.checkpoint_key(2).verify(&Checkpoint::from_json(last.as_bytes()).unwrap()).unwrap();
}
