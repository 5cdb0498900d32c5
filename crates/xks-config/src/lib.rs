//! The deployment model: every file that configures the services, as types
//! that read (the services, validated at start) and write (`xksctl up`,
//! `xksctl env`, the tests and the load examples) through the same
//! definitions, so a renamed field breaks the build, not a deployment.
//!
//! - the share service's `share-service.toml` in [`share`];
//! - the proxy's `xks-proxy.toml` in [`proxy`];
//! - the proxy's reloadable `key-stores.toml` in [`key_stores`];
//! - the proxy configuration file the KMS console takes, and the local
//!   cluster's `kms-config.json`, in [`kms`];
//! - [`SharesConfig`] and [`SecretsConfig`]: the sections both services share;
//! - [`render`]: a configuration as TOML under a comment header.
//!
//! The SigV4 credentials file is a wire contract (`xks_wire::xks::credentials`).
#![forbid(unsafe_code)]

pub mod key_stores;
pub mod kms;
pub mod proxy;
pub mod share;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Start-up configuration errors (each with a message an operator can act on).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Parsing or type errors.
    #[error("configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// `[shares]` of either service: the public key sets and this holder's
/// (sealed) share files.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharesConfig {
    /// Public key sets (JSON); the proxy's newest generation encrypts.
    pub key_sets: Vec<PathBuf>,
    /// This holder's share files (JSON, usually sealed). Secret.
    pub share_files: Vec<PathBuf>,
    /// Refuse to start unless the shares belong to this holder id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<u32>,
}

/// `[secrets]` of either service: share files and TLS private keys may be sops
/// files sealed to the service's age identity (as `xksctl` writes them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// age identity file; when unset, `SOPS_AGE_KEY_FILE` or `SOPS_AGE_KEY` (as the sops CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_identity_file: Option<PathBuf>,
}

impl SecretsConfig {
    /// Whether nothing is set (the section is then left out of a written file).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Reads a TOML file overlaid with the environment variables that start with
/// `env_prefix` (`__` separates sections).
fn load<T: DeserializeOwned>(path: &Path, env_prefix: &str) -> Result<T, ConfigError> {
    Figment::new().merge(Toml::file_exact(path)).merge(Env::prefixed(env_prefix).split("__")).extract().map_err(|e| Box::new(e).into())
}

/// The directory relative paths of a configuration file are resolved against.
fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A relative `path` taken against `base`.
fn resolve(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

/// Renders a configuration as TOML under a comment header.
///
/// # Errors
/// A message when the value cannot be written as TOML (none of this crate's types).
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
