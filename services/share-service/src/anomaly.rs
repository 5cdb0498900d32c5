//! Rate anomaly detection over sliding windows: per key path and overall.
//! "Thousands per minute where a handful per hour is normal" must be seen by
//! the partner's operator, and can lock the service automatically.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::AnomalyConfig;

/// Sub-buckets per window.
const BUCKETS: usize = 12;
/// Distinct key paths tracked at most; beyond that, idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// A crossed threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// `total` or `key_path:<path>`.
    pub scope: String,
    /// Requests counted in the window.
    pub count: u64,
    /// The threshold.
    pub limit: u64,
    /// Window length.
    pub window_seconds: u64,
}

#[derive(Clone, Debug, Default)]
struct Window {
    counts: [u64; BUCKETS],
    /// Index (in bucket units since start) of the newest bucket.
    newest: u64,
    /// Whether the current window already raised an alert.
    alerted_at: Option<u64>,
}

impl Window {
    fn advance(&mut self, now: u64) {
        if now > self.newest {
            let steps = (now - self.newest).min(BUCKETS as u64);
            for i in 1..=steps {
                let idx = usize::try_from((self.newest + i) % BUCKETS as u64).unwrap_or(0);
                if let Some(c) = self.counts.get_mut(idx) {
                    *c = 0;
                }
            }
            self.newest = now;
        }
    }

    fn add(&mut self, now: u64) -> u64 {
        self.advance(now);
        let idx = usize::try_from(now % BUCKETS as u64).unwrap_or(0);
        if let Some(c) = self.counts.get_mut(idx) {
            *c += 1;
        }
        self.counts.iter().sum()
    }

    fn is_idle(&mut self, now: u64) -> bool {
        self.advance(now);
        self.counts.iter().all(|c| *c == 0)
    }

    /// One alert per window length, not one per request.
    fn should_alert(&mut self, now: u64) -> bool {
        match self.alerted_at {
            Some(t) if now < t + BUCKETS as u64 => false,
            _ => {
                self.alerted_at = Some(now);
                true
            }
        }
    }
}

/// The detector.
#[derive(Debug)]
pub struct Detector {
    cfg: AnomalyConfig,
    start: Instant,
    bucket_ms: u64,
    inner: Mutex<(Window, HashMap<String, Window>)>,
}

impl Detector {
    /// A detector with the configured thresholds.
    pub fn new(cfg: AnomalyConfig) -> Self {
        let bucket_ms = (cfg.window_seconds * 1000 / BUCKETS as u64).max(1);
        Self { cfg, start: Instant::now(), bucket_ms, inner: Mutex::new((Window::default(), HashMap::new())) }
    }

    /// Whether crossing a threshold should lock the service.
    pub fn auto_lock(&self) -> bool {
        self.cfg.auto_lock
    }

    /// Counts one request for `key_path`; returns the anomalies that start now
    /// (each at most once per window).
    pub fn observe(&self, key_path: &str) -> Vec<Anomaly> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX) / self.bucket_ms;
        let Ok(mut guard) = self.inner.lock() else { return Vec::new() };
        let (total, paths) = &mut *guard;
        let mut out = Vec::new();
        let n = total.add(now);
        if self.cfg.max_total > 0 && n > self.cfg.max_total && total.should_alert(now) {
            out.push(Anomaly { scope: "total".into(), count: n, limit: self.cfg.max_total, window_seconds: self.cfg.window_seconds });
        }
        if self.cfg.max_per_key_path > 0 {
            if paths.len() >= MAX_TRACKED && !paths.contains_key(key_path) {
                paths.retain(|_, w| !w.is_idle(now));
            }
            if paths.len() < MAX_TRACKED || paths.contains_key(key_path) {
                let w = paths.entry(key_path.to_owned()).or_default();
                let n = w.add(now);
                if n > self.cfg.max_per_key_path && w.should_alert(now) {
                    out.push(Anomaly {
                        scope: format!("key_path:{key_path}"),
                        count: n,
                        limit: self.cfg.max_per_key_path,
                        window_seconds: self.cfg.window_seconds,
                    });
                }
            }
        }
        out
    }
}
