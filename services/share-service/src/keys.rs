//! The shares this service holds, by (generation, epoch), a bounded cache of
//! key-path points, and a bounded memo of this holder's proof-free partials.
//! The service hashes every key path itself; it never multiplies a point a
//! caller chose.
//!
//! The memo: `W = (λ·s)·V` is fixed by (generation, epoch, combining set, key
//! path), so a proof-free request for a path seen before is answered with the
//! partial computed then, not a new scalar multiplication. It is this
//! holder's own secret-derived value, held in this process next to the share
//! it comes from (the proxy keeps nothing of the kind: docs/architecture.md
//! §2); entries are zeroized when dropped. Every request is still checked
//! (lock, deny, anomaly) and durably audited before its answer leaves.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use rand_core::OsRng;
use xks_service::keys::KeyLoadError;
use xks_threshold::{CombiningSet, HolderId, HolderKey, KeyPath, KeyPoint, Partial};

/// Points cached at most (then the cache starts over; `V` is cheap to recompute).
const POINT_CACHE: usize = 65_536;

/// Proof-free partials memoized at most (then the memo starts over).
const PARTIAL_MEMO: usize = 65_536;

/// What fixes a partial: the share (generation, epoch), the set, the key path.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PartialKey {
    generation: u32,
    epoch: u32,
    set: CombiningSet,
    key_path: KeyPath,
}

/// The loaded, verified shares.
pub struct ShareStore {
    holder: HolderId,
    keys: BTreeMap<(u32, u32), HolderKey>,
    points: Mutex<HashMap<KeyPath, KeyPoint>>,
    partials: Mutex<HashMap<PartialKey, Partial>>,
}

impl core::fmt::Debug for ShareStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShareStore").field("holder", &self.holder).field("keys", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl ShareStore {
    /// Loads key sets and shares and verifies each share against its key set.
    ///
    /// # Errors
    /// [`KeyLoadError`] naming the file.
    pub fn load(
        key_sets: &[impl AsRef<Path>],
        share_files: &[impl AsRef<Path>],
        expected_holder: Option<u32>,
        ids: Option<&xks_sops::Identities>,
    ) -> Result<Self, KeyLoadError> {
        let loaded = xks_service::keys::load(key_sets, share_files, expected_holder, ids)?;
        let mut keys = BTreeMap::new();
        for key in loaded.keys {
            let (generation, epoch) = (key.key_set().generation(), key.key_set().epoch());
            if keys.insert((generation, epoch), key).is_some() {
                return Err(KeyLoadError::Mismatch(format!("two shares for generation {generation} epoch {epoch}")));
            }
        }
        let holder = loaded.holder;
        Ok(Self { holder, keys, points: Mutex::new(HashMap::new()), partials: Mutex::new(HashMap::new()) })
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

    /// This holder's weighted partial for `point` towards `set` with `key`,
    /// with a fresh DLEQ proof if `proof`; a proof-free partial comes from the
    /// memo when this (share, set, key path) was evaluated before.
    ///
    /// # Errors
    /// As [`HolderKey::evaluate`] (a set without this holder, or of the wrong size).
    pub fn partial(&self, key: &HolderKey, point: &KeyPoint, set: &CombiningSet, proof: bool) -> xks_threshold::Result<Partial> {
        let memo_key = PartialKey {
            generation: key.key_set().generation(),
            epoch: key.key_set().epoch(),
            set: set.clone(),
            key_path: point.path().clone(),
        };
        if !proof
            && let Ok(memo) = self.partials.lock()
            && let Some(p) = memo.get(&memo_key)
        {
            return Ok(p.clone());
        }
        let partial = key.evaluate(point, set, proof, &mut OsRng)?;
        if let Ok(mut memo) = self.partials.lock() {
            if memo.len() >= PARTIAL_MEMO {
                memo.clear();
            }
            memo.insert(memo_key, partial.without_proof());
        }
        Ok(partial)
    }
}
