//! A test deployment on disk: one CA, one dealt 2-of-3 key set, and each
//! service's files and typed configuration (xks-config), written as the
//! services read them. Every suite and load example that needs a deployment
//! builds it here, so a renamed configuration field breaks them at compile
//! time, not at run time.
//!
//! ```text
//! <dir>/ca.crt  checkpoint-2.pub checkpoint-3.pub (the share services' checkpoint keys)
//! <dir>/share-<h>/  server.crt server.key checkpoint.key keyset.json share.json share-service.toml
//!                   audit/ admin.sock controls.json
//! <dir>/proxy/      client.crt client.key keyset.json share.json [front.crt front.key]
//!                   xks-proxy.toml key-stores.toml <credentials files>
//! ```
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use serde::Serialize;
use xks_audit::{CheckpointKey, CheckpointSigner};
use xks_config::key_stores::{KeyConfig, KeyStatus, KeyStoresFile, Usage};
use xks_config::share::checkpoint_public_key_file;
use xks_config::{SharesConfig, proxy, share};
use xks_pki::{Ca, CertifiedKey, Validity};
use xks_threshold::{KeySet, Share, dealer};
use xks_wire::xks::credentials::{self, Credential};
use xks_wire::xks::{AccessKeyId, ExternalKeyId, SecretAccessKey};

/// The proxy's client certificate names: a DNS name and a SPIFFE URI.
pub const PROXY_CLIENT_NAMES: [&str; 2] = ["xks-proxy", "spiffe://xks/proxy"];

/// The client identity share services serve by default (the proxy's URI name).
pub const PROXY_IDENTITY: &str = "uri:spiffe://xks/proxy";

/// The proxy's front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// Plain HTTP (behind a TLS-terminating platform).
    Plain,
    /// TLS with a certificate for `localhost` and 127.0.0.1 from the layout's CA.
    Tls,
}

/// The deployment's shared material and where its files go.
pub struct Layout {
    /// The deployment's directory.
    pub dir: PathBuf,
    /// The CA every certificate is issued by.
    pub ca: Ca,
    /// The dealt key set (generation 1).
    pub key_set: KeySet,
    /// Shares 1 (the proxy's), 2 and 3.
    pub shares: Vec<Share>,
    /// The proxy's client certificate towards the share services.
    pub proxy_client: CertifiedKey,
}

impl Layout {
    /// A fresh directory named after `name`, a CA, a 2-of-3 key set dealt from
    /// `seed` (the same seed, the same keys), the proxy's client certificate;
    /// writes `ca.crt`.
    ///
    /// # Panics
    /// When a certificate, the key set or a file cannot be made.
    pub fn new(name: &str, seed: u64) -> Self {
        let (key_set, shares) = dealer::generate(2, 3, 1, &mut ChaCha20Rng::seed_from_u64(seed)).expect("a key set");
        Self::with_key_set(name, key_set, shares)
    }

    /// As [`Layout::new`], with a given 2-of-3 key set and its three shares
    /// (those of a known-answer vector file, say).
    ///
    /// # Panics
    /// When a certificate or a file cannot be made.
    pub fn with_key_set(name: &str, key_set: KeySet, shares: Vec<Share>) -> Self {
        let dir = crate::tempdir(name);
        let ca = Ca::new("test CA", Validity::days(2)).expect("a CA");
        let proxy_client = ca.issue_client("xks-proxy", &PROXY_CLIENT_NAMES, Validity::days(2)).expect("a client certificate");
        write(&dir.join("ca.crt"), &ca.certificate().cert_pem);
        // Each share service's checkpoint signing key, once: restarts keep it,
        // as a deployment's sealed key file does.
        for holder in SHARE_HOLDERS {
            let (private, public) = CheckpointSigner::generate().expect("a checkpoint key");
            write(&dir.join(format!("share-{holder}")).join("checkpoint.key"), private.as_bytes());
            write(&dir.join(checkpoint_public_key_file(holder)), public.to_pem().as_bytes());
        }
        Self { dir, ca, key_set, shares, proxy_client }
    }

    /// Share service `holder`'s checkpoint verifying key.
    ///
    /// # Panics
    /// For a holder other than 2 or 3.
    pub fn checkpoint_key(&self, holder: u32) -> CheckpointKey {
        CheckpointKey::read(&self.dir.join(checkpoint_public_key_file(holder))).expect("holder 2 or 3")
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca.certificate().cert_pem
    }

    /// Share service `holder`'s directory.
    pub fn share_dir(&self, holder: u32) -> PathBuf {
        self.dir.join(format!("share-{holder}"))
    }

    /// The proxy's directory.
    pub fn proxy_dir(&self) -> PathBuf {
        self.dir.join("proxy")
    }

    /// Share `holder` (1, 2 or 3).
    ///
    /// # Panics
    /// For another holder.
    pub fn share(&self, holder: u32) -> &Share {
        self.shares.get(holder.wrapping_sub(1) as usize).expect("holder 1, 2 or 3")
    }

    /// Writes share service `holder`'s files (a server certificate for
    /// `localhost` and 127.0.0.1, the key set, its share) and returns its
    /// configuration: listening on `listen`, serving [`PROXY_IDENTITY`] only,
    /// its audit log and admin socket in its directory, everything else at
    /// the defaults.
    ///
    /// # Panics
    /// When a certificate or file cannot be made.
    pub fn share_service(&self, holder: u32, listen: SocketAddr) -> share::Config {
        let dir = self.share_dir(holder);
        let server =
            self.ca.issue_server(&format!("share-{holder}"), &["localhost", "127.0.0.1"], Validity::days(2)).expect("a certificate");
        write(&dir.join("server.crt"), &server.cert_pem);
        write(&dir.join("server.key"), server.key_pem.as_bytes());
        let shares = self.write_holder_keys(&dir, holder);
        let audit = share::AuditConfig { checkpoint_key: Some("checkpoint.key".into()), ..share::AuditConfig::in_dir("audit".into()) };
        share::Config::new(
            listen,
            share::TlsConfig::pinned("server.crt".into(), "server.key".into(), "../ca.crt".into(), vec![PROXY_IDENTITY.to_owned()]),
            shares,
            audit,
            share::AdminConfig { socket: "admin.sock".into(), state_file: "controls.json".into() },
        )
    }

    /// Writes the proxy's files (its client certificate, the key set, share 1,
    /// and for a TLS front its certificate) and returns its configuration:
    /// listening on port 0, the key stores in `key-stores.toml`, one partner
    /// per `(holder, address)`, everything else at the defaults.
    ///
    /// # Panics
    /// When a certificate or file cannot be made.
    pub fn proxy(&self, front: Front, partners: &[(u32, SocketAddr)]) -> proxy::Config {
        let dir = self.proxy_dir();
        write(&dir.join("client.crt"), &self.proxy_client.cert_pem);
        write(&dir.join("client.key"), self.proxy_client.key_pem.as_bytes());
        let front = match front {
            Front::Plain => proxy::FrontConfig::plain(Vec::new()),
            Front::Tls => {
                let cert = self.ca.issue_server("xks.example.test", &["localhost", "127.0.0.1"], Validity::days(2)).expect("a certificate");
                write(&dir.join("front.crt"), &cert.cert_pem);
                write(&dir.join("front.key"), cert.key_pem.as_bytes());
                proxy::FrontConfig::tls("front.crt".into(), "front.key".into())
            }
        };
        let shares = self.write_holder_keys(&dir, 1);
        let partner_tls =
            proxy::PartnerTlsConfig { ca: "../ca.crt".into(), client_cert: "client.crt".into(), client_key: "client.key".into() };
        // Each partner's checkpoint key, which the layout made: the proxy witnesses them.
        let partners = partners
            .iter()
            .map(|&(holder, address)| proxy::PartnerConfig {
                checkpoint_key: Some(format!("../{}", checkpoint_public_key_file(holder)).into()),
                ..partner(holder, address)
            })
            .collect();
        let mut config = proxy::Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), front, shares, partner_tls, partners);
        config.witness.dir = Some("witness".into());
        config
    }

    /// Writes share service `holder`'s configuration file and returns its path.
    pub fn write_share_config(&self, holder: u32, config: &share::Config) -> PathBuf {
        let path = self.share_dir(holder).join("share-service.toml");
        write_config(&path, config);
        path
    }

    /// Writes the proxy's configuration file and returns its path.
    pub fn write_proxy_config(&self, config: &proxy::Config) -> PathBuf {
        let path = self.proxy_dir().join("xks-proxy.toml");
        write_config(&path, config);
        path
    }

    /// Writes the proxy's key-store file (`key-stores.toml`).
    pub fn write_key_stores(&self, stores: &KeyStoresFile) {
        write_config(&self.proxy_dir().join("key-stores.toml"), stores);
    }

    /// Writes a credentials file in the proxy's directory.
    pub fn write_credentials(&self, file: &str, credentials: &[Credential]) {
        write(&self.proxy_dir().join(file), credentials::render(credentials).as_bytes());
    }

    fn write_holder_keys(&self, dir: &Path, holder: u32) -> SharesConfig {
        write(&dir.join("keyset.json"), self.key_set.to_json().expect("a key set"));
        write(&dir.join("share.json"), self.share(holder).to_json().expect("a share").as_bytes());
        SharesConfig { key_sets: vec!["keyset.json".into()], share_files: vec!["share.json".into()], holder: Some(holder) }
    }
}

/// The holders that run a share service.
const SHARE_HOLDERS: [u32; 2] = [2, 3];

/// A share service set up for a load benchmark: no connection, concurrency
/// or rate bound in the way, and the anomaly rules run (their cost is
/// measured) but only alert, as the load goes beyond KMS's quota on purpose.
pub fn for_load(config: &mut share::Config) {
    (config.limits.max_connections, config.limits.max_in_flight, config.limits.max_requests_per_second) = (4096, 4096, 1_000_000);
    (config.anomaly.auto_lock, config.anomaly.baseline_auto_lock) = (false, false);
}

/// The partner entry of share service `holder` at `address` (`share-<h>`,
/// verified as `localhost`).
pub fn partner(holder: u32, address: SocketAddr) -> proxy::PartnerConfig {
    proxy::PartnerConfig {
        id: format!("share-{holder}"),
        holder,
        address: address.to_string(),
        server_name: Some("localhost".to_owned()),
        model: None,
        checkpoint_key: None,
    }
}

/// A SigV4 credential (any SigV4 secret, as the tests' fixed ones).
///
/// # Panics
/// On an access key id that breaks the spec's rule.
pub fn credential(access_key_id: &str, secret: &str) -> Credential {
    Credential {
        access_key_id: AccessKeyId::new(access_key_id).expect("an access key id"),
        secret_access_key: SecretAccessKey::any_sigv4(secret),
    }
}

/// An enabled key for Encrypt and Decrypt.
///
/// # Panics
/// On an id that breaks the spec's rule.
pub fn key(id: &str, key_path: &str) -> KeyConfig {
    KeyConfig {
        id: ExternalKeyId::new(id).expect("an external key id"),
        key_path: key_path.to_owned(),
        status: KeyStatus::Enabled,
        usage: vec![Usage::Encrypt, Usage::Decrypt],
    }
}

/// A configuration as its service reads it.
fn render<T: Serialize>(config: &T) -> String {
    xks_config::render("written by the test kit", config).expect("a configuration renders")
}

/// Writes a configuration (a service's, a key-store file) as its service
/// reads it, for suites whose material is not a [`Layout`]'s (xksctl's,
/// made by the CLI).
///
/// # Panics
/// When the file cannot be written.
pub fn write_config<T: Serialize>(path: &Path, config: &T) {
    write(path, render(config));
}

fn write(path: &Path, data: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a directory");
    }
    std::fs::write(path, data).expect("a file written");
}
