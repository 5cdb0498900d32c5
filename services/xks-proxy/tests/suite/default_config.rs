//! The commented default configuration parses and validates.

#[test]
fn default_config_files_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = xks_proxy::Config::load(&dir.join("xks-proxy.toml")).unwrap();
    assert_eq!(cfg.partners.len(), 2);
    assert_eq!(cfg.pool.budget_ms, 200);
    // The key-store file parses up to its (absent) credentials file.
    let e = xks_proxy::stores::KeyStores::load(&dir.join("key-stores.toml"), "xks-proxy/health-check", None).unwrap_err();
    assert!(e.to_string().contains("credentials/default.toml"), "{e}");
}
