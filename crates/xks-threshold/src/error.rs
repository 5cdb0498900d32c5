//! The one error type of the crypto core.

use crate::HolderId;

/// Everything that can go wrong in the crypto core.
///
/// Messages never contain secret material: they name the check that failed
/// and, where useful, public identifiers (holder ids, epochs, generations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A point encoding is not a valid compressed SEC1 P-256 point.
    #[error("invalid point encoding")]
    InvalidPoint,
    /// The point at infinity appeared where a proper group element is required.
    #[error("identity point is not allowed here")]
    IdentityPoint,
    /// A scalar encoding is not 32 big-endian bytes below the group order.
    #[error("invalid scalar encoding")]
    InvalidScalar,
    /// A zero scalar appeared where a non-zero one is required.
    #[error("zero scalar is not allowed here")]
    ZeroScalar,
    /// Holder identifier 0 (the secret's position) or out of range.
    #[error("invalid holder id {0}: must be 1..={max}", max = crate::HolderId::MAX)]
    InvalidHolderId(u32),
    /// The same holder appears twice in a set that must be duplicate-free.
    #[error("duplicate holder id {0}")]
    DuplicateHolder(HolderId),
    /// A holder is not part of the key set.
    #[error("holder {0} is not part of the key set")]
    UnknownHolder(HolderId),
    /// Threshold parameters do not satisfy 2 <= t <= n <= 255 (with t = 1
    /// every share is the master secret).
    #[error("invalid threshold: t={t}, n={n} (need 2 <= t <= n <= 255)")]
    InvalidThreshold {
        /// requested threshold
        t: u32,
        /// requested number of holders
        n: u32,
    },
    /// Fewer (or more) contributions than the threshold requires.
    #[error("need exactly {expected} holders, got {got}")]
    WrongHolderCount {
        /// what the threshold requires
        expected: usize,
        /// what was given
        got: usize,
    },
    /// A persisted or wire format names a version this code does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// which format
        what: &'static str,
        /// the version found
        version: u32,
    },
    /// A persisted or wire format names a different ciphersuite.
    #[error("unsupported ciphersuite {0:?}")]
    UnsupportedSuite(String),
    /// A key set is internally inconsistent (commitments vs. verification shares).
    #[error("inconsistent key set: {0}")]
    InconsistentKeySet(&'static str),
    /// A share does not match the key set it is used with.
    #[error("share of holder {0} does not match the key set")]
    ShareMismatch(HolderId),
    /// Values from different epochs (refresh rounds) were mixed.
    #[error("epoch mismatch: expected {expected}, got {got}")]
    EpochMismatch {
        /// epoch of the key set in use
        expected: u32,
        /// epoch of the offending value
        got: u32,
    },
    /// Values from different generations (master secrets) were mixed.
    #[error("generation mismatch: expected {expected}, got {got}")]
    GenerationMismatch {
        /// generation of the key set in use
        expected: u32,
        /// generation of the offending value
        got: u32,
    },
    /// A generation is not known (e.g. decrypting ciphertext of a generation we do not hold).
    #[error("unknown generation {0}")]
    UnknownGeneration(u32),
    /// A DLEQ proof or a partial commitment did not verify.
    #[error("partial of holder {0} failed verification")]
    InvalidPartial(HolderId),
    /// A key path is empty, too long or has characters outside the allowed set.
    #[error("invalid key path: {0}")]
    InvalidKeyPath(&'static str),
    /// Envelope input exceeds what the format can carry.
    #[error("{what} too long: {len} bytes (max {max})")]
    TooLong {
        /// which field
        what: &'static str,
        /// actual length
        len: usize,
        /// maximum length
        max: usize,
    },
    /// An envelope field has the wrong length (IV, tag).
    #[error("{what} must be {expected}, got {len} bytes")]
    BadLength {
        /// which field
        what: &'static str,
        /// expected lengths, in words
        expected: &'static str,
        /// actual length
        len: usize,
    },
    /// ciphertextMetadata is not one this code produced.
    #[error("unrecognised ciphertextMetadata")]
    InvalidMetadata,
    /// AES-GCM authentication failed: wrong key, or modified ciphertext, IV, tag, AAD or metadata.
    #[error("ciphertext authentication failed")]
    Decryption,
    /// A distributed protocol step (DKG, refresh, repair) received a package that does not verify.
    #[error("protocol check failed: {0}")]
    Protocol(String),
    /// A persisted or wire format could not be parsed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// which format
        what: &'static str,
        /// parser message (never contains secret values)
        detail: String,
    },
}

/// Result alias for the crypto core.
pub type Result<T> = core::result::Result<T, Error>;
