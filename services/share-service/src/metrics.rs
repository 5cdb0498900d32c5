//! Prometheus text metrics with bounded label values only (outcome names are a
//! fixed set; key paths and client identities never become labels).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use xks_service::listener::Connections;

/// How a request ended. The label values of `share_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Partial released.
    Ok,
    /// Malformed request (400/413/415).
    Invalid,
    /// Unknown generation or epoch (404).
    UnknownKeySet,
    /// Key path denied by the operator (403).
    Denied,
    /// Service locked (423).
    Locked,
    /// Over the request-rate bound (429).
    RateLimited,
    /// Over the in-flight bound (503).
    Overloaded,
    /// Audit log unavailable: refused, nothing released (503).
    AuditFailed,
    /// Unexpected internal error (500).
    Internal,
}

const OUTCOMES: [Outcome; 9] = [
    Outcome::Ok,
    Outcome::Invalid,
    Outcome::UnknownKeySet,
    Outcome::Denied,
    Outcome::Locked,
    Outcome::RateLimited,
    Outcome::Overloaded,
    Outcome::AuditFailed,
    Outcome::Internal,
];

impl Outcome {
    /// The label / audit value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Invalid => "invalid",
            Outcome::UnknownKeySet => "unknown_key_set",
            Outcome::Denied => "denied",
            Outcome::Locked => "locked",
            Outcome::RateLimited => "rate_limited",
            Outcome::Overloaded => "overloaded",
            Outcome::AuditFailed => "audit_failed",
            Outcome::Internal => "internal",
        }
    }

    fn index(self) -> usize {
        OUTCOMES.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// Latency histogram bucket bounds, seconds.
const BOUNDS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// All counters.
#[derive(Debug)]
pub struct Metrics {
    requests: [AtomicU64; 9],
    latency: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Thresholds crossed.
    pub anomalies: AtomicU64,
    /// Audit records written.
    pub audit_records: AtomicU64,
    /// fsync batches.
    pub audit_batches: AtomicU64,
    /// The listener's connections.
    connections: Arc<Connections>,
    /// Failed TLS handshakes (including refused client certificates).
    pub handshake_failures: AtomicU64,
}

impl Metrics {
    /// Zeroed counters for the listener's `connections`.
    pub fn new(connections: Arc<Connections>) -> Self {
        Self {
            requests: Default::default(),
            latency: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            anomalies: AtomicU64::new(0),
            audit_records: AtomicU64::new(0),
            audit_batches: AtomicU64::new(0),
            connections,
            handshake_failures: AtomicU64::new(0),
        }
    }

    /// The listener's connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Counts a finished request.
    pub fn request(&self, outcome: Outcome, micros: u64) {
        if let Some(c) = self.requests.get(outcome.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let secs = micros as f64 / 1e6;
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b)
            && let Some(c) = self.latency.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Requests so far with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.requests.get(outcome.index()).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition.
    pub fn render(&self, locked: bool, denied: usize, locked_key_paths: usize, audit_seq: u64, audit_healthy: bool) -> String {
        let mut s = String::with_capacity(4096);
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP share_requests_total Partial requests by outcome.\n# TYPE share_requests_total counter");
        for o in OUTCOMES {
            let _ = writeln!(s, "share_requests_total{{outcome=\"{}\"}} {}", o.as_str(), self.count(o));
        }
        let _ = writeln!(
            s,
            "# HELP share_request_duration_seconds Time to answer a partial request.\n# TYPE share_request_duration_seconds histogram"
        );
        let mut cum = 0;
        for (b, c) in BOUNDS.iter().zip(&self.latency) {
            cum += r(c);
            let _ = writeln!(s, "share_request_duration_seconds_bucket{{le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(s, "share_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", r(&self.latency_count));
        let _ = writeln!(s, "share_request_duration_seconds_sum {}", r(&self.latency_sum_us) as f64 / 1e6);
        let _ = writeln!(s, "share_request_duration_seconds_count {}", r(&self.latency_count));
        let gauge = |s: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        gauge(&mut s, "share_locked", "1 while the operator's (or the anomaly) lock is on.", i64::from(locked));
        gauge(&mut s, "share_denied_key_paths", "Key paths currently denied.", i64::try_from(denied).unwrap_or(i64::MAX));
        gauge(
            &mut s,
            "share_locked_key_paths",
            "Key paths currently locked on their own (anomaly).",
            i64::try_from(locked_key_paths).unwrap_or(i64::MAX),
        );
        gauge(&mut s, "share_audit_healthy", "0 once the audit log failed: requests are refused.", i64::from(audit_healthy));
        gauge(
            &mut s,
            "share_audit_head_seq",
            "Sequence number of the last durable audit record.",
            i64::try_from(audit_seq).unwrap_or(i64::MAX),
        );
        counter(&mut s, "share_anomalies_total", "Rate thresholds crossed.", r(&self.anomalies));
        counter(&mut s, "share_audit_records_total", "Audit records written by this process.", r(&self.audit_records));
        counter(&mut s, "share_audit_fsync_batches_total", "Group-commit batches (one fsync each).", r(&self.audit_batches));
        gauge(&mut s, "share_connections", "Open connections.", i64::try_from(self.connections.open()).unwrap_or(i64::MAX));
        let c = self.connections.counters();
        counter(
            &mut s,
            "share_connections_refused_total",
            "Connections closed at accept (max_connections reached, every connection past its handshake).",
            r(&c.refused),
        );
        counter(
            &mut s,
            "share_connections_evicted_total",
            "Connections still in their TLS handshake closed to make room for a new one.",
            r(&c.evicted),
        );
        counter(
            &mut s,
            "share_connections_idle_closed_total",
            "Connections closed after limits.idle_timeout_ms without a request.",
            r(&c.idle_closed),
        );
        counter(
            &mut s,
            "share_tls_handshake_failures_total",
            "Failed TLS handshakes (includes refused client certificates).",
            r(&self.handshake_failures),
        );
        s
    }
}
