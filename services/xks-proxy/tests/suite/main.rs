//! The proxy's integration tests, one binary (the log-capture test, which
//! needs a process of its own for its global subscriber, is `tests/logs.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod common;
mod default_config;
mod front;
mod interop;
mod monitoring;
mod partners;
mod spec;
mod witness;
