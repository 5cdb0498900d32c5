//! A complete deployment in one state directory: what `xksctl up` runs locally
//! and what the container tests mount into the service images.
//!
//! The state is made once, all or nothing, by the same code as the operator
//! commands (`ceremony dealer`, `pki`, `credentials`), so every secret in it is
//! sealed to the holder that uses it:
//!
//! ```text
//! <state>/
//!   identities/holder-{1,2,3}.agekey, pki-operator.agekey   age identities (0600; local only:
//!                                                            in production each stays with its holder)
//!   keys/keyset-g1-e0.json, share-{1,2,3}-g1-e0.sops.json    2-of-3 dealer ceremony, shares sealed
//!   pki/ca.crt, ca.key.sops                                  the deployment's CA
//!   share-{2,3}/tls/server.crt, server.key.sops              share services (mTLS server)
//!   share-{2,3}/checkpoint.key.sops, keys/checkpoint-{2,3}.pub   audit checkpoint signing keys (sealed)
//!                                                            and their public keys (the proxy's witness)
//!   share-{2,3}/share-service.toml, audit/, controls.json    written per run / kept by the service
//!   proxy/tls/front.crt, front.key.sops                      the proxy's HTTPS listener
//!   proxy/tls/client.crt, client.key.sops                    the proxy's mTLS client certificate
//!   proxy/credentials.sops, key-stores.toml                  SigV4 credentials (sealed), external keys
//!   proxy/xks-proxy.toml                                     written per run
//!   proxy/witness/                                           the partners' checkpoints the proxy keeps
//!   kms-config.json                                          written when the system is ready (0600)
//!   kms-client/client.crt, client.key                        with `up --kms-mtls` only: a stand-in for
//!                                                            KMS's own client certificate (key 0600, not
//!                                                            sealed: it belongs to no holder)
//! ```
//!
//! Service configurations are rewritten on every run (they name ports and
//! addresses); the key material, certificates, credentials and key stores are
//! kept, so earlier ciphertext keeps decrypting.

use std::path::{Path, PathBuf};

use xks_config::key_stores::{self, KeyStatus, KeyStoresFile, Usage};
use xks_config::kms::{self, LocalKmsConfig, LocalPartner, OtherKey};
use xks_config::{SecretsConfig, SharesConfig, proxy, share};
use xks_pki::{Ca, Validity};
use xks_sops::{Identities, Recipient};
use xks_wire::xks::{Credential, ExternalKeyId, SecretAccessKey};
use zeroize::Zeroizing;

use crate::sealing::HolderRecipient;
use crate::{ceremony, credentials, files, pki};

/// Key store path prefix: KMS's XksProxyUriPath is `<PREFIX>/kms/xks/v1`.
pub const PREFIX: &str = "/keystores/local";
/// One external key of the local key store.
#[derive(Debug)]
pub struct DemoKey {
    /// externalKeyId (and the last part of its key path).
    pub id: &'static str,
    /// Its status in the key-store file.
    pub status: KeyStatus,
    /// The operations it allows.
    pub usage: &'static [Usage],
}

impl DemoKey {
    /// Enabled for both Encrypt and Decrypt (the others exist to show the
    /// spec's InvalidStateException and InvalidKeyUsageException).
    #[must_use]
    pub fn is_general(&self) -> bool {
        self.status == KeyStatus::Enabled && self.usage.contains(&Usage::Encrypt) && self.usage.contains(&Usage::Decrypt)
    }

    /// Its entry in the key-store file (key path `local/<id>`).
    fn config(&self) -> Result<key_stores::KeyConfig, String> {
        Ok(key_stores::KeyConfig {
            id: ExternalKeyId::new(self.id).map_err(|e| e.to_string())?,
            key_path: format!("local/{}", self.id),
            status: self.status,
            usage: self.usage.to_vec(),
        })
    }

    /// Its entry in `kms-config.json`.
    fn other_key(&self) -> OtherKey {
        OtherKey {
            id: self.id.to_owned(),
            status: self.status.as_str().to_owned(),
            usage: self.usage.iter().map(|u| u.as_str().to_owned()).collect(),
        }
    }
}

/// The external keys of the local key store.
pub const KEYS: &[DemoKey] = &[
    DemoKey { id: "demo-key-1", status: KeyStatus::Enabled, usage: &[Usage::Encrypt, Usage::Decrypt] },
    DemoKey { id: "demo-key-2", status: KeyStatus::Enabled, usage: &[Usage::Encrypt, Usage::Decrypt] },
    DemoKey { id: "demo-decrypt-only", status: KeyStatus::Enabled, usage: &[Usage::Decrypt] },
    DemoKey { id: "demo-disabled", status: KeyStatus::Disabled, usage: &[Usage::Encrypt, Usage::Decrypt] },
    // AWS's conformance client exercises an encrypt-only key and a key with no usage.
    DemoKey { id: "demo-encrypt-only", status: KeyStatus::Enabled, usage: &[Usage::Encrypt] },
    DemoKey { id: "demo-no-usage", status: KeyStatus::Enabled, usage: &[] },
];
/// Share service holders (holder 1 is the proxy).
pub const PARTNERS: [u32; 2] = [2, 3];
/// Host names of the services on a container network (also in every certificate).
pub const PROXY_HOST: &str = "xks-proxy";
/// Validity of the local certificates.
const CERT_DAYS: i64 = 825;
/// Subject common name of the KMS stand-in client certificate (KMS presents
/// `cks.kms.<region>.amazonaws.com`; `xksctl up` signs for us-east-1).
pub const KMS_CLIENT_CN: &str = "cks.kms.us-east-1.amazonaws.com";

/// Host name of share service `holder` on a container network.
#[must_use]
pub fn share_host(holder: u32) -> String {
    format!("share-{holder}")
}

/// Where the services run, which decides their listen and partner addresses.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Network {
    /// All on 127.0.0.1 (`xksctl up` serving in this process).
    Loopback,
    /// One container each on a Docker network: listen on 0.0.0.0, partners
    /// by container name (`share-2`, `share-3`), state mounted at the same place in all.
    Containers,
}

/// The state directory of one deployment.
pub struct State {
    dir: PathBuf,
}

impl State {
    /// Opens `dir`, making the whole deployment first if it does not exist.
    /// Returns the state and whether it was made now.
    ///
    /// # Errors
    /// The directory exists but is not a complete state, or making it failed
    /// (then nothing is left behind).
    pub fn open_or_create(dir: &Path) -> Result<(Self, bool), String> {
        let state = Self { dir: dir.to_path_buf() };
        if dir.exists() {
            state.check()?;
            return Ok((state, false));
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
        let tmp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let made = create(&tmp).and_then(|()| std::fs::rename(&tmp, dir).map_err(|e| format!("cannot create {}: {e}", dir.display())));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Ok((state, true))
    }

    fn check(&self) -> Result<(), String> {
        let needed = [self.key_set(), self.ca_cert(), self.proxy_dir().join("credentials.sops"), self.identity(1)];
        match needed.iter().find(|p| !p.is_file()) {
            None => Ok(()),
            Some(missing) => Err(format!(
                "{} exists but is not an xksctl state directory ({} is missing); choose another --state-dir or remove it",
                self.dir.display(),
                missing.display()
            )),
        }
    }

    /// The state directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Age identity file of a holder.
    #[must_use]
    pub fn identity(&self, holder: u32) -> PathBuf {
        self.dir.join("identities").join(format!("holder-{holder}.agekey"))
    }

    /// The public key set.
    #[must_use]
    pub fn key_set(&self) -> PathBuf {
        self.dir.join("keys").join("keyset-g1-e0.json")
    }

    /// The CA certificate every service and client trusts.
    #[must_use]
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("pki").join("ca.crt")
    }

    /// Directory of share service `holder`.
    #[must_use]
    pub fn share_dir(&self, holder: u32) -> PathBuf {
        self.dir.join(share_host(holder))
    }

    /// Configuration file of share service `holder`.
    #[must_use]
    pub fn share_config(&self, holder: u32) -> PathBuf {
        self.share_dir(holder).join("share-service.toml")
    }

    /// Directory of the proxy.
    #[must_use]
    pub fn proxy_dir(&self) -> PathBuf {
        self.dir.join("proxy")
    }

    /// Configuration file of the proxy.
    #[must_use]
    pub fn proxy_config(&self) -> PathBuf {
        self.proxy_dir().join("xks-proxy.toml")
    }

    /// The KMS stand-in client certificate and key (`up --kms-mtls`).
    #[must_use]
    pub fn kms_client(&self) -> (PathBuf, PathBuf) {
        let d = self.dir.join("kms-client");
        (d.join("client.crt"), d.join("client.key"))
    }

    /// Issues the KMS stand-in client certificate from the state's CA (once;
    /// later runs reuse it). Its key is plain (0600): curl and the load tester
    /// read it, as KMS holds its own.
    ///
    /// # Errors
    /// The CA cannot be opened or the files written.
    pub fn ensure_kms_client(&self) -> Result<(PathBuf, PathBuf), String> {
        let (cert, key) = self.kms_client();
        if cert.is_file() && key.is_file() {
            return Ok((cert, key));
        }
        let ids =
            Identities::parse(&files::read_text(&self.dir.join("identities").join("pki-operator.agekey"))?).map_err(|e| e.to_string())?;
        let ca_key = self.dir.join("pki").join("ca.key.sops");
        let ca_key = xks_sops::read_file(&ca_key, Some(&ids)).map_err(|e| format!("{}: {e}", ca_key.display()))?;
        let ca = Ca::from_pem(&files::read_text(&self.ca_cert())?, &ca_key).map_err(|e| e.to_string())?;
        let issued = ca.issue_client(KMS_CLIENT_CN, &[KMS_CLIENT_CN], Validity::days(CERT_DAYS)).map_err(|e| e.to_string())?;
        let dir = self.dir.join("kms-client");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        crate::sealing::create_all(&[(key.clone(), issued.key_pem.to_string()), (cert.clone(), issued.cert_pem.clone())])?;
        Ok((cert, key))
    }

    /// The file scripts read to drive the running system.
    #[must_use]
    pub fn kms_config(&self) -> PathBuf {
        self.dir.join("kms-config.json")
    }

    /// The key store's current SigV4 credential, opened with the proxy's identity.
    ///
    /// # Errors
    /// Unreadable or unsealable credentials file.
    pub fn credential(&self) -> Result<Credential, String> {
        let path = self.proxy_dir().join("credentials.sops");
        let ids = Identities::parse(&files::read_text(&self.identity(1))?).map_err(|e| e.to_string())?;
        let text = xks_sops::read_file(&path, Some(&ids)).map_err(|e| format!("{}: {e}", path.display()))?;
        let creds = xks_wire::xks::credentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        creds.into_iter().last().ok_or_else(|| format!("{} holds no credential", path.display()))
    }

    /// Share service `holder`'s checkpoint verifying key, relative to the
    /// proxy's directory (none in a state made before checkpoints were signed).
    fn checkpoint_public_key(&self, holder: u32) -> Option<PathBuf> {
        let name = share::checkpoint_public_key_file(holder);
        self.dir.join("keys").join(&name).exists().then(|| Path::new("../keys").join(name))
    }

    /// Writes share service `holder`'s configuration listening on `listen`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_share_config(&self, holder: u32, listen: &str) -> Result<PathBuf, String> {
        // States made before checkpoints were signed have no key: their audit stays unsigned.
        let checkpoint_key =
            self.share_dir(holder).join(share::SEALED_CHECKPOINT_KEY_FILE).exists().then(|| share::SEALED_CHECKPOINT_KEY_FILE.into());
        let cfg = share::Config {
            secrets: SecretsConfig { age_identity_file: Some(format!("../identities/holder-{holder}.agekey").into()) },
            ..share::Config::new(
                socket_addr(listen)?,
                // Only the proxy's client certificate is served.
                share::TlsConfig::pinned(
                    "tls/server.crt".into(),
                    "tls/server.key.sops".into(),
                    "../pki/ca.crt".into(),
                    vec![format!("dns:{PROXY_HOST}")],
                ),
                SharesConfig {
                    key_sets: vec!["../keys/keyset-g1-e0.json".into()],
                    share_files: vec![format!("../keys/share-{holder}-g1-e0.sops.json").into()],
                    holder: Some(holder),
                },
                share::AuditConfig { checkpoint_key, ..share::AuditConfig::in_dir("audit".into()) },
                share::AdminConfig { socket: "admin.sock".into(), state_file: "controls.json".into() },
            )
        };
        let text = xks_config::render(
            &format!("share service {holder}, written by `xksctl up` on every run (edit the state, not this file)."),
            &cfg,
        )?;
        let path = self.share_config(holder);
        files::replace(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Writes the proxy's configuration: listening on `listen`, partners as
    /// (holder, address, TLS server name) in order of preference.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_proxy_config(&self, listen: &str, partners: &[(u32, String, String)], kms_mtls: bool) -> Result<PathBuf, String> {
        let mut front = proxy::FrontConfig::tls("tls/front.crt".into(), "tls/front.key.sops".into());
        if kms_mtls {
            // Mutual TLS with KMS: the stand-in client certificate of kms-client/.
            front.client_ca = Some("../pki/ca.crt".into());
            front.client_subjects = vec![KMS_CLIENT_CN.into()];
        }
        let shares = SharesConfig {
            key_sets: vec!["../keys/keyset-g1-e0.json".into()],
            share_files: vec!["../keys/share-1-g1-e0.sops.json".into()],
            holder: Some(1),
        };
        let partner_tls = proxy::PartnerTlsConfig {
            ca: "../pki/ca.crt".into(),
            client_cert: "tls/client.crt".into(),
            client_key: "tls/client.key.sops".into(),
        };
        let partners = partners
            .iter()
            .map(|(holder, address, server_name)| proxy::PartnerConfig {
                id: share_host(*holder),
                holder: *holder,
                address: address.clone(),
                server_name: Some(server_name.clone()),
                model: None,
                checkpoint_key: self.checkpoint_public_key(*holder),
            })
            .collect();
        let mut cfg = proxy::Config::new(socket_addr(listen)?, front, shares, partner_tls, partners);
        cfg.witness.dir = Some("witness".into());
        // Deep health every 5 s (GetHealthStatus answers from the last check).
        cfg.health.interval_seconds = 5;
        cfg.secrets = SecretsConfig { age_identity_file: Some("../identities/holder-1.agekey".into()) };
        let text = xks_config::render("XKS proxy (holder 1), written by `xksctl up` on every run (edit the state, not this file).", &cfg)?;
        let path = self.proxy_config();
        files::replace(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Writes every service configuration for `network` with the given ports
    /// (containers: each service on its own host, named `<name_prefix>share-N`).
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn write_configs(
        &self,
        network: Network,
        name_prefix: &str,
        proxy_port: u16,
        share_ports: [u16; 2],
        kms_mtls: bool,
    ) -> Result<(), String> {
        let bind = if network == Network::Loopback { "127.0.0.1" } else { "0.0.0.0" };
        let mut partners = Vec::new();
        for (holder, port) in PARTNERS.iter().zip(share_ports) {
            self.write_share_config(*holder, &format!("{bind}:{port}"))?;
            partners.push(match network {
                Network::Loopback => (*holder, format!("127.0.0.1:{port}"), "localhost".to_owned()),
                Network::Containers => (*holder, format!("{name_prefix}{}:{port}", share_host(*holder)), share_host(*holder)),
            });
        }
        self.write_proxy_config(&format!("{bind}:{proxy_port}"), &partners, kms_mtls)?;
        Ok(())
    }

    /// Writes `kms-config.json` (0600: it holds the SigV4 secret) for a proxy at `endpoint`.
    ///
    /// # Errors
    /// The credential cannot be opened or the file written.
    pub fn write_kms_config(&self, endpoint: &str, partners: &[(u32, String)], kms_mtls: bool) -> Result<KmsConfig, String> {
        let Credential { access_key_id, secret_access_key: secret } = self.credential()?;
        let (cert, key) = self.kms_client();
        let client = kms_mtls.then(|| (absolute(&cert), absolute(&key)));
        let config = KmsConfig {
            endpoint: endpoint.to_owned(),
            uri_path: format!("{PREFIX}/kms/xks/v1"),
            access_key_id: access_key_id.to_string(),
            secret,
            ca_certificate: absolute(&self.ca_cert()),
            key_ids: KEYS.iter().filter(|k| k.is_general()).map(|k| k.id.to_owned()).collect(),
            other_keys: KEYS.iter().filter(|k| !k.is_general()).collect(),
            partners: partners.to_vec(),
            client,
        };
        files::replace(&self.kms_config(), config.to_json().as_bytes())?;
        Ok(config)
    }
}

/// Creates `dir` and writes new files in it, all or nothing.
fn put(dir: &Path, outputs: &[(PathBuf, String)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    crate::sealing::create_all(outputs)
}

/// A listen address from its text.
fn socket_addr(listen: &str) -> Result<std::net::SocketAddr, String> {
    listen.parse().map_err(|e| format!("listen address {listen:?}: {e}"))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What a KMS external key store (or a script) needs to call the running proxy.
pub struct KmsConfig {
    /// `https://host:port` of the proxy.
    pub endpoint: String,
    /// XksProxyUriPath.
    pub uri_path: String,
    /// SigV4 access key id.
    pub access_key_id: String,
    /// SigV4 secret (XksProxyAuthenticationCredential.RawSecretAccessKey).
    pub secret: SecretAccessKey,
    /// The CA that issued the proxy's TLS certificate.
    pub ca_certificate: PathBuf,
    /// externalKeyIds of the enabled keys for Encrypt and Decrypt (what scripts
    /// and `xksctl bench` drive).
    pub key_ids: Vec<String>,
    /// The other keys of the key store.
    pub other_keys: Vec<&'static DemoKey>,
    /// The share services: (holder, address).
    pub partners: Vec<(u32, String)>,
    /// With mutual TLS to KMS: the client certificate and key to present.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl KmsConfig {
    /// The JSON form (`kms-config.json`).
    #[must_use]
    pub fn to_json(&self) -> Zeroizing<String> {
        kms::to_json(&LocalKmsConfig {
            endpoint: Some(self.endpoint.clone()),
            uri_path: Some(self.uri_path.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(Zeroizing::new(self.secret.expose().to_owned())),
            ca_certificate: Some(self.ca_certificate.clone()),
            client_certificate: self.client.as_ref().map(|(cert, _)| cert.clone()),
            client_key: self.client.as_ref().map(|(_, key)| key.clone()),
            key_ids: self.key_ids.clone(),
            other_keys: self.other_keys.iter().map(|k| k.other_key()).collect(),
            partners: self.partners.iter().map(|(h, a)| LocalPartner { id: share_host(*h), holder: *h, address: a.clone() }).collect(),
        })
    }
}

/// Makes a whole deployment in `dir` (which must not exist yet).
fn create(dir: &Path) -> Result<(), String> {
    // One age identity per holder, and one for the CA operator.
    let mut recipients = Vec::new();
    let mut identities = Vec::new();
    for name in ["holder-1", "holder-2", "holder-3", "pki-operator"] {
        let (ids, text) = Identities::generate();
        identities.push((dir.join("identities").join(format!("{name}.agekey")), text.to_string()));
        recipients.push(ids.recipients().into_iter().next().ok_or("no recipient generated")?);
    }
    put(&dir.join("identities"), &identities)?;
    let to = |i: usize| -> Result<Vec<Recipient>, String> {
        recipients.get(i).cloned().map(|r| vec![r]).ok_or_else(|| "no recipient".to_owned())
    };

    // 2-of-3 dealer ceremony, each share sealed to its holder.
    let holders = (0..3u32)
        .map(|i| -> Result<HolderRecipient, String> {
            let recipient = to(i as usize)?.into_iter().next().ok_or("no recipient")?;
            Ok(HolderRecipient { holder: xks_threshold::HolderId::new(i + 1).map_err(|e| e.to_string())?, recipient })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let keys = dir.join("keys");
    let dealt = ceremony::deal(2, &holders, 1, &keys)?;
    put(&keys, &dealt.outputs)?;

    // PKI: the CA, a server certificate per share service, the proxy's server and client certificates.
    let ca = Ca::new("split-key XKS local CA", Validity::days(CERT_DAYS)).map_err(|e| e.to_string())?;
    put(
        &dir.join("pki"),
        &[
            (dir.join("pki").join("ca.crt"), ca.certificate().cert_pem.clone()),
            (dir.join("pki").join("ca.key.sops"), pki::seal_key(ca.certificate(), &to(3)?)?),
        ],
    )?;
    let issue = |server: bool, name: &str, host: &str, holder: usize, out: &Path, stem: &str| -> Result<(), String> {
        let sans = ["localhost", "127.0.0.1", "::1", host];
        let cert = if server {
            ca.issue_server(name, &sans, Validity::days(CERT_DAYS))
        } else {
            ca.issue_client(name, &[host], Validity::days(CERT_DAYS))
        }
        .map_err(|e| e.to_string())?;
        put(
            out,
            &[
                (out.join(format!("{stem}.crt")), cert.cert_pem.clone()),
                (out.join(format!("{stem}.key.sops")), pki::seal_key(&cert, &to(holder)?)?),
            ],
        )
    };
    for holder in PARTNERS {
        let host = share_host(holder);
        issue(true, &host, &host, holder as usize - 1, &dir.join(&host).join("tls"), "server")?;
        // The audit checkpoint signing key, sealed to the holder; its public key beside the key set.
        let (private, public) = xks_audit::CheckpointSigner::generate().map_err(|e| e.to_string())?;
        let sealed = xks_sops::seal(&private, xks_sops::Format::Binary, &to(holder as usize - 1)?, &xks_sops::SealOptions::default())
            .map_err(|e| e.to_string())?;
        put(&dir.join(&host), &[(dir.join(&host).join(share::SEALED_CHECKPOINT_KEY_FILE), sealed)])?;
        put(&keys, &[(keys.join(share::checkpoint_public_key_file(holder)), public.to_pem())])?;
    }
    let proxy = dir.join("proxy");
    issue(true, PROXY_HOST, PROXY_HOST, 0, &proxy.join("tls"), "front")?;
    issue(false, PROXY_HOST, PROXY_HOST, 0, &proxy.join("tls"), "client")?;

    // The key store: a SigV4 credential sealed to the proxy, and the external keys.
    let creds = credentials::render(&[credentials::generate()?], &to(0)?)?;
    let stores = KeyStoresFile {
        key_store: vec![key_stores::KeyStoreConfig {
            key: KEYS.iter().map(DemoKey::config).collect::<Result<_, _>>()?,
            ..key_stores::KeyStoreConfig::new("local", PREFIX, "credentials.sops").map_err(|e| e.to_string())?
        }],
    };
    let stores = xks_config::render("The local key store (reloaded on SIGHUP). A key path IS a key: never change or reuse one.", &stores)?;
    put(&proxy, &[(proxy.join("credentials.sops"), creds.to_string()), (proxy.join("key-stores.toml"), stores)])?;
    Ok(())
}
