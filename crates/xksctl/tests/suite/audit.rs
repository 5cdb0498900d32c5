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

/// `audit checkpoint-key` makes a sealed key pair that the share service's
/// signer reads; `audit verify --checkpoints` names a cut log and a foreign
/// checkpoint with exit 1, and a log that reproduces them with exit 0.
#[test]
fn checkpoint_keys_and_verify_against_checkpoints() {
    let dir = std::env::temp_dir().join(format!("xksctl-audit-checkpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cli = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_xksctl")).args(args).output().unwrap();
    let (ids, _) = xks_sops::Identities::generate();
    let to = ids.recipients()[0].to_string();
    let keys = dir.join("keys");
    let out = cli(&["audit", "checkpoint-key", "--to", &to, "-o", keys.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cli(&["audit", "checkpoint-key", "--to", &to, "-o", keys.to_str().unwrap()]).status.code() == Some(2), "never overwritten");
    let sealed = std::fs::read_to_string(keys.join("checkpoint.key.sops")).unwrap();
    assert!(!sealed.contains("PRIVATE KEY"), "the private key is sealed");
    let pem = xks_sops::read_file(&keys.join("checkpoint.key.sops"), Some(&ids)).unwrap();
    let signer = xks_audit::CheckpointSigner::from_pem(&pem, "holder-2 test", "b").unwrap();
    let public = xks_audit::CheckpointKey::read(&keys.join("checkpoint.pub")).unwrap();
    assert_eq!(signer.public_key(), &public);

    // A log of 6 records with checkpoints at 3 and 6.
    let audit = dir.join("audit");
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: audit.clone(), max_file_bytes: 1 << 20 }).unwrap();
    let mut lines = String::new();
    for i in 1..=6 {
        w.append(&[Entry::new(RecordKind::Partial, "dns:xks-proxy", "ok")]).unwrap();
        if i % 3 == 0 {
            lines.push_str(&signer.sign(w.head(), xks_audit::Reason::Interval).unwrap().to_json().unwrap());
            lines.push('\n');
        }
    }
    let witness = dir.join("witness.jsonl");
    std::fs::write(&witness, &lines).unwrap();
    let public_file = keys.join("checkpoint.pub");
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", audit.to_str().unwrap(), "--checkpoint-key", public_file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_xksctl")).args(&args).output().unwrap();
        (out.status.code(), serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default())
    };
    let (code, report) = verify(&["--checkpoints", witness.to_str().unwrap()]);
    assert_eq!((code, &report["checkpoints"]["matched"]), (Some(0), &serde_json::json!(2)), "{report:#}");

    // A checkpoint signed by another key, and the log cut after record 4.
    let (other, _) = xks_audit::CheckpointSigner::generate().unwrap();
    let other = xks_audit::CheckpointSigner::from_pem(&other, "holder-2 test", "b").unwrap();
    let foreign = dir.join("foreign.jsonl");
    std::fs::write(&foreign, other.sign(w.head(), xks_audit::Reason::Shutdown).unwrap().to_json().unwrap()).unwrap();
    let file = &xks_audit::log_files(&audit).unwrap()[0];
    let kept: String = std::fs::read_to_string(file).unwrap().lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(file, kept).unwrap();
    let (code, report) = verify(&["--checkpoints", witness.to_str().unwrap(), "--checkpoints", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report:#}");
    let kinds: Vec<&str> = report["checkpoints"]["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["foreign_key", "truncated"], "{report:#}");
    // --checkpoints without the key it must be checked against is refused by the parser.
    let out = cli(&["audit", "verify", audit.to_str().unwrap(), "--checkpoints", witness.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
