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

/// Key sets by generation.
#[derive(Clone, Debug)]
pub struct Generations {
    sets: BTreeMap<u32, KeySet>,
}

impl Generations {
    /// # Errors
    /// [`Error::Protocol`] when empty or when two key sets share a generation.
    pub fn new(sets: impl IntoIterator<Item = KeySet>) -> Result<Self> {
        let mut map = BTreeMap::new();
        for ks in sets {
            let g = ks.generation();
            if map.insert(g, ks).is_some() {
                return Err(Error::Protocol(format!("two key sets for generation {g}")));
            }
        }
        if map.is_empty() {
            return Err(Error::Protocol("no key set".into()));
        }
        Ok(Self { sets: map })
    }

    /// The newest generation: the only one new encryptions use.
    ///
    /// # Errors
    /// Never (the set is non-empty by construction).
    pub fn current(&self) -> Result<&KeySet> {
        self.sets.values().next_back().ok_or(Error::Protocol("no key set".into()))
    }

    /// The key set named by a ciphertext's metadata.
    ///
    /// # Errors
    /// [`Error::UnknownGeneration`].
    pub fn for_decrypt(&self, metadata: &Metadata) -> Result<&KeySet> {
        self.sets.get(&metadata.generation()).ok_or(Error::UnknownGeneration(metadata.generation()))
    }
}
