//! This suite's deployment: the kit's cluster (our own CA, a 2-of-3 dealt
//! key set, share services 2 and 3 and the proxy in process on port 0) with
//! the suite's key stores, credentials and options.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use xks_config::key_stores::{KeyConfig, KeyStatus, KeyStoreConfig, KeyStoresFile, Usage};
use xks_config::proxy;
pub use xks_threshold::{KeySet, Share};

pub const AKID: &str = "AKIAI2SFODNN7EXAMPLE";
pub const SECRET: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
pub const AKID2: &str = "BKIAI2SFODNN7EXAMPLE";
pub const SECRET2: &str = "GYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
pub const PREFIX: &str = "/keystores/ks1";
pub const KEY: &str = "key-1";

pub use xks_testkit::layout::{credential, key};
pub use xks_testkit::{Cluster, Front, Layout, XksClient};

/// A plain-HTTP client of this suite's key store.
pub fn client(addr: SocketAddr, akid: &str, secret: &str) -> XksClient {
    XksClient::new(addr, akid, secret, &format!("{PREFIX}/kms/xks/v1"), kit_metadata)
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
}

/// Options of a deployment.
#[derive(Clone)]
pub struct Options {
    pub front: Front,
    pub partners: Vec<u32>,
    /// Changes to the proxy's configuration.
    pub proxy: fn(&mut proxy::Config),
    /// Changes to the first key store ("ks1").
    pub store: fn(&mut KeyStoreConfig),
    /// More keys in the first key store.
    pub keys: Vec<KeyConfig>,
    /// The key set and its three shares; by default one dealt from a fixed seed.
    pub key_set: Option<(KeySet, Vec<Share>)>,
}

impl Default for Options {
    fn default() -> Self {
        Self { front: Front::Plain, partners: vec![2, 3], proxy: |_| {}, store: |_| {}, keys: Vec::new(), key_set: None }
    }
}

/// The kit's cluster with this suite's key stores, credentials and options.
pub struct Deployment {
    pub cluster: Cluster,
    /// The deployment's directory.
    pub dir: PathBuf,
    pub opts: Options,
}

impl std::ops::Deref for Deployment {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl std::ops::DerefMut for Deployment {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }
}

impl Deployment {
    pub async fn start(name: &str, opts: Options) -> Self {
        init_logs();
        let layout = match opts.key_set.clone() {
            Some((key_set, shares)) => Layout::with_key_set(name, key_set, shares),
            None => Layout::new(name, 11),
        };
        let dir = layout.dir.clone();
        let cluster = Cluster::start_shares(layout, &opts.partners, |share| {
            share.tls.allowed_clients = vec!["dns:xks-proxy".into()];
            share.audit.checkpoint_seconds = 0;
        })
        .await;
        let mut d = Self { cluster, dir, opts };
        d.write_key_stores(d.opts.store, &d.opts.keys.clone());
        d.restart_proxy().await;
        d
    }

    /// The proxy's configuration for the share services as they are now.
    pub fn proxy_config(&self) -> proxy::Config {
        let mut config = self.cluster.proxy_config(self.opts.front);
        config.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.health.interval_seconds = 1;
        (self.opts.proxy)(&mut config);
        config
    }

    /// Writes the proxy's configuration and credentials, and (re)starts it.
    pub async fn restart_proxy(&mut self) {
        let config = self.proxy_config();
        self.layout.write_credentials("credentials.toml", &[credential(AKID, SECRET)]);
        self.cluster.start_proxy(&config).await;
    }

    /// The key stores: "ks1" (this suite's keys, `store` applied, `keys`
    /// added) and "root" (the empty prefix).
    pub fn write_key_stores(&self, store: fn(&mut KeyStoreConfig), keys: &[KeyConfig]) {
        let mut ks1 = KeyStoreConfig::new("ks1", PREFIX, "credentials.toml").unwrap();
        ks1.key = vec![
            key(KEY, "tenant-a/key-1"),
            KeyConfig { status: KeyStatus::Disabled, ..key("disabled-key", "tenant-a/disabled") },
            KeyConfig { usage: vec![Usage::Encrypt], ..key("encrypt-only", "tenant-a/encrypt-only") },
            KeyConfig { usage: vec![Usage::Decrypt], ..key("decrypt-only", "tenant-a/decrypt-only") },
            KeyConfig { usage: vec![], ..key("impotent", "tenant-a/impotent") },
        ];
        ks1.key.extend_from_slice(keys);
        store(&mut ks1);
        let root = KeyStoreConfig {
            key: vec![key(KEY, "tenant-root/key-1")],
            ..KeyStoreConfig::new("root", "", "credentials-root.toml").unwrap()
        };
        self.layout.write_key_stores(&KeyStoresFile { key_store: vec![ks1, root] });
        self.layout.write_credentials("credentials-root.toml", &[credential("ROOTKEYID22222222222222", SECRET2)]);
    }

    /// Changes share service `holder`'s configuration and restarts it.
    pub async fn reconfigure_share(&mut self, holder: u32, edit: impl FnOnce(&mut xks_config::share::Config)) {
        let node = self.cluster.node(holder);
        edit(&mut node.config);
        let config = node.config.clone();
        self.layout.write_share_config(holder, &config);
        self.cluster.start_share(holder).await;
    }

    pub fn client(&self) -> XksClient {
        let c = client(self.proxy().addr, AKID, SECRET);
        match self.opts.front {
            Front::Tls => c.tls(self.layout.ca_pem().as_bytes(), "localhost"),
            Front::Plain => c,
        }
    }
}

/// This suite's request metadata, as the kit's client takes it.
fn kit_metadata(op: &str, _key: &str, _n: u64) -> serde_json::Value {
    metadata(op)
}

pub fn metadata(op: &str) -> serde_json::Value {
    serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": op,
        "kmsRequestId": format!("{:032x}", rand_core::RngCore::next_u64(&mut rand_core::OsRng)),
        "kmsViaService": "ebs",
    })
}

pub fn b64(s: &serde_json::Value) -> Vec<u8> {
    STANDARD.decode(s.as_str().unwrap()).unwrap()
}
