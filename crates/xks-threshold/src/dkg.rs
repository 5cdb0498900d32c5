//! Distributed key generation as file-exchange rounds: no machine ever holds
//! the master secret.
//!
//! The protocol is Pedersen's DKG with proofs of knowledge, the KeyGen of the
//! FROST paper (Komlo–Goldberg, Figure 1; RFC 9591 specifies no DKG), run by
//! the `frost-p256` crate; this module
//! wraps its packages in our versioned file formats and turns the result into
//! a [`KeySet`] and [`Share`] that work exactly like a dealer's.
//!
//! 1. [`part1`] on every holder: keep the [`Round1Secret`], broadcast the [`Round1Package`].
//! 2. [`part2`] with everyone else's round-1 packages: keep the [`Round2Secret`], send
//!    each [`Round2Package`] to its recipient only, **encrypted** (it carries a share
//!    of the recipient's share in plaintext).
//! 3. [`part3`] with all round-1 and the received round-2 packages: the key set
//!    (identical on every holder; compare its id out of band) and this holder's share.

use std::collections::BTreeMap;

use frost_p256::Identifier;
use frost_p256::keys::dkg::{round1, round2};
use p256::AffinePoint;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{decode_nonzero_scalar, decode_point, malformed, points_equal};
use crate::group::mul_base;
use crate::keyset::{KeySet, VerificationShare, check_threshold, key_set_id};
use crate::polynomial::evaluate_commitments;
use crate::share::{HolderKey, Share};
use crate::suite::{FORMAT_VERSION, SUITE};
use crate::{Error, HolderId, Result};

/// Parameters every message of one DKG run carries and every holder checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DkgParameters {
    /// Generation of the key set being made (>= 1).
    pub generation: u32,
    /// Threshold t (>= 2 for a DKG).
    pub threshold: u16,
    /// Number of holders n; holder ids are 1..=n.
    pub holders: u16,
}

/// Round-1 broadcast package (public).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Round1Package {
    version: u32,
    suite: String,
    params: DkgParameters,
    from: HolderId,
    package: round1::Package,
}

/// Round-1 state a holder keeps until [`part2`]. Secret: store it encrypted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Round1Secret {
    version: u32,
    suite: String,
    params: DkgParameters,
    holder: HolderId,
    package: round1::SecretPackage,
}

/// Round-2 package from one holder to another. Secret: encrypt it to the recipient.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Round2Package {
    version: u32,
    suite: String,
    params: DkgParameters,
    from: HolderId,
    to: HolderId,
    package: round2::Package,
}

/// Round-2 state a holder keeps until [`part3`]. Secret: store it encrypted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Round2Secret {
    version: u32,
    suite: String,
    params: DkgParameters,
    holder: HolderId,
    package: round2::SecretPackage,
}

macro_rules! redacted_debug {
    ($t:ty, $($field:ident),*) => {
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($field), &self.$field))*
                    .field("package", &"<redacted>")
                    .finish()
            }
        }
    };
}
redacted_debug!(Round1Secret, params, holder);
redacted_debug!(Round2Package, params, from, to);
redacted_debug!(Round2Secret, params, holder);

macro_rules! json_io {
    ($t:ty, $what:literal) => {
        impl $t {
            /// Parses the JSON form. Error messages never quote the input.
            ///
            /// # Errors
            /// [`Error::Malformed`], [`Error::UnsupportedVersion`], [`Error::UnsupportedSuite`].
            pub fn from_json(json: &str) -> Result<Self> {
                let v: Self = serde_json::from_str(json).map_err(|e| malformed($what, &e))?;
                check_header(v.version, &v.suite, $what)?;
                Ok(v)
            }
            /// The JSON form, in a buffer zeroized on drop.
            ///
            /// # Errors
            /// Never in practice.
            pub fn to_json(&self) -> Result<Zeroizing<String>> {
                serde_json::to_string_pretty(self).map(Zeroizing::new).map_err(|e| malformed($what, &e))
            }
        }
    };
}
json_io!(Round1Package, "DKG round-1 package");
json_io!(Round1Secret, "DKG round-1 secret");
json_io!(Round2Package, "DKG round-2 package");
json_io!(Round2Secret, "DKG round-2 secret");

impl Round1Package {
    /// Sender.
    pub fn from(&self) -> HolderId {
        self.from
    }
}

impl Round2Package {
    /// Sender.
    pub fn from(&self) -> HolderId {
        self.from
    }
    /// Recipient.
    pub fn to(&self) -> HolderId {
        self.to
    }
}

fn check_header(version: u32, suite: &str, what: &'static str) -> Result<()> {
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { what, version });
    }
    if suite != SUITE {
        return Err(Error::UnsupportedSuite(suite.to_owned()));
    }
    Ok(())
}

fn frost_err(e: frost_p256::Error) -> Error {
    Error::Protocol(format!("DKG: {e}"))
}

fn identifier(h: HolderId) -> Result<Identifier> {
    Identifier::try_from(h.get()).map_err(frost_err)
}

fn check_params(p: &DkgParameters) -> Result<()> {
    check_threshold(usize::from(p.threshold), usize::from(p.holders))?;
    if p.generation == 0 {
        return Err(Error::UnsupportedVersion { what: "generation", version: 0 });
    }
    Ok(())
}

/// Round 1 on holder `me`.
///
/// # Errors
/// [`Error::InvalidThreshold`] unless `2 <= t <= n <= 255`; [`Error::UnknownHolder`]
/// if `me` is not in `1..=n`.
pub fn part1<R: rand_core::RngCore + rand_core::CryptoRng>(
    me: HolderId,
    params: DkgParameters,
    rng: &mut R,
) -> Result<(Round1Secret, Round1Package)> {
    check_params(&params)?;
    if me.get() > params.holders {
        return Err(Error::UnknownHolder(me));
    }
    let (secret, package) = frost_p256::keys::dkg::part1(identifier(me)?, params.holders, params.threshold, rng).map_err(frost_err)?;
    Ok((
        Round1Secret { version: FORMAT_VERSION, suite: SUITE.to_owned(), params, holder: me, package: secret },
        Round1Package { version: FORMAT_VERSION, suite: SUITE.to_owned(), params, from: me, package },
    ))
}

/// Collects the other holders' round-1 packages, checking parameters and completeness.
fn others_round1(me: HolderId, params: &DkgParameters, packages: &[Round1Package]) -> Result<BTreeMap<Identifier, round1::Package>> {
    let mut map = BTreeMap::new();
    for p in packages.iter().filter(|p| p.from != me) {
        check_header(p.version, &p.suite, "DKG round-1 package")?;
        if p.params != *params {
            return Err(Error::Protocol(format!("round-1 package of holder {} has other parameters", p.from)));
        }
        if p.from.get() > params.holders {
            return Err(Error::UnknownHolder(p.from));
        }
        if map.insert(identifier(p.from)?, p.package.clone()).is_some() {
            return Err(Error::DuplicateHolder(p.from));
        }
    }
    if map.len() + 1 != usize::from(params.holders) {
        return Err(Error::WrongHolderCount { expected: usize::from(params.holders) - 1, got: map.len() });
    }
    Ok(map)
}

/// Round 2 on holder `me`: verifies everyone's proof of knowledge and makes one
/// package per other holder.
///
/// # Errors
/// [`Error::Protocol`] when a round-1 package fails verification;
/// [`Error::WrongHolderCount`] / [`Error::DuplicateHolder`] for an incomplete set.
pub fn part2(secret: Round1Secret, round1: &[Round1Package]) -> Result<(Round2Secret, Vec<Round2Package>)> {
    check_header(secret.version, &secret.suite, "DKG round-1 secret")?;
    let params = secret.params;
    let me = secret.holder;
    let others = others_round1(me, &params, round1)?;
    let (secret2, out) = frost_p256::keys::dkg::part2(secret.package.clone(), &others).map_err(frost_err)?;
    let mut packages = Vec::with_capacity(out.len());
    for to in 1..=params.holders {
        let to = HolderId::new(u32::from(to))?;
        if to == me {
            continue;
        }
        let package = out.get(&identifier(to)?).cloned().ok_or(Error::UnknownHolder(to))?;
        packages.push(Round2Package { version: FORMAT_VERSION, suite: SUITE.to_owned(), params, from: me, to, package });
    }
    Ok((Round2Secret { version: FORMAT_VERSION, suite: SUITE.to_owned(), params, holder: me, package: secret2 }, packages))
}

/// Round 3 on holder `me`: verifies the received shares against the senders'
/// commitments and returns the key set and this holder's share.
///
/// # Errors
/// [`Error::Protocol`] when a round-2 package does not match its sender's
/// commitments; [`Error::WrongHolderCount`] for incomplete input.
pub fn part3(secret: &Round2Secret, round1: &[Round1Package], round2: &[Round2Package]) -> Result<HolderKey> {
    check_header(secret.version, &secret.suite, "DKG round-2 secret")?;
    let params = secret.params;
    let me = secret.holder;
    let others1 = others_round1(me, &params, round1)?;
    let mut others2 = BTreeMap::new();
    for p in round2.iter().filter(|p| p.to == me) {
        check_header(p.version, &p.suite, "DKG round-2 package")?;
        if p.params != params {
            return Err(Error::Protocol(format!("round-2 package of holder {} has other parameters", p.from)));
        }
        if others2.insert(identifier(p.from)?, p.package.clone()).is_some() {
            return Err(Error::DuplicateHolder(p.from));
        }
    }
    let (key_package, _public) = frost_p256::keys::dkg::part3(&secret.package, &others1, &others2).map_err(frost_err)?;

    // Our key set: Feldman commitments are the coefficient-wise sum of every
    // holder's round-1 commitment (our own is in the secret package).
    let mut sums = vec![p256::ProjectivePoint::IDENTITY; usize::from(params.threshold)];
    let own = secret.package.commitment();
    for c in others1.values().map(|p| p.commitment()).chain([own]) {
        let coeffs = c.serialize().map_err(frost_err)?;
        if coeffs.len() != sums.len() {
            return Err(Error::Protocol("round-1 commitment has the wrong degree".into()));
        }
        for (acc, bytes) in sums.iter_mut().zip(&coeffs) {
            *acc += decode_point(bytes)?;
        }
    }
    let commitments: Vec<AffinePoint> = sums.iter().map(|p| p.to_affine()).collect();
    let group_key = *commitments.first().ok_or(Error::InconsistentKeySet("no commitments"))?;
    let shares = (1..=u32::from(params.holders))
        .map(|i| {
            let holder = HolderId::new(i)?;
            Ok(VerificationShare { holder, key: evaluate_commitments(&commitments, holder) })
        })
        .collect::<Result<Vec<_>>>()?;
    let key_set = KeySet::new(params.generation, 0, params.threshold, group_key, commitments, shares)?;

    let share_bytes = Zeroizing::new(key_package.signing_share().serialize());
    let s = Zeroizing::new(decode_nonzero_scalar(&share_bytes)?);
    // Cross-check against frost's own view of the group key and our verification share.
    let frost_group = decode_point(&key_package.verifying_key().serialize().map_err(frost_err)?)?;
    if !points_equal(&frost_group, key_set.group_key()) || !points_equal(&mul_base(&s), key_set.verification_share(me)?) {
        return Err(Error::Protocol("DKG result is inconsistent with the commitments".into()));
    }
    let share = Share::new(me, key_set_id(params.generation, &group_key), params.generation, 0, *s)?;
    HolderKey::new(share, key_set)
}
