//! The audit-log verifier: any file content must give a report, never a panic,
//! and a report that calls the input intact must have counted every line.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let report = xks_audit::verify_lines(&[("fuzz", data)]);
    if report.is_intact() {
        let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(report.records, lines);
    }
});
