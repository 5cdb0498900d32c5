//! `xksctl audit verify`: offline verification of a share service's audit
//! log; `xksctl audit reconcile`: the partners' audit logs joined with AWS
//! CloudTrail (docs/oversight.md).

use std::path::PathBuf;
use std::process::ExitCode;

mod cloudtrail;
pub mod reconcile;

/// `xksctl audit …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Verify the hash chain of audit files and print a summary (JSON).
    ///
    /// Exit code 0: intact; 1: broken (the summary names the first broken record); 2: unreadable.
    ///
    /// Example: xksctl audit verify /var/lib/share-service/audit --head 3f7742c2…
    Verify {
        /// An audit directory (all audit-NNNNNN.jsonl files in order) or files in order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The chain head the service reported last (its `audit checkpoint` log line);
        /// detects records removed from the end.
        #[arg(long)]
        head: Option<String>,
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
    },
}

/// Runs an audit subcommand.
pub fn run(cmd: &Command) -> ExitCode {
    match cmd {
        Command::Reconcile { audit_logs, cloudtrail, key_store_ids, health_key_path, window_seconds, max_listed, json } => {
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
        Command::Verify { paths, head } => {
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
            let report = match xks_audit::verify_files(&files, head.as_deref()) {
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
            if report.is_intact() {
                eprintln!("intact: {} records, head {}", report.records, report.head);
                ExitCode::SUCCESS
            } else {
                eprintln!("BROKEN: {:?}", report.broken);
                ExitCode::from(1)
            }
        }
    }
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
