//! The record format.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev` of the very first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A partial request (answered or refused).
    Partial,
    /// The self-test route used the share.
    SelfTest,
    /// An operator action (lock, unlock, deny, allow) or an automatic lock.
    Admin,
    /// The service started (and, if needed, recovered the log tail).
    Start,
}

/// One audit record (version 1). Field order is the serialization order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Record {
    /// Format version, 1.
    pub v: u32,
    /// Sequence number, from 1, without gaps.
    pub seq: u64,
    /// RFC 3339 UTC time at which the record was written.
    pub time: String,
    /// What the record is about.
    pub kind: RecordKind,
    /// The caller's request id (opaque, bounded by the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client identity from the mTLS certificate, or `admin`.
    pub client: String,
    /// The key path asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// Generation asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// Epoch asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// Combining set, e.g. `1,2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// Whether a proof was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<bool>,
    /// `ok`, or why the request was refused, or the admin action.
    pub outcome: String,
    /// Time spent before the record was written, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// SHA-256 of the previous record's line, hex.
    pub prev: String,
}

/// SHA-256 of one record line (without the newline), hex.
pub fn chain_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}
