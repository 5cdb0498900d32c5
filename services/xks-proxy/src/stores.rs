//! Logical key stores: the reloadable part of the configuration. Each key
//! store has a URI path prefix, its own SigV4 credentials (several at once, for
//! rotation), its external keys, an optional request quota and an optional
//! secondary-authorization policy. The file is re-read on SIGHUP; a file that
//! fails validation is refused and the running configuration stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use xks_config::key_stores::KeyStoresFile;
pub use xks_config::key_stores::{KeyStatus, Usage};
use xks_service::rate::TokenBucket;
use xks_threshold::{KeyPath, KeyPoint};
use zeroize::Zeroizing;

use crate::authz::Policy;
use xks_wire::xks::{AccessKeyId, ExternalKeyId, PathPrefix, SecretAccessKey, credentials};

/// Errors of loading the key-store file (each names the file and the entry).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Why (never contains a secret: values are not quoted).
        message: String,
    },
    /// A value breaks a rule of the XKS spec or of this proxy.
    #[error("{0}")]
    Invalid(String),
}

/// One external key.
#[derive(Debug)]
pub struct ExternalKey {
    /// `externalKeyId`.
    pub id: ExternalKeyId,
    /// The key path the AES key is derived for (its identity; never change it).
    pub point: KeyPoint,
    /// ENABLED / DISABLED.
    pub status: KeyStatus,
    /// Permitted operations (possibly none).
    pub usage: Vec<Usage>,
}

impl ExternalKey {
    /// The key path.
    pub fn key_path(&self) -> &KeyPath {
        self.point.path()
    }
    /// Whether `u` is permitted.
    pub fn allows(&self, u: Usage) -> bool {
        self.usage.contains(&u)
    }
}

/// A key store's quota (→ ThrottlingException): `requests_per_second`, with
/// bursts up to `burst` (at least the rate, at least one request).
#[derive(Debug)]
pub struct Quota(TokenBucket);

impl Quota {
    fn new(rate: u32, burst: u32) -> Self {
        Self(TokenBucket::new(rate, burst.max(rate).max(1)))
    }

    /// Takes one token; false when the quota is exhausted.
    pub fn take(&self) -> bool {
        self.0.take()
    }
}

/// One logical key store.
#[derive(Debug)]
pub struct KeyStore {
    /// Name in logs and metrics.
    pub name: String,
    /// Normalised path prefix (`""` or `/a/b`).
    pub prefix: PathPrefix,
    /// A disabled key store answers InvalidStateException to everything.
    pub enabled: bool,
    credentials: HashMap<AccessKeyId, SecretAccessKey>,
    regions: Vec<String>,
    keys: HashMap<ExternalKeyId, Arc<ExternalKey>>,
    /// Optional quota.
    pub quota: Option<Quota>,
    /// Optional secondary authorization.
    pub policy: Option<Policy>,
    /// When the credentials file was last changed (Unix seconds), as loaded:
    /// the age the credential-rotation alert watches (docs/monitoring.md).
    pub credentials_modified: Option<i64>,
}

impl KeyStore {
    /// The secret for an access key id of this store.
    pub fn secret(&self, access_key_id: &str) -> Option<&SecretAccessKey> {
        self.credentials.get(access_key_id)
    }
    /// Whether requests signed for `region` are accepted (empty list = any region).
    pub fn region_allowed(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }
    /// An external key by id.
    pub fn key(&self, id: &str) -> Option<&Arc<ExternalKey>> {
        self.keys.get(id)
    }
    /// Number of external keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
    /// Number of active credentials.
    pub fn credential_count(&self) -> usize {
        self.credentials.len()
    }
    /// The key store's `XksProxyUriPath`.
    pub fn uri_path(&self) -> String {
        self.prefix.uri_path()
    }
}

/// All key stores of one configuration generation.
#[derive(Debug, Default)]
pub struct KeyStores {
    stores: Vec<Arc<KeyStore>>,
}

impl KeyStores {
    /// The store whose prefix is `prefix` (normalised).
    pub fn by_prefix(&self, prefix: &PathPrefix) -> Option<&Arc<KeyStore>> {
        self.stores.iter().find(|s| s.prefix == *prefix)
    }
    /// All stores.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<KeyStore>> {
        self.stores.iter()
    }

    /// Loads and validates the key-store file and the files it names.
    /// `health_key_path` is reserved and refused as a customer key path.
    ///
    /// # Errors
    /// [`StoreError`].
    /// Credentials files may be sealed (sops) to the proxy's age identity `ids`.
    pub fn load(path: &Path, health_key_path: &str, ids: Option<&xks_sops::Identities>) -> Result<Self, StoreError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let text = read(path)?;
        let wire: KeyStoresFile = toml_parse(path, &text)?;
        if wire.key_store.is_empty() {
            return Err(StoreError::Invalid(format!("{}: no [[key_store]] defined", path.display())));
        }
        let mut stores: Vec<Arc<KeyStore>> = Vec::new();
        let mut all_ids: Vec<AccessKeyId> = Vec::new();
        // docs/crypto.md §4: the key path determines the key, so the mapping
        // from external key ids to key paths is one-to-one across all stores.
        let mut all_paths: HashMap<KeyPath, ExternalKeyId> = HashMap::new();
        for s in wire.key_store {
            let ctx = |m: String| StoreError::Invalid(format!("key store {:?}: {m}", s.name));
            let prefix = s.path_prefix;
            if stores.iter().any(|o| o.prefix == prefix) {
                return Err(ctx(format!("path prefix {:?} is used twice", prefix.as_str())));
            }
            if stores.iter().any(|o| o.name == s.name) || s.name.is_empty() {
                return Err(ctx("names must be non-empty and unique".into()));
            }
            let cred_path = base.join(&s.credentials_file);
            let cred_text = xks_sops::read_file(&cred_path, ids).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let credentials_modified = modified_unix_seconds(&cred_path);
            let creds = credentials::parse(&cred_text).map_err(|e| ctx(format!("{}: {e}", cred_path.display())))?;
            let mut credentials = HashMap::new();
            for c in creds {
                if all_ids.contains(&c.access_key_id) {
                    return Err(ctx(format!("access key id {} is configured twice (it must identify one secret)", c.access_key_id)));
                }
                all_ids.push(c.access_key_id.clone());
                credentials.insert(c.access_key_id, c.secret_access_key);
            }
            if credentials.is_empty() {
                return Err(ctx(format!("{}: no [[credential]]", cred_path.display())));
            }
            let mut keys = HashMap::new();
            for k in s.key {
                if k.key_path == health_key_path {
                    return Err(ctx(format!("key {}: key path {:?} is reserved for the health check", k.id, k.key_path)));
                }
                let path = KeyPath::new(k.key_path.clone()).map_err(|e| ctx(format!("key {}: {e}", k.id)))?;
                if let Some(other) = all_paths.insert(path.clone(), k.id.clone()) {
                    return Err(ctx(format!(
                        "key {}: key path {:?} is already the path of key {other}; the key path determines the AES key, and \
                         each external key must have its own (AWS KMS: each KMS key in an external key store uses a different external key)",
                        k.id, k.key_path
                    )));
                }
                let point = path.to_point().map_err(|e| ctx(format!("key {}: {e}", k.id)))?;
                let mut usage = k.usage;
                usage.dedup();
                let key = ExternalKey { id: k.id.clone(), point, status: k.status, usage };
                if keys.insert(k.id.clone(), Arc::new(key)).is_some() {
                    return Err(ctx(format!("external key id {} is defined twice", k.id)));
                }
            }
            let quota = (s.requests_per_second > 0).then(|| Quota::new(s.requests_per_second, s.burst));
            let policy = match &s.authorization_policy {
                None => None,
                Some(p) => {
                    let p = base.join(p);
                    Some(Policy::parse(&read(&p)?).map_err(|e| ctx(format!("{}: {e}", p.display())))?)
                }
            };
            stores.push(Arc::new(KeyStore {
                name: s.name,
                prefix,
                enabled: s.enabled,
                credentials,
                regions: s.regions,
                keys,
                quota,
                policy,
                credentials_modified,
            }));
        }
        Ok(Self { stores })
    }
}

/// A file's modification time in Unix seconds, if the file system keeps one.
fn modified_unix_seconds(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
}

fn read(path: &Path) -> Result<Zeroizing<String>, StoreError> {
    std::fs::read_to_string(path).map(Zeroizing::new).map_err(|source| StoreError::Read { path: path.display().to_string(), source })
}

fn toml_parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, StoreError> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(text)).extract().map_err(|e| StoreError::Parse {
        path: path.display().to_string(),
        // figment's messages name keys and types, not values.
        message: e.to_string(),
    })
}

/// The current key stores, swapped atomically on reload.
#[derive(Debug)]
pub struct Reloadable {
    path: PathBuf,
    health_key_path: String,
    ids: Option<Arc<xks_sops::Identities>>,
    current: RwLock<Arc<KeyStores>>,
}

impl Reloadable {
    /// Loads the file once.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn load(path: PathBuf, health_key_path: String, ids: Option<Arc<xks_sops::Identities>>) -> Result<Self, StoreError> {
        let stores = KeyStores::load(&path, &health_key_path, ids.as_deref())?;
        Ok(Self { path, health_key_path, ids, current: RwLock::new(Arc::new(stores)) })
    }

    /// The current generation (cheap: one `Arc` clone).
    pub fn get(&self) -> Arc<KeyStores> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads the file; on error the running configuration stays.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn reload(&self) -> Result<Arc<KeyStores>, StoreError> {
        let stores = Arc::new(KeyStores::load(&self.path, &self.health_key_path, self.ids.as_deref())?);
        match self.current.write() {
            Ok(mut g) => *g = stores.clone(),
            Err(p) => *p.into_inner() = stores.clone(),
        }
        Ok(stores)
    }
}
