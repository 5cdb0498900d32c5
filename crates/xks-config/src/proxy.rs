//! The XKS proxy's start-up configuration (`xks-proxy.toml` documents every
//! key) overlaid with `XKS_PROXY_*` environment variables, validated at start.
//!
//! Key stores (path prefixes, SigV4 credentials, external keys, authorization
//! policies, quotas) live in a separate file that is re-read on SIGHUP without
//! dropping connections: [`crate::key_stores`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ConfigError, SecretsConfig, SharesConfig};

/// The whole start-up configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the XKS API listener.
    pub listen: SocketAddr,
    /// How KMS reaches the proxy: TLS here, or plain HTTP behind a TLS-terminating platform.
    pub front: FrontConfig,
    /// The proxy's own share (holder 1) and the public key sets.
    pub shares: SharesConfig,
    /// mTLS client identity and trust for the partners.
    pub partner_tls: PartnerTlsConfig,
    /// The partner share services, in order of preference.
    pub partners: Vec<PartnerConfig>,
    /// Timeouts, hedging and circuit breaking towards the partners.
    #[serde(default)]
    pub pool: PoolConfig,
    /// Deep health check.
    #[serde(default)]
    pub health: HealthConfig,
    /// The witness of the partners' signed audit checkpoints.
    #[serde(default)]
    pub witness: WitnessConfig,
    /// Request verification and resource bounds.
    #[serde(default)]
    pub limits: Limits,
    /// The reloadable key-store file.
    pub key_stores: PathBuf,
    /// Optional listener for `GET /metrics` and `GET /ping` (keep it private).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Values reported by GetHealthStatus.
    #[serde(default)]
    pub fleet: FleetConfig,
    /// How sealed (sops) files are opened.
    #[serde(default, skip_serializing_if = "SecretsConfig::is_default")]
    pub secrets: SecretsConfig,
}

/// `[front]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontConfig {
    /// `tls` (rustls, HTTP/1.1 and HTTP/2) or `plain` (HTTP/1.1 and h2c, behind a TLS-terminating platform).
    pub mode: FrontMode,
    /// Server certificate chain (PEM), for `tls`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Server private key (PEM), for `tls`. Secret.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Optional: require client certificates chained to this CA (mutual TLS with KMS).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: the accepted client certificate subject common names,
    /// e.g. `cks.kms.eu-west-1.amazonaws.com`. Others fail the handshake.
    #[serde(default)]
    pub client_subjects: Vec<String>,
    /// Time allowed for a TLS handshake.
    #[serde(default = "d_handshake")]
    pub handshake_timeout_ms: u64,
    /// The host names this proxy serves (the host of KMS's `XksProxyUriEndpoint`);
    /// a signed request for any other Host is refused. Empty: any.
    #[serde(default)]
    pub server_names: Vec<String>,
}

impl FrontConfig {
    /// Plain HTTP behind a TLS-terminating platform, serving `server_names`.
    pub fn plain(server_names: Vec<String>) -> Self {
        Self {
            mode: FrontMode::Plain,
            cert: None,
            key: None,
            client_ca: None,
            client_subjects: Vec::new(),
            handshake_timeout_ms: d_handshake(),
            server_names,
        }
    }

    /// TLS with this certificate and (sealed) key, without client certificates.
    pub fn tls(cert: PathBuf, key: PathBuf) -> Self {
        Self { mode: FrontMode::Tls, cert: Some(cert), key: Some(key), ..Self::plain(Vec::new()) }
    }
}

/// Front modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontMode {
    /// rustls.
    Tls,
    /// Plain HTTP.
    Plain,
}

/// `[partner_tls]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerTlsConfig {
    /// The CA the partners' server certificates must chain to (pinned; no system roots).
    pub ca: PathBuf,
    /// The proxy's client certificate (PEM).
    pub client_cert: PathBuf,
    /// Its private key (PEM). Secret.
    pub client_key: PathBuf,
}

/// `[[partners]]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Name in logs, metrics and health (e.g. `share-2`).
    pub id: String,
    /// The holder id of the partner's share.
    pub holder: u32,
    /// `host:port` to connect to.
    pub address: String,
    /// TLS server name to verify (defaults to the host of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Free text for GetHealthStatus `ekmFleetDetails.model` (e.g. provider and region).
    #[serde(default)]
    pub model: Option<String>,
    /// The partner's audit checkpoint verifying key (Ed25519 `PUBLIC KEY` PEM);
    /// with it, the proxy fetches, verifies and keeps the partner's signed
    /// checkpoints ([`WitnessConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_key: Option<PathBuf>,
}

/// `[pool]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Whole-request budget for obtaining verified partials (below KMS's 250 ms).
    pub budget_ms: u64,
    /// Time one partner gets for one partial.
    pub attempt_timeout_ms: u64,
    /// Start asking the next partner when the current one has not answered after this long.
    pub hedge_after_ms: u64,
    /// TLS connections kept warm per partner (HTTP/2, multiplexed), and the
    /// batch exchanges in flight to it at most (one per connection).
    pub connections_per_partner: usize,
    /// Time allowed for TCP connect + TLS handshake to a partner.
    pub connect_timeout_ms: u64,
    /// Consecutive failures after which a partner's circuit opens.
    pub breaker_failures: u32,
    /// How long an open circuit skips the partner before one probe is let through.
    pub breaker_open_ms: u64,
    /// Verified-partial commitments kept (per partner, key path, set, epoch).
    pub commitment_cache: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            budget_ms: 200,
            attempt_timeout_ms: 150,
            hedge_after_ms: 50,
            connections_per_partner: 2,
            connect_timeout_ms: 1000,
            breaker_failures: 5,
            breaker_open_ms: 2000,
            commitment_cache: 100_000,
        }
    }
}

/// `[health]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Background deep-check period (the spec allows results up to 60 s old).
    pub interval_seconds: u64,
    /// Dedicated key path of the health round trip (never a customer key path).
    pub key_path: String,
    /// A partner answering slower than this is reported DEGRADED.
    pub degraded_latency_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { interval_seconds: 20, key_path: "xks-proxy/health-check".into(), degraded_latency_ms: 100 }
    }
}

/// `[witness]`: the partners' signed audit checkpoints, fetched, verified
/// and kept (docs/oversight.md, "Checkpoints").
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WitnessConfig {
    /// How often each partner's latest checkpoint is fetched.
    pub interval_seconds: u64,
    /// The archive: one `<partner id>.checkpoints.jsonl` per partner,
    /// appended and fsynced. Without it, checkpoints are only logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

impl Default for WitnessConfig {
    fn default() -> Self {
        Self { interval_seconds: 60, dir: None }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted (bytes); larger → 501 UnsupportedOperationException.
    pub max_body_bytes: usize,
    /// Largest plaintext / ciphertext (decoded bytes); the spec requires ≥ 4300.
    pub max_plaintext_bytes: usize,
    /// Largest AAD (decoded bytes); the spec requires ≥ 8192, the AAD rule allows ≤ 65535.
    pub max_aad_bytes: usize,
    /// Allowed SigV4 clock skew (spec: requests more than 5 minutes off SHOULD fail).
    pub max_clock_skew_seconds: u64,
    /// Concurrent connections; beyond, the oldest unauthenticated one is closed
    /// (or, when all are authenticated, the new one).
    pub max_connections: usize,
    /// Connections that have not yet authenticated a request; beyond, the oldest is closed.
    pub max_unauthenticated_connections: usize,
    /// Time from accept to the first request that passes SigV4 (TLS handshake
    /// included); then the connection is closed.
    pub unauthenticated_timeout_ms: u64,
    /// A connection with no request in progress for this long is closed gracefully.
    pub idle_timeout_ms: u64,
    /// Time allowed to receive a request body.
    pub body_timeout_ms: u64,
    /// Authenticated requests processed at once; further requests get 429 ThrottlingException.
    pub max_in_flight: usize,
}

impl Limits {
    /// The sizes the request bodies are checked against.
    pub fn sizes(&self) -> xks_wire::xks::request::SizeLimits {
        xks_wire::xks::request::SizeLimits { max_plaintext_bytes: self.max_plaintext_bytes, max_aad_bytes: self.max_aad_bytes }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 262_144,
            max_plaintext_bytes: xks_wire::xks::request::SizeLimits::default().max_plaintext_bytes,
            max_aad_bytes: xks_wire::xks::request::SizeLimits::default().max_aad_bytes,
            max_clock_skew_seconds: 300,
            max_connections: 4096,
            max_unauthenticated_connections: 1024,
            unauthenticated_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 5_000,
            max_in_flight: 2048,
        }
    }
}

/// `[fleet]`: what GetHealthStatus reports.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// Number of proxy instances behind the endpoint (`xksProxyFleetSize`).
    pub proxy_fleet_size: u32,
    /// `xksProxyVendor` and `ekmVendor`.
    pub vendor: String,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self { proxy_fleet_size: 1, vendor: "split-key-xks".into() }
    }
}

fn d_handshake() -> u64 {
    5000
}

impl Config {
    /// A configuration with every optional section at its default, the key
    /// stores in `key-stores.toml` next to it, and no metrics listener.
    pub fn new(
        listen: SocketAddr,
        front: FrontConfig,
        shares: SharesConfig,
        partner_tls: PartnerTlsConfig,
        partners: Vec<PartnerConfig>,
    ) -> Self {
        Self {
            listen,
            front,
            shares,
            partner_tls,
            partners,
            pool: PoolConfig::default(),
            health: HealthConfig::default(),
            witness: WitnessConfig::default(),
            limits: Limits::default(),
            key_stores: "key-stores.toml".into(),
            metrics_listen: None,
            fleet: FleetConfig::default(),
            secrets: SecretsConfig::default(),
        }
    }

    /// Reads `path`, overlays `XKS_PROXY_*` variables (`__` separates sections),
    /// resolves relative paths against the file's directory, validates.
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = crate::load(path, "XKS_PROXY_")?;
        cfg.resolve(crate::base_dir(path));
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| crate::resolve(base, p);
        for p in [&mut self.front.cert, &mut self.front.key, &mut self.front.client_ca].into_iter().flatten() {
            fix(p);
        }
        self.shares.key_sets.iter_mut().chain(self.shares.share_files.iter_mut()).for_each(fix);
        fix(&mut self.partner_tls.ca);
        fix(&mut self.partner_tls.client_cert);
        fix(&mut self.partner_tls.client_key);
        fix(&mut self.key_stores);
        if let Some(p) = self.secrets.age_identity_file.as_mut() {
            fix(p);
        }
        for p in self.partners.iter_mut().filter_map(|p| p.checkpoint_key.as_mut()).chain(self.witness.dir.as_mut()) {
            fix(p);
        }
    }

    /// Range checks.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.front.mode == FrontMode::Tls && (self.front.cert.is_none() || self.front.key.is_none()) {
            return bad("front.mode = \"tls\" needs front.cert and front.key");
        }
        if self.front.client_ca.is_some() && self.front.client_subjects.is_empty() {
            return bad("front.client_ca needs front.client_subjects (e.g. [\"cks.kms.eu-west-1.amazonaws.com\"])");
        }
        if self.front.client_ca.is_some() && self.front.mode != FrontMode::Tls {
            return bad("front.client_ca needs front.mode = \"tls\"");
        }
        if self.partners.is_empty() {
            return bad("at least one [[partners]] entry is required");
        }
        let mut ids: Vec<&str> = self.partners.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
            return bad("partner ids must be unique");
        }
        let p = &self.pool;
        if p.budget_ms == 0 || p.budget_ms >= 250 {
            return bad("pool.budget_ms must be between 1 and 249 (KMS gives up after 250 ms)");
        }
        if p.attempt_timeout_ms == 0 || p.attempt_timeout_ms > p.budget_ms {
            return bad("pool.attempt_timeout_ms must be between 1 and pool.budget_ms");
        }
        if p.hedge_after_ms > p.budget_ms {
            return bad("pool.hedge_after_ms must not exceed pool.budget_ms");
        }
        if p.connections_per_partner == 0 || p.connections_per_partner > 64 {
            return bad("pool.connections_per_partner must be between 1 and 64");
        }
        if p.breaker_failures == 0 {
            return bad("pool.breaker_failures must be at least 1");
        }
        if p.commitment_cache == 0 {
            return bad("pool.commitment_cache must be at least 1");
        }
        if !(1..=3600).contains(&self.witness.interval_seconds) {
            return bad("witness.interval_seconds must be between 1 and 3600");
        }
        if self.health.interval_seconds == 0 || self.health.interval_seconds > 55 {
            return bad("health.interval_seconds must be between 1 and 55 (cached results must stay under a minute old)");
        }
        let l = &self.limits;
        if l.max_plaintext_bytes < 4300 {
            return bad("limits.max_plaintext_bytes must be at least 4300 (spec minimum)");
        }
        if l.max_aad_bytes < 8192 || l.max_aad_bytes > 65_535 {
            return bad("limits.max_aad_bytes must be between 8192 (spec minimum) and 65535 (the AAD length prefix is 2 bytes)");
        }
        let needed = 4 * (l.max_plaintext_bytes + l.max_aad_bytes) / 3 + 16_384;
        if l.max_body_bytes < needed {
            return Err(ConfigError::Invalid(format!(
                "limits.max_body_bytes must be at least {needed} to carry the largest plaintext and AAD in Base64 plus request metadata"
            )));
        }
        if l.max_clock_skew_seconds == 0 || l.max_clock_skew_seconds > 900 {
            return bad("limits.max_clock_skew_seconds must be between 1 and 900");
        }
        if l.max_connections == 0 || l.max_in_flight == 0 {
            return bad("limits.max_connections and limits.max_in_flight must be positive");
        }
        if l.max_unauthenticated_connections == 0 || l.max_unauthenticated_connections > l.max_connections {
            return bad("limits.max_unauthenticated_connections must be between 1 and limits.max_connections");
        }
        for (name, ms) in [
            ("unauthenticated_timeout_ms", l.unauthenticated_timeout_ms),
            ("idle_timeout_ms", l.idle_timeout_ms),
            ("body_timeout_ms", l.body_timeout_ms),
        ] {
            if !(100..=600_000).contains(&ms) {
                return Err(ConfigError::Invalid(format!("limits.{name} must be between 100 and 600000")));
            }
        }
        if self.fleet.proxy_fleet_size == 0 {
            return bad("fleet.proxy_fleet_size must be greater than zero");
        }
        Ok(())
    }
}
