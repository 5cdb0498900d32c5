//! The share service's integration tests, one binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::result_large_err, missing_docs)]

mod bounds;
mod checkpoints;
mod common;
mod service;
