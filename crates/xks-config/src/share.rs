//! The share service's configuration (`share-service.toml`, which documents
//! every key) overlaid with `SHARE_SERVICE_*` environment variables, validated
//! at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ConfigError, SecretsConfig, SharesConfig};

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// mTLS listener address.
    pub listen: SocketAddr,
    /// TLS files and client policy.
    pub tls: TlsConfig,
    /// Key sets and share files.
    pub shares: SharesConfig,
    /// Audit log.
    pub audit: AuditConfig,
    /// Resource bounds.
    #[serde(default)]
    pub limits: Limits,
    /// Rate thresholds.
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    /// Operator channel.
    pub admin: AdminConfig,
    /// How sealed (sops) files are opened.
    #[serde(default, skip_serializing_if = "SecretsConfig::is_default")]
    pub secrets: SecretsConfig,
}

/// `[tls]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// Client CA (PEM).
    pub client_ca: PathBuf,
    /// Allowed client identities (`dns:`, `uri:`, `sha256:`).
    #[serde(default)]
    pub allowed_clients: Vec<String>,
    /// Serve any certificate from `client_ca` when `allowed_clients` is empty
    /// (off: an empty list is refused at start-up).
    #[serde(default)]
    pub allow_any_client: bool,
    /// Handshake timeout.
    #[serde(default = "d_handshake")]
    pub handshake_timeout_ms: u64,
}

/// `[audit]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Directory.
    pub dir: PathBuf,
    /// Rotation size.
    #[serde(default = "d_file_bytes")]
    pub max_file_bytes: u64,
    /// Group-commit batch bound.
    #[serde(default = "d_batch")]
    pub max_batch: usize,
    /// Checkpoint period.
    #[serde(default = "d_checkpoint")]
    pub checkpoint_seconds: u64,
    /// The checkpoint signing key (Ed25519 PKCS#8 PEM, sealed or plain);
    /// without it checkpoints are only logged, unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_key: Option<PathBuf>,
}

impl TlsConfig {
    /// Mutual TLS serving only the clients `allowed_clients` names.
    pub fn pinned(cert: PathBuf, key: PathBuf, client_ca: PathBuf, allowed_clients: Vec<String>) -> Self {
        Self { cert, key, client_ca, allowed_clients, allow_any_client: false, handshake_timeout_ms: d_handshake() }
    }
}

/// The sealed checkpoint signing key's file name, in a share service's
/// directory (`xksctl up` and `xksctl env` write it there).
pub const SEALED_CHECKPOINT_KEY_FILE: &str = "checkpoint.key.sops";

/// The file name of share service `holder`'s checkpoint verifying key, as the
/// proxy and auditors hold it.
pub fn checkpoint_public_key_file(holder: u32) -> String {
    format!("checkpoint-{holder}.pub")
}

impl AuditConfig {
    /// The log in `dir`, with the default rotation, batch and checkpoint.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self { dir, max_file_bytes: d_file_bytes(), max_batch: d_batch(), checkpoint_seconds: d_checkpoint(), checkpoint_key: None }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent connections.
    pub max_connections: usize,
    /// Connections still in their TLS handshake; beyond, the oldest is closed.
    pub max_handshaking_connections: usize,
    /// A connection with no request in progress for this long is closed gracefully.
    pub idle_timeout_ms: u64,
    /// Concurrent requests.
    pub max_in_flight: usize,
    /// Body size.
    pub max_body_bytes: usize,
    /// Overall request rate.
    pub max_requests_per_second: u32,
    /// Request timeout.
    pub request_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_handshaking_connections: 256,
            idle_timeout_ms: 300_000,
            max_in_flight: 512,
            max_body_bytes: 4096,
            max_requests_per_second: 20_000,
            request_timeout_ms: 5000,
        }
    }
}

/// What an automatic lock covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    /// What tripped: the key path for a key-path rule, the whole service for the total.
    #[default]
    Tripped,
    /// Always the whole service.
    Service,
}

/// `[anomaly]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Window length.
    pub window_seconds: u64,
    /// KMS's request quota per external key store (requests per second).
    pub kms_quota_per_second: f64,
    /// Key stores whose traffic reaches this service (each has its own quota).
    pub key_stores: u32,
    /// Margin over the quota before the quota rule trips.
    pub quota_headroom: f64,
    /// Lock automatically when the quota rule trips.
    pub auto_lock: bool,
    /// Baseline rule: times a key path's long-run average (0 = off).
    pub baseline_factor: f64,
    /// Baseline rule: requests per window below which it never trips.
    pub baseline_min_requests: u64,
    /// Time constant of the long-run average, hours.
    pub baseline_hours: f64,
    /// A key path is judged by its baseline only after being seen this long, hours.
    pub baseline_learning_hours: f64,
    /// Lock (the key path) automatically when the baseline rule trips.
    pub baseline_auto_lock: bool,
    /// What an automatic lock covers.
    pub lock_scope: LockScope,
    /// Key paths never counted (the proxies' deep health checks).
    pub exempt_key_paths: Vec<String>,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            window_seconds: 60,
            kms_quota_per_second: 1800.0,
            key_stores: 1,
            quota_headroom: 1.5,
            auto_lock: true,
            baseline_factor: 50.0,
            baseline_min_requests: 1000,
            baseline_hours: 24.0,
            baseline_learning_hours: 1.0,
            baseline_auto_lock: false,
            lock_scope: LockScope::Tripped,
            exempt_key_paths: vec!["xks-proxy/health-check".into()],
        }
    }
}

/// `[admin]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Unix socket path.
    pub socket: PathBuf,
    /// Persisted lock/deny state.
    pub state_file: PathBuf,
}

fn d_handshake() -> u64 {
    5000
}
fn d_file_bytes() -> u64 {
    64 << 20
}
fn d_batch() -> usize {
    1024
}
fn d_checkpoint() -> u64 {
    60
}

impl Config {
    /// A configuration with the default limits and anomaly rules, sealed
    /// files opened as the sops CLI does (no `[secrets]`).
    pub fn new(listen: SocketAddr, tls: TlsConfig, shares: SharesConfig, audit: AuditConfig, admin: AdminConfig) -> Self {
        Self {
            listen,
            tls,
            shares,
            audit,
            limits: Limits::default(),
            anomaly: AnomalyConfig::default(),
            admin,
            secrets: SecretsConfig::default(),
        }
    }

    /// Loads `path` (TOML) with the environment overlay, resolves relative paths
    /// against the file's directory, and validates.
    ///
    /// # Errors
    /// [`ConfigError`] with a message naming the offending key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = crate::load(path, "SHARE_SERVICE_")?;
        cfg.resolve(crate::base_dir(path))
    }

    /// Resolves relative paths against `base` and validates.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn resolve(mut self, base: &Path) -> Result<Self, ConfigError> {
        let abs = |p: &mut PathBuf| crate::resolve(base, p);
        abs(&mut self.tls.cert);
        abs(&mut self.tls.key);
        abs(&mut self.tls.client_ca);
        self.shares.key_sets.iter_mut().for_each(abs);
        self.shares.share_files.iter_mut().for_each(abs);
        abs(&mut self.audit.dir);
        if let Some(p) = self.audit.checkpoint_key.as_mut() {
            abs(p);
        }
        abs(&mut self.admin.socket);
        abs(&mut self.admin.state_file);
        if let Some(p) = self.secrets.age_identity_file.as_mut() {
            abs(p);
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.shares.key_sets.is_empty() || self.shares.share_files.is_empty() {
            return bad("shares.key_sets and shares.share_files must not be empty");
        }
        let l = &self.limits;
        if l.max_connections == 0 || l.max_in_flight == 0 || l.max_requests_per_second == 0 {
            return bad("limits.max_connections, max_in_flight and max_requests_per_second must be > 0");
        }
        if l.max_handshaking_connections == 0 || l.max_handshaking_connections > l.max_connections {
            return bad("limits.max_handshaking_connections must be between 1 and limits.max_connections");
        }
        if !(1000..=3_600_000).contains(&l.idle_timeout_ms) {
            return bad("limits.idle_timeout_ms must be between 1000 and 3600000");
        }
        if !(256..=1 << 20).contains(&l.max_body_bytes) {
            return bad("limits.max_body_bytes must be between 256 and 1048576");
        }
        if self.audit.max_batch == 0 || self.audit.max_file_bytes < 4096 {
            return bad("audit.max_batch must be > 0 and audit.max_file_bytes >= 4096");
        }
        let a = &self.anomaly;
        if a.window_seconds == 0 || a.window_seconds > 3600 {
            return bad("anomaly.window_seconds must be between 1 and 3600");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let at_least = |v: f64, min: f64| v.is_finite() && v >= min;
        if !positive(a.kms_quota_per_second) || a.key_stores == 0 || !at_least(a.quota_headroom, 1.0) {
            return bad(
                "anomaly.kms_quota_per_second and key_stores must be > 0 and quota_headroom >= 1 (traffic KMS may send must never trip the quota rule)",
            );
        }
        if !at_least(a.baseline_factor, 0.0) || !positive(a.baseline_hours) || !at_least(a.baseline_learning_hours, 0.0) {
            return bad("anomaly.baseline_factor and baseline_learning_hours must be >= 0, baseline_hours > 0");
        }
        if self.tls.allowed_clients.is_empty() && !self.tls.allow_any_client {
            return bad(
                "tls.allowed_clients is empty: pin the proxy's identity (e.g. [\"dns:xks-proxy\"] or its certificate's \"sha256:<hex>\"), or set tls.allow_any_client = true to serve any certificate the client CA issued",
            );
        }
        for c in &self.tls.allowed_clients {
            if !(c.starts_with("dns:") || c.starts_with("uri:") || c.starts_with("sha256:")) {
                return Err(ConfigError::Invalid(format!("tls.allowed_clients entry {c:?} must start with dns:, uri: or sha256:")));
            }
        }
        Ok(())
    }
}
