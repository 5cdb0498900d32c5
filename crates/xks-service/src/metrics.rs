//! Prometheus text exposition, written once for both services: a latency
//! histogram over fixed buckets, and the `# HELP`/`# TYPE` lines of a
//! counter or gauge. Label values are the callers' fixed sets; nothing a
//! client sends ever becomes a label.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A latency histogram with `N` buckets of fixed upper bounds (microseconds).
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds_us: [u64; N],
    /// Cumulative: bucket `i` counts every observation `<= bounds_us[i]`.
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    /// An empty histogram over these upper bounds (ascending, microseconds).
    pub fn new(bounds_us: [u64; N]) -> Self {
        Self { bounds_us, buckets: std::array::from_fn(|_| AtomicU64::new(0)), count: AtomicU64::new(0), sum_us: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe(&self, micros: u64) {
        for (bucket, le) in self.buckets.iter().zip(self.bounds_us) {
            if micros <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines of `name`, each with
    /// `labels` (`key="value",` pairs, each ending in a comma; may be empty).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bucket, le) in self.buckets.iter().zip(self.bounds_us) {
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {}", le as f64 / 1e6, bucket.load(Ordering::Relaxed));
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let labels = labels.trim_end_matches(',');
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The kind of a metric.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Only ever increases.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

/// Appends the `# HELP` and `# TYPE` lines of `name`.
pub fn header(out: &mut String, name: &str, kind: Kind, help: &str) {
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends an unlabelled counter.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, Kind::Counter, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Appends an unlabelled gauge.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl TryInto<i64>) {
    header(out, name, Kind::Gauge, help);
    let _ = writeln!(out, "{name} {}", value.try_into().unwrap_or(i64::MAX));
}

/// Appends a gauge with one label: one line per `(label value, value)`.
/// Label values must come from a fixed set (configuration, constants).
pub fn labelled_gauge(out: &mut String, name: &str, help: &str, label: &str, values: &[(&str, i64)]) {
    header(out, name, Kind::Gauge, help);
    for (value_label, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value_label}\"}} {value}");
    }
}

/// The end of validity of each certificate a service loaded at start, as
/// Unix seconds, by role (`front`, `partner_client`, `server`): the
/// `<prefix>_certificate_not_after_timestamp_seconds` gauge the alerting
/// rules of docs/monitoring.md watch.
pub fn certificates(out: &mut String, prefix: &str, certificates: &[(&'static str, i64)]) {
    labelled_gauge(
        out,
        &format!("{prefix}_certificate_not_after_timestamp_seconds"),
        "End of validity (Unix seconds) of each certificate loaded at start, by role.",
        "certificate",
        certificates,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let h = Histogram::new([100, 1_000]);
        for micros in [50, 100, 500, 5_000] {
            h.observe(micros);
        }
        let mut out = String::new();
        h.render(&mut out, "t_seconds", "");
        assert_eq!(
            out,
            "t_seconds_bucket{le=\"0.0001\"} 2\nt_seconds_bucket{le=\"0.001\"} 3\nt_seconds_bucket{le=\"+Inf\"} 4\n\
             t_seconds_sum 0.00565\nt_seconds_count 4\n"
        );
        let mut out = String::new();
        h.render(&mut out, "t_seconds", "op=\"x\",");
        assert!(out.contains("t_seconds_bucket{op=\"x\",le=\"0.0001\"} 2\n") && out.contains("t_seconds_sum{op=\"x\"} 0.00565\n"), "{out}");
    }

    #[test]
    fn counters_and_gauges_carry_their_help_and_type() {
        let mut out = String::new();
        counter(&mut out, "a_total", "As.", 3);
        gauge(&mut out, "b", "Bs.", 7usize);
        assert_eq!(out, "# HELP a_total As.\n# TYPE a_total counter\na_total 3\n# HELP b Bs.\n# TYPE b gauge\nb 7\n");
        let mut out = String::new();
        labelled_gauge(&mut out, "c", "Cs.", "role", &[("x", -1), ("y", 2)]);
        assert_eq!(out, "# HELP c Cs.\n# TYPE c gauge\nc{role=\"x\"} -1\nc{role=\"y\"} 2\n");
    }
}
