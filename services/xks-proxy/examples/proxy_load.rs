//! End-to-end load benchmark of the proxy, as issue 5 asks: the real
//! `xks-proxy` and one real `share-service` (separate processes, release
//! builds) on a fresh deployment (own CA, 2-of-3 key set, mTLS between them,
//! audit log fsynced), driven by `xksctl bench` (SigV4 on every request, every
//! answer checked) on the same machine. Runs each scenario (front × operation
//! × concurrency), reads the proxy's request counter and every process's CPU
//! time around it, and prints one Markdown table row per scenario.
//!
//! ```sh
//! cargo build --release -p xks-proxy -p share-service -p xksctl --bins --examples
//! target/release/examples/proxy_load --duration 10 --warmup 2
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_pki::{Ca, Validity};

const AKID: &str = "BENCHAKIDAAAAAAAAAAAAAAA22";
const SECRET: &str = "benchSecret0123456789abcdefghijklmnopqrstuvwxyzAB";
const KEYS: usize = 100;

struct Opts {
    duration: u64,
    warmup: u64,
    fronts: Vec<String>,
    operations: Vec<String>,
    concurrency: Vec<usize>,
}

fn opts() -> Opts {
    let mut o = Opts {
        duration: 10,
        warmup: 2,
        fronts: vec!["plain".into(), "tls".into()],
        operations: vec!["encrypt".into(), "decrypt".into()],
        concurrency: vec![16, 64, 256],
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
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn write(path: &Path, data: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// CA, certificates, key set, shares and configuration of one share service and the proxy.
fn deployment(dir: &Path) {
    let ca = Ca::new("bench CA", Validity::days(1)).unwrap();
    let (ks, shares) = xks_threshold::dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    write(&dir.join("ca.crt"), &ca.certificate().cert_pem);
    // Share service, holder 2.
    let sd = dir.join("share-2");
    let server = ca.issue_server("share-2", &["localhost", "127.0.0.1"], Validity::days(1)).unwrap();
    write(&sd.join("server.crt"), &server.cert_pem);
    write(&sd.join("server.key"), server.key_pem.as_bytes());
    write(&sd.join("keyset.json"), ks.to_json().unwrap());
    write(&sd.join("share.json"), shares[1].to_json().unwrap().as_bytes());
    write(
        &sd.join("share-service.toml"),
        r#"listen = "127.0.0.1:0"
[tls]
cert = "server.crt"
key = "server.key"
client_ca = "../ca.crt"
allowed_clients = ["dns:xks-proxy"]
[shares]
key_sets = ["keyset.json"]
share_files = ["share.json"]
holder = 2
[audit]
dir = "audit"
[limits]
max_connections = 4096
max_in_flight = 4096
max_requests_per_second = 1000000
[anomaly]
# Load beyond KMS's quota on purpose: the rules run (their cost is measured) but only alert.
auto_lock = false
baseline_auto_lock = false
[admin]
socket = "admin.sock"
state_file = "controls.json"
"#,
    );
    // Proxy, holder 1.
    let pd = dir.join("proxy");
    let client = ca.issue_client("xks-proxy", &["xks-proxy"], Validity::days(1)).unwrap();
    let front = ca.issue_server("xks.bench.test", &["localhost", "127.0.0.1"], Validity::days(1)).unwrap();
    write(&pd.join("client.crt"), &client.cert_pem);
    write(&pd.join("client.key"), client.key_pem.as_bytes());
    write(&pd.join("front.crt"), &front.cert_pem);
    write(&pd.join("front.key"), front.key_pem.as_bytes());
    write(&pd.join("keyset.json"), ks.to_json().unwrap());
    write(&pd.join("share.json"), shares[0].to_json().unwrap().as_bytes());
    write(&pd.join("credentials.toml"), format!("[[credential]]\naccess_key_id = \"{AKID}\"\nsecret_access_key = \"{SECRET}\"\n"));
    let mut stores = String::from("[[key_store]]\nname = \"bench\"\npath_prefix = \"/bench\"\ncredentials_file = \"credentials.toml\"\n");
    for i in 0..KEYS {
        stores.push_str(&format!("[[key_store.key]]\nid = \"key-{i}\"\nkey_path = \"bench/key-{i}\"\n"));
    }
    write(&pd.join("key-stores.toml"), stores);
}

fn proxy_toml(front_tls: bool, share_addr: &str) -> String {
    let front = if front_tls { "mode = \"tls\"\ncert = \"front.crt\"\nkey = \"front.key\"" } else { "mode = \"plain\"" };
    format!(
        r#"listen = "127.0.0.1:0"
key_stores = "key-stores.toml"
metrics_listen = "127.0.0.1:0"
[front]
{front}
[shares]
key_sets = ["keyset.json"]
share_files = ["share.json"]
holder = 1
[partner_tls]
ca = "../ca.crt"
client_cert = "client.crt"
client_key = "client.key"
[[partners]]
id = "share-2"
holder = 2
address = "{share_addr}"
server_name = "localhost"
"#
    )
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
    let dir = std::env::temp_dir().join(format!("proxy-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    deployment(&dir);
    let (share, addrs) = spawn("share-service", &dir.join("share-2/share-service.toml"), &dir.join("share-2.log"), &["listening (mTLS)"]);
    let share_addr = addrs[0].clone();
    println!("machine: {} CPUs, load average before: {}", std::thread::available_parallelism().unwrap(), loadavg());
    println!();
    println!(
        "| front | operation | concurrency | requests/s | p50 ms | p99 ms | p999 ms | errors | CPU µs/request: proxy | share service | load generator | load avg (1 min) after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for front in &o.fronts {
        let tls = front == "tls";
        write(&dir.join("proxy/xks-proxy.toml"), proxy_toml(tls, &share_addr));
        let (proxy, addrs) = spawn(
            "xks-proxy",
            &dir.join("proxy/xks-proxy.toml"),
            &dir.join(format!("proxy-{front}.log")),
            &["XKS API listening", "metrics listening"],
        );
        let endpoint = format!("{}://{}", if tls { "https" } else { "http" }, addrs[0]);
        for op in &o.operations {
            for &c in &o.concurrency {
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
                let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|_| panic!("xksctl bench failed: {}", String::from_utf8_lossy(&out.stderr)));
                let n = after.3 - before.3;
                let per = |a: f64, b: f64| (a - b) / n * 1e6;
                let l = &report["latencyMs"];
                println!(
                    "| {front} | {op} | {c} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {} |",
                    report["tps"].as_f64().unwrap(),
                    l["p50"].as_f64().unwrap(),
                    l["p99"].as_f64().unwrap(),
                    l["p999"].as_f64().unwrap(),
                    report["errors"],
                    per(after.0, before.0),
                    per(after.1, before.1),
                    per(after.2, before.2),
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
    let _ = std::fs::remove_dir_all(&dir);
}
