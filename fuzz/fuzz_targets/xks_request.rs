//! The proxy's request path before any key is touched: URI routing and the
//! JSON bodies of the four XKS APIs. Any bytes give a parsed request or the
//! spec's error, never a panic, and nothing beyond the configured limits.
#![no_main]

use xks_wire::xks::request::{SizeLimits, parse_decrypt, parse_encrypt, parse_metadata_only};
use xks_wire::xks::{Operation, Route};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = SizeLimits::default();
    if let Ok(e) = parse_encrypt(data, &limits) {
        assert!(e.plaintext.len() <= limits.max_plaintext_bytes && e.aad.len() <= limits.max_aad_bytes);
    }
    if let Ok(d) = parse_decrypt(data, &limits) {
        assert!(d.aad.len() <= limits.max_aad_bytes);
        assert!(d.ciphertext_metadata.len() <= 20 && matches!(d.iv.len(), 12 | 16) && d.tag.len() == 16);
    }
    for operation in Operation::ALL {
        let _ = parse_metadata_only(data, operation);
    }
    if let Ok(path) = std::str::from_utf8(data) {
        if let Some(route) = Route::parse(path) {
            assert_eq!(Route::parse(&route.path()).as_ref(), Some(&route), "a route changed through its path");
        }
    }
});
