//! Load benchmark of the partial endpoint: starts the real `share-service`
//! binary (separate process) on a fresh deployment (own CA, 2-of-3 key set,
//! audit log on disk with fsync), then drives it over mTLS with keep-alive
//! HTTP/1.1 connections at fixed concurrency and reports requests/s and
//! p50/p99/p999 per scenario.
//!
//! ```sh
//! cargo build --release -p share-service --bins --examples
//! target/release/examples/partner_load --duration 10
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xks_testkit::layout::for_load;
use xks_testkit::{Layout, PartnerClient};
use xks_wire::partner::PARTIAL_PATH;

struct Args {
    duration: u64,
    warmup: u64,
    scenarios: Vec<(usize, bool)>,
}

fn args() -> Args {
    let mut a = Args { duration: 10, warmup: 2, scenarios: vec![(16, false), (64, false), (16, true), (64, true)] };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        match v[i].as_str() {
            "--duration" => a.duration = v[i + 1].parse().unwrap(),
            "--warmup" => a.warmup = v[i + 1].parse().unwrap(),
            "--scenario" => {
                let (c, p) = v[i + 1].split_once(':').unwrap();
                if a.scenarios.len() == 4 && i == v.iter().position(|x| x == "--scenario").unwrap() {
                    a.scenarios.clear();
                }
                a.scenarios.push((c.parse().unwrap(), p == "proof"));
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

/// Share service 2 from the test kit's layout, set up for load; returns its
/// configuration file.
fn setup(layout: &Layout) -> PathBuf {
    let mut config = layout.share_service(2, SocketAddr::from(([127, 0, 0, 1], 0)));
    for_load(&mut config);
    layout.write_share_config(2, &config)
}

fn start_service(config: &Path) -> (Child, SocketAddr) {
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("share-service");
    assert!(bin.exists(), "build the binary first: cargo build --release -p share-service --bins --examples");
    let mut child = Command::new(bin).arg("--config").arg(config).env("RUST_LOG", "info").stderr(Stdio::piped()).spawn().unwrap();
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("service exited").unwrap();
        eprintln!("service: {line}");
        if line.contains("listening (mTLS)") {
            let a = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap();
            break a.parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

async fn worker(client: PartnerClient, proof: bool, id: usize, start: Instant, warmup: Duration, end: Instant) -> (Vec<u32>, u64) {
    let mut client = client;
    let mut lat = Vec::with_capacity(200_000);
    let mut errors = 0;
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let body = format!(
            r#"{{"version":1,"requestId":"bench-{id}-{n}","keyPath":"bench/key-{}","generation":1,"epoch":0,"set":[1,2],"proof":{proof}}}"#,
            n % 100
        );
        let t = Instant::now();
        // A failed connection is reopened by the client on the next request.
        let ok = matches!(client.request("POST", PARTIAL_PATH, Some("application/json"), body.into_bytes()).await, Ok((200, _)));
        let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        if t.duration_since(start) >= warmup {
            if ok {
                lat.push(micros);
            } else {
                errors += 1;
            }
        }
    }
    (lat, errors)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1);
    f64::from(sorted[idx]) / 1000.0
}

fn main() {
    let a = args();
    let layout = Layout::new("partner-load", 1);
    let (mut child, addr) = start_service(&setup(&layout));
    let client = || PartnerClient::new(addr, layout.ca_pem(), Some(&layout.proxy_client));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("| concurrency | proof | requests/s | p50 ms | p99 ms | p999 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (conc, proof) in &a.scenarios {
        let (conc, proof) = (*conc, *proof);
        let start = Instant::now();
        let warmup = Duration::from_secs(a.warmup);
        let end = start + warmup + Duration::from_secs(a.duration);
        let results = rt.block_on(async {
            let tasks: Vec<_> = (0..conc).map(|i| tokio::spawn(worker(client(), proof, i, start, warmup, end))).collect();
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (l, e) = t.await.unwrap();
                all.extend(l);
                errors += e;
            }
            (all, errors)
        });
        let (mut lat, errors) = results;
        lat.sort_unstable();
        let rps = lat.len() as f64 / a.duration as f64;
        println!("| {conc} | {proof} | {rps:.0} | {:.2} | {:.2} | {:.2} | {errors} |", pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 0.999));
    }
    let _ = child.kill();
    let _ = child.wait();
    let files = xks_audit::log_files(&layout.share_dir(2).join("audit")).unwrap();
    let report = xks_audit::verify_files(&files, None).unwrap();
    println!("audit: {} records, intact: {}, files: {}", report.records, report.is_intact(), files.len());
    let _ = std::fs::remove_dir_all(&layout.dir);
}
