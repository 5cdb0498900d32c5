//! `xksctl secrets` against files made by the real sops CLI
//! (`tests/vectors/sops/`, README there): unseal gives exactly
//! what `sops -d` gives; our sealed files rekey and unseal; nothing is overwritten.

use crate::common::*;

const TEST_IDENTITY: &str = "AGE-SECRET-KEY-1EQUCGFZH8UZKSZ0Z5N5T234YRNDT4U9H7QNYXWRRNJYDDVXE6FWSCPGNJ7";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/sops").join(name)
}

#[test]
fn unseal_of_sops_made_files_equals_sops_decrypt() {
    let dir = test_dir("secrets-ref");
    let id = dir.join("test.agekey");
    std::fs::write(&id, format!("{TEST_IDENTITY}\n")).unwrap();
    let mut n = 0;
    for v in [
        "age_example",
        "age_empty_value",
        "age_encrypted_regex",
        "age_encrypted_suffix",
        "age_unencrypted_regex",
        "age_unencrypted_suffix",
        "age_mac_only_encrypted",
    ] {
        let out = ok(&["secrets", "unseal", &p(&fixture(&format!("{v}.yaml"))), "-i", &p(&id)]);
        let expected = std::fs::read_to_string(fixture(&format!("{v}_plaintext.yaml"))).unwrap();
        assert_eq!(xks_sops::Node::from_yaml(&out).unwrap(), xks_sops::Node::from_yaml(&expected).unwrap(), "{v}");
        n += 1;
    }
    assert_eq!(n, 7);
    // SOPS_AGE_KEY_FILE is honoured like the sops CLI does.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xksctl"))
        .args(["secrets", "unseal", &p(&fixture("age_example.yaml"))])
        .env("SOPS_AGE_KEY_FILE", &id)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Welcome to SOPS!"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seal_rekey_unseal_round_trip_without_overwriting() {
    let dir = test_dir("secrets-cli");
    let (ids, h) = holders(&dir, 2);
    let r = |i: usize| h[i].split_once('=').unwrap().1.to_owned();
    let plain = dir.join("proxy.key");
    let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
    std::fs::write(&plain, pem).unwrap();
    let sealed = dir.join("proxy.key.sops");
    ok(&["secrets", "seal", &p(&plain), "-r", &r(0), "-o", &p(&sealed)]);
    assert!(!std::fs::read_to_string(&sealed).unwrap().contains("MIGH"));
    assert_eq!(ok(&["secrets", "recipients", &p(&sealed)]).trim(), r(0));
    assert_eq!(ok(&["secrets", "unseal", &p(&sealed), "-i", &p(&ids[0])]), pem);
    // Existing output: refused and untouched.
    let before = std::fs::read_to_string(&sealed).unwrap();
    let (code, _, err) = cli(&["secrets", "seal", &p(&plain), "-r", &r(0), "-o", &p(&sealed)]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&sealed).unwrap(), before);
    // Rekey in place to holder 2 only: holder 1 can no longer open it.
    ok(&["secrets", "rekey", &p(&sealed), "-i", &p(&ids[0]), "-r", &r(1), "--in-place"]);
    let (code, _, err) = cli(&["secrets", "unseal", &p(&sealed), "-i", &p(&ids[0])]);
    assert_eq!(code, 1);
    assert!(err.contains("none of the given age identities"), "{err}");
    assert_eq!(ok(&["secrets", "unseal", &p(&sealed), "-i", &p(&ids[1])]), pem);
    // YAML with a rule: the public part stays readable.
    let cfg = dir.join("app.yaml");
    std::fs::write(&cfg, "endpoint: https://xks.example\npassword: hunter2\n").unwrap();
    let sealed_cfg = dir.join("app.sops.yaml");
    ok(&["secrets", "seal", &p(&cfg), "-r", &r(0), "--encrypted-regex", "^password$", "-o", &p(&sealed_cfg)]);
    let text = std::fs::read_to_string(&sealed_cfg).unwrap();
    let doc = xks_sops::Node::from_yaml(&text).unwrap();
    assert_eq!(doc.get("endpoint").and_then(xks_sops::Node::as_str), Some("https://xks.example"), "{text}");
    assert!(!text.contains("hunter2") && text.contains("encrypted_regex"), "{text}");
    assert!(ok(&["secrets", "unseal", &p(&sealed_cfg), "-i", &p(&ids[0])]).contains("password: hunter2"));
    // Completions exist for the usual shells.
    for shell in ["bash", "zsh", "fish"] {
        assert!(ok(&["completions", shell]).contains("xksctl"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
