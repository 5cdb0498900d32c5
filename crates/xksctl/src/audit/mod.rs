//! `xksctl audit verify`: offline verification of a share service's audit
//! log, alone or against signed checkpoints; `xksctl audit reconcile`: the
//! partners' audit logs joined with AWS CloudTrail; `xksctl audit
//! checkpoint-key`: a share service's checkpoint signing key, sealed to its
//! holder (docs/oversight.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xks_audit::{Checkpoint, CheckpointKey, CheckpointSigner};
use xks_sops::{Format, SealOptions};

use crate::{files, sealing};

mod cloudtrail;
pub mod reconcile;

/// `xksctl audit …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify the hash chain of audit files and print a summary (JSON); with
    /// --checkpoints, also against signed checkpoints.
    ///
    /// Checkpoints (the proxy's witness archive, the service's own
    /// checkpoints.jsonl) must verify under --checkpoint-key, and the log
    /// must reproduce each one's head at its sequence: a log cut short, a
    /// history rewritten, a checkpoint signed by another key or altered, and
    /// two signed heads for one sequence are each named.
    ///
    /// Exit code 0: intact; 1: broken or a checkpoint finding (the summary
    /// names them); 2: unreadable.
    ///
    /// Examples:
    ///   xksctl audit verify /var/lib/share-service/audit --head 3f7742c2…
    ///   xksctl audit verify ./share-2/audit --checkpoints ./witness/share-2.checkpoints.jsonl --checkpoint-key public/checkpoint-2.pub
    Verify {
        /// An audit directory (all audit-NNNNNN.jsonl files in order) or files in order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The chain head the service reported last (its `audit checkpoint` log line);
        /// detects records removed from the end.
        #[arg(long)]
        head: Option<String>,
        /// Checkpoint files (one JSON checkpoint per line); repeatable.
        #[arg(long = "checkpoints", requires = "checkpoint_key")]
        checkpoints: Vec<PathBuf>,
        /// The service's checkpoint verifying key (PEM `PUBLIC KEY`).
        #[arg(long, requires = "checkpoints")]
        checkpoint_key: Option<PathBuf>,
    },
    /// Make a share service's checkpoint signing key: Ed25519, the private
    /// key sealed (sops, age) to the holder's recipients, the public key in
    /// the clear for the proxy's witness and for auditors.
    ///
    /// Writes <out>/checkpoint.key.sops and <out>/checkpoint.pub (never
    /// overwritten). Point the share service's audit.checkpoint_key at the
    /// first and the proxy's partner checkpoint_key at the second.
    ///
    /// Example: xksctl audit checkpoint-key --to age1… --to age1… -o holder-2/
    CheckpointKey {
        /// age recipients of the holder (its runtime identity and its offline ones).
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// Output directory.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Join partner audit logs with AWS CloudTrail on the KMS request id.
    ///
    /// Reports partials released for no KMS request of our key stores (a key
    /// used outside KMS), KMS requests without a partial (an audit gap), the
    /// health-check partials apart, per-key and per-principal counts and the
    /// clock skew seen. Streams both sides: memory holds the request window,
    /// not the month.
    ///
    /// Exit code 0: nothing to report; 1: a partial without a KMS request;
    /// 3: a KMS request without a partial (and no code-1 finding); 4: only
    /// malformed records (counted and skipped); 2: an input could not be read.
    ///
    /// Example: xksctl audit reconcile --audit /srv/share-2/audit --cloudtrail ./AWSLogs --key-store-id cks-1234567890abcdef0
    Reconcile {
        /// A partner's audit directory (or file); repeat for each partner.
        #[arg(long = "audit", required = true)]
        audit_logs: Vec<PathBuf>,
        /// CloudTrail files (`{"Records": [...]}`, `.json` or `.json.gz`, or a
        /// CloudTrail Lake export) or directories of them; repeatable.
        #[arg(long = "cloudtrail", required = true)]
        cloudtrail: Vec<PathBuf>,
        /// Our custom key store id (`cks-…`); repeatable. Without it, requests
        /// to every external key store in the files count.
        #[arg(long = "key-store-id")]
        key_store_ids: Vec<String>,
        /// The proxy's health-check key path (its `health.key_path`).
        #[arg(long, default_value = "xks-proxy/health-check")]
        health_key_path: String,
        /// How far apart a KMS record and its partial may be, in seconds.
        #[arg(long, default_value_t = 900)]
        window_seconds: u32,
        /// How many findings of each kind to list (all are counted).
        #[arg(long, default_value_t = 100)]
        max_listed: usize,
        /// Print the report as JSON instead of a summary.
        #[arg(long)]
        json: bool,
        /// Also write the findings as Prometheus metrics to this file (replaced
        /// atomically), for node-exporter's textfile collector: the
        /// `oversight` alerts of monitoring/prometheus/alerts.yml read it.
        #[arg(long)]
        metrics_file: Option<PathBuf>,
    },
}

/// Runs an audit subcommand.
pub fn run(cmd: &Command) -> ExitCode {
    match cmd {
        Command::Reconcile { audit_logs, cloudtrail, key_store_ids, health_key_path, window_seconds, max_listed, json, metrics_file } => {
            let opts = reconcile::Options {
                audit_logs: audit_logs.clone(),
                cloudtrail: cloudtrail.clone(),
                key_store_ids: key_store_ids.clone(),
                health_key_path: health_key_path.clone(),
                window_ms: i64::from(*window_seconds) * 1000,
                max_listed: *max_listed,
            };
            let report = match reconcile::run(&opts) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(path) = metrics_file {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                if let Err(e) = files::replace(path, report.prometheus(now).as_bytes()) {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
            if *json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", summary(&report));
            }
            ExitCode::from(report.exit_code())
        }
        Command::CheckpointKey { to, out } => match checkpoint_key(to, out) {
            Ok(id) => {
                eprintln!("checkpoint key {id}: {}/checkpoint.key.sops (sealed), {}/checkpoint.pub", out.display(), out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Verify { paths, head, checkpoints, checkpoint_key } => {
            let mut files = Vec::new();
            for p in paths {
                if p.is_dir() {
                    match xks_audit::log_files(p) {
                        Ok(f) => files.extend(f),
                        Err(e) => {
                            eprintln!("error: cannot list {}: {e}", p.display());
                            return ExitCode::from(2);
                        }
                    }
                } else {
                    files.push(p.clone());
                }
            }
            if files.is_empty() {
                eprintln!("error: no audit files found");
                return ExitCode::from(2);
            }
            let anchors = match checkpoint_key.as_deref().map(|k| read_anchors(checkpoints, k)).transpose() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let verified = match &anchors {
                Some((all, key)) => xks_audit::verify_files_with_checkpoints(&files, head.as_deref(), all, key),
                None => xks_audit::verify_files(&files, head.as_deref()),
            };
            let report = match verified {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match serde_json::to_string_pretty(&report) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
            if let Some(c) = &report.checkpoints {
                eprintln!("checkpoints: {} given, {} signed by {}, {} reproduced by the log", c.given, c.signed, c.key_id, c.matched);
                for f in &c.findings {
                    eprintln!("CHECKPOINT {:?} at record {}: {}", f.kind, f.seq, f.detail);
                }
            }
            if report.is_intact() {
                eprintln!("intact: {} records, head {}", report.records, report.head);
                ExitCode::SUCCESS
            } else {
                if let Some(b) = &report.broken {
                    eprintln!("BROKEN: {b:?}");
                }
                ExitCode::from(1)
            }
        }
    }
}

/// The checkpoints of every file, and the pinned key.
fn read_anchors(files: &[PathBuf], key: &Path) -> Result<(Vec<Checkpoint>, CheckpointKey), String> {
    let key = CheckpointKey::read(key).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    for f in files {
        all.extend(xks_audit::read_checkpoints(f).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    Ok((all, key))
}

/// `xksctl audit checkpoint-key`: returns the key id.
fn checkpoint_key(to: &[String], out: &Path) -> Result<String, String> {
    let recipients = sealing::parse_recipients(to)?;
    let (private, public) = CheckpointSigner::generate().map_err(|e| e.to_string())?;
    let sealed = xks_sops::seal(&private, Format::Binary, &recipients, &SealOptions::default()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    files::create(&out.join("checkpoint.key.sops"), sealed.as_bytes())?;
    files::create(&out.join("checkpoint.pub"), public.to_pem().as_bytes())?;
    Ok(public.id().to_owned())
}

/// The human summary of a reconciliation.
fn summary(r: &reconcile::Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let f = &r.findings;
    let _ = writeln!(out, "reconciled {} to {}", r.from.as_deref().unwrap_or("-"), r.to.as_deref().unwrap_or("-"));
    let c = &r.cloudtrail;
    let _ = writeln!(
        out,
        "CloudTrail: {} files, {} records, {} KMS requests to our external keys, {} malformed",
        c.files, c.records, c.our_requests, c.malformed
    );
    for l in &r.audit_logs {
        let _ = writeln!(
            out,
            "audit log {}: {} records, {} partials, {} health-check partials, {} malformed",
            l.path, l.records, l.partials, l.health_partials, l.malformed
        );
    }
    let _ = writeln!(out, "matched: {} KMS requests ({} further partials: hedges, retries)", r.matched, r.further_partials);
    if let (Some(lo), Some(hi)) = (r.skew.min_ms, r.skew.max_ms) {
        let _ = writeln!(out, "skew (partial minus KMS record): {lo} ms to {hi} ms");
    }
    let _ = writeln!(out, "\nFINDING partials released for no KMS request (key use outside KMS): {}", f.partials_without_kms_request.count);
    for p in &f.partials_without_kms_request.listed {
        let _ = writeln!(out, "  {} key path {} client {} request {} ({})", p.time, p.key_path, p.client, p.request_id, p.audit_log);
    }
    let _ = writeln!(out, "FINDING KMS requests without a partial (audit gap): {}", f.kms_requests_without_partial.count);
    for k in &f.kms_requests_without_partial.listed {
        let _ = writeln!(out, "  {} {} key {} by {} request {}", k.time, k.operation, k.xks_key_id, k.principal, k.request_id);
    }
    let _ = writeln!(out, "refused partial requests for no KMS request (nothing released): {}", f.refused_without_kms_request.count);
    for (code, n) in &f.failed_kms_requests_without_partial {
        let _ = writeln!(out, "failed KMS requests without a partial, {code}: {n}");
    }
    let _ = writeln!(out, "\nKMS requests per external key:");
    for (k, n) in &r.per_xks_key {
        let _ = writeln!(out, "  {k}: {n}");
    }
    let _ = writeln!(out, "KMS requests per principal:");
    for (k, n) in &r.per_principal {
        let _ = writeln!(out, "  {k}: {n}");
    }
    let _ = writeln!(out, "partials per key path:");
    for (k, n) in &r.per_key_path {
        let _ = writeln!(out, "  {k}: {n}");
    }
    out
}
