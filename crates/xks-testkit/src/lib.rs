//! The test kit of the integration tests (dev-only, never in a release
//! binary): what every suite that talks to the services needs, written once.
//!
//! - [`XksClient`]: KMS's side of the XKS API, SigV4-signed with the wire
//!   contracts' signer, over plain HTTP/1.1 or TLS, one connection reused and
//!   reopened when the server closed it; the suites supply only their own
//!   request metadata;
//! - [`admin`]: a command to a share service's admin socket;
//! - [`tempdir`]: a fresh directory per test.
#![forbid(unsafe_code)]

mod admin;
mod client;

pub use admin::admin;
pub use client::{MetadataFn, XksClient};

use std::path::PathBuf;

/// A fresh, empty directory under the system's temporary directory, named
/// after the test and this process (so parallel test binaries do not collide).
///
/// # Panics
/// When the directory cannot be made (a test cannot run without it).
#[allow(clippy::expect_used)]
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xks-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
