//! Proactive refresh: new shares of the same secret (epoch + 1).
//!
//! Each contributor deals a random polynomial `δ` with `δ(0) = 0` and publishes
//! Feldman commitments `D_1 … D_{t-1}` (`D_0` is the identity by construction,
//! so a contribution can never change the secret). Holder `j` receives `δ(j)`,
//! checks it against the commitments, and adds it to its share. With every
//! holder contributing, no single party knows the refresh; one contributor
//! (an operator's offline machine) is the dealer variant. Old shares stop
//! matching the new verification shares, so mixing epochs is refused.

use std::collections::BTreeSet;

use p256::{AffinePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::{encode_point, points_equal, serde_hex};
use crate::group::mul_base;
use crate::keyset::{KeySet, KeySetId, VerificationShare};
use crate::polynomial::{Polynomial, evaluate_commitments};
use crate::share::{HolderKey, Share};
use crate::suite::{FORMAT_VERSION, LABEL_REFRESH_CONTRIBUTION};
use crate::{Error, HolderId, Result};

/// Public part of one refresh contribution: commitments to `δ_1 … δ_{t-1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshContribution {
    version: u32,
    key_set_id: KeySetId,
    from_epoch: u32,
    /// 16 random bytes that make every contribution distinct, whatever its
    /// commitments (the property tests once found t = 1 contributions, which
    /// have none, all hashing to one id; t = 1 is now refused altogether).
    #[serde(with = "serde_hex::bytes")]
    nonce: Vec<u8>,
    #[serde(with = "serde_hex::points")]
    commitments: Vec<AffinePoint>,
}

/// One holder's secret part of a contribution, `δ(j)`. Send it only to holder `j`, encrypted.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshDelta {
    version: u32,
    #[zeroize(skip)]
    key_set_id: KeySetId,
    from_epoch: u32,
    #[serde(with = "serde_hex::bytes")]
    contribution: Vec<u8>,
    #[zeroize(skip)]
    recipient: HolderId,
    #[serde(with = "serde_hex::scalar")]
    delta: Scalar,
}

impl core::fmt::Debug for RefreshDelta {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RefreshDelta(recipient={}, from_epoch={}, <redacted>)", self.recipient, self.from_epoch)
    }
}

impl RefreshDelta {
    /// The holder this delta is for.
    pub fn recipient(&self) -> HolderId {
        self.recipient
    }
}

impl RefreshContribution {
    /// Hash identifying this contribution (deltas name it).
    ///
    /// # Errors
    /// Never for a contribution built or parsed by this crate.
    pub fn id(&self) -> Result<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(LABEL_REFRESH_CONTRIBUTION);
        h.update(self.key_set_id.0);
        h.update(self.from_epoch.to_be_bytes());
        h.update([u8::try_from(self.nonce.len()).unwrap_or(u8::MAX)]);
        h.update(&self.nonce);
        for c in &self.commitments {
            h.update(encode_point(c)?);
        }
        Ok(h.finalize().into())
    }
}

/// Deals one refresh contribution for `key_set`: public commitments and one
/// secret delta per holder.
///
/// # Errors
/// Never for a valid key set.
pub fn contribute<R: RngCore + CryptoRng>(key_set: &KeySet, rng: &mut R) -> Result<(RefreshContribution, Vec<RefreshDelta>)> {
    let poly = Polynomial::random(Scalar::ZERO, key_set.threshold() - 1, rng);
    let commitments: Vec<AffinePoint> = poly.commitments().into_iter().skip(1).collect();
    let mut nonce = vec![0u8; 16];
    rng.fill_bytes(&mut nonce);
    let contribution =
        RefreshContribution { version: FORMAT_VERSION, key_set_id: key_set.id(), from_epoch: key_set.epoch(), nonce, commitments };
    let cid = contribution.id()?.to_vec();
    let deltas = key_set
        .holders()
        .map(|recipient| RefreshDelta {
            version: FORMAT_VERSION,
            key_set_id: key_set.id(),
            from_epoch: key_set.epoch(),
            contribution: cid.clone(),
            recipient,
            delta: poly.evaluate(recipient),
        })
        .collect();
    Ok((contribution, deltas))
}

fn check_contributions(key_set: &KeySet, contributions: &[RefreshContribution]) -> Result<()> {
    if contributions.is_empty() {
        return Err(Error::Protocol("refresh needs at least one contribution".into()));
    }
    let mut ids = BTreeSet::new();
    for c in contributions {
        if c.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { what: "refresh contribution", version: c.version });
        }
        if c.key_set_id != key_set.id() {
            return Err(Error::Protocol("refresh contribution is for another key set".into()));
        }
        if c.from_epoch != key_set.epoch() {
            return Err(Error::EpochMismatch { expected: key_set.epoch(), got: c.from_epoch });
        }
        if c.commitments.len() + 1 != key_set.threshold() {
            return Err(Error::Protocol("refresh contribution has the wrong degree".into()));
        }
        if !ids.insert(c.id()?) {
            return Err(Error::Protocol("the same refresh contribution was given twice".into()));
        }
    }
    Ok(())
}

/// The key set of the next epoch: commitments `C_k + Σ D_k` (k ≥ 1), same group key.
///
/// # Errors
/// [`Error::Protocol`] / [`Error::EpochMismatch`] for contributions that do not
/// belong to this key set and epoch.
pub fn next_key_set(key_set: &KeySet, contributions: &[RefreshContribution]) -> Result<KeySet> {
    check_contributions(key_set, contributions)?;
    let mut sums: Vec<p256::ProjectivePoint> = key_set.commitments().iter().map(|c| p256::ProjectivePoint::from(*c)).collect();
    for c in contributions {
        for (acc, d) in sums.iter_mut().skip(1).zip(&c.commitments) {
            *acc += d;
        }
    }
    let commitments: Vec<AffinePoint> = sums.iter().map(|p| p.to_affine()).collect();
    let shares = key_set.holders().map(|holder| VerificationShare { holder, key: evaluate_commitments(&commitments, holder) }).collect();
    let threshold = u16::try_from(key_set.threshold()).map_err(|_| Error::InconsistentKeySet("threshold"))?;
    let epoch = key_set.epoch().checked_add(1).ok_or(Error::Protocol("epoch counter exhausted".into()))?;
    let next = KeySet::new(key_set.generation(), epoch, threshold, *key_set.group_key(), commitments, shares)?;
    if !key_set.same_secret(&next) {
        return Err(Error::Protocol("refresh would change the secret".into()));
    }
    Ok(next)
}

/// A holder's share of the next epoch: checks each delta against its
/// contribution, adds them, and verifies the result against the next key set.
///
/// # Errors
/// [`Error::Protocol`] if a delta is missing, duplicated or does not match its
/// contribution's commitments; [`Error::ShareMismatch`] if the result does not
/// verify against `next_key_set(…)`.
pub fn refresh_share(current: &HolderKey, contributions: &[RefreshContribution], deltas: &[RefreshDelta]) -> Result<HolderKey> {
    let key_set = current.key_set();
    let me = current.holder();
    let next = next_key_set(key_set, contributions)?;
    let mut new_secret = *current.share().secret();
    for c in contributions {
        let cid = c.id()?;
        let mut mine = deltas.iter().filter(|d| d.contribution == cid && d.recipient == me);
        let d = match (mine.next(), mine.next()) {
            (Some(d), None) => d,
            (None, _) => return Err(Error::Protocol(format!("missing refresh delta for holder {me}"))),
            (Some(_), Some(_)) => return Err(Error::Protocol(format!("duplicate refresh delta for holder {me}"))),
        };
        if d.from_epoch != key_set.epoch() || d.key_set_id != key_set.id() {
            return Err(Error::EpochMismatch { expected: key_set.epoch(), got: d.from_epoch });
        }
        // Σ_{k≥1} D_k·j^k = j · Σ_{k≥1} D_k·j^(k-1); the list starts at D_1.
        let expected = (p256::ProjectivePoint::from(evaluate_commitments(&c.commitments, me)) * me.to_scalar()).to_affine();
        if !points_equal(&mul_base(&d.delta), &expected) {
            return Err(Error::Protocol(format!("refresh delta for holder {me} does not match its commitments")));
        }
        new_secret += d.delta;
    }
    let share = Share::new(me, key_set.id(), key_set.generation(), next.epoch(), new_secret)?;
    new_secret.zeroize();
    HolderKey::new(share, next)
}
