//! The XKS AES-256-GCM envelope: ciphertextMetadata, the spec's
//! length-prefixed AAD rule, and the Ciphertext Data Integrity Value.
//!
//! Spec: AWS XKS Proxy API v1, "Encrypt" (ciphertextMetadata, AAD rule) and
//! Appendix C (CDIV).

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::kdf::{DataKey, KEY_LEN};
use crate::suite::ENVELOPE_VERSION;
use crate::{Error, Result};

/// IV length we generate (96 bits).
pub const IV_LEN: usize = 12;
/// IV length the spec also allows on decrypt (128 bits).
pub const IV_LEN_LONG: usize = 16;
/// GCM tag length.
pub const TAG_LEN: usize = 16;
/// Maximum ciphertextMetadata length (spec: "MUST NOT exceed 20 bytes").
pub const MAX_METADATA_LEN: usize = 20;
/// Maximum AAD length the length prefix can express (spec requires 8192).
pub const MAX_AAD_LEN: usize = u16::MAX as usize;
/// Length of our v1 metadata.
pub const METADATA_LEN: usize = 5;

type Aes256Gcm12 = AesGcm<Aes256, U12>;
type Aes256Gcm16 = AesGcm<Aes256, U16>;

/// ciphertextMetadata v1: `u8 version (=1) || u32be generation`.
///
/// Version 1 means: key derived as in docs/crypto.md, AAD built by the
/// spec's length-prefixed rule ([`gcm_aad`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    generation: u32,
}

impl Metadata {
    /// Metadata for a key generation.
    pub fn new(generation: u32) -> Self {
        Self { generation }
    }

    /// The key generation the ciphertext was made under.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The 5 metadata bytes.
    pub fn to_bytes(&self) -> [u8; METADATA_LEN] {
        let g = self.generation.to_be_bytes();
        [ENVELOPE_VERSION, g[0], g[1], g[2], g[3]]
    }

    /// Parses metadata received with a Decrypt request.
    ///
    /// # Errors
    /// [`Error::InvalidMetadata`] for absent, foreign or unknown-version metadata
    /// (we always produce it, so anything else cannot be our ciphertext).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [v, a, b, c, d] if *v == ENVELOPE_VERSION => Ok(Self { generation: u32::from_be_bytes([*a, *b, *c, *d]) }),
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
    /// ciphertextMetadata (always present, [`METADATA_LEN`] bytes).
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

impl DataKey {
    /// AES-256-GCM encryption with a fresh random 96-bit IV from `rng`.
    ///
    /// # Errors
    /// [`Error::TooLong`] for oversized AAD; [`Error::Decryption`] never.
    pub fn encrypt<R: RngCore + CryptoRng>(&self, plaintext: &[u8], aad: &[u8], rng: &mut R) -> Result<Envelope> {
        let mut iv = [0u8; IV_LEN];
        rng.fill_bytes(&mut iv);
        self.encrypt_iv(plaintext, aad, iv)
    }

    /// Encryption with a caller-chosen IV: only for known-answer vectors.
    /// Reusing an IV under one key breaks GCM; production code uses [`DataKey::encrypt`].
    #[cfg(feature = "hazmat-test-vectors")]
    pub fn encrypt_with_iv(&self, plaintext: &[u8], aad: &[u8], iv: [u8; IV_LEN]) -> Result<Envelope> {
        self.encrypt_iv(plaintext, aad, iv)
    }

    fn encrypt_iv(&self, plaintext: &[u8], aad: &[u8], iv: [u8; IV_LEN]) -> Result<Envelope> {
        let metadata = Metadata::new(self.generation()).to_bytes().to_vec();
        let full_aad = gcm_aad(aad, &metadata)?;
        let mut buf = plaintext.to_vec();
        let cipher = Aes256Gcm12::new(self.bytes().into());
        let tag = cipher.encrypt_in_place_detached(Nonce::<U12>::from_slice(&iv), &full_aad, &mut buf).map_err(|_| Error::TooLong {
            what: "plaintext",
            len: plaintext.len(),
            max: 1 << 36,
        })?;
        Ok(Envelope { ciphertext: buf, metadata, iv: iv.to_vec(), tag: tag.into() })
    }

    /// Decrypts (used for Appendix C's verifying decrypt and ordinary decrypts).
    ///
    /// # Errors
    /// [`Error::InvalidMetadata`], [`Error::GenerationMismatch`],
    /// [`Error::BadLength`] or [`Error::Decryption`] (see the private `decrypt`).
    pub fn decrypt(&self, ciphertext: &[u8], metadata: &[u8], iv: &[u8], tag: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        decrypt(self.bytes(), self.generation(), ciphertext, metadata, iv, tag, aad)
    }
}

/// AES-256-GCM decryption of XKS fields.
///
/// # Errors
/// [`Error::InvalidMetadata`] for metadata we did not produce,
/// [`Error::GenerationMismatch`] if the key is of another generation than the
/// metadata names, [`Error::BadLength`] for IV/tag lengths outside the spec,
/// [`Error::Decryption`] when authentication fails.
fn decrypt(
    key: &[u8; KEY_LEN],
    generation: u32,
    ciphertext: &[u8],
    metadata: &[u8],
    iv: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let md = Metadata::parse(metadata)?;
    if md.generation() != generation {
        return Err(Error::GenerationMismatch { expected: md.generation(), got: generation });
    }
    if tag.len() != TAG_LEN {
        return Err(Error::BadLength { what: "authenticationTag", expected: "16 bytes", len: tag.len() });
    }
    let full_aad = gcm_aad(aad, metadata)?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let tag = Tag::from_slice(tag);
    let ok = match iv.len() {
        IV_LEN => Aes256Gcm12::new(key.into()).decrypt_in_place_detached(Nonce::<U12>::from_slice(iv), &full_aad, &mut buf, tag),
        IV_LEN_LONG => Aes256Gcm16::new(key.into()).decrypt_in_place_detached(Nonce::<U16>::from_slice(iv), &full_aad, &mut buf, tag),
        len => return Err(Error::BadLength { what: "initializationVector", expected: "12 or 16 bytes", len }),
    };
    ok.map_err(|_| Error::Decryption)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    /// Issue 15 §6: the AES-256 cipher behind every envelope wipes its round
    /// keys (the first two of which are K itself) when dropped: the `aes`
    /// crate's `zeroize` feature is on (this does not compile without it).
    #[test]
    fn the_aes_cipher_is_zeroized_on_drop() {
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroized_on_drop::<aes::Aes256>();
        zeroized_on_drop::<aes::Aes256Enc>();
    }
}
