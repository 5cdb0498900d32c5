//! `xksctl audit verify` on real audit files: exit codes and summary.

use std::process::Command;

use xks_audit::{AuditWriter, Entry, RecordKind, WriterConfig};

#[test]
fn verify_reports_intact_broken_and_missing_tail() {
    let dir = std::env::temp_dir().join(format!("xksctl-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.clone(), max_file_bytes: 1 << 20 }).unwrap();
    for i in 0..5 {
        let mut e = Entry::new(RecordKind::Partial, "spiffe://xks/proxy", "ok");
        e.key_path = Some(format!("ks/k{}", i % 2));
        w.append(&[e]).unwrap();
    }
    let head = w.head().hash.clone();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_xksctl")).args(["audit", "verify"]).args(args).output().unwrap();
    let d = dir.to_str().unwrap();
    let out = run(&[d, "--head", &head]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"], 5);
    assert_eq!(report["perKeyPath"]["ks/k0"], 3);
    // A head the chain does not reach: records missing at the end.
    let out = run(&[d, "--head", &"ab".repeat(32)]);
    assert_eq!(out.status.code(), Some(1));
    // An edited record.
    let f = xks_audit::log_files(&dir).unwrap()[0].clone();
    let text = std::fs::read_to_string(&f).unwrap().replacen("ks/k1", "ks/k9", 1);
    std::fs::write(&f, text).unwrap();
    let out = run(&[d]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["broken"]["line"], 3, "{report}");
    // Nothing to read.
    assert_eq!(run(&["/nonexistent-dir-xyz"]).status.code(), Some(2));
}
