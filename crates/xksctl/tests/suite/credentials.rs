//! `xksctl credentials`: files KMS and the proxy accept, rotation with two
//! credentials at once, and refusals that leave every file as it was.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use xks_config::key_stores::{KeyStoreConfig, KeyStoresFile};
use xks_testkit::layout::{key, write_config};

fn xksctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xksctl")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xksctl-cred-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn ids(creds: &Path) -> Vec<String> {
    xks_wire::xks::credentials::parse(&std::fs::read_to_string(creds).unwrap())
        .unwrap()
        .into_iter()
        .map(|c| c.access_key_id.to_string())
        .collect()
}

#[test]
fn new_writes_a_kms_proxy_configuration_and_a_credentials_file_the_proxy_accepts() {
    let d = dir("new");
    let (creds, kms) = (d.join("ks1.credentials.toml"), d.join("ks1.kms.json"));
    let (code, out, err) = xksctl(&[
        "credentials",
        "new",
        "--uri-path",
        "/keystores/ks1/kms/xks/v1",
        "--credentials-file",
        s(&creds),
        "--kms-config",
        s(&kms),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&kms).unwrap()).unwrap();
    assert_eq!(v["XksProxyUriPath"], "/keystores/ks1/kms/xks/v1");
    let id = v["XksProxyAuthenticationCredential"]["AccessKeyId"].as_str().unwrap();
    let secret = v["XksProxyAuthenticationCredential"]["RawSecretAccessKey"].as_str().unwrap();
    xks_wire::xks::AccessKeyId::new(id).unwrap();
    xks_wire::xks::SecretAccessKey::new(secret).unwrap();
    // The proxy's own parser reads the same credential.
    let parsed = xks_wire::xks::credentials::parse(&std::fs::read_to_string(&creds).unwrap())
        .unwrap()
        .into_iter()
        .map(|c| (c.access_key_id.to_string(), c.secret_access_key))
        .collect::<Vec<_>>();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].0, id);
    assert_eq!(parsed[0].1.expose(), secret);
    assert_eq!((mode(&creds), mode(&kms)), (0o600, 0o600));
    // The secret is never printed.
    assert!(out.contains(id) && !out.contains(secret) && !err.contains(secret), "{out}");
}

#[test]
fn rotation_holds_two_credentials_then_retires_the_old_one() {
    let d = dir("rotate");
    let creds = d.join("c.toml");
    let args = |kms: &Path| -> Vec<String> {
        ["--uri-path", "/kms/xks/v1", "--credentials-file", s(&creds), "--kms-config", s(kms)].iter().map(|a| (*a).to_owned()).collect()
    };
    let run = |sub: &str, kms: &Path| {
        let mut a = vec!["credentials".to_owned(), sub.to_owned()];
        a.extend(args(kms));
        xksctl(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(run("new", &d.join("k1.json")).0, 0);
    let first = ids(&creds);
    let (code, out, err) = run("rotate", &d.join("k2.json"));
    assert_eq!(code, 0, "{err}");
    let both = ids(&creds);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], first[0]);
    assert!(out.contains(&format!("then retire {}", first[0])), "{out}");
    // A third is refused until one is retired; nothing changes.
    let before = std::fs::read(&creds).unwrap();
    let (code, _, err) = run("rotate", &d.join("k3.json"));
    assert_eq!(code, 1);
    assert!(err.contains("retire the old one"), "{err}");
    assert_eq!(std::fs::read(&creds).unwrap(), before);
    assert!(!d.join("k3.json").exists());
    // Retire the old one; the last one cannot be retired.
    let (code, _, err) = xksctl(&["credentials", "retire", "--credentials-file", s(&creds), "--access-key-id", &first[0]]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids(&creds), vec![both[1].clone()]);
    let (code, _, err) = xksctl(&["credentials", "retire", "--credentials-file", s(&creds), "--access-key-id", &both[1]]);
    assert_eq!(code, 1);
    assert!(err.contains("last credential"), "{err}");
    let (code, _, err) = xksctl(&["credentials", "retire", "--credentials-file", s(&creds), "--access-key-id", "NOSUCHKEYAAAAAAAAAAAAA"]);
    assert_eq!(code, 1);
    assert!(err.contains("no credential"), "{err}");
    assert_eq!(mode(&creds), 0o600);
}

#[test]
fn existing_files_and_bad_input_are_refused_and_nothing_is_left_behind() {
    let d = dir("refuse");
    let (creds, kms) = (d.join("c.toml"), d.join("k.json"));
    std::fs::write(&kms, "keep me").unwrap();
    let (code, _, err) =
        xksctl(&["credentials", "new", "--uri-path", "/kms/xks/v1", "--credentials-file", s(&creds), "--kms-config", s(&kms)]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&kms).unwrap(), "keep me");
    assert!(!creds.exists());
    let (code, _, err) = xksctl(&[
        "credentials",
        "new",
        "--uri-path",
        "/bad path/kms/xks/v1",
        "--credentials-file",
        s(&creds),
        "--kms-config",
        s(&d.join("x.json")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--uri-path"), "{err}");
    // Issue 15 §6: a bad --seal-to is refused before anything is written.
    let (code, _, err) = xksctl(&[
        "credentials",
        "new",
        "--uri-path",
        "/kms/xks/v1",
        "--credentials-file",
        s(&creds),
        "--kms-config",
        s(&d.join("sealed.json")),
        "--seal-to",
        "age1notarecipient",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("recipient"), "{err}");
    assert!(!d.join("sealed.json").exists() && !creds.exists(), "no KMS file with a secret the proxy never got");
    // A corrupted credentials file is named, and left as it is.
    std::fs::write(&creds, "[[credential]]\naccess_key_id = \"lowercase\"\nsecret_access_key = \"x\"\n").unwrap();
    let (code, _, err) = xksctl(&[
        "credentials",
        "rotate",
        "--uri-path",
        "/kms/xks/v1",
        "--credentials-file",
        s(&creds),
        "--kms-config",
        s(&d.join("y.json")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("c.toml") && err.contains("access key id"), "{err}");
    assert!(!d.join("y.json").exists());
    // No temporary files anywhere.
    let names: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

#[test]
fn sealed_credentials_stay_sealed_through_rotation_and_the_proxy_opens_them() {
    let d = dir("sealed");
    let id_file = d.join("proxy.agekey");
    let (code, recipient, _) = xksctl(&["secrets", "keygen", "-o", s(&id_file)]);
    assert_eq!(code, 0);
    let recipient = recipient.trim().to_owned();
    let creds = d.join("ks1.credentials.toml.sops");
    let (kms1, kms2) = (d.join("kms-1.json"), d.join("kms-2.json"));
    let new = [
        "credentials",
        "new",
        "--uri-path",
        "/ks1/kms/xks/v1",
        "--credentials-file",
        s(&creds),
        "--kms-config",
        s(&kms1),
        "--seal-to",
        &recipient,
    ];
    assert_eq!(xksctl(&new).0, 0);
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(text.contains("\"sops\"") && !text.contains("secret_access_key"), "{text}");
    assert_eq!(mode(&creds), 0o600);
    // Rotation needs the identity, and keeps the file sealed to the same recipient.
    let rotate = ["credentials", "rotate", "--uri-path", "/ks1/kms/xks/v1", "--credentials-file", s(&creds), "--kms-config", s(&kms2)];
    let (code, _, err) = xksctl(&rotate);
    assert_eq!(code, 1);
    assert!(err.contains("no age identity"), "{err}");
    let mut with_id = rotate.to_vec();
    with_id.extend(["--identity", s(&id_file)]);
    assert_eq!(xksctl(&with_id).0, 0);
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(text.contains(&recipient) && !text.contains("secret_access_key"));
    // The proxy's loader opens it with its identity: two credentials.
    let store = KeyStoreConfig { key: vec![key("k", "ks1/k")], ..KeyStoreConfig::new("ks1", "/ks1", "ks1.credentials.toml.sops").unwrap() };
    write_config(&d.join("key-stores.toml"), &KeyStoresFile { key_store: vec![store] });
    let ids = xks_sops::Identities::parse(&std::fs::read_to_string(&id_file).unwrap()).unwrap();
    let stores = xks_proxy::stores::KeyStores::load(&d.join("key-stores.toml"), "xks-proxy/health-check", Some(&ids)).unwrap();
    assert_eq!(stores.iter().next().unwrap().credential_count(), 2);
    assert!(xks_proxy::stores::KeyStores::load(&d.join("key-stores.toml"), "xks-proxy/health-check", None).is_err());
    std::fs::remove_dir_all(&d).unwrap();
}
