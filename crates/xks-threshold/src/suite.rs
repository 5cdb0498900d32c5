//! Ciphersuite identifiers and every domain-separation string of formats v1
//! and v2 (v2 changes only the envelope: its metadata and key derivation).
//!
//! These constants are part of the frozen format: changing any byte makes
//! existing ciphertext undecryptable. `docs/crypto.md` lists each one with its
//! role; `tests/suite/kat.rs` pins them through the known-answer vectors.

/// Name of the ciphersuite carried in every persisted format.
pub const SUITE: &str = "P256-SHA256";

/// Context string of format v1; the prefix of every other label.
pub const CONTEXT: &str = "XKS-THRESHOLD-V1-P256-SHA256";

/// RFC 9380 §3.1 domain-separation tag for hashing a key path to the curve
/// with suite `P256_XMD:SHA-256_SSWU_RO_`.
pub const DST_HASH_TO_CURVE: &[u8] = b"XKS-THRESHOLD-V1-CS01-with-P256_XMD:SHA-256_SSWU_RO_";

/// RFC 9497 §2.2 `contextString` used by the DLEQ proofs on partials
/// (the RFC's own is `"OPRFV1-" || mode || "-P256-SHA256"`).
pub const DLEQ_CONTEXT: &[u8] = b"XKS-THRESHOLD-V1-DLEQ-P256-SHA256";

/// HKDF-SHA256 salt (RFC 5869 §2.2) for the AES key derivation.
pub const HKDF_SALT: &[u8] = b"XKS-THRESHOLD-V1-HKDF-SALT";

/// HKDF-SHA256 info prefix; the key path follows, length-prefixed.
pub const HKDF_INFO_AES_KEY: &[u8] = b"XKS-THRESHOLD-V1-AES-256-GCM-KEY";

/// Label of the key-set identifier hash.
pub const LABEL_KEY_SET_ID: &[u8] = b"XKS-THRESHOLD-V1-KEY-SET-ID";

/// Label of the key-set digest (the whole public key set, for comparing copies).
pub const LABEL_KEY_SET_DIGEST: &[u8] = b"XKS-THRESHOLD-V1-KEY-SET-DIGEST";

/// Label of the non-invertible commitment to a verified partial.
pub const LABEL_PARTIAL_COMMITMENT: &[u8] = b"XKS-THRESHOLD-V1-PARTIAL-COMMITMENT";

/// Label of a refresh contribution's identifier hash (docs/crypto.md §9.2).
pub const LABEL_REFRESH_CONTRIBUTION: &[u8] = b"XKS-THRESHOLD-V1-REFRESH-CONTRIBUTION";

/// Version of the JSON formats (key set, share, partial, protocol packages).
pub const FORMAT_VERSION: u32 = 1;

/// First byte of ciphertextMetadata in envelope format v1 (decrypt only).
pub const ENVELOPE_VERSION_1: u8 = 1;

/// First byte of ciphertextMetadata in envelope format v2, the one Encrypt writes.
pub const ENVELOPE_VERSION_2: u8 = 2;

/// HKDF-SHA256 salt of the envelope format v2 key derivation.
pub const HKDF_SALT_V2: &[u8] = b"XKS-THRESHOLD-V2-HKDF-SALT";

/// HKDF-SHA256 info prefix of an envelope format v2 key; the metadata, the
/// key-set id and the length-prefixed key path follow.
pub const HKDF_INFO_ENVELOPE_KEY_V2: &[u8] = b"XKS-THRESHOLD-V2-ENVELOPE-KEY";
