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

/// docs/crypto.md §4: the key path determines the key, so two external keys
/// (two KMS keys) never share one, in one key store or across stores.
#[test]
fn two_external_keys_cannot_share_a_key_path() {
    use xks_config::key_stores::{KeyStoreConfig, KeyStoresFile};
    use xks_testkit::layout::{Layout, credential, key};
    let layout = Layout::new("shared-key-path", 1);
    layout.write_credentials("c1.toml", &[credential("AKIAI2SFODNN7EXAMPLE", "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")]);
    layout.write_credentials("c2.toml", &[credential("BKIAI2SFODNN7EXAMPLE", "GYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE")]);
    let load = |a: Vec<&str>, b: Vec<&str>| {
        let store = |name: &str, prefix: &str, creds: &str, paths: Vec<&str>| KeyStoreConfig {
            key: paths.iter().enumerate().map(|(i, p)| key(&format!("{name}-key-{i}"), p)).collect(),
            ..KeyStoreConfig::new(name, prefix, creds).unwrap()
        };
        layout.write_key_stores(&KeyStoresFile { key_store: vec![store("a", "/a", "c1.toml", a), store("b", "/b", "c2.toml", b)] });
        xks_proxy::stores::KeyStores::load(&layout.proxy_dir().join("key-stores.toml"), "xks-proxy/health-check", None)
    };
    assert!(load(vec!["t/1", "t/2"], vec!["t/3"]).is_ok(), "distinct key paths load");
    let e = load(vec!["t/1", "t/1"], vec![]).unwrap_err().to_string();
    assert!(e.contains("a-key-1") && e.contains("a-key-0") && e.contains("\"t/1\""), "{e}");
    let e = load(vec!["t/1"], vec!["t/1"]).unwrap_err().to_string();
    assert!(e.contains("b-key-0") && e.contains("a-key-0"), "{e}");
}
