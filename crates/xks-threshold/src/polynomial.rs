//! Shamir sharing over the P-256 scalar field with Feldman commitments,
//! and Lagrange interpolation at zero for a combining set.

use p256::{AffinePoint, ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::group::{mul_base, random_nonzero_scalar};
use crate::{Error, HolderId, Result};

/// A secret polynomial `f(z) = a_0 + a_1 z + … + a_{t-1} z^{t-1}`. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Polynomial {
    coefficients: Vec<Scalar>,
}

impl Polynomial {
    /// A random polynomial of the given degree with `f(0) = constant`.
    pub(crate) fn random<R: RngCore + CryptoRng>(constant: Scalar, degree: usize, rng: &mut R) -> Self {
        let mut coefficients = Vec::with_capacity(degree + 1);
        coefficients.push(constant);
        coefficients.extend((0..degree).map(|_| random_nonzero_scalar(rng)));
        Self { coefficients }
    }

    /// `f(i)`, by Horner's rule.
    pub(crate) fn evaluate(&self, at: HolderId) -> Scalar {
        let x = at.to_scalar();
        self.coefficients.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a)
    }

    /// Feldman commitments `C_k = a_k·G`.
    pub(crate) fn commitments(&self) -> Vec<AffinePoint> {
        self.coefficients.iter().map(mul_base).collect()
    }
}

/// `Σ_k C_k · i^k`: the public image `f(i)·G` of a committed polynomial
/// (public inputs only; used when loading key sets, not on the request path).
pub fn evaluate_commitments(commitments: &[AffinePoint], at: HolderId) -> AffinePoint {
    let x = at.to_scalar();
    commitments.iter().rev().fold(ProjectivePoint::IDENTITY, |acc, c| acc * x + c).to_affine()
}

/// The set of holders whose partials are combined: sorted, duplicate-free, non-empty.
///
/// Its Lagrange coefficients at zero turn their shares into the secret:
/// `x = Σ_{i∈set} λ_i·s_i` with `λ_i = Π_{j∈set, j≠i} j / (j − i)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<HolderId>", into = "Vec<HolderId>")]
pub struct CombiningSet(Vec<HolderId>);

impl CombiningSet {
    /// # Errors
    /// [`Error::DuplicateHolder`] or [`Error::WrongHolderCount`] for an empty set.
    pub fn new(ids: impl IntoIterator<Item = HolderId>) -> Result<Self> {
        let mut v: Vec<HolderId> = ids.into_iter().collect();
        v.sort();
        if let Some(w) = v.windows(2).find(|w| w.first() == w.get(1)) {
            let dup = *w.first().ok_or(Error::WrongHolderCount { expected: 1, got: 0 })?;
            return Err(Error::DuplicateHolder(dup));
        }
        if v.is_empty() {
            return Err(Error::WrongHolderCount { expected: 1, got: 0 });
        }
        Ok(Self(v))
    }

    /// The holders, ascending.
    pub fn holders(&self) -> &[HolderId] {
        &self.0
    }

    /// Number of holders.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a combining set is never empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: HolderId) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// Lagrange coefficient of `i` for interpolation at zero.
    ///
    /// # Errors
    /// [`Error::UnknownHolder`] if `i` is not in the set.
    pub fn lagrange_at_zero(&self, i: HolderId) -> Result<Scalar> {
        lagrange(&self.0, i, Scalar::ZERO)
    }

    /// The set as a string like `1,2`.
    pub fn to_label(&self) -> String {
        self.0.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",")
    }
}

impl TryFrom<Vec<HolderId>> for CombiningSet {
    type Error = Error;
    fn try_from(v: Vec<HolderId>) -> Result<Self> {
        Self::new(v)
    }
}

impl From<CombiningSet> for Vec<HolderId> {
    fn from(s: CombiningSet) -> Self {
        s.0
    }
}

/// Lagrange basis polynomial of `i` over `set`, evaluated at `x`:
/// `Π_{j∈set, j≠i} (x − j) / (i − j)`. `set` must be duplicate-free.
pub(crate) fn lagrange(set: &[HolderId], i: HolderId, x: Scalar) -> Result<Scalar> {
    if !set.contains(&i) {
        return Err(Error::UnknownHolder(i));
    }
    let xi = i.to_scalar();
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for j in set.iter().filter(|j| **j != i) {
        let xj = j.to_scalar();
        num *= x - xj;
        den *= xi - xj;
    }
    let inv: Option<Scalar> = den.invert().into();
    Ok(num * inv.ok_or(Error::DuplicateHolder(i))?)
}
