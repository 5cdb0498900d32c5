//! Key paths and their points on the curve, `V = hash_to_curve(p)`.

use core::fmt;

use p256::AffinePoint;
use serde::{Deserialize, Serialize};

use crate::group::hash_to_curve;
use crate::suite::DST_HASH_TO_CURVE;
use crate::{Error, Result};

/// Identifies one derived AES key: printable ASCII `[A-Za-z0-9._:/=@+-]`,
/// 1 to 255 bytes. The proxy maps each external key id to one key path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyPath(String);

impl KeyPath {
    /// Longest key path, in bytes.
    pub const MAX_LEN: usize = 255;

    /// # Errors
    /// [`Error::InvalidKeyPath`] when empty, longer than [`KeyPath::MAX_LEN`]
    /// or with a character outside the allowed set.
    pub fn new(path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        if path.is_empty() {
            return Err(Error::InvalidKeyPath("empty"));
        }
        if path.len() > Self::MAX_LEN {
            return Err(Error::InvalidKeyPath("longer than 255 bytes"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:/=@+-".contains(&b);
        if !path.bytes().all(allowed) {
            return Err(Error::InvalidKeyPath("characters outside [A-Za-z0-9._:/=@+-]"));
        }
        Ok(Self(path))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// `V = hash_to_curve(p)` under [`DST_HASH_TO_CURVE`].
    ///
    /// # Errors
    /// Only in the negligible case that the hash is the identity.
    pub fn to_point(&self) -> Result<KeyPoint> {
        Ok(KeyPoint { path: self.clone(), point: hash_to_curve(self.as_bytes(), DST_HASH_TO_CURVE)? })
    }
}

impl TryFrom<String> for KeyPath {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(s)
    }
}

impl From<KeyPath> for String {
    fn from(k: KeyPath) -> String {
        k.0
    }
}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPath({:?})", self.0)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key path with its curve point `V`. Public; cache it per key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPoint {
    path: KeyPath,
    point: AffinePoint,
}

impl KeyPoint {
    /// The key path.
    pub fn path(&self) -> &KeyPath {
        &self.path
    }

    /// `V`.
    pub fn point(&self) -> &AffinePoint {
        &self.point
    }
}
