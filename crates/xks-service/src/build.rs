//! Build identity: the version and the SHA-256 of the running executable, so an
//! auditor can match what runs to what was built (both services report it at
//! start-up and in their health answers).

use sha2::{Digest, Sha256};

/// Service name, version and executable hash.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    /// The service (`xks-proxy`, `share-service`).
    pub service: &'static str,
    /// Crate version (one version for the whole workspace).
    pub version: String,
    /// SHA-256 of `/proc/self/exe` (or `unknown`).
    pub executable_sha256: String,
}

impl BuildInfo {
    /// Reads and hashes the current executable.
    pub fn current(service: &'static str) -> Self {
        let executable_sha256 =
            std::env::current_exe().and_then(std::fs::read).map(|b| hex::encode(Sha256::digest(&b))).unwrap_or_else(|_| "unknown".into());
        Self { service, version: env!("CARGO_PKG_VERSION").to_owned(), executable_sha256 }
    }

    /// What GetHealthStatus names as the model (spec: product name and
    /// version): `split-key-xks <service> <version> (sha256 <first 16 hex
    /// digits of the executable's SHA-256>)`; the whole digest is in the
    /// start-up log line.
    pub fn model(&self) -> String {
        let short = self.executable_sha256.get(..16).unwrap_or(&self.executable_sha256);
        format!("split-key-xks {} {} (sha256 {short})", self.service, self.version)
    }
}
