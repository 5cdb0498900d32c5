//! The partner request parser (xks-wire, used by the share service): any bytes give a request or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Whatever parses survives its own encoding unchanged.
    if let Ok(request) = xks_wire::partner::PartialRequest::parse(data) {
        let again = xks_wire::partner::PartialRequest::parse(request.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&request), "a parsed partial request changed through its encoding");
    }
});
