//! Repair of a lost share from `t` helpers without forming the secret
//! (the enrollment protocol of Laing and Stinson, as used by FROST's
//! "repairable threshold scheme").
//!
//! Helper `i` of the helper set `H` computes `ζ_i = Π_{j∈H, j≠i} (r − j)/(i − j)`
//! (its Lagrange coefficient at the lost holder's position `r`), splits
//! `ζ_i·s_i` into `|H|` random summands and sends one to each helper
//! ([`repair_step1`]). Each helper sums what it received into `σ_j` and sends
//! that to the lost holder ([`repair_step2`]), who adds the sigmas and checks
//! the result against its verification share `Y_r` ([`repair_step3`]). Every
//! value a party sees is uniformly random apart from the final `s_r`.

use p256::Scalar;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::{points_equal, serde_hex};
use crate::group::{mul_base, random_nonzero_scalar};
use crate::keyset::{KeySet, KeySetId};
use crate::polynomial::{CombiningSet, lagrange};
use crate::share::{HolderKey, Share};
use crate::suite::FORMAT_VERSION;
use crate::{Error, HolderId, Result};

/// Step-1 message from helper `from` to helper `to`: one random summand. Secret.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepairDelta {
    version: u32,
    #[zeroize(skip)]
    key_set_id: KeySetId,
    epoch: u32,
    #[zeroize(skip)]
    lost: HolderId,
    #[zeroize(skip)]
    from: HolderId,
    #[zeroize(skip)]
    to: HolderId,
    #[serde(with = "serde_hex::scalar")]
    delta: Scalar,
}

/// Step-2 message from a helper to the lost holder: the sum of its deltas. Secret.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepairSigma {
    version: u32,
    #[zeroize(skip)]
    key_set_id: KeySetId,
    epoch: u32,
    #[zeroize(skip)]
    lost: HolderId,
    #[zeroize(skip)]
    from: HolderId,
    #[serde(with = "serde_hex::scalar")]
    sigma: Scalar,
}

impl core::fmt::Debug for RepairDelta {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RepairDelta(from={}, to={}, lost={}, <redacted>)", self.from, self.to, self.lost)
    }
}

impl core::fmt::Debug for RepairSigma {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RepairSigma(from={}, lost={}, <redacted>)", self.from, self.lost)
    }
}

impl RepairDelta {
    /// The helper this delta must be sent to.
    pub fn to(&self) -> HolderId {
        self.to
    }
}

fn check_helpers(key_set: &KeySet, helpers: &CombiningSet, lost: HolderId) -> Result<()> {
    if helpers.len() != key_set.threshold() {
        return Err(Error::WrongHolderCount { expected: key_set.threshold(), got: helpers.len() });
    }
    if helpers.contains(lost) {
        return Err(Error::Protocol(format!("holder {lost} cannot help repair its own share")));
    }
    key_set.verification_share(lost)?;
    for h in helpers.holders() {
        key_set.verification_share(*h)?;
    }
    Ok(())
}

/// Helper side, step 1: split `ζ_i·s_i` into one random summand per helper.
///
/// # Errors
/// [`Error::WrongHolderCount`] unless exactly `t` helpers; [`Error::UnknownHolder`];
/// [`Error::Protocol`] if the lost holder is among the helpers.
pub fn repair_step1<R: RngCore + CryptoRng>(
    helper: &HolderKey,
    helpers: &CombiningSet,
    lost: HolderId,
    rng: &mut R,
) -> Result<Vec<RepairDelta>> {
    let key_set = helper.key_set();
    check_helpers(key_set, helpers, lost)?;
    let me = helper.holder();
    let zeta = lagrange(helpers.holders(), me, lost.to_scalar())?;
    let mut remaining = zeta * helper.share().secret();
    let mut out = Vec::with_capacity(helpers.len());
    let (last, rest) = helpers.holders().split_last().ok_or(Error::WrongHolderCount { expected: 1, got: 0 })?;
    let message = |to: HolderId, delta: Scalar| RepairDelta {
        version: FORMAT_VERSION,
        key_set_id: key_set.id(),
        epoch: key_set.epoch(),
        lost,
        from: me,
        to,
        delta,
    };
    for to in rest {
        let r = random_nonzero_scalar(rng);
        remaining -= r;
        out.push(message(*to, r));
    }
    out.push(message(*last, remaining));
    remaining.zeroize();
    Ok(out)
}

/// Helper side, step 2: sum the deltas addressed to this helper (one from each helper).
///
/// # Errors
/// [`Error::Protocol`] for missing, duplicate or misaddressed deltas.
pub fn repair_step2(helper: &HolderKey, helpers: &CombiningSet, lost: HolderId, deltas: &[RepairDelta]) -> Result<RepairSigma> {
    let key_set = helper.key_set();
    check_helpers(key_set, helpers, lost)?;
    let me = helper.holder();
    let mut sigma = Scalar::ZERO;
    for from in helpers.holders() {
        let mut it = deltas.iter().filter(|d| d.from == *from && d.to == me);
        let d = match (it.next(), it.next()) {
            (Some(d), None) => d,
            _ => return Err(Error::Protocol(format!("need exactly one repair delta from helper {from} to {me}"))),
        };
        if d.version != FORMAT_VERSION || d.key_set_id != key_set.id() || d.epoch != key_set.epoch() || d.lost != lost {
            return Err(Error::Protocol(format!("repair delta from helper {from} is for another repair")));
        }
        sigma += d.delta;
    }
    let out = RepairSigma { version: FORMAT_VERSION, key_set_id: key_set.id(), epoch: key_set.epoch(), lost, from: me, sigma };
    sigma.zeroize();
    Ok(out)
}

/// Lost holder, step 3: add the sigmas and verify `s_r·G == Y_r`.
///
/// # Errors
/// [`Error::Protocol`] for missing or foreign sigmas; [`Error::ShareMismatch`]
/// when the result does not verify (a helper sent garbage).
pub fn repair_step3(key_set: &KeySet, helpers: &CombiningSet, lost: HolderId, sigmas: &[RepairSigma]) -> Result<HolderKey> {
    check_helpers(key_set, helpers, lost)?;
    let mut s = Scalar::ZERO;
    for from in helpers.holders() {
        let mut it = sigmas.iter().filter(|x| x.from == *from);
        let x = match (it.next(), it.next()) {
            (Some(x), None) => x,
            _ => return Err(Error::Protocol(format!("need exactly one repair sigma from helper {from}"))),
        };
        if x.version != FORMAT_VERSION || x.key_set_id != key_set.id() || x.epoch != key_set.epoch() || x.lost != lost {
            return Err(Error::Protocol(format!("repair sigma from helper {from} is for another repair")));
        }
        s += x.sigma;
    }
    if !points_equal(&mul_base(&s), key_set.verification_share(lost)?) {
        s.zeroize();
        return Err(Error::ShareMismatch(lost));
    }
    let share = Share::new(lost, key_set.id(), key_set.generation(), key_set.epoch(), s);
    s.zeroize();
    HolderKey::new(share?, key_set.clone())
}
