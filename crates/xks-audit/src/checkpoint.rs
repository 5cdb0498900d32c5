//! Signed checkpoints: the share service's statement, under its own Ed25519
//! key, that its audit chain had head `head` at sequence `seq` at `time`.
//!
//! A hash chain shows edits, insertions and deletions inside the log, but not
//! a log cut short or rewritten from some record on and re-chained: whoever
//! holds the files can do either. A checkpoint that left the host before (the
//! proxy keeps every one it fetches, its witness archive) pins the history up
//! to its sequence: a log that no longer reaches it was truncated, a log whose
//! record at that sequence hashes differently was rewritten, and only the
//! holder of the signing key could have signed the old head
//! (docs/oversight.md, "Checkpoints").
//!
//! Format (version 1), one JSON object per checkpoint (a line of
//! `checkpoints.jsonl`, the answer of `GET /v1/audit/checkpoint`):
//!
//! ```json
//! {"v":1,"seq":42,"head":"<64 hex>","time":"2026-12-07T13:00:00Z","service":"share-2",
//!  "build":"0.1.0 sha256:<64 hex>","reason":"interval","keyId":"<64 hex>","signature":"<128 hex>"}
//! ```
//!
//! The signature is Ed25519 (RFC 8032) over [`Checkpoint::signed_bytes`]:
//!
//! ```text
//! "XKS-AUDIT-CHECKPOINT-V1" ‖ 0x00 ‖ u64 seq ‖ head (32 bytes)
//!   ‖ u16 len ‖ time ‖ u16 len ‖ service ‖ u16 len ‖ build ‖ u8 len ‖ reason ‖ keyId (32 bytes)
//! ```
//!
//! (integers big-endian, strings UTF-8). `keyId` is the SHA-256 of the raw
//! 32-byte public key. Keys are PEM files: the private key PKCS#8
//! (`PRIVATE KEY`, what `openssl genpkey -algorithm ed25519` writes), the
//! public key SubjectPublicKeyInfo (`PUBLIC KEY`, RFC 8410).

use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::writer::Head;

/// Domain separation of the signed bytes (docs/oversight.md lists it).
pub const CHECKPOINT_DOMAIN: &[u8] = b"XKS-AUDIT-CHECKPOINT-V1";
/// The file, in the audit directory, where the share service appends every checkpoint it signs.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): the
/// algorithm id 1.3.101.112 and a 33-byte bit string of the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Why a checkpoint was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The service started (after its `start` record).
    Start,
    /// The period `audit.checkpoint_seconds` passed and the head moved.
    Interval,
    /// An audit file was closed: the head is the last record of that file.
    Rotation,
    /// The service stopped: the head is its last record.
    Shutdown,
}

impl Reason {
    /// The name in the JSON form and in the signed bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Interval => "interval",
            Self::Rotation => "rotation",
            Self::Shutdown => "shutdown",
        }
    }
}

/// One signed checkpoint (version 1). Field order is the serialization order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Checkpoint {
    /// Format version, 1.
    pub v: u32,
    /// Sequence number of the head record (0: an empty log).
    pub seq: u64,
    /// Chain hash of that record, 64 lowercase hex digits.
    pub head: String,
    /// RFC 3339 UTC time of signing.
    pub time: String,
    /// The service's name (its configuration's `audit.service_name`).
    pub service: String,
    /// The running build: version and the SHA-256 of the executable.
    pub build: String,
    /// Why it was signed.
    pub reason: Reason,
    /// SHA-256 of the signing public key, hex.
    pub key_id: String,
    /// Ed25519 signature over [`Checkpoint::signed_bytes`], hex.
    pub signature: String,
}

/// What is wrong with a key or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A key file is not an Ed25519 key of the expected kind.
    #[error("not an Ed25519 {what} (PEM {label}): {reason}")]
    Key {
        /// Private or public.
        what: &'static str,
        /// The PEM label expected.
        label: &'static str,
        /// Why (never key material).
        reason: String,
    },
    /// A field is out of shape (head not 64 hex digits, a string too long, …).
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// Signed by a key other than the one expected.
    #[error("signed by another key: key id {found}, expected {expected}")]
    ForeignKey {
        /// The key id the checkpoint names.
        found: String,
        /// The pinned key's id.
        expected: String,
    },
    /// Names the expected key but the signature does not verify: forged or altered.
    #[error("the signature does not verify under the expected key (checkpoint altered or forged)")]
    BadSignature,
    /// Signing failed (AWS-LC).
    #[error("signing failed")]
    Signing,
}

/// PEM with `\n` line ends (the `pem` crate's default is `\r\n`).
fn to_pem(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(&pem::Pem::new(tag, der), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

fn malformed(why: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(why.into())
}

fn put_str(out: &mut Vec<u8>, field: &str, s: &str) -> Result<(), CheckpointError> {
    let len = u16::try_from(s.len()).map_err(|_| malformed(format!("{field} longer than 65535 bytes")))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn hex32(field: &str, s: &str) -> Result<[u8; 32], CheckpointError> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(malformed(format!("{field} is not 64 lowercase hex digits")));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| malformed(format!("{field} is not 64 lowercase hex digits")))?;
    Ok(out)
}

impl Checkpoint {
    /// The bytes the signature covers (module documentation).
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] for a head or key id that is not 64 hex
    /// digits, or a string field longer than its length prefix allows.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        if self.v != 1 {
            return Err(malformed(format!("unknown version {}", self.v)));
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(CHECKPOINT_DOMAIN);
        out.push(0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&hex32("head", &self.head)?);
        put_str(&mut out, "time", &self.time)?;
        put_str(&mut out, "service", &self.service)?;
        put_str(&mut out, "build", &self.build)?;
        let reason = self.reason.as_str();
        out.push(u8::try_from(reason.len()).map_err(|_| malformed("reason too long"))?);
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(&hex32("keyId", &self.key_id)?);
        Ok(out)
    }

    /// The one-line JSON form (a line of `checkpoints.jsonl`).
    ///
    /// # Errors
    /// Never in practice (serializing plain strings and numbers).
    pub fn to_json(&self) -> Result<String, CheckpointError> {
        serde_json::to_string(self).map_err(|e| malformed(e.to_string()))
    }

    /// Parses the JSON form strictly (unknown fields refused).
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`].
    pub fn from_json(json: &[u8]) -> Result<Self, CheckpointError> {
        let c: Self = serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
        c.signed_bytes()?;
        Ok(c)
    }
}

/// A checkpoint verifying key (Ed25519 public key).
#[derive(Clone, PartialEq, Eq)]
pub struct CheckpointKey {
    raw: [u8; 32],
    id: String,
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey({})", self.id)
    }
}

impl CheckpointKey {
    fn from_raw(raw: [u8; 32]) -> Self {
        Self { raw, id: hex::encode(Sha256::digest(raw)) }
    }

    /// Reads a `PUBLIC KEY` PEM (Ed25519 SubjectPublicKeyInfo, RFC 8410).
    ///
    /// # Errors
    /// [`CheckpointError::Key`].
    pub fn from_pem(pem: &str) -> Result<Self, CheckpointError> {
        let err = |reason: &str| CheckpointError::Key { what: "public key", label: "PUBLIC KEY", reason: reason.to_owned() };
        let block = pem::parse(pem).map_err(|e| err(&e.to_string()))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(err(&format!("found a {} block", block.tag())));
        }
        let raw = block
            .contents()
            .strip_prefix(ED25519_SPKI_PREFIX.as_slice())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| err("not an Ed25519 SubjectPublicKeyInfo"))?;
        Ok(Self::from_raw(raw))
    }

    /// Reads a public key file.
    ///
    /// # Errors
    /// [`CheckpointError::Key`] (the file name in the reason).
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::Key {
            what: "public key",
            label: "PUBLIC KEY",
            reason: format!("{}: {e}", path.display()),
        })?;
        Self::from_pem(&text)
    }

    /// The `PUBLIC KEY` PEM form.
    pub fn to_pem(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.raw);
        to_pem("PUBLIC KEY", der)
    }

    /// SHA-256 of the raw public key, hex: what checkpoints name as `keyId`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks that `c` names this key and that its signature verifies.
    ///
    /// # Errors
    /// [`CheckpointError::ForeignKey`], [`CheckpointError::BadSignature`],
    /// [`CheckpointError::Malformed`].
    pub fn verify(&self, c: &Checkpoint) -> Result<(), CheckpointError> {
        if c.key_id != self.id {
            return Err(CheckpointError::ForeignKey { found: c.key_id.clone(), expected: self.id.clone() });
        }
        let message = c.signed_bytes()?;
        let signature = hex::decode(&c.signature).map_err(|_| malformed("signature is not hex"))?;
        UnparsedPublicKey::new(&ED25519, self.raw).verify(&message, &signature).map_err(|_| CheckpointError::BadSignature)
    }
}

/// The share service's signing key, with the identity it signs under.
pub struct CheckpointSigner {
    pair: Ed25519KeyPair,
    key: CheckpointKey,
    service: String,
    build: String,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointSigner({}, {}, <redacted>)", self.service, self.key.id)
    }
}

impl CheckpointSigner {
    /// Reads a `PRIVATE KEY` PEM (PKCS#8 v1 or v2, Ed25519).
    ///
    /// # Errors
    /// [`CheckpointError::Key`] (never key material in the message).
    pub fn from_pem(pem_text: &str, service: &str, build: &str) -> Result<Self, CheckpointError> {
        let err = |reason: String| CheckpointError::Key { what: "private key", label: "PRIVATE KEY", reason };
        let block = pem::parse(pem_text).map_err(|e| err(e.to_string()))?;
        let der = Zeroizing::new(block.into_contents());
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| err(e.to_string()))?;
        let raw = <[u8; 32]>::try_from(pair.public_key().as_ref()).map_err(|_| err("public key is not 32 bytes".into()))?;
        Ok(Self { pair, key: CheckpointKey::from_raw(raw), service: service.to_owned(), build: build.to_owned() })
    }

    /// A new key pair: the private key as PKCS#8 PEM (to be sealed to its
    /// holder at once) and its public key.
    ///
    /// # Errors
    /// [`CheckpointError::Signing`] if AWS-LC cannot generate a key.
    pub fn generate() -> Result<(Zeroizing<String>, CheckpointKey), CheckpointError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(|_| CheckpointError::Signing)?;
        let pem = Zeroizing::new(to_pem("PRIVATE KEY", doc.as_ref().to_vec()));
        let signer = Self::from_pem(&pem, "", "")?;
        Ok((pem, signer.key))
    }

    /// The verifying key.
    pub fn public_key(&self) -> &CheckpointKey {
        &self.key
    }

    /// Signs `head` now.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] if the head is not a chain hash or a
    /// name is too long.
    pub fn sign(&self, head: &Head, reason: Reason) -> Result<Checkpoint, CheckpointError> {
        let time = OffsetDateTime::now_utc().format(&Rfc3339).map_err(|e| malformed(e.to_string()))?;
        self.sign_at(head, reason, time)
    }

    fn sign_at(&self, head: &Head, reason: Reason, time: String) -> Result<Checkpoint, CheckpointError> {
        let mut c = Checkpoint {
            v: 1,
            seq: head.seq,
            head: head.hash.clone(),
            time,
            service: self.service.clone(),
            build: self.build.clone(),
            reason,
            key_id: self.key.id.clone(),
            signature: String::new(),
        };
        let message = c.signed_bytes()?;
        c.signature = hex::encode(self.pair.try_sign(&message).map_err(|_| CheckpointError::Signing)?.as_ref());
        Ok(c)
    }
}

/// Reads checkpoints, one JSON object per line (a `checkpoints.jsonl`, a
/// witness archive); blank lines are skipped. A line that does not parse is
/// returned as an error with its number, not skipped: a verifier must not
/// quietly lose evidence.
///
/// # Errors
/// I/O errors, or `InvalidData` naming the first malformed line.
pub fn read_checkpoints(path: &Path) -> io::Result<Vec<Checkpoint>> {
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    for (i, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let c = Checkpoint::from_json(line.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{} line {}: {e}", path.display(), i + 1)))?;
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::GENESIS;

    fn head(seq: u64) -> Head {
        Head { seq, hash: hex::encode(Sha256::digest(seq.to_be_bytes())) }
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_survives_its_json_form() {
        let (pem, key) = CheckpointSigner::generate().unwrap();
        let signer = CheckpointSigner::from_pem(&pem, "share-2", "0.1.0 sha256:00").unwrap();
        assert_eq!(signer.public_key(), &key);
        let c = signer.sign(&head(7), Reason::Interval).unwrap();
        key.verify(&c).unwrap();
        let back = Checkpoint::from_json(c.to_json().unwrap().as_bytes()).unwrap();
        assert_eq!(back, c);
        key.verify(&back).unwrap();
        // The empty log's head signs too.
        signer.sign(&Head { seq: 0, hash: GENESIS.to_owned() }, Reason::Start).unwrap();
    }

    #[test]
    fn every_signed_field_is_covered() {
        let (pem, key) = CheckpointSigner::generate().unwrap();
        let signer = CheckpointSigner::from_pem(&pem, "share-2", "b").unwrap();
        let c = signer.sign(&head(7), Reason::Interval).unwrap();
        let edits: [fn(&mut Checkpoint); 6] = [
            |c| c.seq += 1,
            |c| c.head = head(8).hash,
            |c| c.time.push('0'),
            |c| c.service = "share-3".into(),
            |c| c.build = "c".into(),
            |c| c.reason = Reason::Shutdown,
        ];
        for edit in edits {
            let mut altered = c.clone();
            edit(&mut altered);
            assert_eq!(key.verify(&altered), Err(CheckpointError::BadSignature));
        }
    }

    #[test]
    fn another_key_is_named_as_such() {
        let (pem, _) = CheckpointSigner::generate().unwrap();
        let (_, pinned) = CheckpointSigner::generate().unwrap();
        let c = CheckpointSigner::from_pem(&pem, "share-2", "b").unwrap().sign(&head(1), Reason::Start).unwrap();
        assert!(matches!(pinned.verify(&c), Err(CheckpointError::ForeignKey { .. })));
        // A forger who writes the pinned key's id still fails the signature.
        let forged = Checkpoint { key_id: pinned.id().to_owned(), ..c };
        assert_eq!(pinned.verify(&forged), Err(CheckpointError::BadSignature));
    }

    #[test]
    fn public_keys_round_trip_through_pem_and_other_keys_are_refused() {
        let (pem, key) = CheckpointSigner::generate().unwrap();
        assert_eq!(CheckpointKey::from_pem(&key.to_pem()).unwrap(), key);
        assert!(CheckpointKey::from_pem(&pem).is_err(), "a private key is not a public key");
        let p256_spki = to_pem("PUBLIC KEY", vec![0x30, 0x59, 0x30, 0x13]);
        assert!(CheckpointKey::from_pem(&p256_spki).is_err());
        assert!(CheckpointSigner::from_pem(&key.to_pem(), "s", "b").is_err());
    }

    /// RFC 8032 §7.1 TEST 1, its seed wrapped in PKCS#8 as RFC 8410 §7
    /// defines: the public key and the signature of the empty message are the RFC's.
    #[test]
    fn rfc8032_test_1_key_and_signature() {
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
        der.extend_from_slice(&seed);
        let pem_text = to_pem("PRIVATE KEY", der);
        let signer = CheckpointSigner::from_pem(&pem_text, "s", "b").unwrap();
        assert_eq!(hex::encode(signer.public_key().raw), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = signer.pair.try_sign(b"").unwrap();
        assert_eq!(
            hex::encode(sig.as_ref()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    /// The format pinned: tests/vectors/audit/checkpoint-v1.json holds
    /// checkpoints signed with RFC 8032 TEST 1's key (Ed25519 is
    /// deterministic, so they are exact bytes). Each must be signed again
    /// identically and verify; tests/independent/checkpoint_check.py checks the
    /// same file from docs/oversight.md alone.
    #[test]
    fn the_committed_vectors_are_signed_again_byte_for_byte() {
        let v: serde_json::Value = serde_json::from_str(include_str!("../../../tests/vectors/audit/checkpoint-v1.json")).unwrap();
        let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
        der.extend_from_slice(&hex::decode(v["privateKeySeed"].as_str().unwrap()).unwrap());
        let key = CheckpointKey::from_pem(v["publicKeyPem"].as_str().unwrap()).unwrap();
        let cases = v["checkpoints"].as_array().unwrap();
        assert!(cases.len() >= 4, "the vector file holds checkpoints");
        for case in cases {
            let c: Checkpoint = serde_json::from_value(case.clone()).unwrap();
            key.verify(&c).unwrap();
            let signer = CheckpointSigner::from_pem(&to_pem("PRIVATE KEY", der.clone()), &c.service, &c.build).unwrap();
            let again = signer.sign_at(&Head { seq: c.seq, hash: c.head.clone() }, c.reason, c.time.clone()).unwrap();
            assert_eq!(again, c);
            assert_eq!(serde_json::to_value(&again).unwrap(), *case, "field names and order");
        }
    }

    #[test]
    fn malformed_fields_are_refused_before_verifying() {
        let (pem, key) = CheckpointSigner::generate().unwrap();
        let c = CheckpointSigner::from_pem(&pem, "s", "b").unwrap().sign(&head(1), Reason::Start).unwrap();
        for bad in [
            Checkpoint { head: "00".into(), ..c.clone() },
            Checkpoint { head: c.head.to_uppercase(), ..c.clone() },
            Checkpoint { v: 2, ..c.clone() },
            Checkpoint { signature: "zz".into(), ..c.clone() },
        ] {
            assert!(matches!(key.verify(&bad), Err(CheckpointError::Malformed(_))), "{bad:?}");
        }
        assert!(Checkpoint::from_json(br#"{"v":1}"#).is_err());
        let mut extra = c.to_json().unwrap();
        extra.insert_str(1, r#""note":"x","#);
        assert!(Checkpoint::from_json(extra.as_bytes()).is_err());
    }
}
