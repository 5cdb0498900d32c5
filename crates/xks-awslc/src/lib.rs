//! P-256 operations from AWS-LC behind a small safe API.
//!
//! This is the only crate of the project that contains `unsafe` code: thin
//! calls into `aws-lc-sys` (the C library rustls already links for TLS).
//! Every function takes and returns SEC1 **uncompressed** points (65 bytes) and
//! 32-byte big-endian scalars, so the caller converts once per operation and no
//! C pointer escapes. `None` means: invalid input (not on the curve, scalar not
//! below the order), the identity as input or output, or an allocation failure;
//! callers fall back to the pure-Rust reference backend, which handles all of
//! those, and the differential tests check that both agree everywhere else.
//!
//! Constant time: AWS-LC's P-256 scalar multiplication (`EC_POINT_mul`, the
//! nistz256 / fiat-crypto implementation) and its RFC 9380 hash-to-curve are
//! constant time in the scalar and the message. Scalars are copied into
//! BIGNUMs that are cleared on free.

use core::ptr;

use aws_lc_sys as sys;
use zeroize::Zeroize;

/// SEC1 uncompressed point: `0x04 || x || y`.
pub type Uncompressed = [u8; 65];

/// A BIGNUM holding a scalar, cleared and freed on drop.
struct Bn(*mut sys::BIGNUM);

impl Bn {
    fn from_be(bytes: &[u8; 32]) -> Option<Self> {
        // SAFETY: `bytes` is a valid 32-byte buffer; a null `ret` asks BN_bin2bn to allocate.
        let p = unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), ptr::null_mut()) };
        (!p.is_null()).then_some(Self(p))
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from BN_bin2bn, is non-null and freed exactly once.
        unsafe { sys::BN_clear_free(self.0) }
    }
}

/// An EC_POINT on P-256, freed on drop.
struct Point(*mut sys::EC_POINT);

fn group() -> *const sys::EC_GROUP {
    // SAFETY: EC_group_p256 returns a pointer to a static, immutable group object.
    unsafe { sys::EC_group_p256() }
}

impl Point {
    fn new() -> Option<Self> {
        // SAFETY: `group()` is a valid group; EC_POINT_new returns null on allocation failure.
        let p = unsafe { sys::EC_POINT_new(group()) };
        (!p.is_null()).then_some(Self(p))
    }

    /// Parses an uncompressed point; AWS-LC checks that it is on the curve.
    fn from_uncompressed(bytes: &Uncompressed) -> Option<Self> {
        let p = Self::new()?;
        // SAFETY: valid group and point; `bytes` is 65 readable bytes; a null BN_CTX is allowed.
        let ok = unsafe { sys::EC_POINT_oct2point(group(), p.0, bytes.as_ptr(), bytes.len(), ptr::null_mut()) };
        (ok == 1).then_some(p)
    }

    /// Uncompressed encoding; `None` for the identity.
    fn to_uncompressed(&self) -> Option<Uncompressed> {
        let mut out = [0u8; 65];
        // SAFETY: valid group and point; `out` has room for 65 bytes, the exact uncompressed size.
        let n = unsafe {
            sys::EC_POINT_point2oct(
                group(),
                self.0,
                sys::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                ptr::null_mut(),
            )
        };
        (n == out.len()).then_some(out)
    }
}

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from EC_POINT_new, is non-null and freed exactly once.
        unsafe { sys::EC_POINT_free(self.0) }
    }
}

/// RFC 9380 `hash_to_curve` with suite `P256_XMD:SHA-256_SSWU_RO_` and the given DST.
pub fn hash_to_curve(msg: &[u8], dst: &[u8]) -> Option<Uncompressed> {
    let out = Point::new()?;
    // SAFETY: valid group and output point; `dst` and `msg` are readable for their lengths.
    let ok = unsafe { sys::EC_hash_to_curve_p256_xmd_sha256_sswu(group(), out.0, dst.as_ptr(), dst.len(), msg.as_ptr(), msg.len()) };
    if ok != 1 {
        return None;
    }
    out.to_uncompressed()
}

/// `g·G + p·P` (either term optional), constant time in the scalars.
fn ec_mul(g: Option<&[u8; 32]>, pq: Option<(&Uncompressed, &[u8; 32])>) -> Option<Uncompressed> {
    let r = Point::new()?;
    let gn = match g {
        Some(s) => Some(Bn::from_be(s)?),
        None => None,
    };
    let (q, m) = match pq {
        Some((p, s)) => (Some(Point::from_uncompressed(p)?), Some(Bn::from_be(s)?)),
        None => (None, None),
    };
    let gp = gn.as_ref().map_or(ptr::null(), |b| b.0.cast_const());
    let qp = q.as_ref().map_or(ptr::null(), |p| p.0.cast_const());
    let mp = m.as_ref().map_or(ptr::null(), |b| b.0.cast_const());
    // SAFETY: valid group and result point; every other pointer is either null (term absent,
    // as EC_POINT_mul allows) or a live object owned by this frame; a null BN_CTX is allowed.
    let ok = unsafe { sys::EC_POINT_mul(group(), r.0, gp, qp, mp, ptr::null_mut()) };
    if ok != 1 {
        return None;
    }
    r.to_uncompressed()
}

/// `k·P`.
pub fn mul(p: &Uncompressed, k: &[u8; 32]) -> Option<Uncompressed> {
    ec_mul(None, Some((p, k)))
}

/// `k·G`.
pub fn mul_base(k: &[u8; 32]) -> Option<Uncompressed> {
    ec_mul(Some(k), None)
}

/// `a·G + b·P`.
pub fn mul_base_add(a: &[u8; 32], b: &[u8; 32], p: &Uncompressed) -> Option<Uncompressed> {
    ec_mul(Some(a), Some((p, b)))
}

/// `P + Q`.
pub fn add(p: &Uncompressed, q: &Uncompressed) -> Option<Uncompressed> {
    let (a, b, r) = (Point::from_uncompressed(p)?, Point::from_uncompressed(q)?, Point::new()?);
    // SAFETY: valid group; `a`, `b`, `r` are live points owned by this frame; null BN_CTX allowed.
    let ok = unsafe { sys::EC_POINT_add(group(), r.0, a.0, b.0, ptr::null_mut()) };
    if ok != 1 {
        return None;
    }
    r.to_uncompressed()
}

/// Zeroizes a scalar buffer (re-exported for callers that build them).
pub fn clear(buf: &mut [u8; 32]) {
    buf.zeroize();
}
