//! Partials `W_i = (λ_i·s_i)·V`, pre-weighted by the holder's Lagrange
//! coefficient for the combining set named in the request, with RFC 9497 DLEQ
//! proofs against `λ_i·Y_i`; their verification and a cheap commitment check.

use core::fmt;

use p256::{AffinePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::dleq::{self, Proof};
use crate::encoding::{PointEncoding, decode_point, decode_point_any, encode_point, encode_point_as, malformed};
use crate::group::{mul, mul_base, sum};
use crate::keypath::{KeyPath, KeyPoint};
use crate::keyset::KeySet;
use crate::polynomial::CombiningSet;
use crate::share::HolderKey;
use crate::suite::{DLEQ_CONTEXT, FORMAT_VERSION, LABEL_PARTIAL_COMMITMENT};
use crate::{Error, HolderId, Result};

/// One holder's weighted partial for one key path and combining set.
///
/// Sensitive: together with the other partials of the set it yields the key,
/// so it is zeroized on drop, `Debug` hides the point, and it must never be
/// logged or cached by the proxy (docs/architecture.md §2).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Partial {
    #[zeroize(skip)]
    holder: HolderId,
    generation: u32,
    epoch: u32,
    #[zeroize(skip)]
    set: CombiningSet,
    point: AffinePoint,
    #[zeroize(skip)]
    proof: Option<Proof>,
}

impl fmt::Debug for Partial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partial")
            .field("holder", &self.holder)
            .field("generation", &self.generation)
            .field("epoch", &self.epoch)
            .field("set", &self.set)
            .field("point", &"<redacted>")
            .field("proof", &self.proof.is_some())
            .finish()
    }
}

/// JSON wire form of a partial (version 1).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PartialWire {
    version: u32,
    holder: HolderId,
    generation: u32,
    epoch: u32,
    set: CombiningSet,
    /// `SerializeElement(W_i)`, hex; or, when the reader asked for it, the
    /// SEC1 uncompressed point (docs/crypto.md §6.4).
    partial: String,
    /// `SerializeScalar(c) || SerializeScalar(s)`, hex; absent when not requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof: Option<String>,
}

impl Partial {
    /// Holder that produced it.
    pub fn holder(&self) -> HolderId {
        self.holder
    }
    /// Generation of the share used.
    pub fn generation(&self) -> u32 {
        self.generation
    }
    /// Epoch of the share used.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }
    /// Combining set whose Lagrange coefficient weights it.
    pub fn set(&self) -> &CombiningSet {
        &self.set
    }
    /// The proof, if one was requested.
    pub fn proof(&self) -> Option<&Proof> {
        self.proof.as_ref()
    }
    /// The same partial without its proof (what a proof-free request is
    /// answered with).
    pub fn without_proof(&self) -> Partial {
        let mut partial = self.clone();
        partial.proof = None;
        partial
    }
    /// `SerializeElement(W_i)`.
    ///
    /// # Errors
    /// Never for a partial built by this crate (which refuses the identity).
    pub fn point_bytes(&self) -> Result<[u8; 33]> {
        encode_point(&self.point)
    }

    /// Builds a partial from its parts (as received from a partner).
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] / [`Error::IdentityPoint`], [`Error::InvalidScalar`] for the proof.
    pub fn from_parts(
        holder: HolderId,
        generation: u32,
        epoch: u32,
        set: CombiningSet,
        point: &[u8],
        proof: Option<&[u8]>,
    ) -> Result<Self> {
        Ok(Self { holder, generation, epoch, set, point: decode_point(point)?, proof: proof.map(Proof::from_bytes).transpose()? })
    }

    /// Parses the JSON wire form, its point in either [`PointEncoding`].
    /// Error messages never quote the input.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::UnsupportedVersion`], or point/scalar errors.
    pub fn from_json(json: &str) -> Result<Self> {
        let mut w: PartialWire = serde_json::from_str(json).map_err(|e| malformed("partial", &e))?;
        if w.version != FORMAT_VERSION {
            w.partial.zeroize();
            return Err(Error::UnsupportedVersion { what: "partial", version: w.version });
        }
        let decoded = hex::decode(&w.partial);
        w.partial.zeroize();
        let point = decode_point_any(&Zeroizing::new(decoded.map_err(|_| Error::InvalidPoint)?))?;
        let proof = w.proof.as_deref().map(hex::decode).transpose().map_err(|_| Error::InvalidScalar)?;
        let proof = proof.as_deref().map(Proof::from_bytes).transpose()?;
        Ok(Self { holder: w.holder, generation: w.generation, epoch: w.epoch, set: w.set, point, proof })
    }

    /// The JSON wire form, its point as `SerializeElement`, in a buffer
    /// zeroized on drop.
    ///
    /// # Errors
    /// Never for a partial built by this crate.
    pub fn to_json(&self) -> Result<Zeroizing<String>> {
        self.to_json_as(PointEncoding::Compressed)
    }

    /// The JSON wire form with its point in `encoding`, in a buffer zeroized on drop.
    ///
    /// # Errors
    /// Never for a partial built by this crate.
    pub fn to_json_as(&self, encoding: PointEncoding) -> Result<Zeroizing<String>> {
        let mut w = PartialWire {
            version: FORMAT_VERSION,
            holder: self.holder,
            generation: self.generation,
            epoch: self.epoch,
            set: self.set.clone(),
            partial: hex::encode(encode_point_as(&self.point, encoding)?),
            proof: self.proof.map(|p| hex::encode(p.to_bytes())),
        };
        let out = serde_json::to_string(&w).map(Zeroizing::new).map_err(|e| malformed("partial", &e));
        w.partial.zeroize();
        out
    }
}

/// A partial that is known to be `λ_i·s_i·V` for the holder's share in the key
/// set: our own, one whose proof verified, or one matching the commitment of
/// a partial that was verified earlier. Only these can make an encryption key.
#[derive(Clone, Debug)]
pub struct VerifiedPartial {
    partial: Partial,
    key_path: KeyPath,
}

impl VerifiedPartial {
    /// The underlying partial.
    pub fn partial(&self) -> &Partial {
        &self.partial
    }
    /// The key path it was evaluated for.
    pub fn key_path(&self) -> &KeyPath {
        &self.key_path
    }
}

/// Non-invertible commitment to a verified partial (a SHA-256 hash), which a
/// proxy may keep to check later partials of the same holder, key path, set
/// and epoch with one hash instead of a proof verification. It does not let
/// anyone recover the partial, so it does not weaken the need for the partner.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialCommitment([u8; 32]);

impl PartialCommitment {
    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PartialCommitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartialCommitment({})", hex::encode(self.0))
    }
}

impl HolderKey {
    /// Evaluates this holder's weighted partial `W_i = (λ_i·s_i)·V` for the key
    /// path and combining set, with a DLEQ proof against `λ_i·Y_i` if `with_proof`.
    ///
    /// # Errors
    /// [`Error::WrongHolderCount`] unless the set has exactly `t` members,
    /// [`Error::UnknownHolder`] if a member is not in the key set or this holder
    /// is not in the set.
    pub fn evaluate<R: RngCore + CryptoRng>(
        &self,
        key_point: &KeyPoint,
        set: &CombiningSet,
        with_proof: bool,
        rng: &mut R,
    ) -> Result<Partial> {
        let prove = |k: &Scalar, b: &AffinePoint, v: &AffinePoint, w: &AffinePoint| {
            dleq::generate_proof(DLEQ_CONTEXT, k, &AffinePoint::GENERATOR, b, &[*v], &[*w], rng)
        };
        self.evaluate_with(key_point, set, with_proof.then_some(prove))
    }

    /// [`HolderKey::evaluate`] with a proof whose nonce is `nonce`
    /// ([`dleq::generate_proof_with_nonce`]): the known-answer vectors only.
    ///
    /// # Errors
    /// As [`HolderKey::evaluate`].
    #[cfg(feature = "hazmat-test-vectors")]
    pub fn evaluate_with_proof_nonce(&self, key_point: &KeyPoint, set: &CombiningSet, nonce: &Scalar) -> Result<Partial> {
        let prove = |k: &Scalar, b: &AffinePoint, v: &AffinePoint, w: &AffinePoint| {
            dleq::generate_proof_with_nonce(DLEQ_CONTEXT, k, &AffinePoint::GENERATOR, b, &[*v], &[*w], nonce)
        };
        self.evaluate_with(key_point, set, Some(prove))
    }

    /// `W_i = (λ_i·s_i)·V`, and its proof by `prove(k, k·G, V, W_i)` if given.
    fn evaluate_with<P>(&self, key_point: &KeyPoint, set: &CombiningSet, prove: Option<P>) -> Result<Partial>
    where
        P: FnOnce(&Scalar, &AffinePoint, &AffinePoint, &AffinePoint) -> Result<Proof>,
    {
        check_set(self.key_set(), set)?;
        let holder = self.holder();
        let lambda = set.lagrange_at_zero(holder)?; // refuses a holder outside the set
        let k = Zeroizing::new(lambda * self.share().secret());
        let v = key_point.point();
        let point = mul(v, &k);
        let proof = match prove {
            Some(prove) => Some(prove(&k, &mul_base(&k), v, &point)?),
            None => None,
        };
        let share = self.share();
        Ok(Partial { holder, generation: share.generation(), epoch: share.epoch(), set: set.clone(), point, proof })
    }

    /// Evaluates this holder's own partial without a proof: it is ours, so it is
    /// verified by construction.
    ///
    /// # Errors
    /// As [`HolderKey::evaluate`].
    pub fn evaluate_own(&self, key_point: &KeyPoint, set: &CombiningSet) -> Result<VerifiedPartial> {
        let partial = self.evaluate(key_point, set, false, &mut NoRng)?;
        Ok(VerifiedPartial { partial, key_path: key_point.path().clone() })
    }
}

/// An RNG that is never called (evaluation without proof draws no randomness).
struct NoRng;
impl RngCore for NoRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> core::result::Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}
impl CryptoRng for NoRng {}

/// A combining set must have exactly `t` members, all in the key set.
fn check_set(key_set: &KeySet, set: &CombiningSet) -> Result<()> {
    if set.len() != key_set.threshold() {
        return Err(Error::WrongHolderCount { expected: key_set.threshold(), got: set.len() });
    }
    for h in set.holders() {
        key_set.verification_share(*h)?;
    }
    Ok(())
}

/// Verifies and combines the partials of one combining set under one key set.
///
/// Build one per (key set, set) and keep it: it caches the weighted
/// verification keys `λ_i·Y_i`, which are public.
#[derive(Clone, Debug)]
pub struct Combiner {
    key_set: KeySet,
    set: CombiningSet,
    weighted_keys: Vec<(HolderId, AffinePoint)>,
}

impl Combiner {
    /// # Errors
    /// [`Error::WrongHolderCount`] unless the set has exactly `t` members;
    /// [`Error::UnknownHolder`] if a member is not in the key set.
    pub fn new(key_set: KeySet, set: CombiningSet) -> Result<Self> {
        check_set(&key_set, &set)?;
        let weighted_keys = set
            .holders()
            .iter()
            .map(|h| Ok((*h, mul(key_set.verification_share(*h)?, &set.lagrange_at_zero(*h)?))))
            .collect::<Result<_>>()?;
        Ok(Self { key_set, set, weighted_keys })
    }

    /// The key set.
    pub fn key_set(&self) -> &KeySet {
        &self.key_set
    }

    /// The combining set.
    pub fn set(&self) -> &CombiningSet {
        &self.set
    }

    fn weighted_key(&self, holder: HolderId) -> Result<&AffinePoint> {
        self.weighted_keys.iter().find(|(h, _)| *h == holder).map(|(_, k)| k).ok_or(Error::UnknownHolder(holder))
    }

    fn check_header(&self, p: &Partial) -> Result<()> {
        if p.generation != self.key_set.generation() {
            return Err(Error::GenerationMismatch { expected: self.key_set.generation(), got: p.generation });
        }
        if p.epoch != self.key_set.epoch() {
            return Err(Error::EpochMismatch { expected: self.key_set.epoch(), got: p.epoch });
        }
        if p.set != self.set {
            return Err(Error::InvalidPartial(p.holder));
        }
        self.weighted_key(p.holder).map(|_| ())
    }

    /// Verifies a partner's partial by its DLEQ proof.
    ///
    /// # Errors
    /// [`Error::InvalidPartial`] if the proof is missing or wrong; header
    /// mismatches as [`Error::GenerationMismatch`], [`Error::EpochMismatch`].
    pub fn verify(&self, key_point: &KeyPoint, partial: Partial) -> Result<VerifiedPartial> {
        self.check_header(&partial)?;
        let proof = partial.proof.ok_or(Error::InvalidPartial(partial.holder))?;
        let b = self.weighted_key(partial.holder)?;
        dleq::verify_proof(DLEQ_CONTEXT, &AffinePoint::GENERATOR, b, &[*key_point.point()], &[partial.point], &proof)
            .map_err(|_| Error::InvalidPartial(partial.holder))?;
        Ok(VerifiedPartial { partial, key_path: key_point.path().clone() })
    }

    /// The commitment to a verified partial that [`Combiner::check_commitment`] accepts.
    ///
    /// # Errors
    /// Never for partials built by this crate.
    pub fn commitment(&self, verified: &VerifiedPartial) -> Result<PartialCommitment> {
        commitment(&self.key_set, verified.key_path(), &verified.partial)
    }

    /// Accepts a partial if it hashes to the commitment of a partial verified earlier
    /// (same holder, key path, set, generation and epoch). Constant-time comparison.
    ///
    /// # Errors
    /// [`Error::InvalidPartial`] on mismatch.
    pub fn check_commitment(&self, key_point: &KeyPoint, partial: Partial, expected: &PartialCommitment) -> Result<VerifiedPartial> {
        self.check_header(&partial)?;
        let got = commitment(&self.key_set, key_point.path(), &partial)?;
        if bool::from(got.0.ct_eq(&expected.0)) {
            Ok(VerifiedPartial { partial, key_path: key_point.path().clone() })
        } else {
            Err(Error::InvalidPartial(partial.holder))
        }
    }

    /// Combines verified partials into the key path's secret `S = Σ W_i`, from
    /// which each envelope's AES key is derived.
    ///
    /// # Errors
    /// [`Error::WrongHolderCount`] unless each member of the set contributes exactly
    /// one partial; [`Error::InvalidPartial`] for a partial of another key path.
    pub fn combine(&self, key_point: &KeyPoint, partials: &[&VerifiedPartial]) -> Result<crate::DataKey> {
        for p in partials {
            if p.key_path() != key_point.path() {
                return Err(Error::InvalidPartial(p.partial.holder));
            }
        }
        let parts: Vec<&Partial> = partials.iter().map(|p| &p.partial).collect();
        let s = self.sum(&parts)?;
        crate::DataKey::new(&self.key_set, &s, key_point.path())
    }

    /// `Σ W_i` after checking that the partials cover the set exactly once.
    fn sum(&self, parts: &[&Partial]) -> Result<Zeroizing<AffinePoint>> {
        if parts.len() != self.set.len() {
            return Err(Error::WrongHolderCount { expected: self.set.len(), got: parts.len() });
        }
        let mut seen: Vec<HolderId> = Vec::with_capacity(parts.len());
        let mut points = Zeroizing::new(Vec::with_capacity(parts.len()));
        for p in parts {
            self.check_header(p)?;
            if seen.contains(&p.holder) {
                return Err(Error::DuplicateHolder(p.holder));
            }
            seen.push(p.holder);
            points.push(p.point);
        }
        let s = Zeroizing::new(sum(&points));
        if bool::from(s.is_identity()) {
            return Err(Error::IdentityPoint);
        }
        Ok(s)
    }
}

/// `SHA-256(label || keySetId || u32be(epoch) || u16be(holder) || u8(|set|) ||
/// u16be(id)… || u8(len(p)) || p || SerializeElement(W))`.
fn commitment(key_set: &KeySet, key_path: &KeyPath, p: &Partial) -> Result<PartialCommitment> {
    let mut h = Sha256::new();
    h.update(LABEL_PARTIAL_COMMITMENT);
    h.update(key_set.id().0);
    h.update(p.epoch.to_be_bytes());
    h.update(p.holder.get().to_be_bytes());
    h.update([u8::try_from(p.set.len()).map_err(|_| Error::InvalidPartial(p.holder))?]);
    for id in p.set.holders() {
        h.update(id.get().to_be_bytes());
    }
    h.update([u8::try_from(key_path.as_bytes().len()).map_err(|_| Error::InvalidKeyPath("too long"))?]);
    h.update(key_path.as_bytes());
    let mut w = encode_point(&p.point)?;
    h.update(w);
    w.zeroize();
    Ok(PartialCommitment(h.finalize().into()))
}
