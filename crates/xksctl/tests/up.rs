//! `xksctl up` runs the core end to end and reports every check as passed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn up(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xksctl")).arg("up").args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn up_default_2_of_3_round_trips_with_every_pair() {
    let (ok, stdout, stderr) = up(&[]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("ok, same key").count(), 3, "{stdout}");
    assert!(!stdout.contains("MISMATCH") && !stdout.contains("ACCEPTED"), "{stdout}");
    assert!(stdout.contains("old ciphertext decrypts: true; epoch-0 share refused: true"), "{stdout}");
    assert!(stdout.contains("new encryptions use generation 2; old ciphertext names generation 1 and still decrypts: true"), "{stdout}");
    assert!(stdout.contains("rejected"), "{stdout}");
    // The demo plaintext never appears in the output.
    assert!(!stdout.contains("Hello World"), "{stdout}");
}

#[test]
fn up_3_of_5_uses_all_ten_sets() {
    let (ok, stdout, stderr) = up(&["--threshold", "3", "--holders", "5"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("ok, same key").count(), 10, "{stdout}");
}

#[test]
fn up_refuses_bad_parameters_with_an_error_exit() {
    for args in [&["--threshold", "4", "--holders", "3"][..], &["--threshold", "0"], &["--key-path", "bad path"]] {
        let (ok, _, stderr) = up(args);
        assert!(!ok, "{args:?}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}
