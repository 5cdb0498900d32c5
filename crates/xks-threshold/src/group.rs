//! The group operations the protocol needs, in one place.
//!
//! Every elliptic-curve computation of the crate goes through these few
//! functions. The reference backend is `p256` 0.13 (pure Rust). With the
//! `aws-lc` feature, hash-to-curve and scalar multiplications run in AWS-LC
//! (`crates/xks-awslc`, which holds every `unsafe` line); any input it refuses
//! (the identity, for instance) falls back to the reference, and
//! `crates/xks-awslc/tests/differential.rs` checks that both agree.

use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::hash2curve::{ExpandMsgXmd, GroupDigest};
use p256::elliptic_curve::{Field, PrimeField};
use p256::{NistP256, ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::{Error, Result};

/// RFC 9380 `hash_to_curve` with suite `P256_XMD:SHA-256_SSWU_RO_` (§8.2) and the given DST.
///
/// # Errors
/// [`Error::InvalidKeyPath`] if the DST is empty (RFC 9380 §3.1 forbids it);
/// [`Error::IdentityPoint`] in the negligible case the hash lands on the identity.
pub fn hash_to_curve(msg: &[u8], dst: &[u8]) -> Result<ProjectivePoint> {
    #[cfg(feature = "aws-lc")]
    if let Some(p) = xks_awslc::hash_to_curve(msg, dst).and_then(|b| fast::from_uncompressed(&b)) {
        return Ok(p);
    }
    let p = NistP256::hash_from_bytes::<ExpandMsgXmd<Sha256>>(&[msg], &[dst])
        .map_err(|_| Error::InvalidKeyPath("hash_to_curve rejected the input"))?;
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
/// (RFC 9497 `RandomScalar`). Tests replay the RFC's proof nonces through it.
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
pub fn mul_base(k: &Scalar) -> ProjectivePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul_base(k) {
        return r;
    }
    ProjectivePoint::GENERATOR * k
}

/// `k·P`, constant time in `k`.
pub fn mul(p: &ProjectivePoint, k: &Scalar) -> ProjectivePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul(p, k) {
        return r;
    }
    p * k
}

/// `a·G + b·P` (used by proof verification; public inputs only).
pub fn mul_base_add(a: &Scalar, b: &Scalar, p: &ProjectivePoint) -> ProjectivePoint {
    #[cfg(feature = "aws-lc")]
    if let Some(r) = fast::mul_base_add(a, b, p) {
        return r;
    }
    ProjectivePoint::GENERATOR * a + p * b
}

/// `a·P + b·Q` (used by proof verification; public inputs only).
pub fn lincomb(a: &Scalar, p: &ProjectivePoint, b: &Scalar, q: &ProjectivePoint) -> ProjectivePoint {
    if *p == ProjectivePoint::GENERATOR {
        return mul_base_add(a, b, q);
    }
    mul(p, a) + mul(q, b)
}

/// Conversions between `p256` points and the byte form AWS-LC takes.
#[cfg(feature = "aws-lc")]
mod fast {
    use p256::elliptic_curve::group::Group;
    use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
    use p256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar};
    use zeroize::Zeroizing;

    pub(super) fn from_uncompressed(b: &[u8; 65]) -> Option<ProjectivePoint> {
        let e = EncodedPoint::from_bytes(b).ok()?;
        Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&e)).map(ProjectivePoint::from)
    }

    fn to_uncompressed(p: &ProjectivePoint) -> Option<[u8; 65]> {
        if bool::from(p.is_identity()) {
            return None;
        }
        p.to_affine().to_encoded_point(false).as_bytes().try_into().ok()
    }

    fn scalar_bytes(k: &Scalar) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(k.to_bytes().into())
    }

    pub(super) fn mul(p: &ProjectivePoint, k: &Scalar) -> Option<ProjectivePoint> {
        from_uncompressed(&xks_awslc::mul(&to_uncompressed(p)?, &scalar_bytes(k))?)
    }

    pub(super) fn mul_base(k: &Scalar) -> Option<ProjectivePoint> {
        from_uncompressed(&xks_awslc::mul_base(&scalar_bytes(k))?)
    }

    pub(super) fn mul_base_add(a: &Scalar, b: &Scalar, p: &ProjectivePoint) -> Option<ProjectivePoint> {
        from_uncompressed(&xks_awslc::mul_base_add(&scalar_bytes(a), &scalar_bytes(b), &to_uncompressed(p)?)?)
    }
}
