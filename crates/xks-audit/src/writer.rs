//! The durable writer: appends batches of records, fsyncs once per batch
//! (group commit), rotates files by size, and refuses to write after any I/O
//! failure (fail closed) until the process restarts and recovers the tail.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::record::{GENESIS, Record, RecordKind, chain_hash};

/// Where and how to write.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Directory of `audit-NNNNNN.jsonl` files.
    pub dir: PathBuf,
    /// Start a new file once the current one reaches this size.
    pub max_file_bytes: u64,
}

/// A record before the writer assigns `seq`, `time` and `prev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it is about.
    pub kind: RecordKind,
    /// Caller's request id.
    pub request_id: Option<String>,
    /// Client identity.
    pub client: String,
    /// Key path.
    pub key_path: Option<String>,
    /// Generation.
    pub generation: Option<u32>,
    /// Epoch.
    pub epoch: Option<u32>,
    /// Combining set label.
    pub set: Option<String>,
    /// Proof requested.
    pub proof: Option<bool>,
    /// Outcome.
    pub outcome: String,
    /// Latency before logging, µs.
    pub latency_us: Option<u64>,
}

impl Entry {
    /// A record with only kind, client and outcome set.
    pub fn new(kind: RecordKind, client: impl Into<String>, outcome: impl Into<String>) -> Self {
        Self {
            kind,
            request_id: None,
            client: client.into(),
            key_path: None,
            generation: None,
            epoch: None,
            set: None,
            proof: None,
            outcome: outcome.into(),
            latency_us: None,
        }
    }
}

/// The last durable record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its sequence number (0 before the first record).
    pub seq: u64,
    /// Its chain hash ([`GENESIS`] before the first record).
    pub hash: String,
}

/// Writer failures. After any of them the writer refuses further appends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriterError {
    /// Disk full, read-only file system, fsync failure, …
    #[error("audit log I/O error: {0}")]
    Io(#[from] io::Error),
    /// An earlier failure poisoned the writer.
    #[error("audit log is failed closed after an earlier error; restart the service after fixing the disk")]
    Poisoned,
    /// The existing log's last record cannot be read.
    #[error("existing audit log is unreadable at {file}: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// Appends records durably.
#[derive(Debug)]
pub struct AuditWriter {
    cfg: WriterConfig,
    file: File,
    index: u32,
    len: u64,
    head: Head,
    poisoned: bool,
    /// The last record of a file closed by rotation, until taken.
    closed: Option<Head>,
}

fn file_name(index: u32) -> String {
    format!("audit-{index:06}.jsonl")
}

fn file_index(p: &Path) -> Option<u32> {
    let name = p.file_name()?.to_str()?;
    name.strip_prefix("audit-")?.strip_suffix(".jsonl")?.parse().ok()
}

/// The audit files of a directory, oldest first.
///
/// # Errors
/// I/O errors listing the directory.
pub fn log_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<(u32, PathBuf)> =
        fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter_map(|p| file_index(&p).map(|i| (i, p))).collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl AuditWriter {
    /// Opens (or creates) the log. If the last file ends in an incomplete line,
    /// that line was never acknowledged (its fsync did not complete), so it is
    /// cut off; the returned note says how many bytes, for the start record.
    ///
    /// # Errors
    /// [`WriterError::Io`] or [`WriterError::Corrupt`].
    pub fn open(cfg: WriterConfig) -> Result<(Self, Option<String>), WriterError> {
        fs::create_dir_all(&cfg.dir)?;
        let files = log_files(&cfg.dir)?;
        let mut note = None;
        let mut head = Head { seq: 0, hash: GENESIS.to_owned() };
        // Find the last complete record, walking back over empty files.
        for path in files.iter().rev() {
            let mut content = Vec::new();
            File::open(path)?.read_to_end(&mut content)?;
            if !content.is_empty() && !content.ends_with(b"\n") {
                let keep = content.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let cut = content.len() - keep;
                OpenOptions::new().write(true).open(path)?.set_len(keep as u64)?;
                content.truncate(keep);
                note = Some(format!("cut {cut} bytes of an unacknowledged incomplete record from {}", path.display()));
            }
            if let Some(last) = content.strip_suffix(b"\n").and_then(|c| c.split(|b| *b == b'\n').next_back()) {
                let rec: Record = serde_json::from_slice(last)
                    .map_err(|e| WriterError::Corrupt { file: path.display().to_string(), reason: e.to_string() })?;
                head = Head { seq: rec.seq, hash: chain_hash(last) };
                break;
            }
        }
        let index = files.last().and_then(|p| file_index(p)).unwrap_or(1);
        let path = cfg.dir.join(file_name(index));
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.seek(SeekFrom::End(0))?;
        sync_dir(&cfg.dir)?;
        Ok((Self { cfg, file, index, len, head, poisoned: false, closed: None }, note))
    }

    /// The last durable record.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Whether an earlier failure stopped the writer.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The head at which the last rotation closed a file, once: the share
    /// service signs a checkpoint for it.
    pub fn take_closed(&mut self) -> Option<Head> {
        self.closed.take()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        self.closed = Some(self.head.clone());
        self.index += 1;
        let path = self.cfg.dir.join(file_name(self.index));
        self.file = OpenOptions::new().create_new(true).append(true).open(path)?;
        self.len = 0;
        sync_dir(&self.cfg.dir)
    }

    /// Appends the entries as one batch, durably (one fsync), and returns their
    /// sequence numbers. Nothing is acknowledged unless everything is on disk.
    ///
    /// # Errors
    /// [`WriterError::Io`] (and the writer is poisoned), [`WriterError::Poisoned`].
    pub fn append(&mut self, entries: &[Entry]) -> Result<Vec<u64>, WriterError> {
        if self.poisoned {
            return Err(WriterError::Poisoned);
        }
        match self.append_inner(entries) {
            Ok(seqs) => Ok(seqs),
            Err(e) => {
                self.poisoned = true;
                Err(WriterError::Io(e))
            }
        }
    }

    fn append_inner(&mut self, entries: &[Entry]) -> io::Result<Vec<u64>> {
        if self.len >= self.cfg.max_file_bytes {
            self.rotate()?;
        }
        let time = OffsetDateTime::now_utc().format(&Rfc3339).map_err(io::Error::other)?;
        let mut buf = Vec::with_capacity(entries.len() * 320);
        let mut head = self.head.clone();
        let mut seqs = Vec::with_capacity(entries.len());
        for e in entries {
            let rec = Record {
                v: 1,
                seq: head.seq + 1,
                time: time.clone(),
                kind: e.kind,
                request_id: e.request_id.clone(),
                client: e.client.clone(),
                key_path: e.key_path.clone(),
                generation: e.generation,
                epoch: e.epoch,
                set: e.set.clone(),
                proof: e.proof,
                outcome: e.outcome.clone(),
                latency_us: e.latency_us,
                prev: head.hash.clone(),
            };
            let line = serde_json::to_vec(&rec).map_err(io::Error::other)?;
            head = Head { seq: rec.seq, hash: chain_hash(&line) };
            seqs.push(rec.seq);
            buf.extend_from_slice(&line);
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.len += buf.len() as u64;
        self.head = head;
        Ok(seqs)
    }
}
