//! Latency percentiles, the JSON report and the verdict against KMS's limits.

use std::collections::BTreeMap;

use serde::Serialize;

/// KMS's default request quota per external key store (requests/s).
pub const KMS_QUOTA_TPS: f64 = 1800.0;
/// KMS gives up on an XKS call after this long.
pub const KMS_TIMEOUT_MS: f64 = 250.0;

/// Latency percentiles in milliseconds.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Percentiles of latencies in microseconds (sorts them).
    pub fn of(micros: &mut [u32]) -> Self {
        micros.sort_unstable();
        let pct = |p: f64| -> f64 {
            if micros.is_empty() {
                return 0.0;
            }
            // Nearest-rank percentile.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let rank = ((micros.len() as f64) * p).ceil() as usize;
            micros.get(rank.saturating_sub(1).min(micros.len() - 1)).map_or(0.0, |&v| f64::from(v) / 1000.0)
        };
        #[allow(clippy::cast_precision_loss)]
        let mean = if micros.is_empty() { 0.0 } else { micros.iter().map(|&v| f64::from(v)).sum::<f64>() / micros.len() as f64 / 1000.0 };
        Self { p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), p999: pct(0.999), max: pct(1.0), mean }
    }
}

/// The verdict line's data.
#[derive(Serialize, Debug, Clone)]
pub struct Verdict {
    pub pass: bool,
    pub reasons: Vec<String>,
}

/// Everything one run measured.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub endpoint: String,
    pub operation: String,
    pub concurrency: usize,
    pub target_rate: Option<f64>,
    pub http2: bool,
    pub duration_seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub tps: f64,
    pub latency_ms: Latency,
    pub verdict: Verdict,
}

impl Report {
    /// Judges the run against KMS's limits: no errors, p99.9 inside KMS's
    /// timeout, and the quota sustained (closed loop) or the asked rate met.
    pub fn judge(&mut self) {
        let mut reasons = Vec::new();
        let mut pass = true;
        if self.errors > 0 {
            pass = false;
            reasons.push(format!("{} of {} requests failed", self.errors, self.requests + self.errors));
        }
        if self.requests == 0 {
            pass = false;
            reasons.push("no request succeeded".into());
        }
        if self.requests == 0 {
            // No latency to judge.
        } else if self.latency_ms.p999 >= KMS_TIMEOUT_MS {
            pass = false;
            reasons.push(format!("p99.9 {:.1} ms is not inside KMS's {KMS_TIMEOUT_MS:.0} ms timeout", self.latency_ms.p999));
        } else {
            reasons.push(format!("p99.9 {:.1} ms inside KMS's {KMS_TIMEOUT_MS:.0} ms timeout", self.latency_ms.p999));
        }
        match self.target_rate {
            Some(rate) if self.tps < rate * 0.95 => {
                pass = false;
                reasons.push(format!("{:.0} requests/s is below the asked rate of {rate:.0}/s", self.tps));
            }
            Some(rate) => reasons.push(format!("{:.0} requests/s meets the asked rate of {rate:.0}/s", self.tps)),
            None if self.tps < KMS_QUOTA_TPS => {
                pass = false;
                reasons.push(format!("{:.0} requests/s is below KMS's default quota of {KMS_QUOTA_TPS:.0}/s per key store", self.tps));
            }
            None => reasons.push(format!("{:.0} requests/s covers KMS's default quota of {KMS_QUOTA_TPS:.0}/s per key store", self.tps)),
        }
        self.verdict = Verdict { pass, reasons };
    }

    /// The human-readable summary.
    pub fn text(&self) -> String {
        let l = &self.latency_ms;
        let mut s = format!(
            "{} {} at {} concurrent{}{}: {} ok, {} errors in {:.1} s\n  throughput  {:.0} requests/s\n  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}\n",
            self.operation,
            self.endpoint,
            self.concurrency,
            self.target_rate.map(|r| format!(", fixed rate {r:.0}/s")).unwrap_or_default(),
            if self.http2 { ", HTTP/2" } else { "" },
            self.requests,
            self.errors,
            self.duration_seconds,
            self.tps,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            l.mean,
        );
        for (kind, n) in &self.errors_by_kind {
            s.push_str(&format!("  error       {kind}: {n}\n"));
        }
        s.push_str(&format!("verdict: {} ({})", if self.verdict.pass { "PASS" } else { "FAIL" }, self.verdict.reasons.join("; ")));
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=1000).rev().map(|x| x * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!(l.p50, 500.0);
        assert_eq!(l.p99, 990.0);
        assert_eq!(l.p999, 999.0);
        assert_eq!(l.max, 1000.0);
        assert_eq!(Latency::of(&mut []).p99, 0.0);
    }

    fn report(tps: f64, p999: f64, errors: u64, rate: Option<f64>) -> Report {
        let mut r = Report {
            endpoint: "e".into(),
            operation: "encrypt".into(),
            concurrency: 1,
            target_rate: rate,
            http2: false,
            duration_seconds: 1.0,
            requests: 100,
            errors,
            errors_by_kind: BTreeMap::new(),
            tps,
            latency_ms: Latency { p999, ..Latency::default() },
            verdict: Verdict { pass: false, reasons: vec![] },
        };
        r.judge();
        r
    }

    #[test]
    fn verdict_against_kms_limits() {
        assert!(report(2000.0, 10.0, 0, None).verdict.pass);
        assert!(!report(1000.0, 10.0, 0, None).verdict.pass, "below quota");
        assert!(report(1000.0, 10.0, 0, Some(1000.0)).verdict.pass, "fixed rate met");
        assert!(!report(800.0, 10.0, 0, Some(1000.0)).verdict.pass, "fixed rate missed");
        assert!(!report(5000.0, 260.0, 0, None).verdict.pass, "too slow");
        assert!(!report(5000.0, 10.0, 1, None).verdict.pass, "errors");
    }
}
