//! The crypto core's persisted and wire formats: key set, share, partial, metadata, proof.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = xks_threshold::KeySet::from_json(text);
        let _ = xks_threshold::Share::from_json(text);
        let _ = xks_threshold::Partial::from_json(text);
    }
    let _ = xks_threshold::Metadata::parse(data);
    let _ = xks_threshold::dleq::Proof::from_bytes(data);
    let _ = xks_threshold::encoding::decode_point(data);
});
