//! The XKS AES-256-GCM envelope: ciphertextMetadata of formats v1 and v2, the
//! spec's length-prefixed AAD rule, and the Ciphertext Data Integrity Value.
//!
//! Encrypt writes format v2, whose key is fresh for every envelope; Decrypt
//! opens v1 and v2 (docs/crypto.md §8 and §8.1).
//!
//! Spec: AWS XKS Proxy API v1, "Encrypt" (ciphertextMetadata, AAD rule) and
//! Appendix C (CDIV).

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::kdf::DataKey;
use crate::suite::{ENVELOPE_VERSION_1, ENVELOPE_VERSION_2};
use crate::{Error, Result};

/// The only IV length we produce and accept (96 bits).
pub const IV_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;
/// Maximum ciphertextMetadata length (spec: "MUST NOT exceed 20 bytes").
pub const MAX_METADATA_LEN: usize = 20;
/// Maximum AAD length the length prefix can express (spec requires 8192).
pub const MAX_AAD_LEN: usize = u16::MAX as usize;
/// Length of v1 metadata: version and generation.
pub const METADATA_V1_LEN: usize = 5;
/// Length of the random salt in v2 metadata (120 bits).
pub const SALT_LEN: usize = 15;
/// Length of v2 metadata: version, generation and salt; the spec's maximum.
pub const METADATA_V2_LEN: usize = 1 + 4 + SALT_LEN;

type Aes256Gcm12 = AesGcm<Aes256, U12>;

/// ciphertextMetadata: names the format version and the key generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// `0x01 ‖ u32be generation`: one key per key path and generation. Decrypt only.
    V1 {
        /// The key generation the ciphertext was made under.
        generation: u32,
    },
    /// `0x02 ‖ u32be generation ‖ salt`: a key of its own for every envelope.
    V2 {
        /// The key generation the ciphertext was made under.
        generation: u32,
        /// 15 random bytes, drawn for this envelope alone.
        salt: [u8; SALT_LEN],
    },
}

impl Metadata {
    /// The key generation the ciphertext was made under.
    pub fn generation(&self) -> u32 {
        match self {
            Self::V1 { generation } | Self::V2 { generation, .. } => *generation,
        }
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1 { .. } => ENVELOPE_VERSION_1,
            Self::V2 { .. } => ENVELOPE_VERSION_2,
        }
    }

    /// The metadata bytes (5 for v1, 20 for v2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(METADATA_V2_LEN);
        out.push(self.version());
        out.extend_from_slice(&self.generation().to_be_bytes());
        if let Self::V2 { salt, .. } = self {
            out.extend_from_slice(salt);
        }
        out
    }

    /// Parses metadata received with a Decrypt request.
    ///
    /// # Errors
    /// [`Error::InvalidMetadata`] for absent or foreign metadata, an unknown
    /// version byte, or a length other than its version's (we always produce
    /// metadata, so anything else cannot be our ciphertext).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let generation = |g: &[u8]| g.try_into().map(u32::from_be_bytes).map_err(|_| Error::InvalidMetadata);
        match bytes {
            [ENVELOPE_VERSION_1, rest @ ..] if bytes.len() == METADATA_V1_LEN => Ok(Self::V1 { generation: generation(rest)? }),
            [ENVELOPE_VERSION_2, rest @ ..] if bytes.len() == METADATA_V2_LEN => {
                let (g, salt) = rest.split_at(4);
                Ok(Self::V2 { generation: generation(g)?, salt: salt.try_into().map_err(|_| Error::InvalidMetadata)? })
            }
            _ => Err(Error::InvalidMetadata),
        }
    }
}

/// The AES-GCM AAD from the XKS spec (Encrypt, ciphertextMetadata):
/// `u16be(len(aad)) || aad || u8(len(metadata)) || metadata`.
///
/// # Errors
/// [`Error::TooLong`] if `aad` exceeds 65535 bytes or metadata 20 bytes.
pub fn gcm_aad(aad: &[u8], metadata: &[u8]) -> Result<Vec<u8>> {
    let aad_len =
        u16::try_from(aad.len()).map_err(|_| Error::TooLong { what: "additionalAuthenticatedData", len: aad.len(), max: MAX_AAD_LEN })?;
    if metadata.len() > MAX_METADATA_LEN {
        return Err(Error::TooLong { what: "ciphertextMetadata", len: metadata.len(), max: MAX_METADATA_LEN });
    }
    let mut out = Vec::with_capacity(2 + aad.len() + 1 + metadata.len());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(aad);
    out.push(u8::try_from(metadata.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(metadata);
    Ok(out)
}

/// XKS spec Appendix C: `SHA-256(aad || metadata || iv || ciphertext || tag)`
/// over the decoded fields (absent fields are empty).
pub fn cdiv(aad: &[u8], metadata: &[u8], iv: &[u8], ciphertext: &[u8], tag: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [aad, metadata, iv, ciphertext, tag] {
        h.update(part);
    }
    h.finalize().into()
}

/// The output of an Encrypt: the fields of the XKS response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Same length as the plaintext.
    pub ciphertext: Vec<u8>,
    /// ciphertextMetadata (always present).
    pub metadata: Vec<u8>,
    /// 12-byte IV.
    pub iv: Vec<u8>,
    /// 16-byte tag.
    pub tag: [u8; TAG_LEN],
}

impl Envelope {
    /// CDIV of this envelope for the request's AAD (Appendix C). Compute it
    /// before the verifying decrypt, as the spec's recommended sequence says.
    pub fn cdiv(&self, aad: &[u8]) -> [u8; 32] {
        cdiv(aad, &self.metadata, &self.iv, &self.ciphertext, &self.tag)
    }
}

/// The fields of a Decrypt with their shapes checked, before any key is
/// derived: a request that cannot be our ciphertext costs no partner round trip.
#[derive(Debug)]
pub struct Sealed<'a> {
    metadata: Metadata,
    metadata_bytes: &'a [u8],
    iv: [u8; IV_LEN],
    tag: [u8; TAG_LEN],
    ciphertext: &'a [u8],
}

impl<'a> Sealed<'a> {
    /// Checks, in this order: the metadata (§8), a 12-byte IV, a 16-byte tag.
    ///
    /// # Errors
    /// [`Error::InvalidMetadata`]; [`Error::BadLength`] for an IV other than
    /// 12 bytes (the spec also allows 16, which we never produce, so such a
    /// ciphertext cannot be ours) or a tag other than 16 bytes.
    pub fn parse(ciphertext: &'a [u8], metadata: &'a [u8], iv: &[u8], tag: &[u8]) -> Result<Self> {
        let parsed = Metadata::parse(metadata)?;
        let iv = iv.try_into().map_err(|_| Error::BadLength { what: "initializationVector", expected: "12 bytes", len: iv.len() })?;
        let tag = tag.try_into().map_err(|_| Error::BadLength { what: "authenticationTag", expected: "16 bytes", len: tag.len() })?;
        Ok(Self { metadata: parsed, metadata_bytes: metadata, iv, tag, ciphertext })
    }

    /// The parsed metadata: its generation selects the key set.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

impl DataKey {
    /// Encrypts in format v2: a fresh 120-bit salt (so a fresh AES-256 key) and
    /// a fresh 96-bit IV from `rng`.
    ///
    /// # Errors
    /// [`Error::TooLong`] for oversized AAD or plaintext.
    pub fn encrypt<R: RngCore + CryptoRng>(&self, plaintext: &[u8], aad: &[u8], rng: &mut R) -> Result<Envelope> {
        // One draw for both (one system call with the OS generator).
        let mut fresh = [0u8; SALT_LEN + IV_LEN];
        rng.fill_bytes(&mut fresh);
        let (mut salt, mut iv) = ([0u8; SALT_LEN], [0u8; IV_LEN]);
        let (fresh_salt, fresh_iv) = fresh.split_at(SALT_LEN);
        salt.copy_from_slice(fresh_salt);
        iv.copy_from_slice(fresh_iv);
        self.seal(&Metadata::V2 { generation: self.generation(), salt }, iv, plaintext, aad)
    }

    /// Encryption with caller-chosen metadata (v1 or v2) and IV: only for
    /// known-answer vectors. Reusing a salt and IV breaks GCM; production code
    /// uses [`DataKey::encrypt`].
    ///
    /// # Errors
    /// As [`DataKey::encrypt`]; [`Error::GenerationMismatch`] for metadata of another generation.
    #[cfg(feature = "hazmat-test-vectors")]
    pub fn encrypt_with(&self, metadata: &Metadata, iv: [u8; IV_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Envelope> {
        self.seal(metadata, iv, plaintext, aad)
    }

    fn seal(&self, metadata: &Metadata, iv: [u8; IV_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Envelope> {
        let bytes = metadata.to_bytes();
        let key = self.envelope_key(metadata, &bytes)?;
        let metadata = bytes;
        let full_aad = gcm_aad(aad, &metadata)?;
        let mut buf = plaintext.to_vec();
        let cipher = Aes256Gcm12::new(key.as_ref().into());
        let tag = cipher.encrypt_in_place_detached(Nonce::<U12>::from_slice(&iv), &full_aad, &mut buf).map_err(|_| Error::TooLong {
            what: "plaintext",
            len: plaintext.len(),
            max: 1 << 36,
        })?;
        Ok(Envelope { ciphertext: buf, metadata, iv: iv.to_vec(), tag: tag.into() })
    }

    /// Decrypts XKS fields (v1 or v2): [`Sealed::parse`], then [`DataKey::open`].
    ///
    /// # Errors
    /// As those two.
    pub fn decrypt(&self, ciphertext: &[u8], metadata: &[u8], iv: &[u8], tag: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open(&Sealed::parse(ciphertext, metadata, iv, tag)?, aad)
    }

    /// Opens checked Decrypt fields (also Appendix C's verifying decrypt).
    ///
    /// # Errors
    /// [`Error::GenerationMismatch`] if this key is of another generation than
    /// the metadata names; [`Error::Decryption`] when authentication fails.
    pub fn open(&self, sealed: &Sealed<'_>, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.envelope_key(&sealed.metadata, sealed.metadata_bytes)?;
        let full_aad = gcm_aad(aad, sealed.metadata_bytes)?;
        let mut buf = Zeroizing::new(sealed.ciphertext.to_vec());
        Aes256Gcm12::new(key.as_ref().into())
            .decrypt_in_place_detached(Nonce::<U12>::from_slice(&sealed.iv), &full_aad, &mut buf, Tag::from_slice(&sealed.tag))
            .map_err(|_| Error::Decryption)?;
        Ok(buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Issue 15 §6: the AES-256 cipher behind every envelope wipes its round
    /// keys (the first two of which are K itself) when dropped: the `aes`
    /// crate's `zeroize` feature is on (this does not compile without it).
    #[test]
    fn the_aes_cipher_is_zeroized_on_drop() {
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<aes::Aes256>();
        zeroized_on_drop::<aes::Aes256Enc>();
    }

    /// docs/crypto.md §8.1: v2 metadata fills the spec's 20 bytes exactly.
    #[test]
    fn v2_metadata_is_version_generation_and_salt_in_twenty_bytes() {
        let md = Metadata::V2 { generation: 0x0102_0304, salt: [0xab; SALT_LEN] };
        let bytes = md.to_bytes();
        assert_eq!(bytes.len(), MAX_METADATA_LEN);
        assert_eq!(bytes[..5], [2, 1, 2, 3, 4]);
        assert_eq!(Metadata::parse(&bytes).unwrap(), md);
        assert_eq!(Metadata::parse(&Metadata::V1 { generation: 7 }.to_bytes()).unwrap(), Metadata::V1 { generation: 7 });
        // A v2 byte with v1's length, and the reverse, are refused.
        assert_eq!(Metadata::parse(&bytes[..5]).unwrap_err(), Error::InvalidMetadata);
        let mut long_v1 = bytes.clone();
        long_v1[0] = 1;
        assert_eq!(Metadata::parse(&long_v1).unwrap_err(), Error::InvalidMetadata);
    }
}
