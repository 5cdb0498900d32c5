//! Discrete-log-equality (Chaum–Pedersen) proofs exactly as RFC 9497 §2.2
//! specifies them (`GenerateProof`, `VerifyProof`, `ComputeComposites`,
//! `ComputeCompositesFast`), parameterised by the RFC's `contextString`.
//!
//! A proof shows `log_A(B) == log_{C[i]}(D[i])` for every `i` without revealing
//! the logarithm. Our partials use `A = G`, `B = λ_i·Y_i`, `C = [V]`, `D = [W_i]`
//! under [`crate::suite::DLEQ_CONTEXT`]; the RFC's own vectors run through the
//! same code with the RFC's context strings.
//!
//! The prover's nonce is hedged (docs/crypto.md §6.1): it hashes fresh random
//! bytes together with the secret `k` and the statement, so a random
//! generator that fails (repeats itself, returns zeros) can never give two
//! different statements the same nonce, which would reveal `k`. Verification
//! is unchanged. Only the known-answer tests, through the
//! `hazmat-test-vectors` feature, choose a nonce themselves.

use p256::elliptic_curve::Field;
use p256::{AffinePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::encoding::{decode_scalar, encode_point, encode_scalar};
use crate::group::{hash_to_scalar, lincomb, mul, sum};
use crate::{Error, Result};

/// Length of a serialized proof: `SerializeScalar(c) || SerializeScalar(s)`.
pub const PROOF_LEN: usize = 64;

/// A proof `(c, s)` (RFC 9497 §2.2.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Proof {
    c: Scalar,
    s: Scalar,
}

impl Proof {
    /// `SerializeScalar(c) || SerializeScalar(s)`.
    pub fn to_bytes(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        let (c, s) = out.split_at_mut(32);
        c.copy_from_slice(&encode_scalar(&self.c));
        s.copy_from_slice(&encode_scalar(&self.s));
        out
    }

    /// Parses 64 bytes; both halves must be canonical scalars.
    ///
    /// # Errors
    /// [`Error::InvalidScalar`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != PROOF_LEN {
            return Err(Error::InvalidScalar);
        }
        let (c, s) = bytes.split_at(32);
        Ok(Self { c: decode_scalar(c)?, s: decode_scalar(s)? })
    }
}

/// The DST of `HashToScalar`: `"HashToScalar-" || contextString` (RFC 9497 §4).
fn hash_to_scalar_dst(context: &[u8]) -> Vec<u8> {
    [b"HashToScalar-".as_slice(), context].concat()
}

/// `I2OSP(len(x), 2) || x` for inputs known to be short.
fn push_prefixed(buf: &mut Vec<u8>, x: &[u8]) {
    let len = u16::try_from(x.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(x);
}

/// RFC 9497 §2.2.1 `ComputeComposites` (verifier side).
fn compute_composites(context: &[u8], b: &AffinePoint, c: &[AffinePoint], d: &[AffinePoint]) -> Result<(AffinePoint, AffinePoint)> {
    let weights = composite_weights(context, b, c, d)?;
    let ms: Vec<AffinePoint> = weights.iter().zip(c).map(|(di, ci)| mul(ci, di)).collect();
    let zs: Vec<AffinePoint> = weights.iter().zip(d).map(|(di, dd)| mul(dd, di)).collect();
    Ok((sum(&ms), sum(&zs)))
}

/// RFC 9497 §2.2.1 `ComputeCompositesFast` (prover side, knows `k`).
fn compute_composites_fast(
    context: &[u8],
    k: &Scalar,
    b: &AffinePoint,
    c: &[AffinePoint],
    d: &[AffinePoint],
) -> Result<(AffinePoint, AffinePoint)> {
    let weights = composite_weights(context, b, c, d)?;
    let ms: Vec<AffinePoint> = weights.iter().zip(c).map(|(di, ci)| mul(ci, di)).collect();
    let m = sum(&ms);
    Ok((m, mul(&m, k)))
}

/// The composite weights `d_i` shared by both composite variants.
fn composite_weights(context: &[u8], b: &AffinePoint, c: &[AffinePoint], d: &[AffinePoint]) -> Result<Vec<Scalar>> {
    if c.len() != d.len() || c.is_empty() || c.len() > usize::from(u16::MAX) {
        return Err(Error::Protocol("DLEQ: element lists differ in length or are empty".into()));
    }
    let bm = encode_point(b)?;
    let seed_dst = [b"Seed-".as_slice(), context].concat();
    let mut seed_transcript = Vec::with_capacity(2 + bm.len() + 2 + seed_dst.len());
    push_prefixed(&mut seed_transcript, &bm);
    push_prefixed(&mut seed_transcript, &seed_dst);
    let seed: [u8; 32] = Sha256::digest(&seed_transcript).into();
    let dst = hash_to_scalar_dst(context);
    let mut weights = Vec::with_capacity(c.len());
    for (i, (ci, di)) in c.iter().zip(d).enumerate() {
        let mut t = Vec::with_capacity(2 + 32 + 2 + 2 + 33 + 2 + 33 + 9);
        push_prefixed(&mut t, &seed);
        t.extend_from_slice(&u16::try_from(i).unwrap_or(u16::MAX).to_be_bytes());
        push_prefixed(&mut t, &encode_point(ci)?);
        push_prefixed(&mut t, &encode_point(di)?);
        t.extend_from_slice(b"Composite");
        weights.push(hash_to_scalar(&[&t], &dst)?);
    }
    Ok(weights)
}

/// The Fiat–Shamir challenge over `B, M, Z, t2, t3` (RFC 9497 §2.2.1).
fn challenge(context: &[u8], b: &AffinePoint, m: &AffinePoint, z: &AffinePoint, t2: &AffinePoint, t3: &AffinePoint) -> Result<Scalar> {
    let mut t = Vec::with_capacity(5 * 35 + 9);
    for p in [b, m, z, t2, t3] {
        push_prefixed(&mut t, &encode_point(p)?);
    }
    t.extend_from_slice(b"Challenge");
    hash_to_scalar(&[&t], &hash_to_scalar_dst(context))
}

/// RFC 9497 §2.2.1 `GenerateProof(k, A, B, C, D)`, with the nonce hedged
/// (module docs; docs/crypto.md §6.1) instead of the RFC's `RandomScalar()`.
///
/// # Errors
/// [`Error::Protocol`] for mismatched or empty lists, [`Error::IdentityPoint`]
/// if an input (or, with negligible probability, an intermediate) is the identity.
pub fn generate_proof<R: RngCore + CryptoRng>(
    context: &[u8],
    k: &Scalar,
    a: &AffinePoint,
    b: &AffinePoint,
    c: &[AffinePoint],
    d: &[AffinePoint],
    rng: &mut R,
) -> Result<Proof> {
    let (m, z) = compute_composites_fast(context, k, b, c, d)?;
    let r = hedged_nonce(context, k, b, &m, &z, rng)?;
    prove(context, k, a, b, &m, &z, &r)
}

/// `GenerateProof` with the nonce `r` given: the RFC's and our known-answer
/// vectors fix it. Not in any service build (a test checks the binaries'
/// dependency graph); a caller choosing `r` twice for one `k` reveals `k`.
///
/// # Errors
/// As [`generate_proof`].
#[cfg(feature = "hazmat-test-vectors")]
pub fn generate_proof_with_nonce(
    context: &[u8],
    k: &Scalar,
    a: &AffinePoint,
    b: &AffinePoint,
    c: &[AffinePoint],
    d: &[AffinePoint],
    r: &Scalar,
) -> Result<Proof> {
    let (m, z) = compute_composites_fast(context, k, b, c, d)?;
    prove(context, k, a, b, &m, &z, r)
}

/// The hedged nonce (docs/crypto.md §6.1): `HashToScalar(rand(32) ||
/// SerializeScalar(k) || SerializeElement(B) || SerializeElement(M) ||
/// SerializeElement(Z), DST = "HedgedNonce-" || contextString)`. The parts
/// have fixed lengths, so their concatenation is unambiguous.
fn hedged_nonce<R: RngCore + CryptoRng>(
    context: &[u8],
    k: &Scalar,
    b: &AffinePoint,
    m: &AffinePoint,
    z: &AffinePoint,
    rng: &mut R,
) -> Result<zeroize::Zeroizing<Scalar>> {
    let mut fresh = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(fresh.as_mut_slice());
    let secret = zeroize::Zeroizing::new(encode_scalar(k));
    let (b, m, z) = (encode_point(b)?, encode_point(m)?, encode_point(z)?);
    let dst = [b"HedgedNonce-".as_slice(), context].concat();
    let r = zeroize::Zeroizing::new(hash_to_scalar(&[fresh.as_slice(), secret.as_slice(), &b, &m, &z], &dst)?);
    if bool::from(r.is_zero()) {
        // Probability 2^-256: refuse rather than prove with r = 0.
        return Err(Error::Protocol("DLEQ: hedged nonce is zero".into()));
    }
    Ok(r)
}

/// The rest of `GenerateProof` once the nonce is chosen.
fn prove(context: &[u8], k: &Scalar, a: &AffinePoint, b: &AffinePoint, m: &AffinePoint, z: &AffinePoint, r: &Scalar) -> Result<Proof> {
    let t2 = mul(a, r);
    let t3 = mul(m, r);
    let c = challenge(context, b, m, z, &t2, &t3)?;
    let s = *r - c * k;
    Ok(Proof { c, s })
}

/// RFC 9497 §2.2.2 `VerifyProof(A, B, C, D, proof)`.
///
/// # Errors
/// [`Error::Protocol`] when the proof does not verify or the inputs are malformed.
pub fn verify_proof(context: &[u8], a: &AffinePoint, b: &AffinePoint, c: &[AffinePoint], d: &[AffinePoint], proof: &Proof) -> Result<()> {
    let (m, z) = compute_composites(context, b, c, d)?;
    let t2 = lincomb(&proof.s, a, &proof.c, b);
    let t3 = lincomb(&proof.s, &m, &proof.c, &z);
    let expected = challenge(context, b, &m, &z, &t2, &t3)?;
    if bool::from(expected.ct_eq(&proof.c)) { Ok(()) } else { Err(Error::Protocol("DLEQ proof does not verify".into())) }
}
