//! The witness: every `witness.interval_seconds` the proxy fetches each
//! partner's latest signed audit checkpoint (`GET /v1/audit/checkpoint`, on a
//! connection of its own: never one the partials wait for),
//! verifies it under the partner's pinned checkpoint key, checks it against
//! the last one it holds (the sequence never goes back; one sequence, one
//! head), appends every new one to `<witness.dir>/<partner id>.checkpoints.jsonl`
//! (fsync) and logs it. The partner's operator cannot take back a checkpoint
//! once it is here: `xksctl audit verify --checkpoints` then catches a log of
//! theirs cut short or rewritten (docs/oversight.md, "Checkpoints").
//!
//! A checkpoint is public (a sequence number, a hash, times, names and a
//! signature); keeping it reveals nothing of any key or request.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::StatusCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use xks_audit::{Checkpoint, CheckpointKey};
use xks_config::proxy::{PartnerConfig, WitnessConfig};
use xks_wire::partner::CHECKPOINT_PATH;

use crate::metrics::{Metrics, WitnessFailure};
use crate::partners::Partner;

/// Largest checkpoint answer read.
const MAX_CHECKPOINT_BYTES: usize = 4096;
/// Time allowed for one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One witnessed partner.
struct Watched {
    partner: Arc<Partner>,
    key: CheckpointKey,
    archive: Option<PathBuf>,
    /// The highest checkpoint held that was consistent: what the next must not contradict.
    last: Option<Checkpoint>,
    /// The last one fetched (and kept), consistent or not: not kept twice.
    seen: Option<Checkpoint>,
}

/// What a fetched checkpoint turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Observation {
    /// New, valid and consistent: kept, with the JSON line the archive holds.
    New(Checkpoint, String),
    /// The one held already.
    Unchanged,
    /// Not fetched, or not a valid checkpoint of the pinned key.
    Failed(WitnessFailure, String),
    /// Validly signed but inconsistent with the last one held (a lower
    /// sequence, or another head for the same sequence): kept as evidence.
    Inconsistent(Checkpoint, String),
}

/// The partners' checkpoints, fetched and kept.
pub struct Witness {
    watched: Vec<Watched>,
    metrics: Arc<Metrics>,
    every: Duration,
}

/// Start-up failures of the witness.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// A checkpoint key file.
    #[error("partner {partner}: checkpoint_key: {source}")]
    Key {
        /// The partner id.
        partner: String,
        /// Why.
        source: xks_audit::CheckpointError,
    },
    /// The archive.
    #[error("witness archive {path}: {reason}")]
    Archive {
        /// The file or directory.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Witness {
    /// The partners with a `checkpoint_key`, each with the last checkpoint of
    /// its archive (so consistency holds across restarts).
    ///
    /// # Errors
    /// [`WitnessError`] for an unreadable key or archive.
    pub fn new(
        cfg: &WitnessConfig,
        partners: &[PartnerConfig],
        pool: &[Arc<Partner>],
        metrics: Arc<Metrics>,
    ) -> Result<Self, WitnessError> {
        if let Some(dir) = &cfg.dir {
            std::fs::create_dir_all(dir).map_err(|e| WitnessError::Archive { path: dir.display().to_string(), reason: e.to_string() })?;
        }
        let mut watched = Vec::new();
        for p in partners {
            let (Some(key_file), Some(partner)) = (&p.checkpoint_key, pool.iter().find(|x| x.id == p.id)) else { continue };
            let key = CheckpointKey::read(key_file).map_err(|source| WitnessError::Key { partner: p.id.clone(), source })?;
            let archive = cfg.dir.as_ref().map(|d| d.join(format!("{}.checkpoints.jsonl", p.id)));
            let last = match &archive {
                Some(path) if path.exists() => last_held(path, &p.id),
                _ => None,
            };
            tracing::info!(partner = %p.id, key_id = %key.id(), archive = ?archive, held_seq = last.as_ref().map(|c| c.seq), "witnessing the partner's audit checkpoints");
            watched.push(Watched { partner: partner.clone(), key, archive, seen: last.clone(), last });
        }
        if watched.is_empty() {
            tracing::warn!("no partner has a checkpoint_key: no audit checkpoint is witnessed");
        } else if cfg.dir.is_none() {
            tracing::warn!("witness.dir is not set: partner checkpoints are verified and logged but not archived here");
        }
        Ok(Self { watched, metrics, every: Duration::from_secs(cfg.interval_seconds) })
    }

    /// Fetches from every watched partner once; returns what each gave.
    pub async fn round(&mut self) -> Vec<(String, Observation)> {
        let mut out = Vec::new();
        for w in &mut self.watched {
            let observation = w.observe().await;
            record(&self.metrics, w, &observation);
            out.push((w.partner.id.clone(), observation));
        }
        out
    }

    /// Runs rounds until shutdown.
    pub fn spawn(mut self, mut shutdown: watch::Receiver<bool>) -> Option<tokio::task::JoinHandle<()>> {
        if self.watched.is_empty() {
            return None;
        }
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => { self.round().await; }
                }
            }
        }))
    }
}

impl Watched {
    /// Fetches, verifies, compares and keeps one checkpoint.
    async fn observe(&mut self) -> Observation {
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.partner.client.get_alone(CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES)).await;
        let body = match fetched {
            Err(_) => return Observation::Failed(WitnessFailure::Unreachable, "timed out".into()),
            Ok(Err(e)) => return Observation::Failed(WitnessFailure::Unreachable, e.to_string()),
            Ok(Ok((StatusCode::OK, body))) => body,
            Ok(Ok((status, _))) => return Observation::Failed(WitnessFailure::Unavailable, format!("HTTP {status}")),
        };
        let checkpoint = match Checkpoint::from_json(&body).and_then(|c| self.key.verify(&c).map(|()| c)) {
            Ok(c) => c,
            Err(e) => return Observation::Failed(WitnessFailure::Invalid, e.to_string()),
        };
        if self.seen.as_ref() == Some(&checkpoint) {
            return Observation::Unchanged;
        }
        let inconsistency = match &self.last {
            Some(last) if checkpoint.seq < last.seq => {
                Some(format!("sequence {} after {} (signed at {}): the partner's log went back", checkpoint.seq, last.seq, last.time))
            }
            Some(last) if checkpoint.seq == last.seq && checkpoint.head != last.head => Some(format!(
                "head {} for sequence {}, which the checkpoint signed at {} gave as {}: two histories",
                checkpoint.head, checkpoint.seq, last.time, last.head
            )),
            _ => None,
        };
        let line = match checkpoint.to_json() {
            Ok(line) => line,
            Err(e) => return Observation::Failed(WitnessFailure::Archive, e.to_string()),
        };
        if let Err(e) = self.keep(&line) {
            return Observation::Failed(WitnessFailure::Archive, e);
        }
        self.seen = Some(checkpoint.clone());
        match inconsistency {
            Some(why) => Observation::Inconsistent(checkpoint, why),
            None => {
                self.last = Some(checkpoint.clone());
                Observation::New(checkpoint, line)
            }
        }
    }

    /// Appends a checkpoint's JSON line to the archive (fsync), if there is one.
    fn keep(&self, line: &str) -> Result<(), String> {
        let Some(path) = &self.archive else { return Ok(()) };
        let append = || -> std::io::Result<()> {
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            file.write_all(format!("{line}\n").as_bytes())?;
            file.sync_data()
        };
        append().map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Logs and counts an observation.
fn record(metrics: &Metrics, w: &Watched, o: &Observation) {
    let partner = w.partner.id.as_str();
    let Some(m) = metrics.partner(partner) else { return };
    match o {
        Observation::New(c, json) => {
            // The whole signed checkpoint (public): the log is a copy of the archive.
            tracing::info!(partner, seq = c.seq, head = %c.head, signed = %c.time, reason = c.reason.as_str(), checkpoint = %json, "partner audit checkpoint witnessed");
            m.checkpoint_seq.store(c.seq, Ordering::Relaxed);
            let signed = OffsetDateTime::parse(&c.time, &Rfc3339).map_or(0, OffsetDateTime::unix_timestamp);
            m.checkpoint_time.store(signed, Ordering::Relaxed);
        }
        Observation::Unchanged => {}
        Observation::Failed(kind, why) => {
            tracing::warn!(partner, failure = kind.as_str(), error = %why, "partner audit checkpoint not witnessed");
            m.witness_failure(*kind);
        }
        Observation::Inconsistent(c, why) => {
            tracing::error!(partner, seq = c.seq, head = %c.head, signed = %c.time, problem = %why, "partner audit checkpoint INCONSISTENT with the one held: kept as evidence; verify the partner's log (xksctl audit verify --checkpoints)");
            m.witness_failure(WitnessFailure::Inconsistent);
        }
    }
}

/// The last checkpoint of an archive file. An archive that cannot be read
/// does not stop the proxy (its requests matter more than the witness's
/// memory): it is reported, and the witness starts from the partner's next
/// checkpoint, still appending to the same file.
fn last_held(path: &Path, partner: &str) -> Option<Checkpoint> {
    match xks_audit::read_checkpoints(path) {
        Ok(all) => all.into_iter().max_by_key(|c| c.seq),
        Err(e) => {
            tracing::error!(partner, archive = %path.display(), error = %e, "witness archive unreadable: the next checkpoint is not checked against it");
            None
        }
    }
}
