//! Signed checkpoints catch what the hash chain alone cannot: a log cut short
//! at a record boundary, a history rewritten and re-chained, and checkpoints
//! that the pinned key did not sign (docs/oversight.md, "Checkpoints").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

use xks_audit::{
    AuditWriter, Checkpoint, CheckpointFindingKind, CheckpointKey, CheckpointSigner, Entry, Reason, RecordKind, Report, WriterConfig,
    log_files, verify_files, verify_files_with_checkpoints,
};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xks-audit-cp-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn entry(i: u64, key_path: &str) -> Entry {
    let mut e = Entry::new(RecordKind::Partial, "dns:xks-proxy", "ok");
    e.request_id = Some(format!("req-{i}"));
    e.key_path = Some(key_path.to_owned());
    e
}

fn signer() -> (CheckpointSigner, CheckpointKey) {
    let (pem, key) = CheckpointSigner::generate().unwrap();
    (CheckpointSigner::from_pem(&pem, "share-2", "0.1.0 sha256:test").unwrap(), key)
}

/// Writes `n` records one by one; after each record whose sequence is in
/// `at`, signs a checkpoint. Returns the directory and the checkpoints.
fn log(name: &str, n: u64, key_path: &str, signer: &CheckpointSigner, at: &[u64]) -> (PathBuf, Vec<Checkpoint>) {
    let dir = tmp(name);
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 1 << 30 }).unwrap();
    let mut checkpoints = Vec::new();
    for i in 1..=n {
        w.append(&[entry(i, key_path)]).unwrap();
        if at.contains(&i) {
            checkpoints.push(signer.sign(w.head(), Reason::Interval).unwrap());
        }
    }
    (dir, checkpoints)
}

fn verify(dir: &Path, checkpoints: &[Checkpoint], key: &CheckpointKey) -> Report {
    verify_files_with_checkpoints(&log_files(dir).unwrap(), None, checkpoints, key).unwrap()
}

fn kinds(r: &Report) -> Vec<(CheckpointFindingKind, u64)> {
    r.checkpoints.as_ref().unwrap().findings.iter().map(|f| (f.kind, f.seq)).collect()
}

fn keep_lines(dir: &Path, n: usize) {
    let file = &log_files(dir).unwrap()[0];
    let content = fs::read_to_string(file).unwrap();
    let kept: String = content.lines().take(n).map(|l| format!("{l}\n")).collect();
    fs::write(file, kept).unwrap();
}

#[test]
fn a_log_that_reproduces_every_checkpoint_is_intact() {
    let (signer, key) = signer();
    let (dir, checkpoints) = log("intact", 10, "ks1/a", &signer, &[3, 7, 10]);
    let r = verify(&dir, &checkpoints, &key);
    assert!(r.is_intact(), "{r:?}");
    let c = r.checkpoints.unwrap();
    assert_eq!((c.given, c.signed, c.matched), (3, 3, 3));
    assert_eq!(c.latest.map(|(seq, _)| seq), Some(10));
    assert_eq!(c.key_id, key.id());
}

#[test]
fn a_log_cut_at_a_record_boundary_is_named_truncated() {
    let (signer, key) = signer();
    let (dir, checkpoints) = log("truncated", 10, "ks1/a", &signer, &[5, 10]);
    keep_lines(&dir, 6);
    // The chain alone cannot tell: six whole records, correctly chained.
    assert!(verify_files(&log_files(&dir).unwrap(), None).unwrap().is_intact());
    let r = verify(&dir, &checkpoints, &key);
    assert!(!r.is_intact());
    assert_eq!(kinds(&r), vec![(CheckpointFindingKind::Truncated, 10)]);
    let f = &r.checkpoints.as_ref().unwrap().findings[0];
    assert!(f.detail.contains("ends at record 6") && f.detail.contains("4 records missing"), "{}", f.detail);
    assert_eq!(r.checkpoints.unwrap().matched, 1);
}

#[test]
fn a_rewritten_and_rechained_history_is_named_at_each_checkpoint() {
    let (signer, key) = signer();
    let (dir, checkpoints) = log("original", 10, "ks1/a", &signer, &[4, 10]);
    // The same number of records, correctly chained, telling another story
    // (here: another key path), written by whoever holds the files.
    let (forged, _) = log("forged", 10, "ks1/innocent", &signer, &[]);
    fs::remove_dir_all(&dir).unwrap();
    assert!(verify_files(&log_files(&forged).unwrap(), None).unwrap().is_intact());
    let r = verify(&forged, &checkpoints, &key);
    assert_eq!(kinds(&r), vec![(CheckpointFindingKind::Rewritten, 4), (CheckpointFindingKind::Rewritten, 10)]);
    assert!(r.checkpoints.unwrap().findings[0].detail.contains("history rewritten at or before record 4"));
}

#[test]
fn checkpoints_of_another_key_or_altered_ones_are_named_and_prove_nothing() {
    let (signer, key) = signer();
    let (other, _) = self::signer();
    let (dir, mut checkpoints) = log("foreign", 6, "ks1/a", &signer, &[2, 4]);
    let (_, foreign) = log("foreign-other", 6, "ks1/a", &other, &[6]);
    checkpoints.extend(foreign);
    let mut altered = checkpoints[0].clone();
    altered.seq = 3;
    checkpoints.push(altered);
    let r = verify(&dir, &checkpoints, &key);
    assert_eq!(kinds(&r), vec![(CheckpointFindingKind::BadSignature, 3), (CheckpointFindingKind::ForeignKey, 6)]);
    let c = r.checkpoints.unwrap();
    assert_eq!((c.given, c.signed, c.matched), (4, 2, 2));
    assert!(c.findings[1].detail.contains(key.id()));
}

#[test]
fn two_signed_heads_for_one_sequence_are_a_conflict() {
    let (signer, key) = signer();
    let (dir, mut checkpoints) = log("conflict-a", 5, "ks1/a", &signer, &[5]);
    let (_, other) = log("conflict-b", 5, "ks1/b", &signer, &[5]);
    checkpoints.extend(other);
    let r = verify(&dir, &checkpoints, &key);
    assert_eq!(kinds(&r), vec![(CheckpointFindingKind::Conflicting, 5), (CheckpointFindingKind::Rewritten, 5)]);
}

#[test]
fn checkpoints_beyond_a_break_are_unreached_not_truncated() {
    let (signer, key) = signer();
    let (dir, checkpoints) = log("unreached", 8, "ks1/a", &signer, &[2, 8]);
    let file = &log_files(&dir).unwrap()[0];
    let content = fs::read_to_string(file).unwrap().replacen("req-3", "req-X", 1);
    fs::write(file, content).unwrap();
    let r = verify(&dir, &checkpoints, &key);
    assert!(r.broken.is_some());
    assert_eq!(kinds(&r), vec![(CheckpointFindingKind::Unreached, 8)]);
}

#[test]
fn a_rotated_log_is_checked_across_its_files() {
    let (signer, key) = signer();
    let dir = tmp("rotated");
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 300 }).unwrap();
    let mut checkpoints = vec![signer.sign(w.head(), Reason::Start).unwrap()];
    for i in 1..=12 {
        w.append(&[entry(i, "ks1/a")]).unwrap();
        checkpoints.push(signer.sign(w.head(), Reason::Interval).unwrap());
    }
    assert!(log_files(&dir).unwrap().len() > 2);
    let r = verify(&dir, &checkpoints, &key);
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.checkpoints.unwrap().matched, 13, "the empty log's checkpoint (sequence 0) matches the genesis");
}
