//! The sops reader and writer's integration tests, one binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod properties;
mod sops_interop;
