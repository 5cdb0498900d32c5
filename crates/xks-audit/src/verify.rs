//! Offline verification of a chain of audit files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointKey};
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
    /// The log checked against signed checkpoints, when some were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointReport>,
}

impl Report {
    /// True when the whole input verified (and every checkpoint given agrees with it).
    pub fn is_intact(&self) -> bool {
        self.broken.is_none() && self.checkpoints.as_ref().is_none_or(|c| c.findings.is_empty())
    }
}

/// What signed checkpoints say about the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointReport {
    /// The pinned key's id.
    pub key_id: String,
    /// Checkpoints given.
    pub given: u64,
    /// Checkpoints whose signature verified under the pinned key.
    pub signed: u64,
    /// Of those, the ones whose head the log reproduces at their sequence.
    pub matched: u64,
    /// The highest sequence a valid checkpoint attests, and when it was signed.
    pub latest: Option<(u64, String)>,
    /// Everything that does not agree, in sequence order.
    pub findings: Vec<CheckpointFinding>,
}

/// What a checkpoint shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointFindingKind {
    /// The log ends before a sequence a valid checkpoint attests: records cut from the end.
    Truncated,
    /// The log's record at a checkpoint's sequence hashes to another head:
    /// history rewritten at or before that record (a fork).
    Rewritten,
    /// The chain breaks before the checkpoint's sequence, so it could not be compared.
    Unreached,
    /// Two validly signed checkpoints give different heads for one sequence:
    /// the signing key itself signed two histories.
    Conflicting,
    /// Signed by a key other than the pinned one.
    ForeignKey,
    /// Names the pinned key, but the signature does not verify: altered or forged.
    BadSignature,
    /// Not a well-formed checkpoint.
    Malformed,
}

/// One disagreement between a checkpoint and the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointFinding {
    /// What it is.
    pub kind: CheckpointFindingKind,
    /// The checkpoint's sequence number.
    pub seq: u64,
    /// When the checkpoint says it was signed.
    pub time: String,
    /// In words.
    pub detail: String,
}

/// The valid checkpoints by sequence, compared with the log as it is read.
struct Anchors {
    by_seq: BTreeMap<u64, Vec<Checkpoint>>,
    report: CheckpointReport,
}

impl Anchors {
    /// Verifies every signature and sorts the valid checkpoints by sequence;
    /// invalid ones and conflicting pairs become findings at once.
    fn new(checkpoints: &[Checkpoint], key: &CheckpointKey) -> Self {
        let mut report = CheckpointReport { key_id: key.id().to_owned(), given: checkpoints.len() as u64, ..CheckpointReport::default() };
        let mut by_seq: BTreeMap<u64, Vec<Checkpoint>> = BTreeMap::new();
        for c in checkpoints {
            if let Err(e) = key.verify(c) {
                let kind = match e {
                    CheckpointError::ForeignKey { .. } => CheckpointFindingKind::ForeignKey,
                    CheckpointError::BadSignature => CheckpointFindingKind::BadSignature,
                    _ => CheckpointFindingKind::Malformed,
                };
                report.findings.push(CheckpointFinding { kind, seq: c.seq, time: c.time.clone(), detail: e.to_string() });
                continue;
            }
            report.signed += 1;
            let same = by_seq.entry(c.seq).or_default();
            if let Some(other) = same.iter().find(|o| o.head != c.head) {
                report.findings.push(CheckpointFinding {
                    kind: CheckpointFindingKind::Conflicting,
                    seq: c.seq,
                    time: c.time.clone(),
                    detail: format!(
                        "signed head {} at {} and head {} at {} for the same sequence: the key signed two histories",
                        other.head, other.time, c.head, c.time
                    ),
                });
            }
            same.push(c.clone());
            if report.latest.as_ref().is_none_or(|(seq, _)| c.seq > *seq) {
                report.latest = Some((c.seq, c.time.clone()));
            }
        }
        Self { by_seq, report }
    }

    /// The log has `hash` at `seq`: every checkpoint of that sequence must say so.
    fn at(&mut self, seq: u64, hash: &str) {
        let Some(checkpoints) = self.by_seq.remove(&seq) else { return };
        for c in checkpoints {
            if c.head == hash {
                self.report.matched += 1;
            } else {
                self.report.findings.push(CheckpointFinding {
                    kind: CheckpointFindingKind::Rewritten,
                    seq,
                    time: c.time.clone(),
                    detail: format!(
                        "the log's record {seq} hashes to {hash}, but the checkpoint signed at {} ({}) attests {}: history rewritten at or before record {seq}",
                        c.time,
                        c.reason.as_str(),
                        c.head
                    ),
                });
            }
        }
    }

    /// The log ended (at `last_seq`, intact or `broken`): checkpoints beyond were not reached.
    fn finish(mut self, last_seq: u64, broken: bool) -> CheckpointReport {
        for (seq, checkpoints) in std::mem::take(&mut self.by_seq) {
            for c in checkpoints {
                let (kind, detail) = if broken {
                    (
                        CheckpointFindingKind::Unreached,
                        format!("the chain breaks before record {seq}, which the checkpoint signed at {} attests", c.time),
                    )
                } else {
                    (
                        CheckpointFindingKind::Truncated,
                        format!(
                            "the log ends at record {last_seq}, but the checkpoint signed at {} ({}) attests record {seq}: {} records missing at the end",
                            c.time,
                            c.reason.as_str(),
                            seq - last_seq
                        ),
                    )
                };
                self.report.findings.push(CheckpointFinding { kind, seq, time: c.time, detail });
            }
        }
        self.report.findings.sort_by_key(|f| f.seq);
        self.report
    }
}

struct Chain {
    report: Report,
    prev: String,
    next_seq: u64,
    anchors: Option<Anchors>,
    /// The chain broke while reading (not at the expected-head check after it).
    ended_early: bool,
}

impl Chain {
    fn new(first_seq: u64, prev: String) -> Self {
        Self { report: Report { head: prev.clone(), ..Report::default() }, prev, next_seq: first_seq, anchors: None, ended_early: false }
    }

    fn with_checkpoints(mut self, checkpoints: &[Checkpoint], key: &CheckpointKey) -> Self {
        let mut anchors = Anchors::new(checkpoints, key);
        // An empty log's head: checkpoints of sequence 0 attest the genesis.
        anchors.at(self.next_seq - 1, &self.prev);
        self.anchors = Some(anchors);
        self
    }

    fn finish(mut self) -> Report {
        if let Some(anchors) = self.anchors.take() {
            let last = self.next_seq - 1;
            self.report.checkpoints = Some(anchors.finish(last, self.ended_early));
        }
        self.report
    }

    fn fail(&mut self, file: &str, line: usize, reason: impl Into<String>) {
        self.report.broken = Some(Broken { file: file.to_owned(), line, expected_seq: self.next_seq, reason: reason.into() });
    }

    /// Feeds one file's content; returns false once broken.
    fn feed(&mut self, file: &str, content: &[u8]) -> bool {
        let intact = self.feed_lines(file, content);
        self.ended_early |= !intact;
        intact
    }

    fn feed_lines(&mut self, file: &str, content: &[u8]) -> bool {
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
        if let Some(anchors) = &mut self.anchors {
            anchors.at(rec.seq, &self.prev);
        }
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
    chain.finish()
}

/// Verifies audit files in order (as listed by [`crate::log_files`]), from genesis.
/// Optionally checks that the chain ends at `expected_head` (from the service's
/// reports), which is what detects records cut from the end.
///
/// # Errors
/// I/O errors reading the files.
pub fn verify_files(files: &[PathBuf], expected_head: Option<&str>) -> std::io::Result<Report> {
    verify_chain(Chain::new(1, GENESIS.to_owned()), files, expected_head)
}

/// [`verify_files`], and the log compared with signed checkpoints (the
/// service's own `checkpoints.jsonl`, a witness archive): each signature is
/// checked under `key`, and the log must reproduce every valid checkpoint's
/// head at its sequence. The report's `checkpoints` part names a log cut
/// short, a rewritten (forked) history, a checkpoint signed by another key or
/// altered, and two signed heads for one sequence.
///
/// # Errors
/// I/O errors reading the files.
pub fn verify_files_with_checkpoints(
    files: &[PathBuf],
    expected_head: Option<&str>,
    checkpoints: &[Checkpoint],
    key: &CheckpointKey,
) -> std::io::Result<Report> {
    verify_chain(Chain::new(1, GENESIS.to_owned()).with_checkpoints(checkpoints, key), files, expected_head)
}

fn verify_chain(mut chain: Chain, files: &[PathBuf], expected_head: Option<&str>) -> std::io::Result<Report> {
    for f in files {
        let content = std::fs::read(f)?;
        if !chain.feed(&display(f), &content) {
            return Ok(chain.finish());
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
    Ok(chain.finish())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
