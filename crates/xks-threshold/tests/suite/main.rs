//! The threshold core's integration tests, one binary: known answers, the
//! RFCs' vectors, negative vectors, malformed input, properties, hedged proof nonces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod common;
mod hedging;
mod kat;
mod malformed;
mod negative;
mod properties;
mod rfc_vectors;
