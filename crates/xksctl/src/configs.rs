//! The service configuration files xksctl writes (`xksctl up` and `xksctl env
//! new`), as types: the subset of each service's configuration a deployment
//! sets, serialized as TOML. The shape's one home stays the service's own
//! `Config` (serde, `deny_unknown_fields`); the tests load every file written
//! here through it, so the two cannot drift apart unnoticed.

use serde::Serialize;

/// A share service's configuration (`share-service.toml`).
#[derive(Serialize)]
pub struct ShareService {
    /// Address the mTLS listener binds.
    pub listen: String,
    /// The server certificate, the sealed key, and who may connect.
    pub tls: ShareTls,
    /// The key set and the holder's sealed share.
    pub shares: Shares,
    /// Audit log directory.
    pub audit: Audit,
    /// Admin socket (kill switch) and the file that keeps the controls.
    pub admin: Admin,
    /// Where the age identity that opens the sealed files comes from.
    #[serde(skip_serializing_if = "Secrets::is_default")]
    pub secrets: Secrets,
}

/// `[tls]` of a share service.
#[derive(Serialize)]
pub struct ShareTls {
    /// Server certificate.
    pub cert: String,
    /// Its key, sealed.
    pub key: String,
    /// The CA that issued the proxy's client certificate.
    pub client_ca: String,
    /// Pinned client identities (`dns:<name>`).
    pub allowed_clients: Vec<String>,
}

/// `[shares]` of either service.
#[derive(Serialize)]
pub struct Shares {
    /// Public key sets.
    pub key_sets: Vec<String>,
    /// Sealed share files.
    pub share_files: Vec<String>,
    /// The holder these shares belong to.
    pub holder: u32,
}

/// `[audit]` of a share service.
#[derive(Serialize)]
pub struct Audit {
    /// Directory of the hash-chained log.
    pub dir: String,
}

/// `[admin]` of a share service.
#[derive(Serialize)]
pub struct Admin {
    /// Unix socket of the admin commands.
    pub socket: String,
    /// Where the lock and deny list persist.
    pub state_file: String,
}

/// `[secrets]` of either service.
#[derive(Serialize, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Age identity file; none: `SOPS_AGE_KEY` or `SOPS_AGE_KEY_FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_identity_file: Option<String>,
}

impl Secrets {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The XKS proxy's configuration (`xks-proxy.toml`).
#[derive(Serialize)]
pub struct Proxy {
    /// Address of the XKS API listener.
    pub listen: String,
    /// The key stores file (keys, credentials, policies).
    pub key_stores: String,
    /// TLS or plain HTTP in front.
    pub front: Front,
    /// The key set and holder 1's sealed share.
    pub shares: Shares,
    /// The CA of the share services and the proxy's client certificate.
    pub partner_tls: PartnerTls,
    /// Deep health.
    pub health: Health,
    /// Where the age identity comes from.
    #[serde(skip_serializing_if = "Secrets::is_default")]
    pub secrets: Secrets,
    /// Share services in order of preference.
    pub partners: Vec<Partner>,
}

/// `[front]` of the proxy.
#[derive(Serialize)]
pub struct Front {
    /// `tls` or `plain`.
    pub mode: &'static str,
    /// Server certificate (TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Its sealed key (TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// With mutual TLS to KMS: the CA of KMS's client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<String>,
    /// With mutual TLS to KMS: the subjects served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_subjects: Vec<String>,
    /// Host names served (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
}

/// `[partner_tls]` of the proxy.
#[derive(Serialize)]
pub struct PartnerTls {
    /// The CA of the share services' certificates.
    pub ca: String,
    /// The proxy's client certificate.
    pub client_cert: String,
    /// Its sealed key.
    pub client_key: String,
}

/// `[health]` of the proxy.
#[derive(Serialize)]
pub struct Health {
    /// Seconds between deep health checks.
    pub interval_seconds: u32,
}

/// One `[[partners]]` entry of the proxy.
#[derive(Serialize)]
pub struct Partner {
    /// Name in logs and health (`share-<holder>`).
    pub id: String,
    /// The partner's holder id.
    pub holder: u32,
    /// `host:port`.
    pub address: String,
    /// The name in its certificate.
    pub server_name: String,
}

/// The proxy's key stores file (`key-stores.toml`).
#[derive(Serialize)]
pub struct KeyStores {
    /// The key stores.
    pub key_store: Vec<KeyStore>,
}

/// One key store: a URI path prefix, its credentials and keys.
#[derive(Serialize)]
pub struct KeyStore {
    /// Name in logs and metrics.
    pub name: String,
    /// The prefix before `/kms/xks/v1`.
    pub path_prefix: String,
    /// The sealed SigV4 credentials file.
    pub credentials_file: String,
    /// The external keys.
    pub key: Vec<Key>,
}

/// One external key.
#[derive(Serialize)]
pub struct Key {
    /// externalKeyId.
    pub id: String,
    /// The key path the AES key is derived for: never change or reuse one.
    pub key_path: String,
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    /// `ENCRYPT`, `DECRYPT`.
    pub usage: Vec<String>,
}

/// Renders a configuration with a comment header.
///
/// # Errors
/// Serialization failures (none expected for these types).
pub fn render<T: Serialize>(header: &str, config: &T) -> Result<String, String> {
    let body = toml::to_string(config).map_err(|e| format!("cannot render a configuration: {e}"))?;
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}
