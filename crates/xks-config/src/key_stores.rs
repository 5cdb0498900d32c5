//! The proxy's key-stores file (`key-stores.toml`, re-read on SIGHUP): one
//! `[[key_store]]` per logical key store, each with its URI path prefix, its
//! credentials file, optional region list, quota and Cedar policy, and its
//! external keys. The proxy checks what spans entries (unique names,
//! prefixes and ids; the files named) when it loads them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use xks_wire::xks::{ExternalKeyId, PathPrefix};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStoresFile {
    /// The key stores.
    #[serde(default)]
    pub key_store: Vec<KeyStoreConfig>,
}

/// One logical key store.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStoreConfig {
    /// Name in logs and metrics.
    pub name: String,
    /// The prefix before `/kms/xks/v1` (normalised when read).
    pub path_prefix: PathPrefix,
    /// A disabled key store answers InvalidStateException to everything.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The (sealed) SigV4 credentials file, relative to this file.
    pub credentials_file: PathBuf,
    /// KMS regions whose signatures are accepted (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Quota in requests per second (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests_per_second: u32,
    /// Burst of the quota (at least the rate).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub burst: u32,
    /// Optional Cedar policy file (secondary authorization), relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_policy: Option<PathBuf>,
    /// The external keys.
    #[serde(default)]
    pub key: Vec<KeyConfig>,
}

impl KeyStoreConfig {
    /// An enabled key store without keys, quota, region list or policy.
    ///
    /// # Errors
    /// A prefix that breaks the spec's rule.
    pub fn new(name: impl Into<String>, path_prefix: &str, credentials_file: impl Into<PathBuf>) -> Result<Self, xks_wire::xks::IdError> {
        Ok(Self {
            name: name.into(),
            path_prefix: PathPrefix::new(path_prefix)?,
            enabled: true,
            credentials_file: credentials_file.into(),
            regions: Vec::new(),
            requests_per_second: 0,
            burst: 0,
            authorization_policy: None,
            key: Vec::new(),
        })
    }
}

/// One external key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// `externalKeyId`.
    pub id: ExternalKeyId,
    /// The key path the AES key is derived for: its identity; never change or reuse one.
    pub key_path: String,
    /// ENABLED or DISABLED.
    #[serde(default = "enabled")]
    pub status: KeyStatus,
    /// Permitted operations (possibly none).
    #[serde(default = "both")]
    pub usage: Vec<Usage>,
}

/// Status of an external key (spec GetKeyMetadata `keyStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyStatus {
    /// Usable.
    Enabled,
    /// Metadata answers, Encrypt/Decrypt get InvalidStateException.
    Disabled,
}

impl KeyStatus {
    /// Wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Enabled => "ENABLED",
            KeyStatus::Disabled => "DISABLED",
        }
    }
}

/// A permitted operation (spec GetKeyMetadata `keyUsage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Usage {
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
}

impl Usage {
    /// Wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Encrypt => "ENCRYPT",
            Usage::Decrypt => "DECRYPT",
        }
    }
}

fn yes() -> bool {
    true
}
fn enabled() -> KeyStatus {
    KeyStatus::Enabled
}
fn both() -> Vec<Usage> {
    vec![Usage::Encrypt, Usage::Decrypt]
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}
