//! What a KMS external key store needs to reach the proxy, in the two JSON
//! files xksctl writes:
//!
//! - [`ProxyConfigurationFile`]: the "proxy configuration file" the KMS console
//!   accepts when creating an external key store (`XksProxyUriPath` and the
//!   SigV4 credential);
//! - [`LocalKmsConfig`]: `kms-config.json` of the local cluster (`xksctl up`),
//!   which scripts, `curl --aws-sigv4` and `xksctl bench` read to call the proxy
//!   the way KMS would.
//!
//! Both hold the SigV4 secret: written with mode 0600, never logged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xks_wire::xks::{AccessKeyId, SecretAccessKey};
use zeroize::Zeroizing;

/// The KMS console's proxy configuration file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProxyConfigurationFile {
    /// `XksProxyUriPath`: `[/<prefix>]/kms/xks/v1`.
    pub xks_proxy_uri_path: String,
    /// `XksProxyAuthenticationCredential`.
    pub xks_proxy_authentication_credential: AuthenticationCredential,
}

/// `XksProxyAuthenticationCredential` of the KMS API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AuthenticationCredential {
    /// `AccessKeyId`.
    pub access_key_id: AccessKeyId,
    /// `RawSecretAccessKey`.
    pub raw_secret_access_key: SecretAccessKey,
}

/// One external key of the local cluster other than the general ones.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtherKey {
    /// externalKeyId.
    pub id: String,
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    /// `ENCRYPT`, `DECRYPT`, both or none.
    pub usage: Vec<String>,
}

/// One share service of the local cluster.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPartner {
    /// Its name (`share-<holder>`).
    pub id: String,
    /// Its holder id.
    pub holder: u32,
    /// `host:port`.
    pub address: String,
}

/// `kms-config.json`: how to call the running proxy as KMS would.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalKmsConfig {
    /// `https://host:port` (or `http://`) of the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// XksProxyUriPath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_path: Option<String>,
    /// SigV4 access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// SigV4 secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Zeroizing<String>>,
    /// The CA that issued the proxy's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<PathBuf>,
    /// With mutual TLS to KMS: the client certificate to present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PathBuf>,
    /// Its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// externalKeyIds of the enabled keys for Encrypt and Decrypt (what
    /// scripts and `xksctl bench` drive).
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// The other keys of the key store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_keys: Vec<OtherKey>,
    /// The share services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<LocalPartner>,
}

impl LocalKmsConfig {
    /// Reads a file; relative paths in it are taken against its directory.
    ///
    /// # Errors
    /// A message naming the file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
        let mut cfg: Self = serde_json::from_str(&text).map_err(|e| format!("{} is not a valid kms-config.json: {e}", path.display()))?;
        if let Some(dir) = path.parent() {
            for p in [cfg.ca_certificate.as_mut(), cfg.client_certificate.as_mut(), cfg.client_key.as_mut()].into_iter().flatten() {
                crate::resolve(dir, p);
            }
        }
        Ok(cfg)
    }
}

/// Pretty JSON with a final newline, zeroized on drop (these files hold a secret).
pub fn to_json<T: Serialize>(value: &T) -> Zeroizing<String> {
    let mut s = Zeroizing::new(serde_json::to_string_pretty(value).unwrap_or_default());
    s.push('\n');
    s
}
