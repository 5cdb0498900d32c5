//! A holder's secret share `s_i = f(i)` and its file format.

use core::fmt;

use p256::Scalar;
use p256::elliptic_curve::Field;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{malformed, points_equal, serde_hex};
use crate::group::mul_base;
use crate::keyset::{KeySet, KeySetId};
use crate::suite::{FORMAT_VERSION, SUITE};
use crate::{Error, HolderId, Result};

/// A secret share of one generation at one epoch. Zeroized on drop; `Debug`
/// shows only public fields. The scalar is never zero.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Share {
    #[zeroize(skip)]
    holder: HolderId,
    #[zeroize(skip)]
    key_set_id: KeySetId,
    generation: u32,
    epoch: u32,
    secret: Scalar,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("holder", &self.holder)
            .field("key_set_id", &self.key_set_id)
            .field("generation", &self.generation)
            .field("epoch", &self.epoch)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShareWire {
    version: u32,
    #[zeroize(skip)]
    suite: String,
    #[zeroize(skip)]
    key_set_id: KeySetId,
    generation: u32,
    epoch: u32,
    #[zeroize(skip)]
    holder: HolderId,
    #[serde(with = "serde_hex::scalar")]
    share: Scalar,
}

impl Share {
    pub(crate) fn new(holder: HolderId, key_set_id: KeySetId, generation: u32, epoch: u32, secret: Scalar) -> Result<Self> {
        if bool::from(secret.is_zero()) {
            return Err(Error::ZeroScalar);
        }
        Ok(Self { holder, key_set_id, generation, epoch, secret })
    }

    /// The holder id.
    pub fn holder(&self) -> HolderId {
        self.holder
    }

    /// The key set this share belongs to.
    pub fn key_set_id(&self) -> KeySetId {
        self.key_set_id
    }

    /// Generation (master secret) of this share.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Refresh epoch of this share.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(crate) fn secret(&self) -> &Scalar {
        &self.secret
    }

    /// Checks this share against a key set: same key set id, generation and
    /// epoch, a known holder, and `s_i·G == Y_i`.
    ///
    /// # Errors
    /// [`Error::ShareMismatch`], [`Error::GenerationMismatch`],
    /// [`Error::EpochMismatch`] or [`Error::UnknownHolder`].
    pub fn verify(&self, key_set: &KeySet) -> Result<()> {
        if self.key_set_id != key_set.id() {
            return Err(Error::ShareMismatch(self.holder));
        }
        if self.generation != key_set.generation() {
            return Err(Error::GenerationMismatch { expected: key_set.generation(), got: self.generation });
        }
        if self.epoch != key_set.epoch() {
            return Err(Error::EpochMismatch { expected: key_set.epoch(), got: self.epoch });
        }
        let y = key_set.verification_share(self.holder)?;
        if !points_equal(&mul_base(&self.secret), y) {
            return Err(Error::ShareMismatch(self.holder));
        }
        Ok(())
    }

    /// Parses the JSON share file. Error messages never quote the input.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::UnsupportedVersion`], [`Error::UnsupportedSuite`],
    /// [`Error::ZeroScalar`].
    pub fn from_json(json: &str) -> Result<Self> {
        let w: ShareWire = serde_json::from_str(json).map_err(|e| malformed("share", &e))?;
        if w.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { what: "share", version: w.version });
        }
        if w.suite != SUITE {
            return Err(Error::UnsupportedSuite(w.suite.clone()));
        }
        Self::new(w.holder, w.key_set_id, w.generation, w.epoch, w.share)
    }

    /// The JSON share file, in a buffer that is zeroized on drop.
    ///
    /// # Errors
    /// Never in practice.
    pub fn to_json(&self) -> Result<Zeroizing<String>> {
        let w = ShareWire {
            version: FORMAT_VERSION,
            suite: SUITE.to_owned(),
            key_set_id: self.key_set_id,
            generation: self.generation,
            epoch: self.epoch,
            holder: self.holder,
            share: self.secret,
        };
        serde_json::to_string_pretty(&w).map(Zeroizing::new).map_err(|e| malformed("share", &e))
    }
}

/// A share checked against its key set once, ready to evaluate partials.
#[derive(Clone, Debug)]
pub struct HolderKey {
    share: Share,
    key_set: KeySet,
}

impl HolderKey {
    /// # Errors
    /// Whatever [`Share::verify`] reports.
    pub fn new(share: Share, key_set: KeySet) -> Result<Self> {
        share.verify(&key_set)?;
        Ok(Self { share, key_set })
    }

    /// The share.
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// The key set it was verified against.
    pub fn key_set(&self) -> &KeySet {
        &self.key_set
    }

    /// The holder id.
    pub fn holder(&self) -> HolderId {
        self.share.holder
    }
}

impl AsRef<KeySet> for HolderKey {
    fn as_ref(&self) -> &KeySet {
        self.key_set()
    }
}
