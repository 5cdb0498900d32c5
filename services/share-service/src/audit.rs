//! The service side of the audit log: a dedicated thread owns the writer and
//! commits whatever has queued up while the previous fsync ran (group commit).
//! A request's partial is released only after its record's batch is durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use tokio::sync::oneshot;
use xks_audit::{AuditWriter, Entry, Head, WriterConfig};

use crate::metrics::Metrics;

struct Job {
    entry: Entry,
    done: oneshot::Sender<bool>,
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

/// Cheap, cloneable handle.
#[derive(Clone, Debug)]
pub struct Audit {
    tx: mpsc::SyncSender<Job>,
    healthy: Arc<AtomicBool>,
    head: Arc<Mutex<Head>>,
}

impl Audit {
    /// Opens the log and starts the writer thread. Returns the handle and the
    /// recovery note of [`AuditWriter::open`].
    ///
    /// # Errors
    /// The log cannot be opened.
    pub fn start(cfg: WriterConfig, max_batch: usize, metrics: Arc<Metrics>) -> Result<(Self, Option<String>), xks_audit::WriterError> {
        let (mut writer, note) = AuditWriter::open(cfg)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(max_batch * 4);
        let healthy = Arc::new(AtomicBool::new(true));
        let head = Arc::new(Mutex::new(writer.head().clone()));
        let (h, hd) = (healthy.clone(), head.clone());
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < max_batch {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let entries: Vec<Entry> = batch.iter().map(|j| j.entry.clone()).collect();
                    let start = Instant::now();
                    let ok = match writer.append(&entries) {
                        Ok(_) => {
                            metrics.audit_commit(entries.len(), u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
                            if let Ok(mut g) = hd.lock() {
                                *g = writer.head().clone();
                            }
                            true
                        }
                        Err(e) => {
                            if h.swap(false, Ordering::SeqCst) {
                                tracing::error!(error = %e, "audit log write failed: the service now refuses every request (fail closed)");
                            }
                            false
                        }
                    };
                    for j in batch {
                        let _ = j.done.send(ok);
                    }
                }
            })
            .map_err(xks_audit::WriterError::Io)?;
        Ok((Self { tx, healthy, head }, note))
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
        if let Err(e) = self.tx.try_send(Job { entry, done }) {
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
        if !self.is_healthy() {
            return Err(AuditUnavailable::Failed);
        }
        let (done, wait) = oneshot::channel();
        self.tx.try_send(Job { entry, done }).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => AuditUnavailable::Busy,
            mpsc::TrySendError::Disconnected(_) => AuditUnavailable::Failed,
        })?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(AuditUnavailable::Failed),
        }
    }
}
