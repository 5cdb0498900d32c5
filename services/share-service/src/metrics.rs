//! Prometheus text metrics with bounded label values only (outcome names are a
//! fixed set; key paths and client identities never become labels).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use xks_service::listener::Connections;
use xks_service::metrics::{Histogram, Kind, counter, gauge, header};

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

/// Latency histogram bucket bounds, microseconds.
const BUCKETS_US: [u64; 12] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/// All counters.
#[derive(Debug)]
pub struct Metrics {
    requests: [AtomicU64; 9],
    latency: Histogram<12>,
    /// Thresholds crossed.
    pub anomalies: AtomicU64,
    /// Audit records written.
    audit_records: AtomicU64,
    /// Time to make one group of audit records durable (write and fdatasync);
    /// its count is the number of groups (one fsync each).
    audit_commit: Histogram<12>,
    /// Batches of partial requests received (`POST /v1/partials`).
    pub partial_batches: AtomicU64,
    /// The listener's connections.
    connections: Arc<Connections>,
    /// Failed TLS handshakes (including refused client certificates).
    pub handshake_failures: AtomicU64,
    /// End of validity of the certificates loaded at start, by role.
    certificates: Vec<(&'static str, i64)>,
    /// Sequence number of the last signed checkpoint.
    checkpoint_seq: AtomicU64,
    /// When it was signed (Unix seconds; 0: none yet).
    checkpoint_time: AtomicI64,
    /// Checkpoints that could not be signed or stored.
    pub checkpoint_failures: AtomicU64,
}

impl Metrics {
    /// Zeroed counters for the listener's `connections`, with the end of
    /// validity of each certificate loaded at start (`server`).
    pub fn new(connections: Arc<Connections>, certificates: Vec<(&'static str, i64)>) -> Self {
        Self {
            requests: Default::default(),
            latency: Histogram::new(BUCKETS_US),
            anomalies: AtomicU64::new(0),
            audit_records: AtomicU64::new(0),
            audit_commit: Histogram::new(BUCKETS_US),
            partial_batches: AtomicU64::new(0),
            connections,
            handshake_failures: AtomicU64::new(0),
            certificates,
            checkpoint_seq: AtomicU64::new(0),
            checkpoint_time: AtomicI64::new(0),
            checkpoint_failures: AtomicU64::new(0),
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
        self.latency.observe(micros);
    }

    /// Counts a group of `records` audit records made durable in `micros`.
    pub fn audit_commit(&self, records: usize, micros: u64) {
        self.audit_records.fetch_add(records as u64, Ordering::Relaxed);
        self.audit_commit.observe(micros);
    }

    /// A checkpoint of `seq` was signed and stored at `unix_seconds`.
    pub fn checkpoint(&self, seq: u64, unix_seconds: i64) {
        self.checkpoint_seq.store(seq, Ordering::Relaxed);
        self.checkpoint_time.store(unix_seconds, Ordering::Relaxed);
    }

    /// Requests so far with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.requests.get(outcome.index()).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition.
    pub fn render(&self, locked: bool, denied: usize, locked_key_paths: usize, audit_seq: u64, audit_healthy: bool) -> String {
        let mut s = String::with_capacity(4096);
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(&mut s, "share_requests_total", Kind::Counter, "Partial requests by outcome.");
        for o in OUTCOMES {
            let _ = writeln!(s, "share_requests_total{{outcome=\"{}\"}} {}", o.as_str(), self.count(o));
        }
        counter(
            &mut s,
            "share_partial_batches_total",
            "Batches of partial requests (POST /v1/partials); share_requests_total counts their requests one by one.",
            r(&self.partial_batches),
        );
        header(&mut s, "share_request_duration_seconds", Kind::Histogram, "Time to answer a partial request.");
        self.latency.render(&mut s, "share_request_duration_seconds", "");
        gauge(&mut s, "share_locked", "1 while the operator's (or the anomaly) lock is on.", locked);
        gauge(&mut s, "share_denied_key_paths", "Key paths currently denied.", denied);
        gauge(&mut s, "share_locked_key_paths", "Key paths currently locked on their own (anomaly).", locked_key_paths);
        gauge(&mut s, "share_audit_healthy", "0 once the audit log failed: requests are refused.", audit_healthy);
        gauge(&mut s, "share_audit_head_seq", "Sequence number of the last durable audit record.", audit_seq);
        gauge(&mut s, "share_audit_checkpoint_seq", "Sequence number of the last signed audit checkpoint.", r(&self.checkpoint_seq));
        gauge(
            &mut s,
            "share_audit_checkpoint_timestamp_seconds",
            "When the last audit checkpoint was signed (Unix time; 0: none since start, or signing is off).",
            self.checkpoint_time.load(Ordering::Relaxed),
        );
        counter(
            &mut s,
            "share_audit_checkpoint_failures_total",
            "Audit checkpoints that could not be signed or stored.",
            r(&self.checkpoint_failures),
        );
        counter(&mut s, "share_anomalies_total", "Rate thresholds crossed.", r(&self.anomalies));
        counter(&mut s, "share_audit_records_total", "Audit records written by this process.", r(&self.audit_records));
        counter(&mut s, "share_audit_fsync_batches_total", "Group-commit batches (one fsync each).", self.audit_commit.count());
        header(
            &mut s,
            "share_audit_commit_duration_seconds",
            Kind::Histogram,
            "Time to make one group of audit records durable (write and fdatasync); every answer waits for it.",
        );
        self.audit_commit.render(&mut s, "share_audit_commit_duration_seconds", "");
        gauge(&mut s, "share_connections", "Open connections.", self.connections.open());
        let c = self.connections.counters();
        let connection_counters = [
            (
                "share_connections_refused_total",
                "Connections closed at accept (max_connections reached, every connection past its handshake).",
                &c.refused,
            ),
            ("share_connections_evicted_total", "Connections still in their TLS handshake closed to make room for a new one.", &c.evicted),
            ("share_connections_idle_closed_total", "Connections closed after limits.idle_timeout_ms without a request.", &c.idle_closed),
            (
                "share_tls_handshake_failures_total",
                "Failed TLS handshakes (includes refused client certificates).",
                &self.handshake_failures,
            ),
        ];
        for (name, help, value) in connection_counters {
            counter(&mut s, name, help, r(value));
        }
        xks_service::metrics::certificates(&mut s, "share", &self.certificates);
        s
    }
}
