//! Where the load goes: endpoint, URI path, credentials, keys, TLS trust.
//!
//! Either from flags, or from the `kms-config.json` that the local cluster
//! writes (`endpoint`, `uriPath`, `accessKeyId`, `secretAccessKey`,
//! `caCertificate`, `keyIds`, and with mutual TLS `clientCertificate` and
//! `clientKey`); flags override the file.

use std::path::{Path, PathBuf};

use xks_config::kms::LocalKmsConfig;
use xks_wire::xks::SecretAccessKey;

use super::Args;

/// A resolved target.
pub struct Target {
    /// `http` or `https`.
    pub tls: bool,
    /// `host:port` to connect to.
    pub authority: String,
    /// The host name for SNI and certificate checks.
    pub host: String,
    /// XksProxyUriPath: `{prefix}/kms/xks/v1`.
    pub uri_path: String,
    pub access_key_id: String,
    pub secret: SecretAccessKey,
    pub key_ids: Vec<String>,
    pub ca_certificate: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub region: String,
}

/// Splits `http(s)://host[:port]` into (tls, authority, host).
fn parse_endpoint(endpoint: &str) -> Result<(bool, String, String), String> {
    let (tls, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("endpoint {endpoint:?} must start with http:// or https://"));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("endpoint {endpoint:?} must be scheme://host[:port] (the URI path goes in --uri-path)"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_owned()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_owned()
    };
    let authority = if authority.starts_with('[') || authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    Ok((tls, authority, host))
}

impl Target {
    /// Resolves the target from flags and the optional config file.
    ///
    /// # Errors
    /// A missing or malformed setting, named.
    pub fn resolve(args: &Args) -> Result<Self, String> {
        let cfg = match &args.config {
            Some(p) => LocalKmsConfig::read(p)?,
            None => LocalKmsConfig::default(),
        };
        let endpoint = args.endpoint.clone().or(cfg.endpoint).ok_or("--endpoint (or --config) is required")?;
        let (tls, authority, host) = parse_endpoint(&endpoint)?;
        let uri_path = args.uri_path.clone().or(cfg.uri_path).ok_or("--uri-path (or --config) is required")?;
        if !uri_path.ends_with("/kms/xks/v1") {
            return Err(format!("--uri-path {uri_path:?} must end with /kms/xks/v1 (it is KMS's XksProxyUriPath)"));
        }
        // An empty value (e.g. an exported but empty variable) counts as unset.
        let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let access_key_id = given(&args.access_key_id).or(cfg.access_key_id).ok_or("--access-key-id (or --config) is required")?;
        let secret = given(&args.secret_access_key)
            .or(cfg.secret_access_key.map(|s| s.to_string()))
            .ok_or("the secret access key is required (XKS_SECRET_ACCESS_KEY, --secret-access-key or --config)")?;
        let key_ids = if args.key_ids.is_empty() { cfg.key_ids } else { args.key_ids.clone() };
        if key_ids.is_empty() && args.operation != super::Operation::Health {
            return Err("at least one --key-id (or keyIds in --config) is required".into());
        }
        Ok(Self {
            tls,
            authority,
            host,
            uri_path,
            access_key_id,
            secret: SecretAccessKey::any_sigv4(secret),
            key_ids,
            ca_certificate: args.ca_cert.clone().or(cfg.ca_certificate),
            client_cert: args.client_cert.clone().or(cfg.client_certificate),
            client_key: args.client_key.clone().or(cfg.client_key),
            region: args.region.clone(),
        })
    }

    /// The target a `kms-config.json` describes (as `xksctl up` writes it), signing for `us-east-1`.
    ///
    /// # Errors
    /// An unreadable file or a missing setting, named.
    pub fn from_config(path: &Path) -> Result<Self, String> {
        let cfg = LocalKmsConfig::read(path)?;
        let missing = |what: &str| format!("{} has no {what}", path.display());
        let (tls, authority, host) = parse_endpoint(&cfg.endpoint.ok_or_else(|| missing("endpoint"))?)?;
        Ok(Self {
            tls,
            authority,
            host,
            uri_path: cfg.uri_path.ok_or_else(|| missing("uriPath"))?,
            access_key_id: cfg.access_key_id.ok_or_else(|| missing("accessKeyId"))?,
            secret: SecretAccessKey::any_sigv4(cfg.secret_access_key.ok_or_else(|| missing("secretAccessKey"))?.to_string()),
            key_ids: cfg.key_ids,
            ca_certificate: cfg.ca_certificate,
            client_cert: cfg.client_certificate,
            client_key: cfg.client_key,
            region: "us-east-1".into(),
        })
    }

    /// The `Host` header value (what the signature covers).
    pub fn host_header(&self) -> &str {
        let default_port = if self.tls { ":443" } else { ":80" };
        self.authority.strip_suffix(default_port).unwrap_or(&self.authority)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoints() {
        assert_eq!(parse_endpoint("http://127.0.0.1:8000").unwrap(), (false, "127.0.0.1:8000".into(), "127.0.0.1".into()));
        assert_eq!(parse_endpoint("https://xks.example.com/").unwrap(), (true, "xks.example.com:443".into(), "xks.example.com".into()));
        assert_eq!(parse_endpoint("https://[::1]:8443").unwrap(), (true, "[::1]:8443".into(), "::1".into()));
        assert!(parse_endpoint("xks.example.com").is_err());
        assert!(parse_endpoint("https://x/kms/xks/v1").is_err());
    }
}
