//! The test kit of the integration tests (dev-only, never in a release
//! binary): what every suite that talks to the services needs, written once.
//!
//! - [`Layout`]: a test deployment on disk (CA, dealt key set, each
//!   service's files and typed configuration);
//! - [`Cluster`] (feature `services`): share services and the proxy started
//!   in this process from a layout, on port 0;
//! - [`XksClient`]: KMS's side of the XKS API, SigV4-signed with the wire
//!   contracts' signer, over plain HTTP/1.1 or TLS, one connection reused and
//!   reopened when the server closed it; the suites supply only their own
//!   request metadata;
//! - [`PartnerClient`]: the proxy's side of the partner protocol (mutual TLS);
//! - [`admin`]: a command to a share service's admin socket;
//! - [`tempdir`]: a fresh directory per test.
#![forbid(unsafe_code)]

mod admin;
mod client;
#[cfg(feature = "services")]
pub mod cluster;
mod conn;
pub mod layout;
mod partner;

pub use admin::admin;
pub use client::{MetadataFn, XksClient};
#[cfg(feature = "services")]
pub use cluster::Cluster;
pub use conn::tls_config;
pub use layout::{Front, Layout};
pub use partner::PartnerClient;

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
