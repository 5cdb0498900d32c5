//! The proxy's request path before any key is touched: URI routing and the
//! JSON bodies of the four XKS APIs. Any bytes give a parsed request or the
//! spec's error, never a panic, and nothing beyond the configured limits.
#![no_main]

use xks_proxy::api::request::{Kind, parse_decrypt, parse_encrypt, parse_metadata_only};
use xks_proxy::api::route;
use xks_proxy::config::Limits;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(e) = parse_encrypt(data, &limits) {
        assert!(e.plaintext.len() <= limits.max_plaintext_bytes && e.aad.len() <= limits.max_aad_bytes);
    }
    if let Ok(d) = parse_decrypt(data, &limits) {
        assert!(d.aad.len() <= limits.max_aad_bytes);
        assert!(d.ciphertext_metadata.len() <= 20 && matches!(d.iv.len(), 12 | 16) && d.tag.len() == 16);
    }
    for kind in [Kind::Health, Kind::Metadata, Kind::Crypto] {
        let _ = parse_metadata_only(data, kind);
    }
    if let Ok(path) = std::str::from_utf8(data) {
        let _ = route::parse(path);
    }
});
