//! Byte encodings of group elements and scalars, and their hex/serde forms.
//!
//! Points are SEC1 compressed (33 bytes, RFC 9497 `SerializeElement`),
//! scalars 32 bytes big-endian (RFC 9497 `SerializeScalar`). Decoding is
//! strict: non-canonical scalars, the identity and off-curve points are refused.
//!
//! One exception, for transport only: a partner's partial may travel as the
//! SEC1 uncompressed point ([`PointEncoding::Uncompressed`]), which its reader
//! takes without a square root (docs/crypto.md §6.4). Everything that is
//! hashed, signed or stored uses `SerializeElement`.

use p256::elliptic_curve::group::GroupEncoding;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::elliptic_curve::{Field, PrimeField};
use p256::{AffinePoint, EncodedPoint, Scalar};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Length of a compressed SEC1 P-256 point.
pub const POINT_LEN: usize = 33;
/// Length of a serialized P-256 scalar.
pub const SCALAR_LEN: usize = 32;
/// Length of an uncompressed SEC1 P-256 point (`0x04 ‖ x ‖ y`).
pub const UNCOMPRESSED_POINT_LEN: usize = 65;

/// How a point travels where both forms are allowed (a partner's partial).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PointEncoding {
    /// `SerializeElement`: 33 bytes; its reader computes a square root.
    #[default]
    Compressed,
    /// SEC1 uncompressed: 65 bytes, read with a curve-equation check only.
    Uncompressed,
}

/// RFC 9497 `SerializeElement`: SEC1 compressed. Refuses the identity.
///
/// # Errors
/// [`Error::IdentityPoint`] for the point at infinity.
pub fn encode_point(p: &AffinePoint) -> Result<[u8; POINT_LEN]> {
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint);
    }
    let bytes = p.to_bytes();
    let mut out = [0u8; POINT_LEN];
    out.copy_from_slice(bytes.as_slice());
    Ok(out)
}

/// RFC 9497 `DeserializeElement`: SEC1 compressed, on the curve, not the identity.
///
/// Only the tags `0x02` and `0x03` are ours: the SEC1 parser underneath also
/// reads 33-byte "compact" points (tag `0x05`) and a tagged identity, which
/// would give one point several encodings (docs/crypto.md §11).
///
/// # Errors
/// [`Error::InvalidPoint`] or [`Error::IdentityPoint`].
pub fn decode_point(bytes: &[u8]) -> Result<AffinePoint> {
    if bytes.len() != POINT_LEN || !matches!(bytes.first(), Some(0x02 | 0x03)) {
        return Err(Error::InvalidPoint);
    }
    let mut repr = <AffinePoint as GroupEncoding>::Repr::default();
    repr.copy_from_slice(bytes);
    let p: Option<AffinePoint> = AffinePoint::from_bytes(&repr).into();
    let p = p.ok_or(Error::InvalidPoint)?;
    if bool::from(p.is_identity()) {
        return Err(Error::IdentityPoint);
    }
    Ok(p)
}

/// The point in `encoding`, in a buffer zeroized on drop. Refuses the identity.
///
/// # Errors
/// [`Error::IdentityPoint`] for the point at infinity.
pub fn encode_point_as(p: &AffinePoint, encoding: PointEncoding) -> Result<Zeroizing<Vec<u8>>> {
    match encoding {
        PointEncoding::Compressed => Ok(Zeroizing::new(encode_point(p)?.to_vec())),
        PointEncoding::Uncompressed => Ok(Zeroizing::new(to_uncompressed(p).ok_or(Error::IdentityPoint)?.to_vec())),
    }
}

/// Reads a point in either form of [`PointEncoding`], as strictly as
/// [`decode_point`]: uncompressed, exactly `0x04 ‖ x ‖ y` with both
/// coordinates below p and on the curve; never the identity, never the
/// hybrid tags `0x06`/`0x07`.
///
/// # Errors
/// [`Error::InvalidPoint`] or [`Error::IdentityPoint`].
pub fn decode_point_any(bytes: &[u8]) -> Result<AffinePoint> {
    match <&[u8; UNCOMPRESSED_POINT_LEN]>::try_from(bytes) {
        Ok(uncompressed) => from_uncompressed(uncompressed).ok_or(Error::InvalidPoint),
        Err(_) => decode_point(bytes),
    }
}

/// The SEC1 uncompressed bytes of a point, zeroized on drop (partials and S
/// pass through here); `None` for the identity, which has no such form.
pub(crate) fn to_uncompressed(p: &AffinePoint) -> Option<Zeroizing<[u8; UNCOMPRESSED_POINT_LEN]>> {
    if bool::from(p.is_identity()) {
        return None;
    }
    p.to_encoded_point(false).as_bytes().try_into().ok().map(Zeroizing::new)
}

/// Reads exactly `0x04 ‖ x ‖ y`: both coordinates below p and on the curve
/// (so never the identity); `None` otherwise.
pub(crate) fn from_uncompressed(bytes: &[u8; UNCOMPRESSED_POINT_LEN]) -> Option<AffinePoint> {
    if bytes.first() != Some(&0x04) {
        return None;
    }
    let encoded = EncodedPoint::from_bytes(bytes).ok()?;
    AffinePoint::from_encoded_point(&encoded).into()
}

/// RFC 9497 `SerializeScalar`: 32 bytes big-endian.
pub fn encode_scalar(s: &Scalar) -> [u8; SCALAR_LEN] {
    s.to_bytes().into()
}

/// RFC 9497 `DeserializeScalar`: 32 bytes big-endian, canonical (below the order).
///
/// # Errors
/// [`Error::InvalidScalar`].
pub fn decode_scalar(bytes: &[u8]) -> Result<Scalar> {
    if bytes.len() != SCALAR_LEN {
        return Err(Error::InvalidScalar);
    }
    let mut repr = p256::FieldBytes::default();
    repr.copy_from_slice(bytes);
    Option::<Scalar>::from(Scalar::from_repr(repr)).ok_or(Error::InvalidScalar)
}

/// Like [`decode_scalar`] but also refuses zero.
///
/// # Errors
/// [`Error::InvalidScalar`] or [`Error::ZeroScalar`].
pub fn decode_nonzero_scalar(bytes: &[u8]) -> Result<Scalar> {
    let s = decode_scalar(bytes)?;
    if bool::from(s.is_zero()) {
        return Err(Error::ZeroScalar);
    }
    Ok(s)
}

/// Constant-time equality of two points.
pub fn points_equal(a: &AffinePoint, b: &AffinePoint) -> bool {
    bool::from(a.ct_eq(b))
}

/// Serde helpers that put points and scalars in JSON as lowercase hex.
pub(crate) mod serde_hex {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    fn hex_bytes<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> core::result::Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_bytes()).map_err(|_| D::Error::custom(format_args!("{what}: not hex")))
    }

    /// A non-identity point as 66 hex characters.
    pub mod point {
        use super::*;
        pub fn serialize<S: Serializer>(p: &AffinePoint, s: S) -> core::result::Result<S::Ok, S::Error> {
            let b = encode_point(p).map_err(serde::ser::Error::custom)?;
            s.serialize_str(&hex::encode(b))
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<AffinePoint, D::Error> {
            let b = hex_bytes(d, "point")?;
            decode_point(&b).map_err(D::Error::custom)
        }
    }

    /// A list of non-identity points.
    pub mod points {
        use super::*;
        use serde::ser::SerializeSeq;
        pub fn serialize<S: Serializer>(ps: &[AffinePoint], s: S) -> core::result::Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(ps.len()))?;
            for p in ps {
                let b = encode_point(p).map_err(serde::ser::Error::custom)?;
                seq.serialize_element(&hex::encode(b))?;
            }
            seq.end()
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Vec<AffinePoint>, D::Error> {
            let v = Vec::<String>::deserialize(d)?;
            v.iter()
                .map(|h| {
                    let b = hex::decode(h).map_err(|_| D::Error::custom("point: not hex"))?;
                    decode_point(&b).map_err(D::Error::custom)
                })
                .collect()
        }
    }

    /// A scalar as 64 hex characters (the error never echoes the input).
    pub mod scalar {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Scalar, s: S) -> core::result::Result<S::Ok, S::Error> {
            let mut b = encode_scalar(v);
            let out = s.serialize_str(&hex::encode(b));
            zeroize::Zeroize::zeroize(&mut b);
            out
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Scalar, D::Error> {
            let mut b = zeroize::Zeroizing::new(hex_bytes(d, "scalar")?);
            let out = decode_scalar(&b).map_err(D::Error::custom);
            zeroize::Zeroize::zeroize(&mut *b);
            out
        }
    }

    /// Arbitrary bytes as hex.
    pub mod bytes {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> core::result::Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(v))
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Vec<u8>, D::Error> {
            hex_bytes(d, "bytes")
        }
    }
}

/// Maps a JSON parse failure to [`Error::Malformed`] without echoing input:
/// serde_json messages can quote the offending value, which may be secret.
pub(crate) fn malformed(what: &'static str, e: &serde_json::Error) -> Error {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid or missing field",
        serde_json::error::Category::Eof => "truncated input",
    };
    Error::Malformed { what, detail: format!("{kind} at line {} column {}", e.line(), e.column()) }
}
