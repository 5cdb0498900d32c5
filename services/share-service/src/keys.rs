//! The shares this service holds, by (generation, epoch), and a bounded cache
//! of key-path points. The service hashes every key path itself; it never
//! multiplies a point a caller chose.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use xks_threshold::{HolderId, HolderKey, KeyPath, KeyPoint, KeySet, Share};

/// Points cached at most (then the cache starts over; `V` is cheap to recompute).
const POINT_CACHE: usize = 65_536;

/// Start-up errors of the share store.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file cannot be read or opened (sealed files: wrong or missing age identity, tampering).
    #[error("{path}: {reason}")]
    Sealed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file is not a valid key set or share, or they do not match.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        source: xks_threshold::Error,
    },
    /// Inconsistent set of shares.
    #[error("{0}")]
    Mismatch(String),
}

/// The loaded, verified shares.
pub struct ShareStore {
    holder: HolderId,
    keys: BTreeMap<(u32, u32), HolderKey>,
    points: Mutex<HashMap<KeyPath, KeyPoint>>,
}

impl core::fmt::Debug for ShareStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShareStore").field("holder", &self.holder).field("keys", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

/// Reads a key set or share file; a sealed (sops) share is opened with `ids`.
fn read(path: &Path, ids: Option<&xks_sops::Identities>) -> Result<zeroize::Zeroizing<String>, KeyError> {
    xks_sops::read_file(path, ids).map_err(|e| KeyError::Sealed { path: path.display().to_string(), reason: e.to_string() })
}

impl ShareStore {
    /// Loads key sets and shares and verifies each share against its key set.
    ///
    /// # Errors
    /// [`KeyError`] naming the file.
    pub fn load(
        key_sets: &[impl AsRef<Path>],
        share_files: &[impl AsRef<Path>],
        expected_holder: Option<u32>,
        ids: Option<&xks_sops::Identities>,
    ) -> Result<Self, KeyError> {
        let mut sets = Vec::new();
        for p in key_sets {
            let p = p.as_ref();
            let ks = KeySet::from_json(&read(p, None)?).map_err(|source| KeyError::Invalid { path: p.display().to_string(), source })?;
            sets.push(ks);
        }
        let mut keys = BTreeMap::new();
        let mut holder = None;
        for p in share_files {
            let p = p.as_ref();
            let invalid = |source| KeyError::Invalid { path: p.display().to_string(), source };
            let share = Share::from_json(&read(p, ids)?).map_err(invalid)?;
            let ks = sets.iter().find(|k| k.id() == share.key_set_id() && k.epoch() == share.epoch()).ok_or_else(|| {
                KeyError::Mismatch(format!("{}: no key set for generation {} epoch {}", p.display(), share.generation(), share.epoch()))
            })?;
            let key = HolderKey::new(share, ks.clone()).map_err(invalid)?;
            if *holder.get_or_insert(key.holder()) != key.holder() {
                return Err(KeyError::Mismatch("share files belong to different holders".into()));
            }
            if keys.insert((ks.generation(), ks.epoch()), key).is_some() {
                return Err(KeyError::Mismatch(format!(
                    "{}: two shares for generation {} epoch {}",
                    p.display(),
                    ks.generation(),
                    ks.epoch()
                )));
            }
        }
        let holder = holder.ok_or_else(|| KeyError::Mismatch("no share file".into()))?;
        if let Some(h) = expected_holder
            && h != u32::from(holder.get())
        {
            return Err(KeyError::Mismatch(format!("shares belong to holder {holder}, configuration says {h}")));
        }
        Ok(Self { holder, keys, points: Mutex::new(HashMap::new()) })
    }

    /// This service's holder id.
    pub fn holder(&self) -> HolderId {
        self.holder
    }

    /// Number of (generation, epoch) shares held.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// All held keys.
    pub fn keys(&self) -> impl Iterator<Item = &HolderKey> {
        self.keys.values()
    }

    /// The share for a generation and epoch.
    pub fn key(&self, generation: u32, epoch: u32) -> Option<&HolderKey> {
        self.keys.get(&(generation, epoch))
    }

    /// `V = hash_to_curve(p)`, cached.
    ///
    /// # Errors
    /// Only in the negligible case that the hash is the identity.
    pub fn point(&self, path: &KeyPath) -> xks_threshold::Result<KeyPoint> {
        if let Ok(cache) = self.points.lock()
            && let Some(p) = cache.get(path)
        {
            return Ok(p.clone());
        }
        let p = path.to_point()?;
        if let Ok(mut cache) = self.points.lock() {
            if cache.len() >= POINT_CACHE {
                cache.clear();
            }
            cache.insert(path.clone(), p.clone());
        }
        Ok(p)
    }
}
