//! The service side of the audit log: a dedicated thread owns the writer and
//! commits whatever has queued up while the previous fsync ran (group commit).
//! A request's partial is released only after its record's batch is durable.
//!
//! The same thread signs checkpoints of the chain head ([`xks_audit::Checkpoint`]):
//! at start, every `audit.checkpoint_seconds` when the head moved, when a
//! rotation closes a file, and at shutdown. Each is appended (fsync) to
//! `checkpoints.jsonl` in the audit directory, logged, and served as the
//! latest on `GET /v1/audit/checkpoint` for the proxy to witness.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use xks_audit::{AuditWriter, CHECKPOINTS_FILE, Checkpoint, CheckpointSigner, Entry, Head, Reason, WriterConfig};

use crate::metrics::Metrics;

/// Records that are durable together or not at all (an exchange's records
/// share one commit), and who waits for them.
struct Job {
    entries: Vec<Entry>,
    done: oneshot::Sender<bool>,
}

/// What the writer thread is asked to do.
enum Work {
    /// Append records (with whatever else is queued).
    Record(Job),
    /// Sign a checkpoint of the current head now (start, shutdown).
    Checkpoint(Reason, oneshot::Sender<()>),
}

/// Why a record could not be made durable.
#[derive(Debug, thiserror::Error)]
pub enum AuditUnavailable {
    /// The writer failed (disk full, I/O error): the service fails closed.
    #[error("audit log failed; refusing requests until the disk is fixed and the service restarted")]
    Failed,
    /// The queue is full (more requests waiting than one batch can take).
    #[error("audit queue full")]
    Busy,
}

/// How checkpoints are made.
pub struct CheckpointPolicy {
    /// The signing key; without it checkpoints are only logged, unsigned.
    pub signer: Option<CheckpointSigner>,
    /// The period (`audit.checkpoint_seconds`; 0: only at start, rotation and shutdown).
    pub every: Option<Duration>,
}

/// Cheap, cloneable handle.
#[derive(Clone, Debug)]
pub struct Audit {
    tx: mpsc::SyncSender<Work>,
    healthy: Arc<AtomicBool>,
    head: Arc<Mutex<Head>>,
    latest: Arc<Mutex<Option<Checkpoint>>>,
}

/// The writer thread's checkpoint side.
struct Checkpoints {
    policy: CheckpointPolicy,
    file: Option<File>,
    path: PathBuf,
    last_seq: Option<u64>,
    due: Option<Instant>,
    latest: Arc<Mutex<Option<Checkpoint>>>,
    metrics: Arc<Metrics>,
}

impl Checkpoints {
    /// Signs, stores and publishes a checkpoint of `head`; or, unsigned, logs it.
    fn make(&mut self, head: &Head, reason: Reason) {
        self.last_seq = Some(head.seq);
        let Some(signer) = &self.policy.signer else {
            tracing::info!(seq = head.seq, head = %head.hash, reason = reason.as_str(), "audit checkpoint (unsigned: audit.checkpoint_key is not set)");
            return;
        };
        let signed = signer.sign(head, reason).map_err(|e| e.to_string());
        match signed.and_then(|c| self.store(c)) {
            Ok(c) => {
                tracing::info!(seq = c.seq, head = %c.head, reason = reason.as_str(), key_id = %c.key_id, "audit checkpoint signed");
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                self.metrics.checkpoint(c.seq, i64::try_from(now).unwrap_or(i64::MAX));
                if let Ok(mut g) = self.latest.lock() {
                    *g = Some(c);
                }
            }
            Err(e) => {
                self.metrics.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, seq = head.seq, "audit checkpoint not signed or not stored");
            }
        }
    }

    /// Appends a signed checkpoint to the file; returns it for publishing.
    fn store(&mut self, checkpoint: Checkpoint) -> Result<Checkpoint, String> {
        let line = checkpoint.to_json().map_err(|e| e.to_string())?;
        self.append(&line).map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(checkpoint)
    }

    fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        let file = self.file.as_mut().ok_or_else(|| std::io::Error::other("checkpoint file not open"))?;
        file.write_all(format!("{line}\n").as_bytes())?;
        file.sync_data()
    }

    /// How long the writer thread may wait for work before the next periodic checkpoint.
    fn wait(&self) -> Option<Duration> {
        self.due.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The periodic checkpoint, if due and the head moved.
    fn tick(&mut self, head: &Head) {
        let (Some(due), Some(every)) = (self.due, self.policy.every) else { return };
        if Instant::now() < due {
            return;
        }
        self.due = Some(Instant::now() + every);
        if self.last_seq != Some(head.seq) {
            self.make(head, Reason::Interval);
        }
    }
}

impl Audit {
    /// Opens the log and starts the writer thread. Returns the handle and the
    /// recovery note of [`AuditWriter::open`].
    ///
    /// # Errors
    /// The log cannot be opened.
    pub fn start(
        cfg: WriterConfig,
        max_batch: usize,
        policy: CheckpointPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, Option<String>), xks_audit::WriterError> {
        let path = cfg.dir.join(CHECKPOINTS_FILE);
        let (writer, note) = AuditWriter::open(cfg)?;
        let (tx, rx) = mpsc::sync_channel::<Work>(max_batch * 4);
        let healthy = Arc::new(AtomicBool::new(true));
        let head = Arc::new(Mutex::new(writer.head().clone()));
        let latest = Arc::new(Mutex::new(None));
        let checkpoints = Checkpoints {
            due: policy.every.map(|e| Instant::now() + e),
            policy,
            file: None,
            path,
            last_seq: None,
            latest: latest.clone(),
            metrics: metrics.clone(),
        };
        let thread = WriterThread { writer, rx, max_batch, healthy: healthy.clone(), head: head.clone(), metrics, checkpoints };
        std::thread::Builder::new().name("audit-writer".into()).spawn(move || thread.run()).map_err(xks_audit::WriterError::Io)?;
        Ok((Self { tx, healthy, head, latest }, note))
    }

    /// The latest signed checkpoint (none before the first, or when signing is off).
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.latest.lock().ok().and_then(|g| g.clone())
    }

    /// Signs a checkpoint of the current head and waits until it is stored
    /// (start and shutdown). Returns at once if the writer thread is gone.
    pub async fn checkpoint(&self, reason: Reason) {
        let (done, wait) = oneshot::channel();
        match self.tx.try_send(Work::Checkpoint(reason, done)) {
            Ok(()) => {
                let _ = wait.await;
            }
            Err(_) => tracing::warn!(reason = reason.as_str(), "audit checkpoint not queued (writer busy or stopped)"),
        }
    }

    /// Whether the log still accepts records.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// The last durable record.
    pub fn head(&self) -> Head {
        self.head.lock().map(|h| h.clone()).unwrap_or(Head { seq: 0, hash: String::new() })
    }

    /// Queues a record without waiting for it to be durable: for refusals,
    /// which release nothing and must not wait behind an fsync. A record that
    /// cannot be queued is reported in the service log.
    pub fn record_detached(&self, entry: Entry) {
        if !self.is_healthy() {
            return;
        }
        let (done, _) = oneshot::channel();
        if let Err(e) = self.tx.try_send(Work::Record(Job { entries: vec![entry], done })) {
            let why = match e {
                mpsc::TrySendError::Full(_) => "queue full",
                mpsc::TrySendError::Disconnected(_) => "writer stopped",
            };
            tracing::warn!(why, "audit record of a refusal not queued");
        }
    }

    /// Appends a record and waits until it is durable.
    ///
    /// # Errors
    /// [`AuditUnavailable`]: the caller must not release anything.
    pub async fn record(&self, entry: Entry) -> Result<(), AuditUnavailable> {
        self.record_all(vec![entry]).await
    }

    /// Appends records in one commit (with whatever else is queued) and
    /// waits until they are durable: the records of one exchange, so that a
    /// batch costs one fsync however its requests are scheduled.
    ///
    /// # Errors
    /// [`AuditUnavailable`]: the caller must release none of them.
    pub async fn record_all(&self, entries: Vec<Entry>) -> Result<(), AuditUnavailable> {
        if !self.is_healthy() {
            return Err(AuditUnavailable::Failed);
        }
        if entries.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx.try_send(Work::Record(Job { entries, done })).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => AuditUnavailable::Busy,
            mpsc::TrySendError::Disconnected(_) => AuditUnavailable::Failed,
        })?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(AuditUnavailable::Failed),
        }
    }
}

/// The writer thread: group commit, and the checkpoints between batches.
struct WriterThread {
    writer: AuditWriter,
    rx: mpsc::Receiver<Work>,
    max_batch: usize,
    healthy: Arc<AtomicBool>,
    head: Arc<Mutex<Head>>,
    metrics: Arc<Metrics>,
    checkpoints: Checkpoints,
}

impl WriterThread {
    fn run(mut self) {
        loop {
            let next = match self.checkpoints.wait() {
                Some(wait) => match self.rx.recv_timeout(wait) {
                    Ok(work) => Some(work),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
                None => match self.rx.recv() {
                    Ok(work) => Some(work),
                    Err(_) => return,
                },
            };
            match next {
                Some(Work::Record(first)) => self.commit(first),
                Some(Work::Checkpoint(reason, done)) => {
                    let head = self.writer.head().clone();
                    self.checkpoints.make(&head, reason);
                    let _ = done.send(());
                }
                None => {}
            }
            let head = self.writer.head().clone();
            self.checkpoints.tick(&head);
        }
    }

    /// Appends `first` and whatever else is queued (up to the batch bound,
    /// counted in records; a job is never split) in one fsync; answers each
    /// waiting request; checkpoints a closed file.
    fn commit(&mut self, mut first: Job) {
        let mut entries = std::mem::take(&mut first.entries);
        let mut waiting = vec![first.done];
        let mut deferred = Vec::new();
        while entries.len() < self.max_batch {
            match self.rx.try_recv() {
                Ok(Work::Record(mut j)) => {
                    entries.append(&mut j.entries);
                    waiting.push(j.done);
                }
                Ok(Work::Checkpoint(reason, done)) => deferred.push((reason, done)),
                Err(_) => break,
            }
        }
        let start = Instant::now();
        let ok = match self.writer.append(&entries) {
            Ok(_) => {
                self.metrics.audit_commit(entries.len(), u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
                if let Ok(mut g) = self.head.lock() {
                    *g = self.writer.head().clone();
                }
                true
            }
            Err(e) => {
                if self.healthy.swap(false, Ordering::SeqCst) {
                    tracing::error!(error = %e, "audit log write failed: the service now refuses every request (fail closed)");
                }
                false
            }
        };
        for done in waiting {
            let _ = done.send(ok);
        }
        if let Some(closed) = self.writer.take_closed() {
            self.checkpoints.make(&closed, Reason::Rotation);
        }
        for (reason, done) in deferred {
            let head = self.writer.head().clone();
            self.checkpoints.make(&head, reason);
            let _ = done.send(());
        }
    }
}
