//! Rate anomaly detection (docs/share-service.md, "Anomaly detection"): the
//! partner's operator must see "thousands per minute where a handful per hour
//! is normal", and traffic that KMS itself could never send.
//!
//! Two rules over a sliding window (12 sub-buckets):
//! - **quota**: KMS sends at most its quota per key store (1,800 requests/s by
//!   default). More than `quota × headroom` per second over the window, for
//!   one key path or overall, cannot be KMS: the proxy's operator (or whoever
//!   holds its share and client certificate) is deriving keys on their own;
//! - **baseline**, per key path: more than `baseline_factor` times the key
//!   path's long-run average rate and at least `baseline_min_requests` in the
//!   window. Judged only once a key path has been seen for
//!   `baseline_learning_hours`.
//!
//! A window's rate is measured over the window, or, when the window was armed
//! (service start, unlock) less than a window ago, over the time since it was
//! armed (at least one sub-bucket): a flood that is still running when the
//! operator unlocks trips again within one sub-bucket, and the requests that
//! were counted before the unlock are not held against the traffic after it.
//! An alert is raised at most once per window per scope until re-armed.
//! Key paths under an automatic lock still count for their own window, not
//! for the total: their requests are already refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use xks_config::share::AnomalyConfig;
pub use xks_config::share::LockScope;

/// Sub-buckets per window.
const BUCKETS: u64 = 12;
/// Distinct key paths tracked at most; beyond that, idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

/// Which rule tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Above what KMS can send.
    Quota,
    /// Far above the key path's own long-run average.
    Baseline,
}

impl Rule {
    /// Log and audit value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Quota => "quota",
            Rule::Baseline => "baseline",
        }
    }
}

/// What an anomaly concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All requests together.
    Total,
    /// One key path.
    KeyPath(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Total => f.write_str("total"),
            Scope::KeyPath(p) => write!(f, "key_path:{p}"),
        }
    }
}

/// A crossed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// What it concerns.
    pub scope: Scope,
    /// Which rule.
    pub rule: Rule,
    /// Requests per window at the measured rate.
    pub rate_per_window: u64,
    /// The threshold, per window.
    pub limit: u64,
    /// Window length.
    pub window_seconds: u64,
    /// Whether the configuration asks for a lock.
    pub lock: bool,
}

/// Counts in sub-buckets over one window.
#[derive(Clone, Debug)]
struct Window {
    counts: [u64; BUCKETS as usize],
    /// Sub-bucket index (since the detector started) of the newest bucket.
    newest: u64,
    /// Time (ms since start) from which this window counts.
    armed_ms: u64,
    /// Until when (ms) no further alert is raised for this window.
    quiet_until_ms: u64,
}

impl Window {
    fn new(now_ms: u64) -> Self {
        Self { counts: [0; BUCKETS as usize], newest: 0, armed_ms: now_ms, quiet_until_ms: 0 }
    }

    fn slot(bucket: u64) -> usize {
        usize::try_from(bucket % BUCKETS).unwrap_or(0)
    }

    /// Moves the window to `bucket`; returns the requests that left it.
    fn advance(&mut self, bucket: u64) -> u64 {
        let mut left = 0;
        if bucket > self.newest {
            let steps = (bucket - self.newest).min(BUCKETS);
            for i in 1..=steps {
                if let Some(c) = self.counts.get_mut(Self::slot(self.newest + i)) {
                    left += *c;
                    *c = 0;
                }
            }
            self.newest = bucket;
        }
        left
    }

    fn add(&mut self, bucket: u64) {
        if let Some(c) = self.counts.get_mut(Self::slot(bucket)) {
            *c += 1;
        }
    }

    /// Removes another window's counts (same bucket grid, advanced to the same bucket).
    fn subtract(&mut self, other: &Window) {
        for (c, o) in self.counts.iter_mut().zip(other.counts.iter()) {
            *c = c.saturating_sub(*o);
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn is_idle(&self) -> bool {
        self.count() == 0
    }

    /// Requests per window at the rate measured since the window was armed
    /// (at most one window back, at least one sub-bucket).
    fn rate_per_window(&self, now_ms: u64, window_ms: u64, bucket_ms: u64) -> u64 {
        let span = now_ms.saturating_sub(self.armed_ms).clamp(bucket_ms, window_ms);
        let projected = u128::from(self.count()) * u128::from(window_ms) / u128::from(span.max(1));
        u64::try_from(projected).unwrap_or(u64::MAX)
    }

    /// Starts counting afresh from `now_ms`.
    fn rearm(&mut self, now_ms: u64) {
        self.counts = [0; BUCKETS as usize];
        self.armed_ms = now_ms;
        self.quiet_until_ms = 0;
    }

    /// One alert per window length.
    fn should_alert(&mut self, now_ms: u64, window_ms: u64) -> bool {
        if now_ms < self.quiet_until_ms {
            return false;
        }
        self.quiet_until_ms = now_ms + window_ms;
        true
    }
}

/// A key path's long-run average: an exponentially decayed count of the
/// requests that left its window, bias-corrected while younger than the
/// time constant.
#[derive(Clone, Debug)]
struct Baseline {
    decayed: f64,
    at_ms: u64,
}

impl Baseline {
    fn decay(&self, now_ms: u64, tau_ms: f64) -> f64 {
        self.decayed * (-(now_ms.saturating_sub(self.at_ms) as f64) / tau_ms).exp()
    }

    fn add(&mut self, n: u64, now_ms: u64, tau_ms: f64) {
        self.decayed = self.decay(now_ms, tau_ms) + n as f64;
        self.at_ms = now_ms;
    }

    /// Average requests per window over the history (not counting the window itself).
    fn per_window(&self, now_ms: u64, age_ms: u64, tau_ms: f64, window_ms: u64) -> f64 {
        // Time covered by the history, weighted as the decay weighs it.
        let history_ms = age_ms.saturating_sub(window_ms) as f64;
        let covered = tau_ms * (1.0 - (-history_ms / tau_ms).exp());
        if covered <= 0.0 { 0.0 } else { self.decay(now_ms, tau_ms) * window_ms as f64 / covered }
    }
}

#[derive(Clone, Debug)]
struct PathState {
    window: Window,
    baseline: Baseline,
    first_seen_ms: u64,
    /// Under an automatic lock of its own (its requests leave the total).
    locked: bool,
}

#[derive(Debug)]
struct State {
    total: Window,
    paths: HashMap<String, PathState>,
}

/// The detector.
#[derive(Debug)]
pub struct Detector {
    cfg: AnomalyConfig,
    start: Instant,
    window_ms: u64,
    bucket_ms: u64,
    state: Mutex<State>,
}

impl Detector {
    /// A detector with the configured rules.
    pub fn new(cfg: AnomalyConfig) -> Self {
        let window_ms = cfg.window_seconds.saturating_mul(1000).max(BUCKETS);
        let bucket_ms = (window_ms / BUCKETS).max(1);
        Self { cfg, start: Instant::now(), window_ms, bucket_ms, state: Mutex::new(State { total: Window::new(0), paths: HashMap::new() }) }
    }

    /// The configuration.
    pub fn config(&self) -> &AnomalyConfig {
        &self.cfg
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts one request for `key_path` now; returns the anomalies that
    /// start now. `refused` says the key path is denied or locked on its own
    /// (its requests do not count for the total).
    pub fn observe(&self, key_path: &str, refused: bool) -> Vec<Anomaly> {
        self.observe_at(key_path, refused, self.now_ms())
    }

    /// [`Detector::observe`] at a given time (ms since the detector started).
    pub fn observe_at(&self, key_path: &str, refused: bool, now_ms: u64) -> Vec<Anomaly> {
        if self.cfg.exempt_key_paths.iter().any(|p| p == key_path) {
            return Vec::new();
        }
        let Ok(mut guard) = self.state.lock() else { return Vec::new() };
        let State { total, paths } = &mut *guard;
        let bucket = now_ms / self.bucket_ms;
        total.advance(bucket);
        if paths.len() >= MAX_TRACKED && !paths.contains_key(key_path) {
            paths.retain(|_, p| {
                p.window.advance(bucket);
                !p.window.is_idle() || p.locked
            });
        }
        let tau_ms = self.cfg.baseline_hours.max(f64::MIN_POSITIVE) * 3_600_000.0;
        let mut out = Vec::new();
        let path = if paths.len() < MAX_TRACKED || paths.contains_key(key_path) {
            Some(paths.entry(key_path.to_owned()).or_insert_with(|| PathState {
                window: Window::new(now_ms),
                baseline: Baseline { decayed: 0.0, at_ms: now_ms },
                first_seen_ms: now_ms,
                locked: false,
            }))
        } else {
            None
        };
        let mut counts_for_total = !refused && path.as_ref().is_none_or(|p| !p.locked);
        if counts_for_total {
            total.add(bucket);
        }
        if let Some(p) = path {
            let left = p.window.advance(bucket);
            p.baseline.add(left, now_ms, tau_ms);
            p.window.add(bucket);
            if !p.locked {
                out.extend(self.judge_key_path(key_path, p, now_ms, tau_ms));
                if p.locked && counts_for_total {
                    // Locked now: its requests (this one included) leave the total.
                    total.subtract(&p.window);
                    counts_for_total = false;
                }
            }
        }
        if counts_for_total {
            let rate = total.rate_per_window(now_ms, self.window_ms, self.bucket_ms);
            let limit = self.quota_per_window(self.cfg.key_stores);
            if rate > limit && total.should_alert(now_ms, self.window_ms) {
                out.push(self.anomaly(Scope::Total, Rule::Quota, rate, limit));
            }
        }
        out
    }

    /// The quota and baseline rules for one key path; a locking anomaly takes
    /// the key path out of the total (when locks are scoped to what tripped).
    fn judge_key_path(&self, key_path: &str, p: &mut PathState, now_ms: u64, tau_ms: f64) -> Option<Anomaly> {
        let rate = p.window.rate_per_window(now_ms, self.window_ms, self.bucket_ms);
        let quota = self.quota_per_window(1);
        let learned = now_ms.saturating_sub(p.first_seen_ms) as f64 >= self.cfg.baseline_learning_hours * 3_600_000.0;
        let baseline_limit = if self.cfg.baseline_factor > 0.0 && learned {
            let avg = p.baseline.per_window(now_ms, now_ms.saturating_sub(p.first_seen_ms), tau_ms, self.window_ms);
            Some((self.cfg.baseline_factor * avg).max(self.cfg.baseline_min_requests as f64) as u64)
        } else {
            None
        };
        let anomaly = if rate > quota {
            self.anomaly(Scope::KeyPath(key_path.to_owned()), Rule::Quota, rate, quota)
        } else if let Some(limit) = baseline_limit.filter(|l| rate > *l) {
            self.anomaly(Scope::KeyPath(key_path.to_owned()), Rule::Baseline, rate, limit)
        } else {
            return None;
        };
        if !p.window.should_alert(now_ms, self.window_ms) {
            return None;
        }
        if anomaly.lock && self.cfg.lock_scope == LockScope::Tripped {
            p.locked = true;
        }
        Some(anomaly)
    }

    fn anomaly(&self, scope: Scope, rule: Rule, rate_per_window: u64, limit: u64) -> Anomaly {
        let lock = match rule {
            Rule::Quota => self.cfg.auto_lock,
            Rule::Baseline => self.cfg.baseline_auto_lock,
        };
        Anomaly { scope, rule, rate_per_window, limit, window_seconds: self.cfg.window_seconds, lock }
    }

    /// KMS's quota for `stores` key stores, with headroom, per window.
    fn quota_per_window(&self, stores: u32) -> u64 {
        let per_second = self.cfg.kms_quota_per_second * f64::from(stores.max(1)) * self.cfg.quota_headroom;
        (per_second * self.cfg.window_seconds as f64) as u64
    }

    /// Re-arms after an unlock of `key_path` (or of everything, `None`): its
    /// window counts from now and may alert again at once; a key path
    /// counts for the total again.
    pub fn rearm(&self, key_path: Option<&str>) {
        self.rearm_at(key_path, self.now_ms());
    }

    /// [`Detector::rearm`] at a given time.
    pub fn rearm_at(&self, key_path: Option<&str>, now_ms: u64) {
        let Ok(mut guard) = self.state.lock() else { return };
        let State { total, paths } = &mut *guard;
        match key_path {
            Some(k) => {
                if let Some(p) = paths.get_mut(k) {
                    p.window.rearm(now_ms);
                    p.locked = false;
                }
            }
            None => {
                total.rearm(now_ms);
                for p in paths.values_mut() {
                    p.window.rearm(now_ms);
                    p.locked = false;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const S: u64 = 1000;
    const MIN: u64 = 60 * S;
    const HOUR: u64 = 60 * MIN;

    fn detector() -> Detector {
        Detector::new(AnomalyConfig::default())
    }

    /// Sends `n` requests for `key_path` evenly over `[from, from + span)`; returns the anomalies.
    fn send(d: &Detector, key_path: &str, n: u64, from: u64, span: u64) -> Vec<Anomaly> {
        (0..n).flat_map(|i| d.observe_at(key_path, false, from + i * span / n.max(1))).collect()
    }

    /// Issue 15 §5: KMS at its full default quota (1,800/s) on one key, for
    /// 20 s and for 10 minutes, trips nothing: it is what KMS may send.
    #[test]
    fn full_kms_quota_on_one_key_is_not_an_anomaly() {
        let d = detector();
        assert_eq!(send(&d, "ks1/busy", 1800 * 20, 0, 20 * S), vec![]);
        let d = detector();
        assert_eq!(send(&d, "ks1/busy", 1800 * 600, 0, 600 * S), vec![]);
    }

    /// Above what KMS can send: a key-path quota anomaly that asks for a lock
    /// (of that key path: the total no longer counts its requests).
    #[test]
    fn above_the_kms_quota_is_an_anomaly_that_locks() {
        let d = detector();
        let found = send(&d, "ks1/rogue", 3 * 1800 * 10, 0, 10 * S);
        assert_eq!(found.len(), 1, "{found:?}");
        let a = &found[0];
        assert_eq!((a.rule, a.lock, &a.scope), (Rule::Quota, true, &Scope::KeyPath("ks1/rogue".into())));
        assert!(a.rate_per_window > a.limit && a.limit == 162_000, "{a:?}");
        // The flood goes on against the locked key path: no total anomaly.
        assert_eq!(send(&d, "ks1/rogue", 3 * 1800 * 60, 10 * S, 60 * S), vec![]);
        // A rogue spread over many key paths, each below the quota, trips the total.
        let d = detector();
        let spread: Vec<Anomaly> =
            (0..3 * 1800 * 10u64).flat_map(|i| d.observe_at(&format!("ks1/k{}", i % 100), false, i * 10 * S / (3 * 1800 * 10))).collect();
        assert_eq!(spread.len(), 1, "{spread:?}");
        assert_eq!((spread[0].rule, &spread[0].scope), (Rule::Quota, &Scope::Total));
    }

    /// The designed case: thousands per minute on a key path that normally
    /// sees a handful per hour.
    #[test]
    fn thousands_per_minute_where_a_handful_per_hour_is_normal() {
        let d = detector();
        let mut t = 0;
        for _ in 0..48 {
            assert_eq!(send(&d, "ks1/payroll", 5, t, HOUR), vec![]);
            t += HOUR;
        }
        let found = send(&d, "ks1/payroll", 3000, t, MIN);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].rule, found[0].lock), (Rule::Baseline, false), "alert only by default");
        assert!(found[0].rate_per_window > 1000);
        // A busy key path doing what it always does is not an anomaly…
        let d = detector();
        for h in 0..4 {
            assert_eq!(send(&d, "ks1/busy", 60 * 1500, h * HOUR, HOUR), vec![], "hour {h}");
        }
        // …nor is a key path that was never seen before (nothing to compare with).
        assert_eq!(send(&d, "ks1/new", 3000, 4 * HOUR, MIN), vec![]);
    }

    /// The proxies' health key path is never counted.
    #[test]
    fn the_health_key_path_is_exempt() {
        let d = detector();
        assert_eq!(send(&d, "xks-proxy/health-check", 100_000, 0, S), vec![]);
    }

    /// After an unlock, a flood that is still running trips again within one
    /// sub-bucket; one that stopped does not trip on its old counts.
    #[test]
    fn rearmed_after_unlock() {
        let d = detector();
        assert_eq!(send(&d, "ks1/rogue", 3 * 1800 * 10, 0, 10 * S).len(), 1);
        d.rearm_at(Some("ks1/rogue"), 20 * S);
        let again = send(&d, "ks1/rogue", 3 * 1800 * 6, 20 * S, 6 * S);
        assert_eq!(again.len(), 1, "re-locked while the flood runs: {again:?}");
        let d = detector();
        assert_eq!(send(&d, "ks1/rogue", 3 * 1800 * 10, 0, 10 * S).len(), 1);
        d.rearm_at(Some("ks1/rogue"), 30 * S);
        assert_eq!(send(&d, "ks1/rogue", 100, 30 * S, 10 * S), vec![], "old counts are not held against new traffic");
        // A whole-service re-arm resets the total too.
        d.rearm_at(None, 40 * S);
        assert_eq!(send(&d, "ks1/other", 1000, 40 * S, 10 * S), vec![]);
    }

    /// `lock_scope = "service"`: the key path stays in the total.
    #[test]
    fn service_scope_keeps_the_key_path_in_the_total() {
        let d = Detector::new(AnomalyConfig { lock_scope: LockScope::Service, ..AnomalyConfig::default() });
        let found = send(&d, "ks1/rogue", 3 * 1800 * 10, 0, 10 * S);
        assert!(found.iter().any(|a| a.scope == Scope::Total), "{found:?}");
    }
}
