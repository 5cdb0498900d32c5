//! A complete local deployment in a temporary directory: our own CA (xks-pki),
//! a 2-of-3 dealer key set, share services 2 and 3 (the real service, in
//! process, on port 0), and the proxy (plain HTTP or TLS front) on port 0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xks_pki::{Ca, Validity};
use xks_threshold::{KeySet, Share, dealer};

pub const AKID: &str = "AKIAI2SFODNN7EXAMPLE";
pub const SECRET: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
pub const AKID2: &str = "BKIAI2SFODNN7EXAMPLE";
pub const SECRET2: &str = "GYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
pub const PREFIX: &str = "/keystores/ks1";
pub const KEY: &str = "key-1";

pub use xks_testkit::{XksClient, tempdir};

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
    pub tls_front: bool,
    pub partners: Vec<u32>,
    /// Extra TOML for the proxy's main file.
    pub proxy_extra: String,
    /// Extra key-store settings (inside the first [[key_store]]).
    pub store_extra: String,
    /// Extra keys (TOML [[key_store.key]] entries).
    pub keys_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Self { tls_front: false, partners: vec![2, 3], proxy_extra: String::new(), store_extra: String::new(), keys_extra: String::new() }
    }
}

pub struct ShareNode {
    pub holder: u32,
    pub dir: PathBuf,
    pub running: Option<share_service::Running>,
    pub addr: SocketAddr,
}

pub struct Deployment {
    pub dir: PathBuf,
    pub ca: Ca,
    pub key_set: KeySet,
    pub shares: Vec<Share>,
    pub nodes: Vec<ShareNode>,
    pub proxy: Option<xks_proxy::Running>,
    pub opts: Options,
}

fn write(path: &Path, data: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

pub fn share_service_toml(holder: u32, listen: &str) -> String {
    format!(
        r#"
listen = "{listen}"
[tls]
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"
allowed_clients = ["dns:xks-proxy"]
[shares]
key_sets = ["keyset.json"]
share_files = ["share.json"]
holder = {holder}
[audit]
dir = "audit"
checkpoint_seconds = 0
[admin]
socket = "admin.sock"
state_file = "controls.json"
"#
    )
}

impl Deployment {
    pub async fn start(name: &str, opts: Options) -> Self {
        init_logs();
        let dir = tempdir(name);
        let ca = Ca::new("test CA", Validity::days(2)).unwrap();
        let (key_set, shares) = dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(11)).unwrap();
        write(&dir.join("ca.crt"), &ca.certificate().cert_pem);
        let client = ca.issue_client("xks-proxy", &["xks-proxy"], Validity::days(2)).unwrap();
        write(&dir.join("proxy/client.crt"), &client.cert_pem);
        write(&dir.join("proxy/client.key"), client.key_pem.as_bytes());
        write(&dir.join("proxy/keyset.json"), key_set.to_json().unwrap());
        write(&dir.join("proxy/share.json"), shares[0].to_json().unwrap().as_bytes());
        let mut nodes = Vec::new();
        for &h in &opts.partners {
            let nd = dir.join(format!("share-{h}"));
            let server = ca.issue_server(&format!("share-{h}"), &["localhost", "127.0.0.1"], Validity::days(2)).unwrap();
            write(&nd.join("ca.crt"), &ca.certificate().cert_pem);
            write(&nd.join("server.crt"), &server.cert_pem);
            write(&nd.join("server.key"), server.key_pem.as_bytes());
            write(&nd.join("keyset.json"), key_set.to_json().unwrap());
            write(&nd.join("share.json"), shares[(h - 1) as usize].to_json().unwrap().as_bytes());
            write(&nd.join("share-service.toml"), share_service_toml(h, "127.0.0.1:0"));
            let running = start_share(&nd).await;
            let addr = running.addr;
            // Pin the port for restarts.
            write(&nd.join("share-service.toml"), share_service_toml(h, &addr.to_string()));
            nodes.push(ShareNode { holder: h, dir: nd, running: Some(running), addr });
        }
        let mut d = Self { dir, ca, key_set, shares, nodes, proxy: None, opts };
        d.write_proxy_config();
        d.start_proxy().await;
        d
    }

    pub fn write_proxy_config(&self) {
        let pd = self.dir.join("proxy");
        let mut partners = String::new();
        for n in &self.nodes {
            partners.push_str(&format!(
                "[[partners]]\nid = \"share-{}\"\nholder = {}\naddress = \"{}\"\nserver_name = \"localhost\"\n",
                n.holder, n.holder, n.addr
            ));
        }
        let front = if self.opts.tls_front {
            let server = self.ca.issue_server("xks.example.test", &["localhost", "127.0.0.1"], Validity::days(2)).unwrap();
            write(&pd.join("front.crt"), &server.cert_pem);
            write(&pd.join("front.key"), server.key_pem.as_bytes());
            "[front]\nmode = \"tls\"\ncert = \"front.crt\"\nkey = \"front.key\"\n".to_owned()
        } else {
            "[front]\nmode = \"plain\"\n".to_owned()
        };
        let toml = format!(
            r#"
listen = "127.0.0.1:0"
key_stores = "key-stores.toml"
metrics_listen = "127.0.0.1:0"
{front}
[shares]
key_sets = ["keyset.json"]
share_files = ["share.json"]
holder = 1
[partner_tls]
ca = "../ca.crt"
client_cert = "client.crt"
client_key = "client.key"
[health]
interval_seconds = 1
{partners}
{}
"#,
            self.opts.proxy_extra
        );
        write(&pd.join("xks-proxy.toml"), toml);
        write(&pd.join("credentials.toml"), format!("[[credential]]\naccess_key_id = \"{AKID}\"\nsecret_access_key = \"{SECRET}\"\n"));
        self.write_key_stores(&self.opts.store_extra, &self.opts.keys_extra);
    }

    pub fn write_key_stores(&self, store_extra: &str, keys_extra: &str) {
        let stores = format!(
            r#"
[[key_store]]
name = "ks1"
path_prefix = "{PREFIX}"
credentials_file = "credentials.toml"
{store_extra}
[[key_store.key]]
id = "{KEY}"
key_path = "tenant-a/key-1"
[[key_store.key]]
id = "disabled-key"
key_path = "tenant-a/disabled"
status = "DISABLED"
[[key_store.key]]
id = "encrypt-only"
key_path = "tenant-a/encrypt-only"
usage = ["ENCRYPT"]
[[key_store.key]]
id = "decrypt-only"
key_path = "tenant-a/encrypt-only"
usage = ["DECRYPT"]
[[key_store.key]]
id = "impotent"
key_path = "tenant-a/impotent"
usage = []
{keys_extra}

[[key_store]]
name = "root"
path_prefix = ""
credentials_file = "credentials-root.toml"
[[key_store.key]]
id = "{KEY}"
key_path = "tenant-root/key-1"
"#
        );
        let pd = self.dir.join("proxy");
        write(&pd.join("key-stores.toml"), stores);
        write(
            &pd.join("credentials-root.toml"),
            format!("[[credential]]\naccess_key_id = \"ROOTKEYID22222222222222\"\nsecret_access_key = \"{SECRET2}\"\n"),
        );
    }

    pub async fn start_proxy(&mut self) {
        if let Some(p) = self.proxy.take() {
            p.shutdown().await;
        }
        let cfg = xks_proxy::Config::load(&self.dir.join("proxy/xks-proxy.toml")).unwrap();
        self.proxy = Some(xks_proxy::start(cfg, &xks_proxy::BuildInfo::current("xks-proxy")).await.unwrap());
    }

    pub fn proxy(&self) -> &xks_proxy::Running {
        self.proxy.as_ref().unwrap()
    }

    pub fn node(&mut self, holder: u32) -> &mut ShareNode {
        self.nodes.iter_mut().find(|n| n.holder == holder).unwrap()
    }

    pub async fn stop_share(&mut self, holder: u32) {
        if let Some(r) = self.node(holder).running.take() {
            r.shutdown().await;
        }
    }

    pub async fn start_share(&mut self, holder: u32) {
        let dir = self.node(holder).dir.clone();
        let r = start_share(&dir).await;
        self.node(holder).running = Some(r);
    }

    pub async fn admin(&mut self, holder: u32, cmd: &str) -> serde_json::Value {
        let sock = self.node(holder).running.as_ref().unwrap().admin_socket.clone();
        admin(&sock, cmd).await
    }

    pub fn client(&self) -> XksClient {
        let c = client(self.proxy().addr, AKID, SECRET);
        if self.opts.tls_front { c.tls(self.ca.certificate().cert_pem.as_bytes(), "localhost") } else { c }
    }
}

pub async fn start_share(dir: &Path) -> share_service::Running {
    let cfg = share_service::Config::load(&dir.join("share-service.toml")).unwrap();
    share_service::start(cfg, &share_service::BuildInfo::current("share-service")).await.unwrap()
}

pub use xks_testkit::admin;

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
