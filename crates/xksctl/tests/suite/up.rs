//! `xksctl up`: the whole system on loopback from nothing, driven by the curl
//! command it prints; a second run reuses the state and decrypts what the
//! first run encrypted.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The subject `up --kms-mtls` admits (the stand-in for KMS's client certificate).
const KMS_CLIENT_CN: &str = "cks.kms.us-east-1.amazonaws.com";

/// `xksctl up` runs the service binaries it finds next to itself: a
/// workspace test run builds them; a run of this package alone builds them here.
fn services_built() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let dir = Path::new(env!("CARGO_BIN_EXE_xksctl")).parent().unwrap();
        if dir.join("share-service").is_file() && dir.join("xks-proxy").is_file() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "-p", "share-service", "-p", "xks-proxy", "--bins"]).status().unwrap().success();
        assert!(ok, "building the service binaries failed");
    });
}

fn xksctl() -> Command {
    services_built();
    let mut c = Command::new(env!("CARGO_BIN_EXE_xksctl"));
    c.env_remove("XKSCTL_STATE_DIR").env("RUST_LOG", "warn");
    c
}

/// Starts `xksctl up` and reads its standard output until it serves; (child, output so far).
fn start(state: &Path) -> (Child, String) {
    start_with(state, &[])
}

fn start_with(state: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = xksctl()
        .args(["up", "--state-dir", state.to_str().unwrap(), "--proxy-port", "0", "--share-ports", "0,0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(state.with_extension("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        out.push_str(&line);
        out.push('\n');
        if line.contains("Serving until Ctrl-C") {
            return (child, out);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let err = std::fs::read_to_string(state.with_extension("stderr.log")).unwrap_or_default();
    panic!("xksctl up did not become ready:\n{out}\nstderr:\n{err}");
}

/// Ctrl-C: the process stops by itself, successfully.
fn interrupt(mut child: Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "xksctl up exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "xksctl up did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The printed curl command, run by a shell exactly as a user would paste it.
fn run_printed_curl(out: &str) -> serde_json::Value {
    let start = out.find("\ncurl ").expect("a curl example") + 1;
    let end = start + out[start..].find("/encrypt\n").expect("the curl example ends with the URL") + "/encrypt".len();
    let cmd = &out[start..end];
    let res = Command::new("sh").args(["-c", &format!("{cmd} --silent --show-error --fail-with-body")]).output().unwrap();
    assert!(res.status.success(), "{cmd}\n{}\n{}", String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    serde_json::from_slice(&res.stdout).unwrap()
}

/// Runs the printed `xksctl bench` line, shortened to one second at a fixed
/// 50 requests/s (a verdict on errors and latency, not on this machine's speed):
/// every key in `keyIds` must take Encrypt, so the verdict is PASS.
fn run_printed_load_test(out: &str) {
    let line = out.lines().find_map(|l| l.strip_prefix("Load test: xksctl ")).unwrap_or_else(|| panic!("no load test line: {out}"));
    let mut args: Vec<&str> = line.split_whitespace().collect();
    assert!(args.ends_with(&["-d", "10"]), "{line}");
    args.truncate(args.len() - 2);
    args.extend(["-d", "1", "--warmup", "0", "--rate", "50"]);
    let bench = Command::new(env!("CARGO_BIN_EXE_xksctl")).args(&args).output().unwrap();
    let report = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success() && report.contains("verdict: PASS"), "{report}{}", String::from_utf8_lossy(&bench.stderr));
}

/// Decrypt with curl --aws-sigv4 from what kms-config.json says.
fn curl_decrypt(state: &Path, sealed: &serde_json::Value) -> serde_json::Value {
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.join("kms-config.json")).unwrap()).unwrap();
    let body = serde_json::json!({
        "requestMetadata": {"awsPrincipalArn": "arn:aws:iam::111122223333:user/alice", "kmsOperation": "Decrypt", "kmsRequestId": "curl-2", "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/demo-key-1"},
        "ciphertext": sealed["ciphertext"],
        "ciphertextMetadata": sealed["ciphertextMetadata"],
        "initializationVector": sealed["initializationVector"],
        "authenticationTag": sealed["authenticationTag"],
        "encryptionAlgorithm": "AES_GCM",
        "additionalAuthenticatedData": "cHJvamVjdD1uaWxl",
    });
    let url = format!("{}{}/keys/demo-key-1/decrypt", cfg["endpoint"].as_str().unwrap(), cfg["uriPath"].as_str().unwrap());
    let user = format!("{}:{}", cfg["accessKeyId"].as_str().unwrap(), cfg["secretAccessKey"].as_str().unwrap());
    let res = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--cacert",
            cfg["caCertificate"].as_str().unwrap(),
            "--aws-sigv4",
            "aws:amz:us-east-1:kms-xks-proxy",
        ])
        .args(["--user", &user, "-H", "Content-Type: application/json", "--data", &body.to_string(), &url])
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    serde_json::from_slice(&res.stdout).unwrap()
}

#[test]
fn up_serves_the_whole_system_prints_working_curl_and_reuses_its_state() {
    let dir = std::env::temp_dir().join(format!("xksctl-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");

    let (child, out) = start(&state);
    assert!(out.contains("new 2-of-3 key set"), "{out}");
    for what in [
        "endpoint             https://localhost:",
        "XksProxyUriPath      /keystores/local/kms/xks/v1",
        "access key id",
        "secret access key",
    ] {
        assert!(out.contains(what), "{what}: {out}");
    }
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.join("kms-config.json")).unwrap()).unwrap();
    for field in ["endpoint", "uriPath", "accessKeyId", "secretAccessKey", "caCertificate"] {
        assert!(cfg[field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {cfg}");
    }
    assert_eq!(cfg["keyIds"], serde_json::json!(["demo-key-1", "demo-key-2"]), "Encrypt-and-Decrypt keys only: {cfg}");
    assert_eq!(cfg["otherKeys"][0], serde_json::json!({"id": "demo-decrypt-only", "status": "ENABLED", "usage": ["DECRYPT"]}));
    assert_eq!(cfg["otherKeys"][1], serde_json::json!({"id": "demo-disabled", "status": "DISABLED", "usage": ["ENCRYPT", "DECRYPT"]}));
    assert_eq!(cfg["otherKeys"][2], serde_json::json!({"id": "demo-encrypt-only", "status": "ENABLED", "usage": ["ENCRYPT"]}));
    assert_eq!(cfg["otherKeys"][3], serde_json::json!({"id": "demo-no-usage", "status": "ENABLED", "usage": []}));
    assert_eq!(cfg["partners"].as_array().unwrap().len(), 2, "{cfg}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(state.join("kms-config.json")).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "kms-config.json holds the secret: owner only");
    let sealed = run_printed_curl(&out);
    let metadata =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed["ciphertextMetadata"].as_str().unwrap()).unwrap();
    assert_eq!((metadata.len(), &metadata[..5]), (20, &[2u8, 0, 0, 0, 1][..]), "envelope format v2, generation 1: {sealed}");
    let opened = curl_decrypt(&state, &sealed);
    assert_eq!(opened["plaintext"], "SGVsbG8gV29ybGQh", "{opened}");
    run_printed_load_test(&out);
    interrupt(child);

    // Every secret in the state is sealed: no share or private key in plaintext.
    for sub in ["keys", "pki", "proxy", "proxy/tls", "share-2/tls", "share-3/tls"] {
        for entry in std::fs::read_dir(state.join(sub)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            assert!(!text.contains("PRIVATE KEY-----\n"), "{sub}: plaintext private key");
            assert!(!text.contains("\"share\": \"") || text.contains("ENC[AES256_GCM"), "{sub}: plaintext share");
        }
    }

    // Second run: same state, new ports, the old ciphertext decrypts.
    let (child, out) = start(&state);
    assert!(out.contains("reused"), "{out}");
    let opened = curl_decrypt(&state, &sealed);
    assert_eq!(opened["plaintext"], "SGVsbG8gV29ybGQh", "{opened}");
    // Issue 15 §6: SIGHUP reloads the key stores, as the proxy binary does.
    let stores = state.join("proxy/key-stores.toml");
    let original = std::fs::read_to_string(&stores).unwrap();
    let disabled = original.replacen(
        "id = \"demo-key-1\"\nkey_path = \"local/demo-key-1\"\nstatus = \"ENABLED\"",
        "id = \"demo-key-1\"\nkey_path = \"local/demo-key-1\"\nstatus = \"DISABLED\"",
        1,
    );
    assert_ne!(disabled, original, "the key-store file names demo-key-1 as expected");
    let hup = |child: &Child| assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    std::fs::write(&stores, &disabled).unwrap();
    hup(&child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl_decrypt(&state, &sealed)["errorName"] != "InvalidStateException" {
        assert!(Instant::now() < deadline, "SIGHUP did not disable demo-key-1");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&stores, &original).unwrap();
    hup(&child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl_decrypt(&state, &sealed)["plaintext"] != "SGVsbG8gV29ybGQh" {
        assert!(Instant::now() < deadline, "SIGHUP did not enable demo-key-1 again");
        std::thread::sleep(Duration::from_millis(100));
    }
    interrupt(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn init_only_for_containers_and_bad_states_are_refused() {
    let dir = std::env::temp_dir().join(format!("xksctl-up-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let s = state.to_str().unwrap();

    let out = xksctl().args(["up", "--state-dir", s, "--network", "containers"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--init-only"));
    assert!(!state.exists(), "nothing made");

    let out = xksctl().args(["up", "--state-dir", s, "--init-only", "--network", "containers"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let proxy = std::fs::read_to_string(state.join("proxy/xks-proxy.toml")).unwrap();
    assert!(proxy.contains("listen = \"0.0.0.0:8443\""), "{proxy}");
    assert!(proxy.contains("address = \"share-2:9442\"") && proxy.contains("address = \"share-3:9443\""), "{proxy}");
    let share = std::fs::read_to_string(state.join("share-3/share-service.toml")).unwrap();
    assert!(share.contains("listen = \"0.0.0.0:9443\"") && share.contains("holder = 3"), "{share}");
    // Certificates name the container hosts and loopback.
    let show = xksctl().args(["pki", "show", state.join("share-2/tls/server.crt").to_str().unwrap()]).output().unwrap();
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.contains("share-2") && shown.contains("127.0.0.1") && shown.contains("localhost"), "{shown}");

    // A directory that is not a state is refused, not overwritten.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let out = xksctl().args(["up", "--state-dir", other.to_str().unwrap(), "--init-only"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an xksctl state directory"));
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--kms-mtls`: the proxy serves only the KMS stand-in client certificate
/// (AWS's conformance client runs this way with `MTLS="--cert … --key …"`);
/// the printed curl and load test present it, a client without it fails the
/// TLS handshake.
#[test]
fn up_with_kms_mtls_serves_only_the_kms_client_certificate() {
    let dir = std::env::temp_dir().join(format!("xksctl-up-mtls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let (child, out) = start_with(&state, &["--kms-mtls"]);
    assert!(out.contains("mutual TLS           required"), "{out}");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.join("kms-config.json")).unwrap()).unwrap();
    let (cert, key) = (cfg["clientCertificate"].as_str().unwrap(), cfg["clientKey"].as_str().unwrap());
    assert!(std::fs::read_to_string(cert).unwrap().contains("BEGIN CERTIFICATE"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the stand-in key is the owner's only");
    let sealed = run_printed_curl(&out);
    assert!(sealed["ciphertext"].is_string(), "{sealed}");
    run_printed_load_test(&out);
    // Without the client certificate: no TLS session, so no answer at all.
    let url = format!("{}{}/health", cfg["endpoint"].as_str().unwrap(), cfg["uriPath"].as_str().unwrap());
    let bare =
        Command::new("curl").args(["--silent", "--cacert", cfg["caCertificate"].as_str().unwrap(), "-X", "POST", &url]).output().unwrap();
    assert!(!bare.status.success(), "served without a client certificate: {}", String::from_utf8_lossy(&bare.stdout));
    // AWS's test_negative_mtls: certificates that must fail the handshake
    // with the `handshake_failure` alert (curl -v prints "TLS alert, handshake
    // failure"), whatever the reason: one from a CA the proxy does not trust,
    // and an expired one (both with the KMS subject).
    let rogue = xks_pki::Ca::new("rogue CA", xks_pki::Validity::days(1)).unwrap();
    for (name, validity) in [("untrusted", xks_pki::Validity::days(1)), ("expired", xks_pki::Validity::expired())] {
        let issued = rogue.issue_client(KMS_CLIENT_CN, &[KMS_CLIENT_CN], validity).unwrap();
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, &issued.cert_pem).unwrap();
        std::fs::write(&key, issued.key_pem.as_bytes()).unwrap();
        let out = Command::new("curl")
            .args(["-v", "--silent", "--cacert", cfg["caCertificate"].as_str().unwrap(), "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["-X", "POST", &url])
            .output()
            .unwrap();
        let verbose = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} certificate served: {}", String::from_utf8_lossy(&out.stdout));
        assert!(verbose.contains("TLS alert, handshake failure"), "{name} certificate: {verbose}");
    }
    interrupt(child);
    let _ = std::fs::remove_dir_all(&dir);
}
