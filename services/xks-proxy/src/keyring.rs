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

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use xks_service::keys::KeyLoadError;
use xks_threshold::rotation::Generations;
use xks_threshold::{Combiner, CombiningSet, HolderId, HolderKey, KeyPoint, KeySet, PartialCommitment, VerifiedPartial};

/// Own partials cached at most (then the cache starts over).
const OWN_PARTIAL_CACHE: usize = 65_536;

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

impl AsRef<KeySet> for Generation {
    fn as_ref(&self) -> &KeySet {
        self.key_set()
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
    generations: Generations<Generation>,
    combiners: Mutex<HashMap<(u32, String), Arc<Combiner>>>,
    commitments: Mutex<HashMap<CommitmentKey, PartialCommitment>>,
    commitment_cap: usize,
    own_partials: Mutex<HashMap<(u32, String, String), VerifiedPartial>>,
}

impl Keyring {
    /// Loads key sets and our shares; each share is verified against its key
    /// set; one share per generation.
    ///
    /// # Errors
    /// [`KeyLoadError`] naming the file.
    pub fn load(
        key_sets: &[impl AsRef<Path>],
        share_files: &[impl AsRef<Path>],
        expected_holder: Option<u32>,
        commitment_cap: usize,
        ids: Option<&xks_sops::Identities>,
    ) -> Result<Self, KeyLoadError> {
        let loaded = xks_service::keys::load(key_sets, share_files, expected_holder, ids)?;
        // One share per generation: the proxy holds one epoch of each.
        let generations = Generations::new(loaded.keys.into_iter().map(|own| Generation { own }))
            .map_err(|e| KeyLoadError::Mismatch(format!("{e} (the proxy holds one epoch per generation)")))?;
        let holder = loaded.holder;
        for g in generations.iter() {
            if g.key_set().threshold() != 2 {
                return Err(KeyLoadError::Mismatch(format!(
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
        self.generations.current().ok()
    }

    /// A generation (Decrypt uses the one the ciphertext metadata names).
    pub fn generation(&self, g: u32) -> Option<&Generation> {
        self.generations.get(g)
    }

    /// All generations.
    pub fn generations(&self) -> impl Iterator<Item = &Generation> {
        self.generations.iter()
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
