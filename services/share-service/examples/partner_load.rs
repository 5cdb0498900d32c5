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
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use xks_pki::{Ca, CertifiedKey, Validity};

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

fn setup(dir: &Path) -> (CertifiedKey, String) {
    let ca = Ca::new("bench CA", Validity::days(1)).unwrap();
    let server = ca.issue_server("share-2", &["localhost", "127.0.0.1"], Validity::days(1)).unwrap();
    let client = ca.issue_client("xks-proxy", &["spiffe://xks/proxy"], Validity::days(1)).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.crt"), &ca.certificate().cert_pem).unwrap();
    std::fs::write(dir.join("server.crt"), &server.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), server.key_pem.as_bytes()).unwrap();
    let (ks, shares) = xks_threshold::dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
    std::fs::write(dir.join("keyset.json"), ks.to_json().unwrap()).unwrap();
    std::fs::write(dir.join("share.json"), shares[1].to_json().unwrap().as_bytes()).unwrap();
    std::fs::write(
        dir.join("share-service.toml"),
        r#"listen = "127.0.0.1:0"
[tls]
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"
allowed_clients = ["uri:spiffe://xks/proxy"]
[shares]
key_sets = ["keyset.json"]
share_files = ["share.json"]
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
    )
    .unwrap();
    (client, ca.certificate().cert_pem.clone())
}

fn start_service(dir: &Path) -> (Child, SocketAddr) {
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("share-service");
    assert!(bin.exists(), "build the binary first: cargo build --release -p share-service --bins --examples");
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(dir.join("share-service.toml"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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

async fn connect(addr: SocketAddr, connector: &TlsConnector) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    sender
}

async fn worker(
    addr: SocketAddr,
    connector: TlsConnector,
    proof: bool,
    id: usize,
    start: Instant,
    warmup: Duration,
    end: Instant,
) -> (Vec<u32>, u64) {
    let mut sender = connect(addr, &connector).await;
    let mut lat = Vec::with_capacity(200_000);
    let mut errors = 0;
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let body = format!(
            r#"{{"version":1,"requestId":"bench-{id}-{n}","keyPath":"bench/key-{}","generation":1,"epoch":0,"set":[1,2],"proof":{proof}}}"#,
            n % 100
        );
        let req = hyper::Request::post("/v1/partial")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let t = Instant::now();
        let ok = match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                status == 200
            }
            Err(_) => false,
        };
        let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        if t.duration_since(start) >= warmup {
            if ok {
                lat.push(micros);
            } else {
                errors += 1;
            }
        }
        if !ok {
            sender = connect(addr, &connector).await;
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
    let dir = std::env::temp_dir().join(format!("partner-load-{}", std::process::id()));
    let (client, ca_pem) = setup(&dir);
    let (mut child, addr) = start_service(&dir);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(client.cert_der.clone())],
            PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let connector = TlsConnector::from(Arc::new(cfg));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("| concurrency | proof | requests/s | p50 ms | p99 ms | p999 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (conc, proof) in &a.scenarios {
        let (conc, proof) = (*conc, *proof);
        let start = Instant::now();
        let warmup = Duration::from_secs(a.warmup);
        let end = start + warmup + Duration::from_secs(a.duration);
        let results = rt.block_on(async {
            let tasks: Vec<_> = (0..conc).map(|i| tokio::spawn(worker(addr, connector.clone(), proof, i, start, warmup, end))).collect();
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
    let files = xks_audit::log_files(&dir.join("audit")).unwrap();
    let report = xks_audit::verify_files(&files, None).unwrap();
    println!("audit: {} records, intact: {}, files: {}", report.records, report.is_intact(), files.len());
    let _ = std::fs::remove_dir_all(&dir);
}
