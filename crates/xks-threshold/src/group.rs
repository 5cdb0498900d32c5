//! The group operations of the request path, in one place.
//!
//! Every elliptic-curve computation on the request path goes through these few
//! functions. They return affine points, so encoding a result never costs a
//! field inversion in the caller. The reference backend is `p256` 0.13 (pure
//! Rust). With the `aws-lc` feature, hash-to-curve, scalar multiplications and
//! additions run in AWS-LC (`crates/xks-awslc`, which holds every `unsafe`
//! line); any input it refuses (the identity, for instance) falls back to the
//! reference, and `crates/xks-awslc/tests/differential.rs` checks that both agree.

use p256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use p256::elliptic_curve::{Field, PrimeField};
use p256::{AffinePoint, NistP256, ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::{Error, Result};

/// RFC 9380 `hash_to_curve` with suite `P256_XMD:SHA-256_SSWU_RO_` (§8.2) and the given DST.
///
/// # Errors
/// [`Error::InvalidKeyPath`] if the DST is empty (RFC 9380 §3.1 forbids it);
/// [`Error::IdentityPoint`] in the negligible case the hash lands on the identity.
pub fn hash_to_curve(msg: &[u8], dst: &[u8]) -> Result<AffinePoint> {
    #[cfg(feature = "aws-lc")]
    if let Some(p) = xks_awslc::hash_to_curve(msg, dst).and_then(|b| crate::encoding::from_uncompressed(&b)) {
        return Ok(p);
    }
    let p = NistP256::hash_from_bytes::<ExpandMsgXmd<Sha256>>(&[msg], &[dst])
        .map_err(|_| Error::InvalidKeyPath("hash_to_curve rejected the input"))?
        .to_affine();
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint);
    }
    Ok(p)
}

/// RFC 9497 §4.3 `HashToScalar` for P256-SHA256: RFC 9380 `hash_to_field`
/// with `expand_message_xmd`/SHA-256, L = 48, reduced modulo the group order.
///
/// # Errors
/// Only for an empty DST, which callers never pass.
pub fn hash_to_scalar(msgs: &[&[u8]], dst: &[u8]) -> Result<Scalar> {
    NistP256::hash_to_scalar::<ExpandMsgXmd<Sha256>>(msgs, &[dst]).map_err(|_| Error::Protocol("hash_to_scalar rejected its input".into()))
}

/// A uniformly random non-zero scalar: 32 bytes from `rng` read big-endian,
/// drawn again while the value is zero or not below the group order
/// (RFC 9497 `RandomScalar`).
pub fn random_nonzero_scalar<R: RngCore + CryptoRng>(rng: &mut R) -> Scalar {
    let mut bytes = p256::FieldBytes::default();
    loop {
        rng.fill_bytes(&mut bytes);
        let candidate: Option<Scalar> = Scalar::from_repr(bytes).into();
        bytes.as_mut_slice().zeroize();
        if let Some(s) = candidate.filter(|s| !bool::from(s.is_zero())) {
            return s;
        }
    }
}

/// `k·G` for the P-256 generator G, constant time in `k`.
pub fn mul_base(k: &Scalar) -> AffinePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul_base(k) {
        return r;
    }
    (ProjectivePoint::GENERATOR * k).to_affine()
}

/// `k·P`, constant time in `k`.
pub fn mul(p: &AffinePoint, k: &Scalar) -> AffinePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul(p, k) {
        return r;
    }
    (ProjectivePoint::from(*p) * k).to_affine()
}

/// `a·G + b·P` (proof verification; public inputs only).
pub fn mul_base_add(a: &Scalar, b: &Scalar, p: &AffinePoint) -> AffinePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul_base_add(a, b, p) {
        return r;
    }
    (ProjectivePoint::GENERATOR * a + ProjectivePoint::from(*p) * b).to_affine()
}

/// `a·P + b·Q` (proof verification; public inputs only).
pub fn lincomb(a: &Scalar, p: &AffinePoint, b: &Scalar, q: &AffinePoint) -> AffinePoint {
    if *p == AffinePoint::GENERATOR {
        return mul_base_add(a, b, q);
    }
    sum(&[mul(p, a), mul(q, b)])
}

/// `Σ P_i` (the identity for an empty list or a sum that cancels).
pub fn sum(points: &[AffinePoint]) -> AffinePoint {
    if let [single] = points {
        return *single;
    }
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::sum(points) {
        return r;
    }
    points.iter().fold(ProjectivePoint::IDENTITY, |acc, p| acc + p).to_affine()
}

/// Conversions between `p256` affine points and the byte form AWS-LC takes
/// (no field inversion on either side).
#[cfg(feature = "aws-lc")]
mod fast {
    use p256::{AffinePoint, Scalar};
    use zeroize::Zeroizing;

    use crate::encoding::{from_uncompressed, to_uncompressed};

    fn scalar_bytes(k: &Scalar) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(k.to_bytes().into())
    }

    pub(super) fn mul(p: &AffinePoint, k: &Scalar) -> Option<AffinePoint> {
        from_uncompressed(&Zeroizing::new(xks_awslc::mul(&*to_uncompressed(p)?, &scalar_bytes(k))?))
    }

    pub(super) fn mul_base(k: &Scalar) -> Option<AffinePoint> {
        from_uncompressed(&Zeroizing::new(xks_awslc::mul_base(&scalar_bytes(k))?))
    }

    pub(super) fn mul_base_add(a: &Scalar, b: &Scalar, p: &AffinePoint) -> Option<AffinePoint> {
        from_uncompressed(&Zeroizing::new(xks_awslc::mul_base_add(&scalar_bytes(a), &scalar_bytes(b), &*to_uncompressed(p)?)?))
    }

    /// The sum of partials is S: every intermediate buffer is zeroized.
    pub(super) fn sum(points: &[AffinePoint]) -> Option<AffinePoint> {
        let (first, rest) = points.split_first()?;
        let mut acc = to_uncompressed(first)?;
        for p in rest {
            acc = Zeroizing::new(xks_awslc::add(&acc, &*to_uncompressed(p)?)?);
        }
        from_uncompressed(&acc)
    }
}
