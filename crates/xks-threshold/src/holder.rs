//! Holder identifiers: the x-coordinate at which a holder's share is evaluated.

use core::fmt;
use core::num::NonZeroU16;

use p256::Scalar;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Identifier of a share holder: a small non-zero integer (1..=255).
///
/// Holder `i` holds `s_i = f(i)`; 0 is the secret's position and can never be
/// a holder. Deserialization re-runs the same check as [`HolderId::new`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct HolderId(NonZeroU16);

impl HolderId {
    /// Largest holder id (and largest number of holders) supported.
    pub const MAX: u16 = 255;

    /// # Errors
    /// [`Error::InvalidHolderId`] for 0 or anything above [`HolderId::MAX`].
    pub fn new(id: u32) -> Result<Self> {
        match u16::try_from(id).ok().and_then(NonZeroU16::new) {
            Some(v) if v.get() <= Self::MAX => Ok(Self(v)),
            _ => Err(Error::InvalidHolderId(id)),
        }
    }

    /// The integer value.
    pub fn get(self) -> u16 {
        self.0.get()
    }

    /// The holder's evaluation point as a field element.
    pub fn to_scalar(self) -> Scalar {
        Scalar::from(u64::from(self.0.get()))
    }
}

impl TryFrom<u32> for HolderId {
    type Error = Error;
    fn try_from(v: u32) -> Result<Self> {
        Self::new(v)
    }
}

impl From<HolderId> for u32 {
    fn from(h: HolderId) -> u32 {
        u32::from(h.get())
    }
}

impl fmt::Debug for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HolderId({})", self.get())
    }
}

impl fmt::Display for HolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}
