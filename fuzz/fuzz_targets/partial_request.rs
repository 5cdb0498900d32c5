//! The partner request parsers (xks-wire, used by the share service), of one request and of a batch: any bytes give requests or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Whatever parses survives its own encoding unchanged.
    if let Ok(request) = xks_wire::partner::PartialRequest::parse(data) {
        let again = xks_wire::partner::PartialRequest::parse(request.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&request), "a parsed partial request changed through its encoding");
    }
    if let Ok(batch) = xks_wire::partner::parse_batch(data) {
        let again = xks_wire::partner::parse_batch(xks_wire::partner::encode_batch(&batch).as_bytes());
        assert_eq!(again.as_ref(), Ok(&batch), "a parsed batch changed through its encoding");
    }
});
