//! xksctl's integration tests, one binary: each module drives the CLI the
//! way an operator does, against real services where it matters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cloned_ref_to_slice_refs,
    clippy::needless_range_loop,
    missing_docs
)]

mod audit;
mod bench;
mod ceremony;
mod common;
mod credentials;
mod env;
mod lifecycle;
mod pki;
mod reconcile;
mod secrets;
mod up;
