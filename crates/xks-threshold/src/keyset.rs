//! The public key set: group key, Feldman commitments, verification shares.

use p256::AffinePoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{encode_point, points_equal, serde_hex};
use crate::polynomial::evaluate_commitments;
use crate::suite::{FORMAT_VERSION, LABEL_KEY_SET_DIGEST, LABEL_KEY_SET_ID, SUITE};
use crate::{Error, HolderId, Result};

/// Identifier of one master secret: `SHA-256(label || u32be(generation) || X)`.
///
/// It does not change on refresh (same secret, new epoch), so shares of every
/// epoch of one generation name the same key set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeySetId(pub [u8; 32]);

impl KeySetId {
    /// Lowercase hex of all 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl core::fmt::Debug for KeySetId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KeySetId({})", self.to_hex())
    }
}

impl core::fmt::Display for KeySetId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for KeySetId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeySetId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| serde::de::Error::custom("keySetId: expected 64 hex characters"))?;
        Ok(Self(out))
    }
}

/// One holder's public verification share `Y_i = s_i·G`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationShare {
    /// The holder.
    pub holder: HolderId,
    /// `Y_i`, SEC1 compressed hex.
    #[serde(with = "serde_hex::point")]
    pub key: AffinePoint,
}

/// The public key set of one generation at one epoch. Proxy, share services
/// and auditors all hold it; it contains nothing secret.
///
/// Invariants (checked by every constructor, including deserialization):
/// `2 <= t <= n <= 255`, holder ids unique, `commitments.len() == t`,
/// `commitments[0] == group_key`, and `Y_i == Σ_k C_k·i^k` for every holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeySetWire", into = "KeySetWire")]
pub struct KeySet {
    generation: u32,
    epoch: u32,
    threshold: u16,
    group_key: AffinePoint,
    commitments: Vec<AffinePoint>,
    shares: Vec<VerificationShare>,
    /// [`KeySet::id`], computed once: every combine binds it into the envelope key.
    id: KeySetId,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeySetWire {
    version: u32,
    suite: String,
    key_set_id: KeySetId,
    generation: u32,
    epoch: u32,
    threshold: u16,
    #[serde(with = "serde_hex::point")]
    group_key: AffinePoint,
    #[serde(with = "serde_hex::points")]
    commitments: Vec<AffinePoint>,
    verification_shares: Vec<VerificationShare>,
}

impl TryFrom<KeySetWire> for KeySet {
    type Error = Error;
    fn try_from(w: KeySetWire) -> Result<Self> {
        if w.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { what: "key set", version: w.version });
        }
        if w.suite != SUITE {
            return Err(Error::UnsupportedSuite(w.suite));
        }
        let ks = KeySet::new(w.generation, w.epoch, w.threshold, w.group_key, w.commitments, w.verification_shares)?;
        if ks.id() != w.key_set_id {
            return Err(Error::InconsistentKeySet("keySetId does not match the group key and generation"));
        }
        Ok(ks)
    }
}

impl From<KeySet> for KeySetWire {
    fn from(k: KeySet) -> Self {
        KeySetWire {
            version: FORMAT_VERSION,
            suite: SUITE.to_owned(),
            key_set_id: k.id(),
            generation: k.generation,
            epoch: k.epoch,
            threshold: k.threshold,
            group_key: k.group_key,
            commitments: k.commitments,
            verification_shares: k.shares,
        }
    }
}

/// Checks `2 <= t <= n <= 255`. A threshold of 1 is refused: every share
/// would equal the master secret, so any one holder (the proxy included)
/// could derive every key alone.
pub(crate) fn check_threshold(t: usize, n: usize) -> Result<()> {
    if t < 2 || t > n || n > usize::from(HolderId::MAX) {
        return Err(Error::InvalidThreshold { t: u32::try_from(t).unwrap_or(u32::MAX), n: u32::try_from(n).unwrap_or(u32::MAX) });
    }
    Ok(())
}

impl KeySet {
    /// Builds and validates a key set.
    ///
    /// # Errors
    /// [`Error::InvalidThreshold`], [`Error::DuplicateHolder`],
    /// [`Error::InconsistentKeySet`] when the invariants above do not hold.
    pub fn new(
        generation: u32,
        epoch: u32,
        threshold: u16,
        group_key: AffinePoint,
        commitments: Vec<AffinePoint>,
        mut shares: Vec<VerificationShare>,
    ) -> Result<Self> {
        check_threshold(usize::from(threshold), shares.len())?;
        shares.sort_by_key(|s| s.holder);
        for w in shares.windows(2) {
            if let [a, b] = w
                && a.holder == b.holder
            {
                return Err(Error::DuplicateHolder(a.holder));
            }
        }
        if commitments.len() != usize::from(threshold) {
            return Err(Error::InconsistentKeySet("number of commitments differs from the threshold"));
        }
        if !commitments.first().is_some_and(|c0| points_equal(c0, &group_key)) {
            return Err(Error::InconsistentKeySet("first commitment differs from the group key"));
        }
        let all_points = commitments.iter().chain(shares.iter().map(|s| &s.key)).chain([&group_key]);
        for p in all_points {
            encode_point(p)?; // refuses the identity
        }
        for s in &shares {
            if !points_equal(&evaluate_commitments(&commitments, s.holder), &s.key) {
                return Err(Error::InconsistentKeySet("a verification share does not match the commitments"));
            }
        }
        let id = key_set_id(generation, &group_key);
        Ok(Self { generation, epoch, threshold, group_key, commitments, shares, id })
    }

    /// Parses and validates the JSON form.
    ///
    /// # Errors
    /// [`Error::Malformed`] or any validation error of [`KeySet::new`].
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Malformed { what: "key set", detail: e.to_string() })
    }

    /// Pretty JSON form.
    ///
    /// # Errors
    /// Never in practice; serialization of validated points cannot fail.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Malformed { what: "key set", detail: e.to_string() })
    }

    /// The key set identifier (stable across refresh epochs).
    pub fn id(&self) -> KeySetId {
        self.id
    }

    /// A digest of the whole key set (docs/crypto.md §3): generation, epoch,
    /// threshold, every Feldman commitment and every verification share, in
    /// holder order. Unlike [`KeySet::id`], which names the master secret and
    /// stays the same across refresh epochs, two copies with equal digests are
    /// the same key set: holders compare it after a refresh, where a holder
    /// that applied other contributions gets a key set with the same id.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(LABEL_KEY_SET_DIGEST);
        h.update(self.generation.to_be_bytes());
        h.update(self.epoch.to_be_bytes());
        h.update(self.threshold.to_be_bytes());
        let point = |p: &AffinePoint| encode_point(p).unwrap_or([0u8; 33]);
        h.update(u16::try_from(self.commitments.len()).unwrap_or(u16::MAX).to_be_bytes());
        for c in &self.commitments {
            h.update(point(c));
        }
        let mut shares: Vec<&VerificationShare> = self.shares.iter().collect();
        shares.sort_by_key(|v| v.holder);
        h.update(u16::try_from(shares.len()).unwrap_or(u16::MAX).to_be_bytes());
        for v in shares {
            h.update(v.holder.get().to_be_bytes());
            h.update(point(&v.key));
        }
        h.finalize().into()
    }

    /// Which master secret (rotation counter, starting at 1).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Refresh counter (starting at 0).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Number of partials needed.
    pub fn threshold(&self) -> usize {
        usize::from(self.threshold)
    }

    /// The group key `X = x·G`.
    pub fn group_key(&self) -> &AffinePoint {
        &self.group_key
    }

    /// Feldman commitments `C_0 … C_{t-1}` of the sharing polynomial.
    pub fn commitments(&self) -> &[AffinePoint] {
        &self.commitments
    }

    /// All verification shares, by ascending holder id.
    pub fn verification_shares(&self) -> &[VerificationShare] {
        &self.shares
    }

    /// Holder ids, ascending.
    pub fn holders(&self) -> impl Iterator<Item = HolderId> + '_ {
        self.shares.iter().map(|s| s.holder)
    }

    /// `Y_i` for one holder.
    ///
    /// # Errors
    /// [`Error::UnknownHolder`].
    pub fn verification_share(&self, holder: HolderId) -> Result<&AffinePoint> {
        self.shares
            .binary_search_by_key(&holder, |s| s.holder)
            .ok()
            .and_then(|i| self.shares.get(i))
            .map(|s| &s.key)
            .ok_or(Error::UnknownHolder(holder))
    }

    /// Checks that `other` is the same secret at another epoch (refresh).
    pub(crate) fn same_secret(&self, other: &KeySet) -> bool {
        self.generation == other.generation
            && self.threshold == other.threshold
            && points_equal(&self.group_key, &other.group_key)
            && self.holders().eq(other.holders())
    }
}

/// `SHA-256(LABEL_KEY_SET_ID || u32be(generation) || SerializeElement(X))`.
pub(crate) fn key_set_id(generation: u32, group_key: &AffinePoint) -> KeySetId {
    let mut h = Sha256::new();
    h.update(LABEL_KEY_SET_ID);
    h.update(generation.to_be_bytes());
    // A validated key set never holds the identity; an all-zero encoding would only
    // ever describe an invalid set, which `KeySet::new` refuses before this is used.
    h.update(encode_point(group_key).unwrap_or([0u8; 33]));
    KeySetId(h.finalize().into())
}

impl AsRef<KeySet> for KeySet {
    fn as_ref(&self) -> &KeySet {
        self
    }
}
