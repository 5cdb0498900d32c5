//! `xksctl audit reconcile`: every partial a partner released, joined with the
//! AWS CloudTrail record of the KMS request it answered (docs/oversight.md).
//!
//! Both sides are streamed in time order and joined on the request id within
//! a window: memory holds what is still waiting for its other side, not the
//! month being reconciled.
//!
//! - A partial released for no KMS request of our key stores is a use of a
//!   key outside KMS: the headline finding.
//! - A KMS request without a partial is an audit gap when KMS recorded it as
//!   successful; with an `errorCode`, the request may have failed before the
//!   proxy asked a partner, so it is counted apart.
//! - Partials on the health-check key path answer the proxy's own deep health
//!   checks, never a KMS request: counted apart.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;

use serde::Serialize;
use xks_audit::{Record, RecordKind};
use xks_wire::partner::RequestId;

use super::cloudtrail::{self, KmsRequest, format_time_ms, parse_time_ms};

/// What to reconcile and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Partner audit logs: directories (every audit file, in order) or files.
    pub audit_logs: Vec<PathBuf>,
    /// CloudTrail files or directories.
    pub cloudtrail: Vec<PathBuf>,
    /// Our custom key store ids (`cks-…`); empty: every external key store.
    pub key_store_ids: Vec<String>,
    /// The proxy's health-check key path (`health.key_path`).
    pub health_key_path: String,
    /// How far apart in time a partial and its KMS record may be.
    pub window_ms: i64,
    /// How many findings of each kind are listed (all are counted).
    pub max_listed: usize,
}

/// One partial from a partner's audit log.
#[derive(Clone, Debug)]
struct Partial {
    time_ms: i64,
    request_id: String,
    key_path: String,
    client: String,
    outcome: String,
    log: usize,
}

/// A partial released (or refused) for no KMS request.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnexplainedPartial {
    /// When the partner wrote the record.
    pub time: String,
    /// The request id the proxy gave.
    pub request_id: String,
    /// The key path.
    pub key_path: String,
    /// The client identity from its mTLS certificate.
    pub client: String,
    /// `ok` (a partial was released) or why it was refused.
    pub outcome: String,
    /// The audit log it is in.
    pub audit_log: String,
}

/// A KMS request without a partial.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnansweredRequest {
    /// CloudTrail's `eventTime`.
    pub time: String,
    /// CloudTrail's `requestID`.
    pub request_id: String,
    /// The KMS operation.
    pub operation: String,
    /// The external key.
    pub xks_key_id: String,
    /// Who called KMS.
    pub principal: String,
}

/// Findings of one kind: all counted, the first `max_listed` listed.
#[derive(Clone, Debug, Serialize)]
pub struct Listed<T> {
    /// How many.
    pub count: u64,
    /// The first ones, in time order.
    pub listed: Vec<T>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Self { count: 0, listed: Vec::new() }
    }
}

impl<T> Listed<T> {
    fn push(&mut self, item: T, max: usize) {
        self.count += 1;
        if self.listed.len() < max {
            self.listed.push(item);
        }
    }
}

/// What one partner's audit log held.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogCounts {
    /// The directory or file.
    pub path: String,
    /// Records read.
    pub records: u64,
    /// Partial records for KMS requests (not the health check).
    pub partials: u64,
    /// Partial records on the health-check key path.
    pub health_partials: u64,
    /// Lines that are not a record (counted, skipped).
    pub malformed: u64,
}

/// Time between a KMS record and its partial (partial minus KMS), over matched pairs.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skew {
    /// Smallest, milliseconds.
    pub min_ms: Option<i64>,
    /// Largest, milliseconds.
    pub max_ms: Option<i64>,
}

/// The findings.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Findings {
    /// Partials released for no KMS request: uses of a key outside KMS.
    pub partials_without_kms_request: Listed<UnexplainedPartial>,
    /// Refused partial requests for no KMS request: attempts, nothing released.
    pub refused_without_kms_request: Listed<UnexplainedPartial>,
    /// KMS requests recorded as successful that no partner log answers: an audit gap.
    pub kms_requests_without_partial: Listed<UnansweredRequest>,
    /// KMS requests that failed (`errorCode`) without a partial, by error code:
    /// they may have failed before the proxy asked a partner.
    pub failed_kms_requests_without_partial: BTreeMap<String, u64>,
}

/// The whole reconciliation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// First and last time seen on either side.
    pub from: Option<String>,
    /// Last time seen.
    pub to: Option<String>,
    /// The CloudTrail side.
    pub cloudtrail: cloudtrail::Counts,
    /// Each partner log.
    pub audit_logs: Vec<LogCounts>,
    /// KMS requests with at least one partial.
    pub matched: u64,
    /// Partials (besides the first) for a KMS request already matched: hedges and retries.
    pub further_partials: u64,
    /// The findings.
    pub findings: Findings,
    /// KMS requests per external key.
    pub per_xks_key: BTreeMap<String, u64>,
    /// KMS requests per principal.
    pub per_principal: BTreeMap<String, u64>,
    /// Partials per key path.
    pub per_key_path: BTreeMap<String, u64>,
    /// Clock skew between the two sides.
    pub skew: Skew,
}

impl Report {
    /// Malformed records on both sides.
    fn malformed(&self) -> u64 {
        self.cloudtrail.malformed + self.audit_logs.iter().map(|l| l.malformed).sum::<u64>()
    }

    /// The findings as a Prometheus text file (node-exporter's textfile
    /// collector), finished at `now` (Unix seconds). The names are those the
    /// `oversight` alerts use (monitoring/prometheus/alerts.yml).
    pub fn prometheus(&self, now: i64) -> String {
        use std::fmt::Write as _;
        let f = &self.findings;
        let failed: u64 = f.failed_kms_requests_without_partial.values().sum();
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        gauge(
            "xks_reconcile_findings",
            "Findings of the last xksctl audit reconcile, by kind (docs/oversight.md).",
            &[
                ("{finding=\"partial_without_kms_request\"}", f.partials_without_kms_request.count),
                ("{finding=\"refused_without_kms_request\"}", f.refused_without_kms_request.count),
                ("{finding=\"kms_request_without_partial\"}", f.kms_requests_without_partial.count),
                ("{finding=\"failed_kms_request_without_partial\"}", failed),
            ],
        );
        gauge("xks_reconcile_matched_requests", "KMS requests answered by a partner's partial.", &[("", self.matched)]);
        gauge("xks_reconcile_malformed_records", "Records that could not be read (counted and skipped).", &[("", self.malformed())]);
        gauge("xks_reconcile_exit_code", "The exit code of the last run (0: nothing to report).", &[("", u64::from(self.exit_code()))]);
        let _ = writeln!(
            out,
            "# HELP xks_reconcile_last_run_timestamp_seconds When the last xksctl audit reconcile finished (Unix time).\n\
             # TYPE xks_reconcile_last_run_timestamp_seconds gauge\nxks_reconcile_last_run_timestamp_seconds {now}"
        );
        out
    }

    /// The exit code: 1 a partial without a KMS request (key use outside KMS),
    /// 3 a KMS request without a partial (audit gap), 4 malformed records
    /// only, 0 nothing to report.
    pub fn exit_code(&self) -> u8 {
        let f = &self.findings;
        let malformed = self.malformed();
        if f.partials_without_kms_request.count > 0 {
            1
        } else if f.kms_requests_without_partial.count > 0 {
            3
        } else if malformed > 0 {
            4
        } else {
            0
        }
    }
}

/// Reads, joins and reports.
///
/// # Errors
/// An input that cannot be read at all (a malformed record is counted instead).
pub fn run(opts: &Options) -> Result<Report, String> {
    let mut join = Join::new(opts);
    let mut partners = PartnerLogs::open(&opts.audit_logs, &opts.health_key_path)?;
    let mut kms = KmsStream::open(&opts.cloudtrail, &opts.key_store_ids)?;
    loop {
        let take_partial = match (partners.peek_time(), kms.peek_time()?) {
            (None, None) => break,
            (Some(p), Some(k)) => p < k,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_partial {
            if let Some(p) = partners.next()? {
                join.partial(p);
            }
        } else if let Some(k) = kms.next()? {
            join.kms(k);
        }
    }
    Ok(join.finish(kms.counts, partners.counts))
}

/// What the join counts and finds, before the inputs' own counts join it in the [`Report`].
#[derive(Default)]
struct Tally {
    from: Option<String>,
    to: Option<String>,
    matched: u64,
    further_partials: u64,
    findings: Findings,
    per_xks_key: BTreeMap<String, u64>,
    per_principal: BTreeMap<String, u64>,
    per_key_path: BTreeMap<String, u64>,
    skew: Skew,
}

/// The windowed join on the request id.
struct Join<'a> {
    opts: &'a Options,
    /// Partials waiting for their KMS record.
    partials: HashMap<String, Vec<Partial>>,
    /// KMS requests waiting for a partial.
    requests: HashMap<String, KmsRequest>,
    /// Request ids matched recently (as keyed hashes, not the ids), for
    /// further partials (hedges, retries).
    matched: HashMap<u64, i64>,
    hasher: std::collections::hash_map::RandomState,
    /// The latest time seen: what is older than it by the window is settled.
    now_ms: i64,
    since_prune: usize,
    tally: Tally,
}

impl<'a> Join<'a> {
    fn new(opts: &'a Options) -> Self {
        Self {
            opts,
            partials: HashMap::new(),
            requests: HashMap::new(),
            matched: HashMap::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            now_ms: i64::MIN,
            since_prune: 0,
            tally: Tally::default(),
        }
    }

    /// The key of a matched request id. The hasher's keys are random per run,
    /// so no one can choose a request id that collides with another.
    fn matched_key(&self, request_id: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, request_id)
    }

    fn advance(&mut self, time_ms: i64) {
        self.now_ms = self.now_ms.max(time_ms);
        if self.tally.from.is_none() {
            self.tally.from = Some(format_time_ms(time_ms));
        }
        self.tally.to = Some(format_time_ms(self.now_ms));
        self.since_prune += 1;
        if self.since_prune >= 4096 {
            self.since_prune = 0;
            self.settle(self.now_ms.saturating_sub(self.opts.window_ms));
        }
    }

    fn partial(&mut self, p: Partial) {
        self.advance(p.time_ms);
        *self.tally.per_key_path.entry(p.key_path.clone()).or_default() += 1;
        if let Some(k) = self.requests.remove(&p.request_id) {
            self.matched(&k, p.time_ms);
        } else if self.matched.contains_key(&self.matched_key(&p.request_id)) {
            self.tally.further_partials += 1;
        } else {
            self.partials.entry(p.request_id.clone()).or_default().push(p);
        }
    }

    fn kms(&mut self, k: KmsRequest) {
        self.advance(k.time_ms);
        *self.tally.per_xks_key.entry(k.xks_key_id.clone()).or_default() += 1;
        *self.tally.per_principal.entry(k.principal.clone()).or_default() += 1;
        let id = RequestId::for_kms_request(&k.request_id).as_str().to_owned();
        let k = KmsRequest { request_id: id, ..k };
        if let Some(ps) = self.partials.remove(&k.request_id) {
            self.tally.further_partials += ps.len().saturating_sub(1) as u64;
            let first = ps.iter().map(|p| p.time_ms).min().unwrap_or(k.time_ms);
            self.matched(&k, first);
        } else if !self.matched.contains_key(&self.matched_key(&k.request_id)) {
            self.requests.insert(k.request_id.clone(), k);
        }
    }

    fn matched(&mut self, k: &KmsRequest, partial_ms: i64) {
        self.tally.matched += 1;
        let skew = partial_ms - k.time_ms;
        let s = &mut self.tally.skew;
        s.min_ms = Some(s.min_ms.map_or(skew, |m| m.min(skew)));
        s.max_ms = Some(s.max_ms.map_or(skew, |m| m.max(skew)));
        let key = self.matched_key(&k.request_id);
        self.matched.insert(key, k.time_ms.max(partial_ms));
    }

    /// Everything older than `before` can no longer be matched: findings.
    fn settle(&mut self, before: i64) {
        let max = self.opts.max_listed;
        let mut old: Vec<Partial> = Vec::new();
        self.partials.retain(|_, ps| {
            if ps.iter().all(|p| p.time_ms < before) {
                old.append(ps);
                false
            } else {
                true
            }
        });
        old.sort_by_key(|p| p.time_ms);
        for p in old {
            let finding = UnexplainedPartial {
                time: format_time_ms(p.time_ms),
                request_id: p.request_id,
                key_path: p.key_path,
                client: p.client,
                audit_log: self.opts.audit_logs.get(p.log).map(|l| l.display().to_string()).unwrap_or_default(),
                outcome: p.outcome,
            };
            let f = &mut self.tally.findings;
            if finding.outcome == "ok" {
                f.partials_without_kms_request.push(finding, max);
            } else {
                f.refused_without_kms_request.push(finding, max);
            }
        }
        let mut unanswered: Vec<KmsRequest> = Vec::new();
        self.requests.retain(|_, k| {
            let keep = k.time_ms >= before;
            if !keep {
                unanswered.push(k.clone());
            }
            keep
        });
        unanswered.sort_by_key(|k| k.time_ms);
        for k in unanswered {
            let f = &mut self.tally.findings;
            match k.error_code {
                Some(code) => *f.failed_kms_requests_without_partial.entry(code).or_default() += 1,
                None => f.kms_requests_without_partial.push(
                    UnansweredRequest {
                        time: format_time_ms(k.time_ms),
                        request_id: k.request_id,
                        operation: k.operation,
                        xks_key_id: k.xks_key_id,
                        principal: k.principal,
                    },
                    max,
                ),
            }
        }
        self.matched.retain(|_, t| *t >= before);
    }

    /// Settles everything left and assembles the report.
    fn finish(mut self, cloudtrail: cloudtrail::Counts, audit_logs: Vec<LogCounts>) -> Report {
        self.settle(i64::MAX);
        let t = self.tally;
        Report {
            from: t.from,
            to: t.to,
            cloudtrail,
            audit_logs,
            matched: t.matched,
            further_partials: t.further_partials,
            findings: t.findings,
            per_xks_key: t.per_xks_key,
            per_principal: t.per_principal,
            per_key_path: t.per_key_path,
            skew: t.skew,
        }
    }
}

/// The partners' audit logs merged into one stream in time order.
struct PartnerLogs {
    logs: Vec<LogReader>,
    /// Time and log index of each log's next partial, earliest first.
    heads: BinaryHeap<std::cmp::Reverse<(i64, usize)>>,
    pending: Vec<Option<Partial>>,
    counts: Vec<LogCounts>,
    health_key_path: String,
}

/// One audit log: its files in order, read line by line.
struct LogReader {
    files: std::vec::IntoIter<PathBuf>,
    lines: Option<std::io::Lines<std::io::BufReader<std::fs::File>>>,
}

impl LogReader {
    /// The next line of the log, across its files.
    fn next_line(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(lines) = &mut self.lines {
                match lines.next() {
                    Some(line) => return line.map(Some).map_err(|e| format!("reading an audit log: {e}")),
                    None => self.lines = None,
                }
            }
            let Some(file) = self.files.next() else { return Ok(None) };
            let f = std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            self.lines = Some(std::io::BufReader::new(f).lines());
        }
    }
}

impl PartnerLogs {
    fn open(paths: &[PathBuf], health_key_path: &str) -> Result<Self, String> {
        let mut logs = Vec::new();
        let mut counts = Vec::new();
        for p in paths {
            let files = if p.is_dir() {
                xks_audit::log_files(p).map_err(|e| format!("{}: {e}", p.display()))?
            } else if p.is_file() {
                vec![p.clone()]
            } else {
                return Err(format!("{}: no such audit log", p.display()));
            };
            logs.push(LogReader { files: files.into_iter(), lines: None });
            counts.push(LogCounts { path: p.display().to_string(), ..LogCounts::default() });
        }
        let n = logs.len();
        let mut this = Self { logs, heads: BinaryHeap::new(), pending: vec![None; n], counts, health_key_path: health_key_path.to_owned() };
        for i in 0..n {
            this.refill(i)?;
        }
        Ok(this)
    }

    fn peek_time(&self) -> Option<i64> {
        self.heads.peek().map(|std::cmp::Reverse((t, _))| *t)
    }

    fn next(&mut self) -> Result<Option<Partial>, String> {
        let Some(std::cmp::Reverse((_, i))) = self.heads.pop() else { return Ok(None) };
        let p = self.pending.get_mut(i).and_then(Option::take);
        self.refill(i)?;
        Ok(p)
    }

    /// Reads log `i` up to its next partial for a KMS request.
    fn refill(&mut self, i: usize) -> Result<(), String> {
        let (Some(log), Some(counts)) = (self.logs.get_mut(i), self.counts.get_mut(i)) else { return Ok(()) };
        while let Some(line) = log.next_line()? {
            if line.trim().is_empty() {
                continue;
            }
            counts.records += 1;
            let parsed = serde_json::from_str::<Record>(&line).ok().and_then(|r| parse_time_ms(&r.time).map(|t| (r, t)));
            let Some((record, time_ms)) = parsed else {
                counts.malformed += 1;
                continue;
            };
            if record.kind != RecordKind::Partial {
                continue;
            }
            let key_path = record.key_path.unwrap_or_default();
            if key_path == self.health_key_path {
                counts.health_partials += 1;
                continue;
            }
            counts.partials += 1;
            let p = Partial {
                time_ms,
                request_id: record.request_id.unwrap_or_default(),
                key_path,
                client: record.client,
                outcome: record.outcome,
                log: i,
            };
            if let Some(slot) = self.pending.get_mut(i) {
                *slot = Some(p);
            }
            self.heads.push(std::cmp::Reverse((time_ms, i)));
            return Ok(());
        }
        Ok(())
    }
}

/// The CloudTrail files, one at a time, as one stream.
struct KmsStream {
    files: std::vec::IntoIter<PathBuf>,
    current: std::collections::VecDeque<KmsRequest>,
    key_store_ids: Vec<String>,
    counts: cloudtrail::Counts,
}

impl KmsStream {
    fn open(paths: &[PathBuf], key_store_ids: &[String]) -> Result<Self, String> {
        for p in paths {
            if !p.exists() {
                return Err(format!("{}: no such CloudTrail file or directory", p.display()));
            }
        }
        let files = cloudtrail::files(paths).map_err(|e| format!("listing CloudTrail files: {e}"))?;
        Ok(Self {
            files: files.into_iter(),
            current: Default::default(),
            key_store_ids: key_store_ids.to_vec(),
            counts: Default::default(),
        })
    }

    fn peek_time(&mut self) -> Result<Option<i64>, String> {
        while self.current.is_empty() {
            let Some(file) = self.files.next() else { return Ok(None) };
            self.current = cloudtrail::read_file(&file, &self.key_store_ids, &mut self.counts)?.into();
        }
        Ok(self.current.front().map(|k| k.time_ms))
    }

    fn next(&mut self) -> Result<Option<KmsRequest>, String> {
        self.peek_time()?;
        Ok(self.current.pop_front())
    }
}
