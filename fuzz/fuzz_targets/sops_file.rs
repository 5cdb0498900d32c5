//! sops files (YAML, JSON, binary) opened with the published test identity:
//! no input panics, and any file that opens (MAC verified) rekeys and reopens
//! to the same plaintext.
#![no_main]

/// The published test identity of `tests/vectors/sops` (test-only).
const TEST_IDENTITY: &str = "AGE-SECRET-KEY-1EQUCGFZH8UZKSZ0Z5N5T234YRNDT4U9H7QNYXWRRNJYDDVXE6FWSCPGNJ7";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(ids) = xks_sops::Identities::parse(TEST_IDENTITY) else { return };
    for format in [xks_sops::Format::Yaml, xks_sops::Format::Json, xks_sops::Format::Binary] {
        let _ = xks_sops::recipients(text, format);
        let _ = xks_sops::open_maybe_sealed(text, format, Some(&ids));
        if let Ok(opened) = xks_sops::unseal_tree(text, format, &ids) {
            let again = xks_sops::rekey(text, format, &ids, &ids.recipients()).expect("an opened file rekeys");
            let reopened = xks_sops::unseal_tree(&again, format, &ids).expect("a rekeyed file opens");
            assert_eq!(format!("{:?}", reopened.plain.0), format!("{:?}", opened.plain.0));
        }
    }
});
