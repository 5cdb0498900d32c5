//! Deep health (spec GetHealthStatus): a real round trip on a dedicated
//! health key path against every partner — a partial *with* its DLEQ proof,
//! verified, combined with our own, and an AES-GCM encrypt/decrypt with the
//! derived key — run in the background and cached for at most one minute, as
//! the spec allows. One `ekmFleetDetails` entry per partner, plus the proxy's
//! own share.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use xks_threshold::{DataKey, KeyPoint};

use crate::metrics::Metrics;
use crate::partners::{AttemptError, Pool};
use xks_config::proxy::HealthConfig;

/// Spec `ekmFleetDetails.healthStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Healthy.
    Active,
    /// Answers, but slowly or after failures: can still serve traffic.
    Degraded,
    /// Cannot serve.
    Unavailable,
}

impl Status {
    /// Wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Degraded => "DEGRADED",
            Status::Unavailable => "UNAVAILABLE",
        }
    }
}

/// The result of one check of one partner.
#[derive(Clone, Debug)]
pub struct PartnerHealth {
    /// Partner id.
    pub id: String,
    /// Model text.
    pub model: String,
    /// Status.
    pub status: Status,
    /// Round-trip time of the check.
    pub latency: Option<Duration>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its operator refuses (lock): not a technical failure.
    pub refused: bool,
    /// It did not answer in time.
    pub timed_out: bool,
}

/// Whether a t-of-n combination can serve requests now, following the pool's
/// own rules: partners in configured order, a technical failure skipped, a
/// refusal never routed around (docs/xks-proxy.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The proxy's share combines with this partner's; its status (ACTIVE or
    /// DEGRADED) is the proxy's own entry.
    Serving(Status),
    /// The first partner that answers refuses: every request would fail with
    /// InvalidStateException.
    Blocked {
        /// Partner id.
        partner: String,
    },
    /// No partner can take part.
    Unavailable {
        /// Every partner timed out (DependencyTimeoutException rather than InternalException).
        timed_out: bool,
    },
}

/// One complete check.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When it started asking the partners.
    pub started: Instant,
    /// When it finished.
    pub at: Instant,
    /// Per partner, in configured order.
    pub partners: Vec<PartnerHealth>,
}

impl Snapshot {
    /// What the check says about serving now.
    pub fn verdict(&self) -> Verdict {
        for p in &self.partners {
            if p.refused {
                return Verdict::Blocked { partner: p.id.clone() };
            }
            if p.status != Status::Unavailable {
                return Verdict::Serving(p.status);
            }
        }
        Verdict::Unavailable { timed_out: !self.partners.is_empty() && self.partners.iter().all(|p| p.timed_out) }
    }

    /// `id: status` per partner, for error messages (printable ASCII).
    pub fn summary(&self) -> String {
        self.partners
            .iter()
            .map(|p| format!("{}: {}", p.id, if p.refused { "REFUSED" } else { p.status.as_str() }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The request id of health checks in the partner's audit log.
pub const HEALTH_REQUEST_ID: &str = "xks-proxy-health-check";

fn health_request_id() -> xks_wire::partner::RequestId {
    xks_wire::partner::RequestId::for_kms_request(HEALTH_REQUEST_ID)
}

/// Results older than this are never reported (spec: at most one minute).
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// The background checker and its cache.
#[derive(Debug)]
pub struct HealthMonitor {
    pool: Arc<Pool>,
    cfg: HealthConfig,
    point: KeyPoint,
    metrics: Arc<Metrics>,
    last: RwLock<Option<Snapshot>>,
    check_lock: tokio::sync::Mutex<()>,
}

impl HealthMonitor {
    /// # Errors
    /// If the health key path is invalid.
    pub fn new(pool: Arc<Pool>, cfg: HealthConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let point =
            xks_threshold::KeyPath::new(cfg.key_path.clone()).and_then(|p| p.to_point()).map_err(|e| format!("health.key_path: {e}"))?;
        Ok(Self { pool, cfg, point, metrics, last: RwLock::new(None), check_lock: tokio::sync::Mutex::new(()) })
    }

    /// Runs checks every `interval_seconds` until the task is dropped.
    pub fn spawn(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(me.cfg.interval_seconds));
            loop {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tick.tick() => { me.check().await; }
                }
            }
        });
    }

    /// The cached snapshot if it is younger than [`MAX_AGE`], else a fresh check.
    pub async fn current(&self) -> Snapshot {
        if let Ok(g) = self.last.read()
            && let Some(s) = g.as_ref()
            && s.at.elapsed() < MAX_AGE
        {
            return s.clone();
        }
        self.check().await
    }

    /// Checks every partner now (one check at a time; a caller that waited
    /// for a check which started after it shares that check's result).
    pub async fn check(&self) -> Snapshot {
        let started = Instant::now();
        let _guard = self.check_lock.lock().await;
        if let Ok(g) = self.last.read()
            && let Some(s) = g.as_ref()
            && s.started >= started
        {
            return s.clone();
        }
        let started = Instant::now();
        let Some(generation) = self.pool.keyring().current().map(|g| g.key_set().generation()) else {
            return Snapshot { started, at: Instant::now(), partners: vec![] };
        };
        let timeout = Duration::from_millis(self.cfg.degraded_latency_ms.saturating_mul(10).clamp(250, 5000));
        let mut tasks = JoinSet::new();
        for (i, p) in self.pool.partners().iter().enumerate() {
            let (pool, p, point) = (self.pool.clone(), p.clone(), self.point.clone());
            tasks.spawn(async move {
                let t0 = Instant::now();
                let r = pool.attempt(&p, generation, &point, &health_request_id(), true, timeout).await;
                pool.observe(&p, point.path().as_str(), &r);
                let (refused, timed_out) = (matches!(r, Err(AttemptError::Refused(_))), matches!(r, Err(AttemptError::Timeout)));
                // An attempt's failure was logged by `observe`; a failed round trip is logged here.
                let round_trip = r.map_err(|e| e.to_string()).and_then(|key| {
                    round_trip(&key).inspect_err(|e| tracing::error!(partner = %p.id, error = %e, "deep health round trip failed"))
                });
                (i, t0.elapsed(), round_trip, refused, timed_out)
            });
        }
        let mut partners: Vec<PartnerHealth> = self
            .pool
            .partners()
            .iter()
            .map(|p| PartnerHealth {
                id: p.id.clone(),
                model: p.model.clone(),
                status: Status::Unavailable,
                latency: None,
                error: None,
                refused: false,
                timed_out: false,
            })
            .collect();
        while let Some(joined) = tasks.join_next().await {
            let Ok((i, latency, result, refused, timed_out)) = joined else { continue };
            let (Some(entry), Some(p)) = (partners.get_mut(i), self.pool.partners().get(i)) else { continue };
            entry.latency = Some(latency);
            (entry.refused, entry.timed_out) = (refused, timed_out);
            match result {
                Ok(()) => {
                    entry.status =
                        if latency > Duration::from_millis(self.cfg.degraded_latency_ms) { Status::Degraded } else { Status::Active };
                }
                Err(e) => entry.error = Some(e),
            }
            if let Some(m) = self.metrics.partner(&p.id) {
                let v = match entry.status {
                    Status::Active => 0,
                    Status::Degraded => 1,
                    Status::Unavailable => 2,
                };
                m.health.store(v, Ordering::Relaxed);
                m.breaker_open.store(u64::from(p.breaker.is_open()), Ordering::Relaxed);
            }
        }
        let snap = Snapshot { started, at: Instant::now(), partners };
        if let Ok(mut g) = self.last.write() {
            *g = Some(snap.clone());
        }
        snap
    }
}

/// Encrypts a probe under the derived key and decrypts it again.
fn round_trip(key: &DataKey) -> Result<(), String> {
    let probe = b"xks-proxy deep health check";
    let env = key.encrypt(probe, b"", &mut rand_core::OsRng).map_err(|e| e.to_string())?;
    let back = key.decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, b"").map_err(|e| e.to_string())?;
    if back.as_slice() == probe { Ok(()) } else { Err("round trip mismatch".to_owned()) }
}
