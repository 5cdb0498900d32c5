//! `xksctl bench`: a load tester for any XKS endpoint, signing every request
//! with SigV4 as KMS does.
//!
//! Closed loop (fixed concurrency: each worker sends its next request when the
//! previous one is answered) or open loop (`--rate`: requests are due on a fixed
//! schedule and latency counts from when a request was due, so a stalled server
//! is not hidden by the load tester waiting for it). Every answer is checked:
//! Encrypt must return the fields the spec requires, Decrypt must give back
//! exactly the plaintext that was encrypted.

mod conn;
mod report;
mod target;
mod workload;

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::BodyExt as _;
use tokio::time::Instant;

use conn::{Connector, Sender};
use report::{Latency, Report, Verdict};
pub use target::Target;
use workload::{Outcome, Sealed, Workload};

/// What to send.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Encrypt with CDIV, as KMS sends it.
    Encrypt,
    /// Decrypt of ciphertext encrypted during set-up; the plaintext is checked.
    Decrypt,
    /// Encrypt and Decrypt alternately.
    Mixed,
    /// GetHealthStatus.
    Health,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
            Self::Mixed => "Encrypt+Decrypt",
            Self::Health => "GetHealthStatus",
        }
    }
}

/// Options of `xksctl bench`.
#[derive(clap::Args)]
pub struct Args {
    /// A kms-config.json written by the local cluster; flags override its values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The proxy's endpoint, e.g. https://xks.example.com or http://127.0.0.1:8000.
    #[arg(long)]
    endpoint: Option<String>,
    /// KMS's XksProxyUriPath: `<prefix>/kms/xks/v1`.
    #[arg(long)]
    uri_path: Option<String>,
    /// SigV4 access key id of the key store.
    #[arg(long, env = "XKS_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// SigV4 secret access key (prefer the environment variable to the flag).
    #[arg(long, env = "XKS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    /// External key id; repeat for several (used round robin).
    #[arg(long = "key-id")]
    key_ids: Vec<String>,
    /// SigV4 region in the credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Which API to load.
    #[arg(long, short = 'o', value_enum, default_value_t = Operation::Encrypt)]
    operation: Operation,
    /// Requests in flight at once (one connection each with HTTP/1.1).
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Fixed total rate in requests/s (open loop); without it, as fast as answers come.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (connections, caches).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Per-request timeout in milliseconds (KMS's is 250).
    #[arg(long, default_value_t = 250)]
    timeout_ms: u64,
    /// Plaintext size in bytes (KMS data keys are 32).
    #[arg(long, default_value_t = 32)]
    plaintext_bytes: usize,
    /// Additional authenticated data size in bytes.
    #[arg(long, default_value_t = 64)]
    aad_bytes: usize,
    /// CA certificate (PEM) that issued an https endpoint's certificate.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) when the proxy requires mutual TLS.
    #[arg(long)]
    client_cert: Option<PathBuf>,
    /// Client private key (PEM) for --client-cert.
    #[arg(long)]
    client_key: Option<PathBuf>,
    /// HTTP/2 instead of HTTP/1.1 (one connection per worker either way).
    #[arg(long)]
    http2: bool,
    /// Load-generator threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Exit code when the run completed but the verdict is FAIL.
const EXIT_VERDICT_FAIL: u8 = 3;

/// Runs `xksctl bench`: 0 on a PASS verdict, 3 on FAIL, 1 when it could not run.
pub fn run(args: &Args) -> ExitCode {
    match try_run(args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                println!("{}", report.text());
            }
            if report.verdict.pass { ExitCode::SUCCESS } else { ExitCode::from(EXIT_VERDICT_FAIL) }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn validate(args: &Args) -> Result<(), String> {
    if args.concurrency == 0 || args.concurrency > 10_000 {
        return Err("--concurrency must be 1..=10000".into());
    }
    if !(args.duration > 0.0 && args.duration <= 86_400.0 && (0.0..=3600.0).contains(&args.warmup)) {
        return Err("--duration must be in (0, 86400] and --warmup in [0, 3600] seconds".into());
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r <= 1e7)) {
        return Err("--rate must be a positive number of requests/s".into());
    }
    if args.timeout_ms == 0 {
        return Err("--timeout-ms must be positive".into());
    }
    Ok(())
}

fn try_run(args: &Args) -> Result<Report, String> {
    validate(args)?;
    let target = Arc::new(Target::resolve(args)?);
    let connector = Connector::new(&target, args.http2)?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get)).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().map_err(|e| e.to_string())?;
    let endpoint = format!("{}://{}{}", if target.tls { "https" } else { "http" }, target.authority, target.uri_path);
    let (latencies, errors, measured) = rt.block_on(drive(args, target, connector))?;
    let mut latencies = latencies;
    let requests = latencies.len() as u64;
    let error_total = errors.values().sum();
    #[allow(clippy::cast_precision_loss)]
    let tps = requests as f64 / measured;
    let mut report = Report {
        endpoint,
        operation: args.operation.name().into(),
        concurrency: args.concurrency,
        target_rate: args.rate,
        http2: args.http2,
        duration_seconds: measured,
        requests,
        errors: error_total,
        errors_by_kind: errors,
        tps,
        latency_ms: Latency::of(&mut latencies),
        verdict: Verdict { pass: false, reasons: vec![] },
    };
    report.judge();
    Ok(report)
}

/// Shared by all workers.
struct Plan {
    operation: Operation,
    concurrency: usize,
    rate: Option<f64>,
    timeout: Duration,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    ok: AtomicU64,
    failed: AtomicU64,
}

/// A worker after set-up: its connection, its requests, and for Decrypt what to open.
struct Worker {
    id: usize,
    sender: Option<Sender>,
    workload: Workload,
    sealed: Vec<Sealed>,
}

/// One request of a worker.
#[derive(Clone, Copy)]
enum Job<'a> {
    Encrypt,
    Decrypt(&'a Sealed),
    Health,
}

/// Result of one worker: latencies (µs) of correct answers and errors by kind, both in the measured window.
type Tally = (Vec<u32>, BTreeMap<String, u64>);

async fn drive(args: &Args, target: Arc<Target>, connector: Connector) -> Result<(Vec<u32>, BTreeMap<String, u64>, f64), String> {
    // Set-up: connect every worker and, for Decrypt, encrypt what it will decrypt.
    let mut setups = Vec::new();
    for id in 0..args.concurrency {
        let workload = Workload::new(target.clone(), id, args.plaintext_bytes, args.aad_bytes);
        let connector = connector.clone();
        let needs_sealed = matches!(args.operation, Operation::Decrypt | Operation::Mixed);
        let keys = target.key_ids.len().clamp(1, 4);
        setups.push(tokio::spawn(setup(id, workload, connector, needs_sealed, keys)));
    }
    let mut workers = Vec::new();
    for s in setups {
        workers.push(s.await.map_err(|e| e.to_string())??);
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let plan = Arc::new(Plan {
        operation: args.operation,
        concurrency: args.concurrency,
        rate: args.rate,
        timeout: Duration::from_millis(args.timeout_ms),
        start,
        measure_from,
        end,
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| tokio::spawn(progress(plan.clone())));
    let tasks: Vec<_> = workers.into_iter().map(|w| tokio::spawn(work(plan.clone(), connector.clone(), w))).collect();
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    for t in tasks {
        let (l, e) = t.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        for (k, n) in e {
            *errors.entry(k).or_insert(0) += n;
        }
    }
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    Ok((latencies, errors, (end - measure_from).as_secs_f64()))
}

async fn setup(id: usize, mut workload: Workload, connector: Connector, needs_sealed: bool, keys: usize) -> Result<Worker, String> {
    let mut sender = connector.connect().await?;
    let mut sealed = Vec::new();
    if needs_sealed {
        for k in 0..keys {
            let n = (id + k) as u64;
            let (status, body) = exchange(&mut sender, workload.encrypt(n)).await.map_err(|e| format!("set-up Encrypt: {e}"))?;
            match workload.check_encrypt(status, &body, n) {
                (Outcome::Ok, Some(s)) => sealed.push(s),
                (Outcome::Error(e), _) => return Err(format!("set-up Encrypt failed: {e}")),
                (Outcome::Ok, None) => return Err("set-up Encrypt gave nothing to decrypt".into()),
            }
        }
    }
    Ok(Worker { id, sender: Some(sender), workload, sealed })
}

/// One checked Encrypt and Decrypt through the target's first key: the readiness
/// check of `xksctl up` (the same signer, connection and checks as the load).
///
/// # Errors
/// What went wrong, e.g. `"Encrypt: 503 DependencyTimeoutException"`.
pub async fn round_trip(target: Arc<Target>) -> Result<(), String> {
    let mut sender = Connector::new(&target, false)?.connect().await?;
    let mut workload = Workload::new(target, 0, 32, 16);
    let (status, body) = exchange(&mut sender, workload.encrypt(0)).await?;
    let sealed = match workload.check_encrypt(status, &body, 0) {
        (Outcome::Ok, Some(sealed)) => sealed,
        (Outcome::Error(e), _) => return Err(format!("Encrypt: {e}")),
        (Outcome::Ok, None) => return Err("Encrypt: no ciphertext".into()),
    };
    let (status, body) = exchange(&mut sender, workload.decrypt(&sealed)).await?;
    match Workload::check_decrypt(status, &body, &sealed) {
        Outcome::Ok => Ok(()),
        Outcome::Error(e) => Err(format!("Decrypt: {e}")),
    }
}

async fn exchange(
    sender: &mut Sender,
    req: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> Result<(u16, hyper::body::Bytes), String> {
    let resp = sender.send(req).await.map_err(|e| format!("transport: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| format!("transport: {e}"))?.to_bytes();
    Ok((status, body))
}

/// How long a closed-loop worker waits after a 429: 50–150 ms, spread over
/// workers and requests so that throttled workers do not come back in step.
fn throttle_pause(worker: usize, slot: u64) -> Duration {
    let spread = (worker as u64).wrapping_mul(7919).wrapping_add(slot.wrapping_mul(104_729)) % 101;
    Duration::from_millis(50 + spread)
}

async fn work(plan: Arc<Plan>, connector: Connector, mut w: Worker) -> Tally {
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut slot: u64 = 0;
    loop {
        let n = slot * plan.concurrency as u64 + w.id as u64;
        slot += 1;
        let due = match plan.rate {
            Some(rate) => {
                #[allow(clippy::cast_precision_loss)]
                let due = plan.start + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(due).await;
                due
            }
            None => Instant::now(),
        };
        if due >= plan.end {
            break;
        }
        let Some(sender) = w.sender.as_mut() else {
            // Reconnect after a transport failure, at most every 100 ms.
            match connector.connect().await {
                Ok(s) => w.sender = Some(s),
                Err(e) => {
                    if due >= plan.measure_from {
                        *errors.entry(format!("connect: {}", first_words(&e))).or_insert(0) += 1;
                        plan.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        };
        let sealed = w.sealed.get(usize::try_from(n).unwrap_or(0) % w.sealed.len().max(1));
        // What this request is, decided once for building it and for checking its answer.
        let job = match (plan.operation, sealed) {
            (Operation::Health, _) => Job::Health,
            (Operation::Decrypt, Some(s)) => Job::Decrypt(s),
            (Operation::Mixed, Some(s)) if n % 2 == 1 => Job::Decrypt(s),
            _ => Job::Encrypt,
        };
        let req = match job {
            Job::Health => w.workload.health(),
            Job::Decrypt(s) => w.workload.decrypt(s),
            Job::Encrypt => w.workload.encrypt(n),
        };
        let mut throttled = false;
        let outcome = match tokio::time::timeout(plan.timeout, exchange(sender, req)).await {
            Ok(Ok((status, body))) => match job {
                // ThrottlingException: told by its status, not by the error text.
                _ if status == 429 => {
                    throttled = true;
                    workload::error_outcome(status, &body)
                }
                Job::Health => Workload::check_health(status, &body),
                Job::Decrypt(s) => Workload::check_decrypt(status, &body, s),
                Job::Encrypt => w.workload.check_encrypt(status, &body, n).0,
            },
            Ok(Err(e)) => {
                w.sender = None;
                Outcome::Error(first_words(&e))
            }
            Err(_) => {
                // A late answer would arrive on this connection; start a fresh one.
                w.sender = None;
                Outcome::Error(format!("timeout ({} ms)", plan.timeout.as_millis()))
            }
        };
        if throttled && plan.rate.is_none() {
            // The spec's ThrottlingException asks the caller to slow down: a
            // closed-loop worker pauses before its next request.
            tokio::time::sleep(throttle_pause(w.id, slot)).await;
        }
        if due < plan.measure_from {
            continue;
        }
        match outcome {
            Outcome::Ok => {
                latencies.push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX));
                plan.ok.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error(kind) => {
                *errors.entry(kind).or_insert(0) += 1;
                plan.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (latencies, errors)
}

/// Error kinds are counted by their first words (no addresses or ids).
fn first_words(e: &str) -> String {
    e.split(':').take(2).collect::<Vec<_>>().join(":")
}

async fn progress(plan: Arc<Plan>) {
    let total = (plan.end - plan.start).as_secs_f64();
    let mut last = (0u64, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        let done = (now - plan.start).as_secs_f64().min(total);
        let ok = plan.ok.load(Ordering::Relaxed);
        let rate = (ok - last.0) as f64 / (now - last.1).as_secs_f64();
        last = (ok, now);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let filled = ((done / total) * 30.0) as usize;
        let phase = if now < plan.measure_from { "warm-up" } else { "measuring" };
        eprint!(
            "\r[{}{}] {done:5.1}/{total:.1} s  {phase:9}  {rate:8.0} req/s  ok {ok}  errors {}   ",
            "#".repeat(filled.min(30)),
            "-".repeat(30 - filled.min(30)),
            plan.failed.load(Ordering::Relaxed)
        );
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_worker_pauses_50_to_150_ms_and_workers_do_not_pause_in_step() {
        let pauses: Vec<Duration> = (0..64).map(|worker| throttle_pause(worker, 3)).collect();
        assert!(pauses.iter().all(|p| (Duration::from_millis(50)..=Duration::from_millis(150)).contains(p)));
        let distinct: std::collections::BTreeSet<_> = pauses.iter().collect();
        assert!(distinct.len() > 32, "{} distinct pauses", distinct.len());
    }
}
