//! From the combined point `S = x·V` to AES-256 keys: HKDF-SHA256 (RFC 5869).
//!
//! Format v1 derives one key per key path and generation; format v2 one key
//! per envelope, bound to the envelope's metadata (version, generation, salt),
//! the key-set id and the key path (docs/crypto.md §7 and §7.1).

use core::fmt;

use hkdf::Hkdf;
use p256::AffinePoint;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::encoding::encode_point;
use crate::envelope::Metadata;
use crate::keypath::KeyPath;
use crate::keyset::{KeySet, KeySetId};
use crate::suite::{HKDF_INFO_AES_KEY, HKDF_INFO_ENVELOPE_KEY_V2, HKDF_SALT, HKDF_SALT_V2};
use crate::{Error, Result};

/// Length of an AES-256 key.
pub const KEY_LEN: usize = 32;

/// The secret of one key path under one key set, for one request: the
/// combined point `S`, from which every envelope key of that key path is
/// derived. Built only from verified partials; zeroized on drop.
pub struct DataKey {
    combined: Zeroizing<[u8; 33]>,
    key_set_id: KeySetId,
    generation: u32,
    key_path: KeyPath,
}

impl DataKey {
    /// # Errors
    /// [`Error::IdentityPoint`] if `S` is the identity (callers refuse it first).
    pub(crate) fn new(key_set: &KeySet, s: &AffinePoint, key_path: &KeyPath) -> Result<Self> {
        Ok(Self {
            combined: Zeroizing::new(encode_point(s)?),
            key_set_id: key_set.id(),
            generation: key_set.generation(),
            key_path: key_path.clone(),
        })
    }

    /// Generation of the key set it was derived under.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The AES-256 key of one envelope, by the metadata's version;
    /// `metadata_bytes` is its encoding (what the envelope carries), which v2
    /// binds into the key.
    ///
    /// # Errors
    /// [`Error::GenerationMismatch`] if the metadata names another generation.
    pub(crate) fn envelope_key(&self, metadata: &Metadata, metadata_bytes: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        if metadata.generation() != self.generation {
            return Err(Error::GenerationMismatch { expected: metadata.generation(), got: self.generation });
        }
        let path = self.key_path.as_bytes();
        Ok(match metadata {
            Metadata::V1 { .. } => {
                let len = u16::try_from(path.len()).map_err(|_| Error::InvalidKeyPath("longer than 255 bytes"))?.to_be_bytes();
                hkdf(HKDF_SALT, self.combined.as_slice(), &[HKDF_INFO_AES_KEY, &len, path])
            }
            Metadata::V2 { .. } => {
                let len = [u8::try_from(path.len()).map_err(|_| Error::InvalidKeyPath("longer than 255 bytes"))?];
                hkdf(HKDF_SALT_V2, self.combined.as_slice(), &[HKDF_INFO_ENVELOPE_KEY_V2, metadata_bytes, &self.key_set_id.0, &len, path])
            }
        })
    }

    /// The key of an envelope with this metadata, for known-answer tests and
    /// the vector generator only.
    ///
    /// # Errors
    /// As the envelope key derivation.
    #[cfg(feature = "hazmat-test-vectors")]
    pub fn expose_for_test_vectors(&self, metadata: &Metadata) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        self.envelope_key(metadata, &metadata.to_bytes())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(generation={}, key_path={}, <redacted>)", self.generation, self.key_path.as_str())
    }
}

/// `HKDF-SHA256(salt, IKM, info = concatenation of the parts, L = 32)`.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; KEY_LEN]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160, so expand cannot fail.
    let _ = hk.expand_multi_info(info, okm.as_mut_slice());
    okm
}
