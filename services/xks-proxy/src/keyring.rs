//! The proxy's own share (holder 1) for every key generation, the public key
//! sets, and the combiners of every combining set it uses.
//!
//! What is cached here, and why it keeps the invariant of docs/architecture.md §2
//! (the proxy can never derive a key without the partner's live work):
//! - `V = hash_to_curve(p)` is public (kept in each external key);
//! - the proxy's own weighted partial `λ_1·s_1·V` derives from its own share;
//! - [`PartialCommitment`]s are SHA-256 hashes of partner partials that were
//!   verified by their DLEQ proof: non-invertible, they let a later partial be
//!   checked with one hash but cannot stand in for it.
//!
//! Nothing here holds a partner partial, `S` or an AES key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use xks_threshold::{Combiner, CombiningSet, HolderId, HolderKey, KeyPoint, KeySet, PartialCommitment, Share, VerifiedPartial};
use zeroize::Zeroizing;

/// Own partials cached at most (then the cache starts over).
const OWN_PARTIAL_CACHE: usize = 65_536;

/// Start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
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
    /// Inconsistent configuration.
    #[error("{0}")]
    Mismatch(String),
}

/// One generation: our share and its key set.
#[derive(Debug)]
pub struct Generation {
    /// Our share (verified against the key set at load).
    pub own: HolderKey,
}

impl Generation {
    /// The key set.
    pub fn key_set(&self) -> &KeySet {
        self.own.key_set()
    }
}

/// Identifies a commitment: partner, generation, epoch, set and key path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CommitmentKey {
    partner: HolderId,
    generation: u32,
    epoch: u32,
    set: String,
    key_path: String,
}

/// Own shares, combiners and the verified-commitment cache.
#[derive(Debug)]
pub struct Keyring {
    holder: HolderId,
    generations: BTreeMap<u32, Generation>,
    combiners: Mutex<HashMap<(u32, String), Arc<Combiner>>>,
    commitments: Mutex<HashMap<CommitmentKey, PartialCommitment>>,
    commitment_cap: usize,
    own_partials: Mutex<HashMap<(u32, String, String), VerifiedPartial>>,
}

/// Reads a key set or share file; a sealed (sops) share is opened with `ids`.
fn read(path: &Path, ids: Option<&xks_sops::Identities>) -> Result<Zeroizing<String>, KeyringError> {
    xks_sops::read_file(path, ids).map_err(|e| KeyringError::Sealed { path: path.display().to_string(), reason: e.to_string() })
}

impl Keyring {
    /// Loads key sets and our shares; each share is verified against its key
    /// set; one share per generation.
    ///
    /// # Errors
    /// [`KeyringError`] naming the file.
    pub fn load(
        key_sets: &[impl AsRef<Path>],
        share_files: &[impl AsRef<Path>],
        expected_holder: Option<u32>,
        commitment_cap: usize,
        ids: Option<&xks_sops::Identities>,
    ) -> Result<Self, KeyringError> {
        let mut sets = Vec::new();
        for p in key_sets {
            let p = p.as_ref();
            sets.push(
                KeySet::from_json(&read(p, None)?).map_err(|source| KeyringError::Invalid { path: p.display().to_string(), source })?,
            );
        }
        let mut generations = BTreeMap::new();
        let mut holder = None;
        for p in share_files {
            let p = p.as_ref();
            let invalid = |source| KeyringError::Invalid { path: p.display().to_string(), source };
            let share = Share::from_json(&read(p, ids)?).map_err(invalid)?;
            let ks = sets.iter().find(|k| k.id() == share.key_set_id() && k.epoch() == share.epoch()).ok_or_else(|| {
                KeyringError::Mismatch(format!("{}: no key set for generation {} epoch {}", p.display(), share.generation(), share.epoch()))
            })?;
            let own = HolderKey::new(share, ks.clone()).map_err(invalid)?;
            if *holder.get_or_insert(own.holder()) != own.holder() {
                return Err(KeyringError::Mismatch("share files belong to different holders".into()));
            }
            let g = ks.generation();
            if generations.insert(g, Generation { own }).is_some() {
                return Err(KeyringError::Mismatch(format!(
                    "{}: two shares for generation {g} (the proxy holds one epoch per generation)",
                    p.display()
                )));
            }
        }
        let holder = holder.ok_or_else(|| KeyringError::Mismatch("no share file".into()))?;
        if let Some(h) = expected_holder
            && h != u32::from(holder.get())
        {
            return Err(KeyringError::Mismatch(format!("shares belong to holder {holder}, configuration says {h}")));
        }
        for g in generations.values() {
            if g.key_set().threshold() != 2 {
                return Err(KeyringError::Mismatch(format!(
                    "generation {} has threshold {}: the proxy combines its own share with one partner (t = 2)",
                    g.key_set().generation(),
                    g.key_set().threshold()
                )));
            }
        }
        Ok(Self {
            holder,
            generations,
            combiners: Mutex::new(HashMap::new()),
            commitments: Mutex::new(HashMap::new()),
            commitment_cap,
            own_partials: Mutex::new(HashMap::new()),
        })
    }

    /// Our holder id.
    pub fn holder(&self) -> HolderId {
        self.holder
    }

    /// The newest generation (the one Encrypt uses).
    pub fn current(&self) -> Option<&Generation> {
        self.generations.values().next_back()
    }

    /// A generation (Decrypt uses the one the ciphertext metadata names).
    pub fn generation(&self, g: u32) -> Option<&Generation> {
        self.generations.get(&g)
    }

    /// All generations.
    pub fn generations(&self) -> impl Iterator<Item = &Generation> {
        self.generations.values()
    }

    /// The combining set `{us, partner}`.
    ///
    /// # Errors
    /// If the partner id equals ours.
    pub fn set_with(&self, partner: HolderId) -> xks_threshold::Result<CombiningSet> {
        CombiningSet::new([self.holder, partner])
    }

    /// The combiner for a generation and set (built once, then shared).
    ///
    /// # Errors
    /// If a set member is not in the key set.
    pub fn combiner(&self, g: &Generation, set: &CombiningSet) -> xks_threshold::Result<Arc<Combiner>> {
        let key = (g.key_set().generation(), set.to_label());
        if let Ok(m) = self.combiners.lock()
            && let Some(c) = m.get(&key)
        {
            return Ok(c.clone());
        }
        let c = Arc::new(Combiner::new(g.key_set().clone(), set.clone())?);
        if let Ok(mut m) = self.combiners.lock() {
            m.insert(key, c.clone());
        }
        Ok(c)
    }

    /// Our own weighted partial for a key path and set (cached: it derives
    /// from our own share only).
    ///
    /// # Errors
    /// As [`HolderKey::evaluate_own`].
    pub fn own_partial(&self, g: &Generation, point: &KeyPoint, set: &CombiningSet) -> xks_threshold::Result<VerifiedPartial> {
        let key = (g.key_set().generation(), set.to_label(), point.path().as_str().to_owned());
        if let Ok(m) = self.own_partials.lock()
            && let Some(p) = m.get(&key)
        {
            return Ok(p.clone());
        }
        let p = g.own.evaluate_own(point, set)?;
        if let Ok(mut m) = self.own_partials.lock() {
            if m.len() >= OWN_PARTIAL_CACHE {
                m.clear();
            }
            m.insert(key, p.clone());
        }
        Ok(p)
    }

    fn commitment_key(partner: HolderId, g: &Generation, set: &CombiningSet, point: &KeyPoint) -> CommitmentKey {
        CommitmentKey {
            partner,
            generation: g.key_set().generation(),
            epoch: g.key_set().epoch(),
            set: set.to_label(),
            key_path: point.path().as_str().to_owned(),
        }
    }

    /// The commitment to a partner partial verified earlier, if any.
    pub fn commitment(&self, partner: HolderId, g: &Generation, set: &CombiningSet, point: &KeyPoint) -> Option<PartialCommitment> {
        let k = Self::commitment_key(partner, g, set, point);
        self.commitments.lock().ok()?.get(&k).copied()
    }

    /// Remembers the commitment of a partial whose proof verified.
    pub fn remember(&self, partner: HolderId, g: &Generation, set: &CombiningSet, point: &KeyPoint, c: PartialCommitment) {
        let k = Self::commitment_key(partner, g, set, point);
        if let Ok(mut m) = self.commitments.lock() {
            if m.len() >= self.commitment_cap && !m.contains_key(&k) {
                // Bounded: start over (each entry costs one proof to re-establish).
                m.clear();
            }
            m.insert(k, c);
        }
    }
}
