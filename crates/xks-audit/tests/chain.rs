//! The verifier catches every kind of tampering; the writer rotates and recovers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::fs;
use std::path::PathBuf;

use xks_audit::{AuditWriter, Entry, RecordKind, WriterConfig, log_files, verify_files, verify_lines};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xks-audit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn entry(i: usize) -> Entry {
    let mut e = Entry::new(RecordKind::Partial, "spiffe://xks/proxy", "ok");
    e.request_id = Some(format!("req-{i}"));
    e.key_path = Some(format!("ks1/key-{}", i % 3));
    e.generation = Some(1);
    e.epoch = Some(0);
    e.set = Some("1,2".into());
    e.proof = Some(i.is_multiple_of(2));
    e.latency_us = Some(70);
    e
}

/// Writes `n` records in batches of 3 and returns the single file's content.
fn log_with(n: usize, name: &str) -> (PathBuf, Vec<u8>, String) {
    let dir = tmp(name);
    let (mut w, note) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 1 << 30 }).unwrap();
    assert!(note.is_none());
    let entries: Vec<Entry> = (0..n).map(entry).collect();
    for chunk in entries.chunks(3) {
        w.append(chunk).unwrap();
    }
    let files = log_files(&dir).unwrap();
    assert_eq!(files.len(), 1);
    (dir, fs::read(&files[0]).unwrap(), w.head().hash.clone())
}

fn lines(content: &[u8]) -> Vec<Vec<u8>> {
    content.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
}

#[test]
fn intact_log_verifies_with_counts_and_head() {
    let (dir, content, head) = log_with(10, "intact");
    let r = verify_lines(&[("a", &content)]);
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.records, 10);
    assert_eq!(r.head, head);
    assert_eq!(r.per_key_path.values().sum::<u64>(), 10);
    assert_eq!(r.per_key_path["ks1/key-0"], 4);
    let r = verify_files(&log_files(&dir).unwrap(), Some(&head)).unwrap();
    assert!(r.is_intact());
}

#[test]
fn every_kind_of_tampering_is_caught() {
    let (_, content, head) = log_with(8, "tamper");
    let base = lines(&content);
    let check = |name: &str, tampered: Vec<u8>, expect_line: usize| {
        let r = verify_lines(&[("a", &tampered)]);
        let b = r.broken.unwrap_or_else(|| panic!("{name}: not detected"));
        assert_eq!(b.line, expect_line, "{name}: {b:?}");
    };
    // Edited: a field changed (key path) in record 3 → record 4's prev no longer matches.
    let mut edited = base.clone();
    edited[2] = String::from_utf8(edited[2].clone()).unwrap().replace("ks1/key-2", "ks1/key-9").into_bytes();
    check("edited", join(&edited), 4);
    // Edited outcome, same length.
    let mut edited2 = base.clone();
    edited2[4] = String::from_utf8(edited2[4].clone()).unwrap().replace("\"ok\"", "\"no\"").into_bytes();
    check("edited outcome", join(&edited2), 6);
    // Reordered.
    let mut reordered = base.clone();
    reordered.swap(3, 4);
    check("reordered", join(&reordered), 4);
    // Inserted (a copy of a valid record).
    let mut inserted = base.clone();
    inserted.insert(5, base[1].clone());
    check("inserted", join(&inserted), 6);
    // Deleted.
    let mut deleted = base.clone();
    deleted.remove(2);
    check("deleted", join(&deleted), 3);
    // Truncated mid-record.
    let cut = &content[..content.len() - 10];
    check("truncated mid-record", cut.to_vec(), 8);
    // Whitespace added inside a record (valid JSON, different bytes).
    let mut spaced = base.clone();
    spaced[6] = String::from_utf8(spaced[6].clone()).unwrap().replacen(',', ", ", 1).into_bytes();
    check("reformatted", join(&spaced), 7);
    // Records cut from the end: only the expected head reveals it.
    let dir = tmp("tail");
    fs::create_dir_all(&dir).unwrap();
    let f = dir.join("audit-000001.jsonl");
    fs::write(&f, join(&base[..6])).unwrap();
    let r = verify_files(std::slice::from_ref(&f), None).unwrap();
    assert!(r.is_intact() && r.records == 6, "a shorter chain is consistent in itself");
    let r = verify_files(&[f], Some(&head)).unwrap();
    assert!(r.broken.unwrap().reason.contains("expected head"));
}

#[test]
fn rotation_keeps_the_chain_across_files() {
    let dir = tmp("rotate");
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 700 }).unwrap();
    for i in 0..20 {
        w.append(&[entry(i)]).unwrap();
    }
    let files = log_files(&dir).unwrap();
    assert!(files.len() > 3, "{files:?}");
    let r = verify_files(&files, Some(&w.head().hash)).unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.records, 20);
    // Dropping a middle file breaks the chain.
    let mut missing = files.clone();
    missing.remove(1);
    assert!(!verify_files(&missing, None).unwrap().is_intact());
    // Reopening continues the chain where it stopped.
    drop(w);
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 700 }).unwrap();
    assert_eq!(w.head().seq, 20);
    w.append(&[entry(20)]).unwrap();
    let r = verify_files(&log_files(&dir).unwrap(), Some(&w.head().hash)).unwrap();
    assert!(r.is_intact());
    assert_eq!(r.records, 21);
}

#[test]
fn an_unacknowledged_incomplete_tail_is_cut_on_restart() {
    let (dir, _, _) = log_with(4, "recover");
    let f = &log_files(&dir).unwrap()[0];
    let mut content = fs::read(f).unwrap();
    content.extend_from_slice(b"{\"v\":1,\"seq\":5,\"ti");
    fs::write(f, &content).unwrap();
    assert!(!verify_files(std::slice::from_ref(f), None).unwrap().is_intact());
    let (mut w, note) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 1 << 30 }).unwrap();
    assert!(note.unwrap().contains("cut 18 bytes"));
    assert_eq!(w.head().seq, 4);
    w.append(&[entry(5)]).unwrap();
    let r = verify_files(&log_files(&dir).unwrap(), None).unwrap();
    assert!(r.is_intact() && r.records == 5, "{r:?}");
}

#[test]
fn a_failing_disk_poisons_the_writer() {
    let dir = tmp("poison");
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 100 }).unwrap();
    w.append(&[entry(0)]).unwrap();
    // The next append must rotate; make rotation impossible.
    fs::remove_dir_all(&dir).unwrap();
    assert!(w.append(&[entry(1)]).is_err());
    assert!(w.is_poisoned());
    assert!(matches!(w.append(&[entry(2)]), Err(xks_audit::WriterError::Poisoned)));
}
