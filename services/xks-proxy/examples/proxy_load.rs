//! End-to-end load benchmark of the proxy, as issue 5 asks: the real
//! `xks-proxy` and one real `share-service` (separate processes, release
//! builds) on a fresh deployment (own CA, 2-of-3 key set, mTLS between them,
//! audit log fsynced), driven by `xksctl bench` (SigV4 on every request, every
//! answer checked) on the same machine. Runs each scenario (front × operation
//! × concurrency), reads the proxy's request counter and every process's CPU
//! time around it, and prints one Markdown table row per scenario.
//!
//! Operations: `encrypt` and `decrypt` (a verified threshold round trip with
//! the partner per request) and `health`, the no-partner baseline: the same
//! front, SigV4, JSON, log line and metrics, answered from the proxy's cached
//! deep-health snapshot. Errors are reported by kind, so an early
//! `429 ThrottlingException` (which KMS retries) is told apart from a late
//! failure. Each row also counts the share service's batches and audit group
//! commits per 1,000 requests, and its audit commits that took longer than
//! 100 ms (every request in flight waits through one); a run with errors keeps
//! its directory (logs, audit log) for a look afterwards.
//!
//! The services' logs go to `/dev/shm` (`--log-dir DIR`, or `--log-dir run`
//! for the run's directory). In production the proxy's request lines and the
//! partner's audit log are on different machines; here, written to the disk
//! of the audit log, they made its `fdatasync` stall past the proxy's budget
//! now and then (ext4 commits other files' dirty data with its journal;
//! docs/benchmarks.md, issue 19).
//!
//! ```sh
//! cargo build --release -p xks-proxy -p share-service -p xksctl --bins --examples
//! target/release/examples/proxy_load --duration 10 --warmup 2
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use xks_config::key_stores::{KeyStoreConfig, KeyStoresFile};
use xks_testkit::layout::{credential, for_load, key};
use xks_testkit::{Front, Layout, PartnerClient};

const AKID: &str = "BENCHAKIDAAAAAAAAAAAAAAA22";
const SECRET: &str = "benchSecret0123456789abcdefghijklmnopqrstuvwxyzAB";
const KEYS: usize = 100;

struct Opts {
    duration: u64,
    warmup: u64,
    fronts: Vec<String>,
    operations: Vec<String>,
    concurrency: Vec<usize>,
    /// Where the services' logs go: `/dev/shm` (RAM) where it exists, so the
    /// proxy's request lines do not share a disk with the partner's audit log.
    log_dir: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        duration: 10,
        warmup: 2,
        fronts: vec!["plain".into(), "tls".into()],
        operations: vec!["encrypt".into(), "decrypt".into(), "health".into()],
        concurrency: vec![16, 64, 256],
        log_dir: Some(PathBuf::from("/dev/shm")).filter(|d| d.is_dir()),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for pair in v.chunks(2) {
        let val = pair.get(1).expect("every option takes a value");
        let list = || val.split(',').map(str::to_owned).collect::<Vec<_>>();
        match pair[0].as_str() {
            "--duration" => o.duration = val.parse().unwrap(),
            "--warmup" => o.warmup = val.parse().unwrap(),
            "--fronts" => o.fronts = list(),
            "--operations" => o.operations = list(),
            "--concurrency" => o.concurrency = list().iter().map(|c| c.parse().unwrap()).collect(),
            "--log-dir" => o.log_dir = Some(PathBuf::from(val)).filter(|_| val != "run"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// The share service (holder 2, set up for load) and the key store, from
/// the test kit's layout. Returns the share service's configuration file.
fn deployment(layout: &Layout) -> PathBuf {
    let mut share = layout.share_service(2, SocketAddr::from(([127, 0, 0, 1], 0)));
    for_load(&mut share);
    layout.write_credentials("credentials.toml", &[credential(AKID, SECRET)]);
    let keys = (0..KEYS).map(|i| key(&format!("key-{i}"), &format!("bench/key-{i}"))).collect();
    let store = KeyStoreConfig { key: keys, ..KeyStoreConfig::new("bench", "/bench", "credentials.toml").unwrap() };
    layout.write_key_stores(&KeyStoresFile { key_store: vec![store] });
    layout.write_share_config(2, &share)
}

/// The proxy with `front`, share service 2 at `share_addr` as its partner,
/// metrics on a port of its own; returns its configuration file.
fn proxy_config(layout: &Layout, front: Front, share_addr: SocketAddr) -> PathBuf {
    let mut config = layout.proxy(front, &[(2, share_addr)]);
    config.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    layout.write_proxy_config(&config)
}

fn bin(name: &str) -> PathBuf {
    let p = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name);
    assert!(p.exists(), "build first: cargo build --release -p xks-proxy -p share-service -p xksctl --bins --examples");
    p
}

/// A child process that is killed when dropped (also when the benchmark panics).
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a service with its log in `log`, waiting for the lines that carry `markers`' addresses.
fn spawn(name: &str, config: &Path, log: &Path, markers: &[&str]) -> (Service, Vec<String>) {
    let mut child = Command::new(bin(name))
        .arg("--config")
        .arg(config)
        .current_dir(config.parent().unwrap())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Service(child);
    let mut addrs = Vec::new();
    let mut out = std::fs::File::create(log).unwrap();
    for marker in markers {
        let addr = loop {
            let line = lines.next().unwrap_or_else(|| panic!("{name} exited; see {}", log.display())).unwrap();
            writeln!(out, "{line}").unwrap();
            if line.contains(marker) {
                break line
                    .split("addr=")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_start_matches("Some(")
                    .trim_end_matches(')')
                    .to_owned();
            }
        };
        addrs.push(addr);
    }
    // Keep draining the log (one line per request) into the file.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(out, "{line}");
        }
    });
    (child, addrs)
}

/// utime + stime of a process in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime) are 12 and 13 after the state field.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// CPU of waited-for children of this process (cutime + cstime).
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    (f[13].parse::<f64>().unwrap() + f[14].parse::<f64>().unwrap()) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The error count and, if any, each kind: `0`, or `12 (429 ThrottlingException: 10; timeout (250 ms): 2)`.
fn errors(report: &serde_json::Value) -> String {
    let total = &report["errors"];
    let kinds: Vec<String> =
        report["errorsByKind"].as_object().map(|m| m.iter().map(|(kind, n)| format!("{kind}: {n}")).collect()).unwrap_or_default();
    if kinds.is_empty() { total.to_string() } else { format!("{total} ({})", kinds.join("; ")) }
}

/// The share service's counters that tell how requests travelled and were
/// committed, read from its metrics.
#[derive(Clone, Copy, Default)]
struct ShareCounts {
    /// Partial requests answered (any outcome).
    requests: u64,
    /// `POST /v1/partials` exchanges.
    batches: u64,
    /// Audit group commits (one fdatasync each).
    commits: u64,
    /// Audit commits that took longer than 100 ms: every request in flight waits through one.
    slow_commits: u64,
}

/// Reads the share service's metrics, over one mTLS client for the whole run.
struct ShareMetrics {
    runtime: tokio::runtime::Runtime,
    client: PartnerClient,
}

impl ShareMetrics {
    fn new(layout: &Layout, share: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Self { runtime, client: PartnerClient::new(share, layout.ca_pem(), Some(&layout.proxy_client)) }
    }

    fn counts(&mut self) -> ShareCounts {
        let (_, text) = self.runtime.block_on(self.client.request("GET", "/metrics", None, Vec::new())).unwrap();
        ShareCounts::parse(&text)
    }
}

impl ShareCounts {
    fn parse(text: &str) -> Self {
        let sum = |prefix: &str| -> u64 {
            text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
        };
        Self {
            requests: sum("share_requests_total{"),
            batches: sum("share_partial_batches_total"),
            commits: sum("share_audit_fsync_batches_total"),
            slow_commits: sum("share_audit_commit_duration_seconds_bucket{le=\"+Inf\"}")
                - sum("share_audit_commit_duration_seconds_bucket{le=\"0.1\"}"),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            requests: self.requests - before.requests,
            batches: self.batches - before.batches,
            commits: self.commits - before.commits,
            slow_commits: self.slow_commits - before.slow_commits,
        }
    }

    /// Batches (`POST /v1/partials`) and audit commits per 1,000 partial
    /// requests, as `120 / 85`: the fewer, the more each exchange and each
    /// fdatasync is shared.
    fn batches_and_commits_per_1000(self) -> String {
        if self.requests == 0 {
            return "– / –".to_owned();
        }
        let per = |n: u64| n as f64 * 1000.0 / self.requests as f64;
        format!("{:.0} / {:.0}", per(self.batches), per(self.commits))
    }
}

/// Sum of `xks_requests_total` from the proxy's metrics endpoint.
fn proxy_requests(metrics: &str) -> f64 {
    let mut s = TcpStream::connect(metrics).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines().filter(|l| l.starts_with("xks_requests_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn main() {
    let o = opts();
    let layout = Layout::new("proxy-load", 5);
    let dir = layout.dir.clone();
    let log_dir = o.log_dir.as_ref().map_or_else(|| dir.clone(), |d| d.join(dir.file_name().unwrap()));
    std::fs::create_dir_all(&log_dir).unwrap();
    let (share, addrs) = spawn("share-service", &deployment(&layout), &log_dir.join("share-2.log"), &["listening (mTLS)"]);
    let share_addr: SocketAddr = addrs[0].parse().unwrap();
    let mut share_metrics = ShareMetrics::new(&layout, share_addr);
    println!("machine: {} CPUs, load average before: {}", std::thread::available_parallelism().unwrap(), loadavg());
    println!();
    println!(
        "| front | operation | concurrency | requests/s | p50 ms | p99 ms | p999 ms | errors | CPU µs/request: proxy | share service | load generator | batches / audit commits per 1,000 requests | audit commits > 100 ms | load avg (1 min) after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut any_errors = false;
    for front in &o.fronts {
        let tls = front == "tls";
        let config = proxy_config(&layout, if tls { Front::Tls } else { Front::Plain }, share_addr);
        let (proxy, addrs) =
            spawn("xks-proxy", &config, &log_dir.join(format!("proxy-{front}.log")), &["XKS API listening", "metrics listening"]);
        let endpoint = format!("{}://{}", if tls { "https" } else { "http" }, addrs[0]);
        for op in &o.operations {
            for &c in &o.concurrency {
                let share_before = share_metrics.counts();
                let before = (cpu_seconds(proxy.0.id()), cpu_seconds(share.0.id()), children_cpu_seconds(), proxy_requests(&addrs[1]));
                let mut cmd = Command::new(bin("xksctl"));
                cmd.args([
                    "bench",
                    "--json",
                    "--quiet",
                    "--endpoint",
                    &endpoint,
                    "--uri-path",
                    "/bench/kms/xks/v1",
                    "--access-key-id",
                    AKID,
                ])
                .args([
                    "--operation",
                    op,
                    "--concurrency",
                    &c.to_string(),
                    "--duration",
                    &o.duration.to_string(),
                    "--warmup",
                    &o.warmup.to_string(),
                ])
                .env("XKS_SECRET_ACCESS_KEY", SECRET);
                for i in 0..KEYS {
                    cmd.args(["--key-id", &format!("key-{i}")]);
                }
                if tls {
                    cmd.arg("--ca-cert").arg(dir.join("ca.crt"));
                }
                let out = cmd.output().unwrap();
                let after = (cpu_seconds(proxy.0.id()), cpu_seconds(share.0.id()), children_cpu_seconds(), proxy_requests(&addrs[1]));
                let counts = share_metrics.counts().since(share_before);
                let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|_| panic!("xksctl bench failed: {}", String::from_utf8_lossy(&out.stderr)));
                any_errors |= report["errors"].as_u64() != Some(0);
                let n = after.3 - before.3;
                let per = |a: f64, b: f64| (a - b) / n * 1e6;
                let l = &report["latencyMs"];
                println!(
                    "| {front} | {op} | {c} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
                    report["tps"].as_f64().unwrap(),
                    l["p50"].as_f64().unwrap(),
                    l["p99"].as_f64().unwrap(),
                    l["p999"].as_f64().unwrap(),
                    errors(&report),
                    per(after.0, before.0),
                    per(after.1, before.1),
                    per(after.2, before.2),
                    counts.batches_and_commits_per_1000(),
                    counts.slow_commits,
                    loadavg().split(' ').next().unwrap(),
                );
            }
        }
        drop(proxy);
    }
    drop(share);
    let files = xks_audit::log_files(&dir.join("share-2/audit")).unwrap();
    let report = xks_audit::verify_files(&files, None).unwrap();
    println!();
    println!("share service audit log: {} records, intact: {}", report.records, report.is_intact());
    if any_errors {
        // The logs and the audit log tell where the failed requests were stuck.
        println!("errors: audit log kept in {}, logs in {}", dir.display(), log_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&log_dir);
    }
}
