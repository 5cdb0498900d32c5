//! Rotation to a new master secret (generation + 1) and the set of
//! generations a proxy holds: the newest encrypts, every one decrypts.

use std::collections::BTreeMap;

use rand_core::{CryptoRng, RngCore};

use crate::envelope::Metadata;
use crate::keyset::KeySet;
use crate::share::Share;
use crate::{Error, Result, dealer};

/// Deals the next generation with the same threshold and holder count.
/// Old key sets and shares stay valid for decrypting old ciphertext.
///
/// # Errors
/// [`Error::Protocol`] if the generation counter is exhausted.
pub fn rotate<R: RngCore + CryptoRng>(current: &KeySet, rng: &mut R) -> Result<(KeySet, Vec<Share>)> {
    let next = current.generation().checked_add(1).ok_or(Error::Protocol("generation counter exhausted".into()))?;
    let t = u16::try_from(current.threshold()).map_err(|_| Error::InconsistentKeySet("threshold"))?;
    let n = u16::try_from(current.verification_shares().len()).map_err(|_| Error::InconsistentKeySet("holders"))?;
    dealer::generate(t, n, next, rng)
}

/// Key sets, or what holds one (a holder's key), by generation: the newest
/// encrypts, the one a ciphertext names decrypts.
#[derive(Clone, Debug)]
pub struct Generations<K = KeySet> {
    by_generation: BTreeMap<u32, K>,
}

impl<K: AsRef<KeySet>> Generations<K> {
    /// # Errors
    /// [`Error::Protocol`] when empty or when two entries share a generation.
    pub fn new(entries: impl IntoIterator<Item = K>) -> Result<Self> {
        let mut by_generation = BTreeMap::new();
        for entry in entries {
            let g = entry.as_ref().generation();
            if by_generation.insert(g, entry).is_some() {
                return Err(Error::Protocol(format!("two key sets for generation {g}")));
            }
        }
        if by_generation.is_empty() {
            return Err(Error::Protocol("no key set".into()));
        }
        Ok(Self { by_generation })
    }

    /// The newest generation: the only one new encryptions use.
    ///
    /// # Errors
    /// Never (the set is non-empty by construction).
    pub fn current(&self) -> Result<&K> {
        self.by_generation.values().next_back().ok_or(Error::Protocol("no key set".into()))
    }

    /// Generation `generation`, if held.
    pub fn get(&self, generation: u32) -> Option<&K> {
        self.by_generation.get(&generation)
    }

    /// The generation a ciphertext's metadata names.
    ///
    /// # Errors
    /// [`Error::UnknownGeneration`].
    pub fn for_decrypt(&self, metadata: &Metadata) -> Result<&K> {
        self.get(metadata.generation()).ok_or(Error::UnknownGeneration(metadata.generation()))
    }

    /// Every generation, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.by_generation.values()
    }
}
