//! Offline verification of a chain of audit files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::record::{GENESIS, Record, chain_hash};

/// The first place where the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// File (or `-` for in-memory input).
    pub file: String,
    /// 1-based line number in that file.
    pub line: usize,
    /// Sequence number expected at that point.
    pub expected_seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Result of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Records that verified (up to the first break).
    pub records: u64,
    /// Time of the first record.
    pub first_time: Option<String>,
    /// Time of the last verified record.
    pub last_time: Option<String>,
    /// Number of partial requests per key path (verified records only).
    pub per_key_path: BTreeMap<String, u64>,
    /// Hash of the last verified record: compare it with the head the service
    /// reported (its log and metrics) to detect a truncated tail.
    pub head: String,
    /// The first break, if any.
    pub broken: Option<Broken>,
}

impl Report {
    /// True when the whole input verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

struct Chain {
    report: Report,
    prev: String,
    next_seq: u64,
}

impl Chain {
    fn new(first_seq: u64, prev: String) -> Self {
        Self { report: Report { head: prev.clone(), ..Report::default() }, prev, next_seq: first_seq }
    }

    fn fail(&mut self, file: &str, line: usize, reason: impl Into<String>) {
        self.report.broken = Some(Broken { file: file.to_owned(), line, expected_seq: self.next_seq, reason: reason.into() });
    }

    /// Feeds one file's content; returns false once broken.
    fn feed(&mut self, file: &str, content: &[u8]) -> bool {
        if content.is_empty() {
            return true;
        }
        let complete = content.ends_with(b"\n");
        let mut lines: Vec<&[u8]> = content.split(|b| *b == b'\n').collect();
        lines.pop(); // after the last '\n' (empty) or an incomplete last line
        for (i, line) in lines.iter().enumerate() {
            if !self.check(file, i + 1, line) {
                return false;
            }
        }
        if !complete {
            self.fail(file, lines.len() + 1, "truncated record (no terminating newline)");
            return false;
        }
        true
    }

    fn check(&mut self, file: &str, line_no: usize, line: &[u8]) -> bool {
        let rec: Record = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                self.fail(file, line_no, format!("not a v1 record: {e}"));
                return false;
            }
        };
        if rec.v != 1 {
            self.fail(file, line_no, format!("unknown record version {}", rec.v));
            return false;
        }
        if rec.seq != self.next_seq {
            self.fail(
                file,
                line_no,
                format!("sequence {} where {} was expected (record inserted, deleted or reordered)", rec.seq, self.next_seq),
            );
            return false;
        }
        if rec.prev != self.prev {
            self.fail(file, line_no, "prev does not match the hash of the previous record (record edited, inserted, deleted or reordered)");
            return false;
        }
        // Re-serializing must give the same bytes: catches edits that keep the JSON valid
        // but change formatting the hash does not see through (e.g. duplicate keys).
        match serde_json::to_vec(&rec) {
            Ok(canon) if canon == line => {}
            _ => {
                self.fail(file, line_no, "record is not in canonical form (edited)");
                return false;
            }
        }
        self.prev = chain_hash(line);
        self.next_seq += 1;
        let r = &mut self.report;
        r.records += 1;
        r.first_time.get_or_insert_with(|| rec.time.clone());
        r.last_time = Some(rec.time.clone());
        if let (crate::RecordKind::Partial, Some(kp)) = (rec.kind, rec.key_path) {
            *r.per_key_path.entry(kp).or_default() += 1;
        }
        r.head = self.prev.clone();
        true
    }
}

/// Verifies in-memory log content (one or more files' bytes, in order) from genesis.
pub fn verify_lines(parts: &[(&str, &[u8])]) -> Report {
    let mut chain = Chain::new(1, GENESIS.to_owned());
    for (name, content) in parts {
        if !chain.feed(name, content) {
            break;
        }
    }
    chain.report
}

/// Verifies audit files in order (as listed by [`crate::log_files`]), from genesis.
/// Optionally checks that the chain ends at `expected_head` (from the service's
/// reports), which is what detects records cut from the end.
///
/// # Errors
/// I/O errors reading the files.
pub fn verify_files(files: &[PathBuf], expected_head: Option<&str>) -> std::io::Result<Report> {
    let mut chain = Chain::new(1, GENESIS.to_owned());
    for f in files {
        let content = std::fs::read(f)?;
        if !chain.feed(&display(f), &content) {
            return Ok(chain.report);
        }
    }
    if let Some(head) = expected_head
        && !head.eq_ignore_ascii_case(&chain.report.head)
    {
        let (file, line) = files.last().map(|f| (display(f), 0)).unwrap_or_else(|| ("-".to_owned(), 0));
        chain.fail(
            &file,
            line,
            format!("chain ends at {} but the expected head is {head} (records missing at the end)", chain.report.head),
        );
    }
    Ok(chain.report)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
