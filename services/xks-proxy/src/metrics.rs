//! Prometheus text metrics. Label values come from fixed sets (operations,
//! the spec's error names, configured partner ids); key ids, key paths and
//! principals never become labels.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use xks_service::listener::Connections;
use xks_service::metrics::{self, Kind, counter, gauge, header};

use xks_wire::xks::{ErrorName, Operation};

use crate::stores::KeyStores;

/// The operation label of a request: one of the XKS operations, or `None`
/// for anything that did not reach one (bad path, method) → `other`.
type OperationLabel = Option<Operation>;

const OPERATIONS: [OperationLabel; 5] =
    [Some(Operation::GetHealthStatus), Some(Operation::GetKeyMetadata), Some(Operation::Encrypt), Some(Operation::Decrypt), None];

fn label(op: OperationLabel) -> &'static str {
    op.map_or("other", Operation::as_str)
}

fn index(op: OperationLabel) -> usize {
    OPERATIONS.iter().position(|o| *o == op).unwrap_or(0)
}

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_US: [u64; 12] = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 150_000, 200_000, 250_000, 1_000_000];

/// A latency histogram over the proxy's buckets (0.5 ms to 1 s).
pub type Histogram = metrics::Histogram<12>;

/// Outcomes of one partner attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Verified partial.
    Ok,
    /// No answer within the attempt timeout.
    Timeout,
    /// Connection or TLS failure.
    Transport,
    /// An error status from the partner.
    Status,
    /// Refused by the partner's operator (lock, deny, anomaly lock).
    Refused,
    /// A partial that failed verification (proof or commitment).
    Invalid,
    /// Cancelled because another partner answered first, or because a
    /// partner preferred over this one refused.
    Cancelled,
    /// This proxy's own failure while asking (not counted against the partner).
    Local,
}

const ATTEMPT_OUTCOMES: [AttemptOutcome; 8] = [
    AttemptOutcome::Ok,
    AttemptOutcome::Timeout,
    AttemptOutcome::Transport,
    AttemptOutcome::Status,
    AttemptOutcome::Refused,
    AttemptOutcome::Invalid,
    AttemptOutcome::Cancelled,
    AttemptOutcome::Local,
];

impl AttemptOutcome {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::Transport => "transport",
            AttemptOutcome::Status => "status",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Invalid => "invalid_partial",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::Local => "local",
        }
    }
    fn index(self) -> usize {
        ATTEMPT_OUTCOMES.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// Why a partner's checkpoint was not witnessed (the `failure` label of
/// `xks_partner_witness_failures_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WitnessFailure {
    /// No answer (connection, TLS, timeout).
    Unreachable,
    /// An error status (no checkpoint signed, signing off).
    Unavailable,
    /// Not a checkpoint, or not validly signed by the pinned key.
    Invalid,
    /// Validly signed, but contradicts the one held: the partner's log went back or forked.
    Inconsistent,
    /// The archive could not be written.
    Archive,
}

const WITNESS_FAILURES: [WitnessFailure; 5] = [
    WitnessFailure::Unreachable,
    WitnessFailure::Unavailable,
    WitnessFailure::Invalid,
    WitnessFailure::Inconsistent,
    WitnessFailure::Archive,
];

impl WitnessFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Unavailable => "unavailable",
            Self::Invalid => "invalid",
            Self::Inconsistent => "inconsistent",
            Self::Archive => "archive",
        }
    }

    fn index(self) -> usize {
        WITNESS_FAILURES.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// One of a partner's gauges.
type PartnerGauge = fn(&PartnerMetrics) -> &AtomicU64;

/// Per-partner counters.
#[derive(Debug)]
pub struct PartnerMetrics {
    attempts: [AtomicU64; 8],
    /// Attempt latency.
    pub latency: Histogram,
    /// 0 ACTIVE, 1 DEGRADED, 2 UNAVAILABLE (last deep health check).
    pub health: AtomicU64,
    /// 1 when the breaker is open.
    pub breaker_open: AtomicU64,
    /// 1 while a refusal of the partner's (lock, deny) is in force.
    pub refusing: AtomicU64,
    /// Sequence number of the partner's last witnessed checkpoint.
    pub checkpoint_seq: AtomicU64,
    /// When the partner signed it (Unix seconds; 0: none witnessed).
    pub checkpoint_time: AtomicI64,
    witness_failures: [AtomicU64; 5],
}

impl Default for PartnerMetrics {
    fn default() -> Self {
        Self {
            attempts: Default::default(),
            latency: Histogram::new(BUCKETS_US),
            health: AtomicU64::new(0),
            breaker_open: AtomicU64::new(0),
            refusing: AtomicU64::new(0),
            checkpoint_seq: AtomicU64::new(0),
            checkpoint_time: AtomicI64::new(0),
            witness_failures: Default::default(),
        }
    }
}

impl PartnerMetrics {
    /// Counts one attempt.
    pub fn attempt(&self, o: AttemptOutcome, micros: u64) {
        if let Some(c) = self.attempts.get(o.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if o != AttemptOutcome::Cancelled {
            self.latency.observe(micros);
        }
    }
    /// Counts a checkpoint not witnessed.
    pub fn witness_failure(&self, f: WitnessFailure) {
        if let Some(c) = self.witness_failures.get(f.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Witness failures of this kind so far.
    pub fn witness_failures(&self, f: WitnessFailure) -> u64 {
        self.witness_failures.get(f.index()).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Attempts with this outcome so far.
    pub fn count(&self, o: AttemptOutcome) -> u64 {
        self.attempts.get(o.index()).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

/// All metrics.
#[derive(Debug)]
pub struct Metrics {
    requests: Vec<AtomicU64>,
    latency: [Histogram; 5],
    /// Requests answered by a partner other than the first tried.
    pub hedged: AtomicU64,
    /// Configuration reloads (ok, failed).
    pub reloads_ok: AtomicU64,
    /// Failed reloads.
    pub reloads_failed: AtomicU64,
    /// The XKS listener's connections.
    connections: Arc<Connections>,
    /// TLS handshake failures on the front.
    pub handshake_failures: AtomicU64,
    partners: Vec<(String, PartnerMetrics)>,
    /// End of validity of the certificates loaded at start, by role.
    certificates: Vec<(&'static str, i64)>,
}

impl Metrics {
    /// Metrics for the configured partner ids, with the end of validity of
    /// each certificate loaded at start (`front`, `partner_client`).
    pub fn new(partner_ids: &[String], connections: Arc<Connections>, certificates: Vec<(&'static str, i64)>) -> Self {
        Self {
            requests: (0..OPERATIONS.len() * (ErrorName::ALL.len() + 1)).map(|_| AtomicU64::new(0)).collect(),
            latency: std::array::from_fn(|_| Histogram::new(BUCKETS_US)),
            hedged: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            connections,
            handshake_failures: AtomicU64::new(0),
            partners: partner_ids.iter().map(|id| (id.clone(), PartnerMetrics::default())).collect(),
            certificates,
        }
    }

    fn slot(op: OperationLabel, outcome: Option<ErrorName>) -> usize {
        let o = outcome.and_then(|n| ErrorName::ALL.iter().position(|e| *e == n)).map(|i| i + 1).unwrap_or(0);
        index(op) * (ErrorName::ALL.len() + 1) + o
    }

    /// Counts one XKS request (`None` = success).
    pub fn request(&self, op: OperationLabel, outcome: Option<ErrorName>, micros: u64) {
        if let Some(c) = self.requests.get(Self::slot(op, outcome)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.latency.get(index(op)) {
            h.observe(micros);
        }
    }

    /// Requests so far for an operation and outcome.
    pub fn requests(&self, op: OperationLabel, outcome: Option<ErrorName>) -> u64 {
        self.requests.get(Self::slot(op, outcome)).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// A partner's metrics.
    pub fn partner(&self, id: &str) -> Option<&PartnerMetrics> {
        self.partners.iter().find(|(p, _)| p == id).map(|(_, m)| m)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, stores: &KeyStores, in_flight: usize) -> String {
        let mut out = String::with_capacity(16_384);
        self.render_requests(&mut out);
        self.render_partners(&mut out);
        self.render_counters(&mut out);
        metrics::certificates(&mut out, "xks", &self.certificates);
        let modified: Vec<(&str, i64)> = stores.iter().filter_map(|s| Some((s.name.as_str(), s.credentials_modified?))).collect();
        metrics::labelled_gauge(
            &mut out,
            "xks_credentials_file_modified_timestamp_seconds",
            "Modification time (Unix seconds) of each key store's credentials file, as last loaded.",
            "key_store",
            &modified,
        );
        gauge(&mut out, "xks_key_stores", "Configured key stores.", stores.iter().count());
        gauge(&mut out, "xks_connections", "Open connections on the XKS listener.", self.connections.open());
        gauge(&mut out, "xks_in_flight", "Requests being processed.", in_flight);
        out
    }

    /// Requests by operation and outcome, and their latency.
    fn render_requests(&self, out: &mut String) {
        header(out, "xks_requests_total", Kind::Counter, "XKS API requests by operation and outcome (ok or the spec's errorName).");
        for op in OPERATIONS {
            for outcome in std::iter::once(None).chain(ErrorName::ALL.iter().copied().map(Some)) {
                let v = self.requests(op, outcome);
                let o = outcome.map(ErrorName::as_str).unwrap_or("ok");
                let _ = writeln!(out, "xks_requests_total{{operation=\"{}\",outcome=\"{o}\"}} {v}", label(op));
            }
        }
        header(out, "xks_request_duration_seconds", Kind::Histogram, "Time from request head to response.");
        for op in OPERATIONS {
            if let Some(h) = self.latency.get(index(op)) {
                h.render(out, "xks_request_duration_seconds", &format!("operation=\"{}\",", label(op)));
            }
        }
    }

    /// Each partner's attempts, latency, health, breaker and refusal.
    fn render_partners(&self, out: &mut String) {
        header(out, "xks_partner_attempts_total", Kind::Counter, "Partial requests to partners by outcome.");
        for (id, m) in &self.partners {
            for o in ATTEMPT_OUTCOMES {
                let _ = writeln!(out, "xks_partner_attempts_total{{partner=\"{id}\",outcome=\"{}\"}} {}", o.as_str(), m.count(o));
            }
        }
        header(out, "xks_partner_attempt_duration_seconds", Kind::Histogram, "Partner round trip including verification.");
        for (id, m) in &self.partners {
            m.latency.render(out, "xks_partner_attempt_duration_seconds", &format!("partner=\"{id}\","));
        }
        let gauges: [(&str, &str, PartnerGauge); 3] = [
            ("xks_partner_health", "Last deep health check: 0 ACTIVE, 1 DEGRADED, 2 UNAVAILABLE.", |m| &m.health),
            ("xks_partner_breaker_open", "1 while the partner's circuit breaker is open.", |m| &m.breaker_open),
            ("xks_partner_refusing", "1 while a refusal of the partner's operator (lock, deny, anomaly lock) is in force.", |m| {
                &m.refusing
            }),
        ];
        for (name, help, value) in gauges {
            header(out, name, Kind::Gauge, help);
            for (id, m) in &self.partners {
                let _ = writeln!(out, "{name}{{partner=\"{id}\"}} {}", value(m).load(Ordering::Relaxed));
            }
        }
        self.render_witness(out);
    }

    /// The partners' witnessed audit checkpoints.
    fn render_witness(&self, out: &mut String) {
        header(out, "xks_partner_checkpoint_seq", Kind::Gauge, "Sequence number of the partner's last witnessed audit checkpoint.");
        for (id, m) in &self.partners {
            let _ = writeln!(out, "xks_partner_checkpoint_seq{{partner=\"{id}\"}} {}", m.checkpoint_seq.load(Ordering::Relaxed));
        }
        header(
            out,
            "xks_partner_checkpoint_timestamp_seconds",
            Kind::Gauge,
            "When the partner signed its last witnessed audit checkpoint (Unix time; 0: none witnessed).",
        );
        for (id, m) in &self.partners {
            let _ =
                writeln!(out, "xks_partner_checkpoint_timestamp_seconds{{partner=\"{id}\"}} {}", m.checkpoint_time.load(Ordering::Relaxed));
        }
        header(out, "xks_partner_witness_failures_total", Kind::Counter, "Partner audit checkpoints not witnessed, by failure.");
        for (id, m) in &self.partners {
            for f in WITNESS_FAILURES {
                let _ = writeln!(
                    out,
                    "xks_partner_witness_failures_total{{partner=\"{id}\",failure=\"{}\"}} {}",
                    f.as_str(),
                    m.witness_failures(f)
                );
            }
        }
    }

    /// Hedging, reloads, connections and handshakes.
    fn render_counters(&self, out: &mut String) {
        let c = self.connections.counters();
        let counters: [(&str, &str, &AtomicU64); 8] = [
            ("xks_hedged_total", "Requests answered by a partner other than the first one tried.", &self.hedged),
            ("xks_reloads_total", "Successful key-store reloads.", &self.reloads_ok),
            ("xks_reload_failures_total", "Refused key-store reloads (old configuration kept).", &self.reloads_failed),
            (
                "xks_connections_refused_total",
                "Connections closed at the connection bound (every open connection authenticated).",
                &c.refused,
            ),
            ("xks_connections_evicted_total", "Unauthenticated connections closed to make room for a new connection.", &c.evicted),
            ("xks_connections_timed_out_total", "Connections closed because no request authenticated in time.", &c.timed_out),
            ("xks_connections_idle_closed_total", "Connections closed after idle_timeout_ms without a request.", &c.idle_closed),
            ("xks_tls_handshake_failures_total", "Failed TLS handshakes on the front.", &self.handshake_failures),
        ];
        for (name, help, value) in counters {
            counter(out, name, help, value.load(Ordering::Relaxed));
        }
    }
}
