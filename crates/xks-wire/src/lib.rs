//! The wire contracts of the split-key external key store, in one place and
//! without I/O, so that every party that speaks them (the proxy, the share
//! service, the operator CLI, the fuzz targets, the container tests) uses the
//! same types and the same rules:
//!
//! - [`xks`]: the AWS XKS Proxy API v1 as KMS speaks it to the proxy: the
//!   [`xks::Operation`]s and their URIs, the request bodies, the error table,
//!   the identifiers and secrets with validating constructors, SigV4 signing
//!   and verification, and the credentials file of a key store;
//! - [`partner`]: the proxy's requests to a share service (`POST /v1/partial`)
//!   and its answers: the request and its rules, the error codes with their
//!   HTTP statuses, and the reading of an answer that accepts a partial only
//!   once it is proven.
//!
//! Nothing here opens a socket, reads a file or logs: callers do that and
//! hand this crate bytes and header maps.
#![forbid(unsafe_code)]

pub mod partner;
pub mod xks;
