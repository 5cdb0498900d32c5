//! `xksctl bench` against a real proxy (TLS front) and a real share service,
//! both in this process on loopback: reports, verdicts, exit codes.

use std::path::PathBuf;
use std::process::Command;

use xks_config::key_stores::{KeyConfig, KeyStatus, KeyStoreConfig, KeyStoresFile};
use xks_config::kms::{self, LocalKmsConfig};
use xks_testkit::layout::{credential, key};
use xks_testkit::{Cluster, Front, Layout};

const AKID: &str = "XKSCTLBENCHTESTAAAAAAAAAA2";
const SECRET: &str = "xksctlBenchTestSecret0123456789abcdefghijklmnop";

/// A share service (holder 2) and a proxy with a TLS front, in this process
/// until the test ends (the kit's cluster).
struct Deployment {
    dir: PathBuf,
    endpoint: String,
    _cluster: Cluster,
}

async fn deploy(name: &str) -> Deployment {
    let mut cluster = Cluster::start_shares(Layout::new(&format!("xksctl-bench-{name}"), 3), &[2], |_| {}).await;
    let layout = &cluster.layout;
    layout.write_credentials("credentials.toml", &[credential(AKID, SECRET)]);
    let keys = vec![key("key-1", "t/key-1"), key("key-2", "t/key-2"), KeyConfig { status: KeyStatus::Disabled, ..key("off", "t/off") }];
    let store = KeyStoreConfig { key: keys, ..KeyStoreConfig::new("t", "/t", "credentials.toml").unwrap() };
    layout.write_key_stores(&KeyStoresFile { key_store: vec![store] });
    let config = cluster.proxy_config(Front::Tls);
    cluster.start_proxy(&config).await;
    let endpoint = format!("https://localhost:{}", cluster.proxy().addr.port());
    Deployment { dir: cluster.layout.dir.clone(), endpoint, _cluster: cluster }
}

/// Runs `xksctl bench` with the given arguments; returns (exit code, stdout, stderr).
async fn bench(args: Vec<String>, secret: &str) -> (i32, String, String) {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_xksctl")).arg("bench").args(args).env("XKS_SECRET_ACCESS_KEY", secret).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    })
    .await
    .unwrap()
}

fn args(d: &Deployment, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> =
        ["--endpoint", &d.endpoint, "--uri-path", "/t/kms/xks/v1", "--access-key-id", AKID, "--key-id", "key-1", "--key-id", "key-2"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    v.push("--ca-cert".into());
    v.push(d.dir.join("ca.crt").display().to_string());
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_encrypt_and_decrypt_pass_with_every_answer_checked() {
    let d = deploy("rate").await;
    for op in ["encrypt", "decrypt", "mixed"] {
        // A generous timeout: this checks correctness on a busy test machine, not speed.
        let (code, out, err) = bench(
            args(&d, &["-o", op, "-c", "4", "--rate", "40", "-d", "1.5", "--warmup", "0.3", "--timeout-ms", "5000", "--json"]),
            SECRET,
        )
        .await;
        let r: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{op}: {out}\n{err}"));
        assert_eq!(r["errors"], 0, "{out}");
        assert!(r["requests"].as_u64().unwrap() >= 55, "{out}");
        // PASS exactly when p99.9 stayed inside KMS's timeout (the rate is met and nothing failed).
        let inside = r["latencyMs"]["p999"].as_f64().unwrap() < 250.0;
        assert_eq!(r["verdict"]["pass"], inside, "{out}");
        assert_eq!(code, if inside { 0 } else { 3 }, "{out}");
        assert!(r["latencyMs"]["p99"].as_f64().unwrap() > 0.0, "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_kms_config_json_and_prints_a_verdict_line() {
    let d = deploy("config").await;
    let config = LocalKmsConfig {
        endpoint: Some(d.endpoint.clone()),
        uri_path: Some("/t/kms/xks/v1".into()),
        access_key_id: Some(AKID.into()),
        secret_access_key: Some(SECRET.to_owned().into()),
        ca_certificate: Some("ca.crt".into()),
        key_ids: vec!["key-1".into()],
        ..LocalKmsConfig::default()
    };
    std::fs::write(d.dir.join("kms-config.json"), kms::to_json(&config).as_bytes()).unwrap();
    let cfg = d.dir.join("kms-config.json").display().to_string();
    let (code, out, err) = bench(
        vec![
            "--config".into(),
            cfg,
            "-o".into(),
            "health".into(),
            "-c".into(),
            "2".into(),
            "--rate".into(),
            "10".into(),
            "-d".into(),
            "1".into(),
            "--warmup".into(),
            "0".into(),
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("GetHealthStatus") && out.contains("verdict: PASS"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_error_name_and_fail_the_verdict() {
    let d = deploy("fail").await;
    // Wrong secret: every request is refused by SigV4.
    let (code, out, _) = bench(
        args(&d, &["-c", "2", "--rate", "20", "-d", "1", "--warmup", "0", "--json"]),
        "wrongSecret0123456789abcdefghijklmnopqrstuvwxyz",
    )
    .await;
    assert_eq!(code, 3, "{out}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verdict"]["pass"], false);
    assert!(r["errorsByKind"]["401 AuthenticationFailedException"].as_u64().unwrap() > 0, "{out}");
    // A disabled key.
    let mut a = args(&d, &["-c", "1", "--rate", "10", "-d", "1", "--warmup", "0", "--json"]);
    a.retain(|s| s != "key-1" && s != "key-2");
    let pos = a.iter().position(|s| s == "--key-id").unwrap();
    a.insert(pos + 1, "off".into());
    a.remove(pos + 2);
    let (code, out, _) = bench(a, SECRET).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("400 InvalidStateException"), "{out}");
    // Decrypt cannot even set up without a working Encrypt: exit 1 with the reason.
    let (code, _, err) = bench(args(&d, &["-o", "decrypt", "-d", "1"]), "wrongSecret0123456789abcdefghijklmnopqrstuvwxyz").await;
    assert_eq!(code, 1);
    assert!(err.contains("set-up Encrypt failed: 401 AuthenticationFailedException"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_1_with_a_message() {
    let (code, _, err) = bench(vec!["--uri-path".into(), "/t/kms/xks/v1".into()], SECRET).await;
    assert_eq!(code, 1);
    assert!(err.contains("--endpoint"), "{err}");
    let (code, _, err) = bench(vec!["--endpoint".into(), "http://127.0.0.1:1".into(), "--uri-path".into(), "/t".into()], SECRET).await;
    assert_eq!(code, 1);
    assert!(err.contains("/kms/xks/v1"), "{err}");
    let (code, _, err) = bench(
        vec![
            "--endpoint".into(),
            "https://localhost:1".into(),
            "--uri-path".into(),
            "/t/kms/xks/v1".into(),
            "--access-key-id".into(),
            AKID.into(),
            "--key-id".into(),
            "k".into(),
        ],
        SECRET,
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--ca-cert"), "{err}");
}
