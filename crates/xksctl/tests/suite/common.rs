//! Helpers for the lifecycle tests: run the `xksctl` binary, and start a real
//! share service and a real proxy (plain front) in this process on material
//! the CLI made, then talk XKS to the proxy with SigV4.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use xks_config::key_stores::{KeyStoreConfig, KeyStoresFile};
use xks_config::{SecretsConfig, SharesConfig, proxy, share};
use xks_testkit::layout::{credential, key, partner, write_config};
use xks_wire::xks::credentials;

pub const AKID: &str = "XKSCTLCEREMONYTESTAAAAAAA2";
pub const SECRET: &str = "xksctlCeremonyTestSecret0123456789abcdefghijk";

/// Runs `xksctl` with arguments; (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_xksctl")).args(args).env_remove("SOPS_AGE_KEY_FILE").env_remove("SOPS_AGE_KEY").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `xksctl` and insists on success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = cli(args);
    assert_eq!(code, 0, "xksctl {args:?} failed:\n{out}\n{err}");
    out
}

pub fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A fresh test directory.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xksctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `xksctl secrets keygen` for holders 1..=n: identity files and `ID=recipient` arguments.
pub fn holders(dir: &Path, n: u32) -> (Vec<PathBuf>, Vec<String>) {
    let mut ids = Vec::new();
    let mut args = Vec::new();
    for i in 1..=n {
        let f = dir.join(format!("holder-{i}.agekey"));
        let r = ok(&["secrets", "keygen", "--output", &p(&f)]);
        ids.push(f);
        args.push(format!("{i}={}", r.trim()));
    }
    (ids, args)
}

/// The mTLS material of a test deployment, made by `xksctl pki` (keys sealed).
pub struct Pki {
    pub dir: PathBuf,
    pub operator: PathBuf,
}

fn recipient_of(identity: &Path) -> String {
    let ids = xks_sops::Identities::parse(&std::fs::read_to_string(identity).unwrap()).unwrap();
    ids.recipients()[0].to_string()
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        let operator = dir.join("pki-operator.agekey");
        let r = ok(&["secrets", "keygen", "-o", &p(&operator)]);
        ok(&["pki", "init", "-o", &p(&dir.join("pki")), "-r", r.trim(), "--days", "2"]);
        Self { dir: dir.join("pki"), operator }
    }

    /// Issues a certificate whose key is sealed to `holder_identity`'s recipient; (cert, sealed key).
    pub fn issue(&self, kind: &str, name: &str, san: &str, holder_identity: &Path, out: &Path) -> (PathBuf, PathBuf) {
        let r = recipient_of(holder_identity);
        ok(&[
            "pki",
            kind,
            "--ca-dir",
            &p(&self.dir),
            "-i",
            &p(&self.operator),
            "--name",
            name,
            "--san",
            san,
            "-r",
            &r,
            "--days",
            "1",
            "-o",
            &p(out),
        ]);
        (out.join(format!("{name}.crt")), out.join(format!("{name}.key.sops")))
    }
}

/// Starts a share service on the given (sealed) files, opened with `identity`,
/// serving the proxy's client certificate (`dns:xks-proxy`).
pub async fn share_service(
    dir: &Path,
    pki: &Pki,
    holder: u32,
    key_sets: &[PathBuf],
    shares: &[PathBuf],
    identity: &Path,
) -> share_service::Running {
    let d = dir.join(format!("share-{holder}-{}", rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    let (cert, key) = pki.issue("server", &format!("share-{holder}"), "localhost", identity, &d);
    let config = share::Config {
        secrets: SecretsConfig { age_identity_file: Some(identity.to_owned()) },
        ..share::Config::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            share::TlsConfig::pinned(cert, key, pki.dir.join("ca.crt"), vec!["dns:xks-proxy".into()]),
            SharesConfig { key_sets: key_sets.to_vec(), share_files: shares.to_vec(), holder: Some(holder) },
            share::AuditConfig::in_dir("audit".into()),
            share::AdminConfig { socket: "admin.sock".into(), state_file: "controls.json".into() },
        )
    };
    write_config(&d.join("share-service.toml"), &config);
    xks_testkit::cluster::start_share_service(&d.join("share-service.toml")).await
}

fn rand_suffix() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
}

/// Writes a proxy configuration (plain front, key store "t" with key-1 and
/// key-2) and starts it; `Err` is the start-up error.
pub async fn try_proxy(
    dir: &Path,
    pki: &Pki,
    key_sets: &[PathBuf],
    shares: &[PathBuf],
    identity: &Path,
    partners: &[(u32, SocketAddr)],
) -> Result<xks_proxy::Running, String> {
    let d = dir.join(format!("proxy-{}", rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    let (client_cert, client_key) = pki.issue("client", "xks-proxy", "xks-proxy", identity, &d);
    std::fs::write(d.join("credentials.toml"), credentials::render(&[credential(AKID, SECRET)]).as_bytes()).unwrap();
    let store = KeyStoreConfig {
        key: vec![key("key-1", "t/key-1"), key("key-2", "t/key-2")],
        ..KeyStoreConfig::new("t", "/t", "credentials.toml").unwrap()
    };
    write_config(&d.join("key-stores.toml"), &KeyStoresFile { key_store: vec![store] });
    let config = proxy::Config {
        secrets: SecretsConfig { age_identity_file: Some(identity.to_owned()) },
        ..proxy::Config::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            proxy::FrontConfig::plain(Vec::new()),
            SharesConfig { key_sets: key_sets.to_vec(), share_files: shares.to_vec(), holder: Some(1) },
            proxy::PartnerTlsConfig { ca: pki.dir.join("ca.crt"), client_cert, client_key },
            partners.iter().map(|&(holder, address)| partner(holder, address)).collect(),
        )
    };
    write_config(&d.join("xks-proxy.toml"), &config);
    let config = xks_proxy::Config::load(&d.join("xks-proxy.toml")).map_err(|e| e.to_string())?;
    xks_proxy::start(config, &xks_proxy::BuildInfo::current("xks-proxy")).await.map_err(|e| e.to_string())
}

/// As [`try_proxy`], insisting on success.
pub async fn proxy(
    dir: &Path,
    pki: &Pki,
    key_sets: &[PathBuf],
    shares: &[PathBuf],
    identity: &Path,
    partners: &[(u32, SocketAddr)],
) -> xks_proxy::Running {
    try_proxy(dir, pki, key_sets, shares, identity, partners).await.unwrap()
}

/// One SigV4-signed XKS call; (HTTP status, JSON answer).
pub async fn call(addr: SocketAddr, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let mut client = xks_testkit::XksClient::new(addr, AKID, SECRET, "", |op, key, _| metadata(op, key))
        .host(&format!("127.0.0.1:{}", addr.port()))
        .region("us-east-1");
    client.post(path, &body).await
}

fn metadata(op: &str, key_id: &str) -> serde_json::Value {
    serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:role/ceremony-test",
        "kmsOperation": op,
        "kmsRequestId": format!("ceremony-{}", rand_suffix()),
        "kmsKeyArn": format!("arn:aws:kms:eu-west-3:123456789012:key/{key_id}"),
    })
}

/// Encrypts through the proxy; the Encrypt answer.
pub async fn encrypt(addr: SocketAddr, key_id: &str, plaintext: &[u8]) -> serde_json::Value {
    let (status, answer) = call(
        addr,
        &format!("/t/kms/xks/v1/keys/{key_id}/encrypt"),
        serde_json::json!({
            "requestMetadata": metadata("Encrypt", key_id),
            "plaintext": B64.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": B64.encode(b"ceremony-aad"),
        }),
    )
    .await;
    assert_eq!(status, 200, "Encrypt: {answer}");
    answer
}

/// Decrypts an Encrypt answer through the proxy: the plaintext, or (status, errorName).
pub async fn decrypt(addr: SocketAddr, key_id: &str, sealed: &serde_json::Value) -> Result<Vec<u8>, (u16, String)> {
    let mut body = serde_json::json!({
        "requestMetadata": metadata("Decrypt", key_id),
        "ciphertext": sealed["ciphertext"],
        "encryptionAlgorithm": "AES_GCM",
        "initializationVector": sealed["initializationVector"],
        "authenticationTag": sealed["authenticationTag"],
        "additionalAuthenticatedData": B64.encode(b"ceremony-aad"),
    });
    if let Some(m) = sealed.get("ciphertextMetadata") {
        body["ciphertextMetadata"] = m.clone();
    }
    let (status, answer) = call(addr, &format!("/t/kms/xks/v1/keys/{key_id}/decrypt"), body).await;
    if status == 200 {
        Ok(B64.decode(answer["plaintext"].as_str().unwrap()).unwrap())
    } else {
        Err((status, answer["errorName"].as_str().unwrap_or("").to_owned()))
    }
}

/// The generation a ciphertext was made under (ciphertextMetadata byte 1..5, docs/crypto.md).
pub fn generation_of(sealed: &serde_json::Value) -> u32 {
    let m = B64.decode(sealed["ciphertextMetadata"].as_str().unwrap()).unwrap();
    xks_threshold::Metadata::parse(&m).unwrap().generation()
}
