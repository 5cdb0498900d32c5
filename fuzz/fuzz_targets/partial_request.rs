//! The share service's request parser: any bytes must give a request or a 400, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = share_service::api::PartialRequest::parse(data);
});
