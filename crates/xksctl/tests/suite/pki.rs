//! `xksctl pki`: CA, server and client certificates with sealed keys, show,
//! rotation by replacement; the services running on them is covered by the
//! ceremony and lifecycle tests (their mTLS is made this way).

use crate::common::*;

#[test]
fn certificates_keys_sealed_show_and_rotation() {
    let dir = test_dir("pki");
    let (ids, h) = holders(&dir, 2);
    let r = |i: usize| h[i].split_once('=').unwrap().1.to_owned();
    let pki = p(&dir.join("pki"));
    ok(&["pki", "init", "-o", &pki, "-r", &r(0), "--days", "30"]);
    assert!(!std::fs::read_to_string(dir.join("pki/ca.key.sops")).unwrap().contains("PRIVATE KEY"));
    let out = p(&dir.join("s2"));
    let issue = |extra: &[&str]| {
        let mut a = vec![
            "pki",
            "server",
            "--ca-dir",
            &pki,
            "-i",
            p(&ids[0]).leak(),
            "--name",
            "share-2",
            "--san",
            "share-2.xks.example",
            "--san",
            "10.0.0.2",
        ];
        a.extend(["-r", r(1).leak(), "-o", &out, "--days", "20"]);
        a.extend(extra);
        cli(&a)
    };
    assert_eq!(issue(&[]).0, 0);
    let cert = p(&dir.join("s2/share-2.crt"));
    let shown = ok(&["pki", "show", &cert, "--warn-days", "10"]);
    assert!(shown.contains("share-2") && shown.contains("dns:share-2.xks.example") && shown.contains("ip:10.0.0.2"), "{shown}");
    // Expiring sooner than --warn-days: exit 1 with the rotation hint.
    let (code, _, err) = cli(&["pki", "show", &cert, "--warn-days", "25"]);
    assert_eq!(code, 1);
    assert!(err.contains("rotate"), "{err}");
    // The key opens only for holder 2.
    let key = p(&dir.join("s2/share-2.key.sops"));
    assert!(ok(&["secrets", "unseal", &key, "-i", &p(&ids[1])]).contains("BEGIN PRIVATE KEY"));
    assert_eq!(cli(&["secrets", "unseal", &key, "-i", &p(&ids[0])]).0, 1);
    // Issuing again is refused; --replace rotates both files.
    let before = std::fs::read_to_string(&cert).unwrap();
    let (code, _, err) = issue(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(issue(&["--replace"]).0, 0);
    assert_ne!(std::fs::read_to_string(&cert).unwrap(), before);
    // Only the CA operator's identity opens the CA key.
    let (code, _, err) =
        cli(&["pki", "client", "--ca-dir", &pki, "-i", &p(&ids[1]), "--name", "x", "--san", "x", "-r", &r(1), "-o", &p(&dir.join("x"))]);
    assert_eq!(code, 1);
    assert!(err.contains("none of the given age identities") && !dir.join("x").exists(), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
