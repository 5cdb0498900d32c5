//! The share service's audit log: append-only JSON lines, each record chained
//! to the previous one by SHA-256, written durably (fsync) before the request
//! it describes is answered, rotated by size without breaking the chain, and
//! verifiable offline.
//!
//! Format (version 1), one record per line, UTF-8, `\n`-terminated:
//!
//! ```json
//! {"v":1,"seq":42,"time":"2026-11-23T18:01:02.123456Z","kind":"partial","requestId":"…",
//!  "client":"spiffe://xks/proxy","keyPath":"ks1/key-0001","generation":1,"epoch":0,
//!  "set":"1,2","proof":true,"outcome":"ok","latencyUs":73,"prev":"<64 hex>"}
//! ```
//!
//! `prev` is the SHA-256 of the previous record's line (without its newline);
//! the first record of a log has 64 zeros. `seq` counts from 1 without gaps,
//! across rotated files. The log never contains a share, a partial, a proof or
//! anything derived from them.
//!
//! Signed checkpoints ([`Checkpoint`]) pin the head beyond the host: a log cut
//! short or rewritten no longer reproduces a checkpoint signed before.

mod checkpoint;
mod record;
mod verify;
mod writer;

pub use checkpoint::{
    CHECKPOINT_DOMAIN, CHECKPOINTS_FILE, Checkpoint, CheckpointError, CheckpointKey, CheckpointSigner, Reason, read_checkpoints,
};
pub use record::{GENESIS, Record, RecordKind, chain_hash};
pub use verify::{
    Broken, CheckpointFinding, CheckpointFindingKind, CheckpointReport, Report, verify_files, verify_files_with_checkpoints, verify_lines,
};
pub use writer::{AuditWriter, Entry, Head, WriterConfig, WriterError, log_files};
