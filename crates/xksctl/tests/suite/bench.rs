//! `xksctl bench` against a real proxy (TLS front) and a real share service,
//! both in this process on loopback: reports, verdicts, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_pki::{Ca, Validity};

const AKID: &str = "XKSCTLBENCHTESTAAAAAAAAAA2";
const SECRET: &str = "xksctlBenchTestSecret0123456789abcdefghijklmnop";

fn write(path: &Path, data: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// A share service (holder 2) and a proxy with a TLS front, running until the test ends.
struct Deployment {
    dir: PathBuf,
    endpoint: String,
    _share: share_service::Running,
    _proxy: xks_proxy::Running,
}

async fn deploy(name: &str) -> Deployment {
    let dir = std::env::temp_dir().join(format!("xksctl-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ca = Ca::new("bench test CA", Validity::days(1)).unwrap();
    let (ks, shares) = xks_threshold::dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(3)).unwrap();
    write(&dir.join("ca.crt"), &ca.certificate().cert_pem);
    let server = ca.issue_server("share-2", &["localhost"], Validity::days(1)).unwrap();
    write(&dir.join("share-2/server.crt"), &server.cert_pem);
    write(&dir.join("share-2/server.key"), server.key_pem.as_bytes());
    write(&dir.join("share-2/keyset.json"), ks.to_json().unwrap());
    write(&dir.join("share-2/share.json"), shares[1].to_json().unwrap().as_bytes());
    write(
        &dir.join("share-2/share-service.toml"),
        "listen = \"127.0.0.1:0\"\n[tls]\ncert = \"server.crt\"\nkey = \"server.key\"\nclient_ca = \"../ca.crt\"\nallow_any_client = true\n\
         [shares]\nkey_sets = [\"keyset.json\"]\nshare_files = [\"share.json\"]\nholder = 2\n[audit]\ndir = \"audit\"\n\
         [admin]\nsocket = \"admin.sock\"\nstate_file = \"controls.json\"\n",
    );
    let share = share_service::start(
        share_service::Config::load(&dir.join("share-2/share-service.toml")).unwrap(),
        &share_service::BuildInfo::current("share-service"),
    )
    .await
    .unwrap();
    let client = ca.issue_client("xks-proxy", &["xks-proxy"], Validity::days(1)).unwrap();
    let front = ca.issue_server("xks.test", &["localhost"], Validity::days(1)).unwrap();
    for (file, data) in [
        ("client.crt", client.cert_pem.as_bytes()),
        ("client.key", client.key_pem.as_bytes()),
        ("front.crt", front.cert_pem.as_bytes()),
        ("front.key", front.key_pem.as_bytes()),
        ("share.json", shares[0].to_json().unwrap().as_bytes()),
    ] {
        write(&dir.join("proxy").join(file), data);
    }
    write(&dir.join("proxy/keyset.json"), ks.to_json().unwrap());
    write(&dir.join("proxy/credentials.toml"), format!("[[credential]]\naccess_key_id = \"{AKID}\"\nsecret_access_key = \"{SECRET}\"\n"));
    write(
        &dir.join("proxy/key-stores.toml"),
        "[[key_store]]\nname = \"t\"\npath_prefix = \"/t\"\ncredentials_file = \"credentials.toml\"\n\
         [[key_store.key]]\nid = \"key-1\"\nkey_path = \"t/key-1\"\n[[key_store.key]]\nid = \"key-2\"\nkey_path = \"t/key-2\"\n\
         [[key_store.key]]\nid = \"off\"\nkey_path = \"t/off\"\nstatus = \"DISABLED\"\n",
    );
    write(
        &dir.join("proxy/xks-proxy.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nkey_stores = \"key-stores.toml\"\n[front]\nmode = \"tls\"\ncert = \"front.crt\"\nkey = \"front.key\"\n\
             [shares]\nkey_sets = [\"keyset.json\"]\nshare_files = [\"share.json\"]\nholder = 1\n\
             [partner_tls]\nca = \"../ca.crt\"\nclient_cert = \"client.crt\"\nclient_key = \"client.key\"\n\
             [[partners]]\nid = \"share-2\"\nholder = 2\naddress = \"{}\"\nserver_name = \"localhost\"\n",
            share.addr
        ),
    );
    let proxy =
        xks_proxy::start(xks_proxy::Config::load(&dir.join("proxy/xks-proxy.toml")).unwrap(), &xks_proxy::BuildInfo::current("xks-proxy"))
            .await
            .unwrap();
    let endpoint = format!("https://localhost:{}", proxy.addr.port());
    Deployment { dir, endpoint, _share: share, _proxy: proxy }
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
    let config = serde_json::json!({
        "endpoint": d.endpoint,
        "uriPath": "/t/kms/xks/v1",
        "accessKeyId": AKID,
        "secretAccessKey": SECRET,
        "caCertificate": "ca.crt",
        "keyIds": ["key-1"],
    });
    write(&d.dir.join("kms-config.json"), config.to_string());
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
