//! Trusted-dealer key generation (Shamir with Feldman commitments).
//!
//! The dealer holds the secret for the duration of the call only; the
//! polynomial is zeroized on return. Use [`crate::dkg`] where no machine may
//! ever hold the secret.

use rand_core::{CryptoRng, RngCore};

use crate::group::{mul_base, random_nonzero_scalar};
use crate::keyset::{KeySet, VerificationShare, check_threshold, key_set_id};
use crate::polynomial::Polynomial;
use crate::share::Share;
use crate::{Error, HolderId, Result};

/// Deals a fresh master secret of the given generation into `holders` shares
/// (holder ids `1..=holders`), any `threshold` of which derive every key.
///
/// # Errors
/// [`Error::InvalidThreshold`] unless `2 <= threshold <= holders <= 255`;
/// [`Error::UnsupportedVersion`] for generation 0 (generations start at 1).
pub fn generate<R: RngCore + CryptoRng>(threshold: u16, holders: u16, generation: u32, rng: &mut R) -> Result<(KeySet, Vec<Share>)> {
    check_threshold(usize::from(threshold), usize::from(holders))?;
    if generation == 0 {
        return Err(Error::UnsupportedVersion { what: "generation", version: 0 });
    }
    let poly = Polynomial::random(random_nonzero_scalar(rng), usize::from(threshold) - 1, rng);
    let commitments = poly.commitments();
    let group_key = *commitments.first().ok_or(Error::InvalidThreshold { t: 0, n: 0 })?;
    let id = key_set_id(generation, &group_key);
    let mut shares = Vec::with_capacity(usize::from(holders));
    let mut public = Vec::with_capacity(usize::from(holders));
    for i in 1..=u32::from(holders) {
        let holder = HolderId::new(i)?;
        let s = poly.evaluate(holder);
        public.push(VerificationShare { holder, key: mul_base(&s) });
        shares.push(Share::new(holder, id, generation, 0, s)?);
    }
    let key_set = KeySet::new(generation, 0, threshold, group_key, commitments, public)?;
    Ok((key_set, shares))
}
