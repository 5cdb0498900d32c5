//! The crypto core of the split-key XKS proxy: a t-of-n threshold derivation of
//! AES-256 keys on P-256, and the XKS AES-256-GCM envelope.
//!
//! No I/O and no async. The byte-level construction is specified in
//! `docs/crypto.md` and pinned by the known-answer vectors in `tests/vectors/`.
//!
//! Request path, in the order the proxy uses it:
//! 1. [`KeyPath::to_point`]: `V = hash_to_curve(p)` (RFC 9380, our DST).
//! 2. [`HolderKey::evaluate`]: a holder's weighted partial `W_i = (λ_i·s_i)·V` with an
//!    RFC 9497 DLEQ proof against `λ_i·Y_i`.
//! 3. [`Combiner::verify`] (or [`Combiner::check_commitment`]) then [`Combiner::combine`]:
//!    `S = Σ W_i = x·V` — the secret `x` never exists.
//! 4. [`DataKey::encrypt`] / [`DataKey::decrypt`]: AES-256-GCM under a key
//!    derived by HKDF-SHA256 from `S`, fresh for every envelope (format v2;
//!    v1 ciphertext still opens), with the spec's AAD rule, [`Metadata`] and [`cdiv`].
//!
//! Lifecycle: [`dealer`], [`dkg`], [`refresh`], [`repair`], [`rotation`].
#![forbid(unsafe_code)]

pub mod dealer;
pub mod dkg;
pub mod dleq;
pub mod encoding;
pub mod envelope;
mod error;
pub mod group;
mod holder;
mod kdf;
mod keypath;
mod keyset;
mod partial;
mod polynomial;
pub mod refresh;
pub mod repair;
pub mod rotation;
mod share;
pub mod suite;

pub use envelope::{Envelope, Metadata, Sealed, cdiv, gcm_aad};
pub use error::{Error, Result};
pub use holder::HolderId;
pub use kdf::{DataKey, KEY_LEN};
pub use keypath::{KeyPath, KeyPoint};
pub use keyset::{KeySet, KeySetId, VerificationShare};
pub use partial::{Combiner, Partial, PartialCommitment, VerifiedPartial};
pub use polynomial::{CombiningSet, evaluate_commitments};
pub use share::{HolderKey, Share};

/// Re-export of the curve types that appear in the public API.
pub use p256::{AffinePoint, ProjectivePoint, Scalar};
