//! Build identity: version and the SHA-256 of the running executable, so an
//! auditor can match what runs to what was built.

use sha2::{Digest, Sha256};

/// Version and executable hash.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    /// Crate version.
    pub version: String,
    /// SHA-256 of the executable (or `unknown`).
    pub executable_sha256: String,
}

impl BuildInfo {
    /// Reads and hashes the current executable.
    pub fn current() -> Self {
        let executable_sha256 =
            std::env::current_exe().and_then(std::fs::read).map(|b| hex::encode(Sha256::digest(&b))).unwrap_or_else(|_| "unknown".into());
        Self { version: env!("CARGO_PKG_VERSION").to_owned(), executable_sha256 }
    }

    /// What GetHealthStatus names as the model (spec: product name and
    /// version): `split-key-xks xks-proxy <version> (sha256 <first 16 hex
    /// digits of the executable's SHA-256>)`; the whole digest is in the
    /// start-up log line.
    pub fn model(&self) -> String {
        let short = self.executable_sha256.get(..16).unwrap_or(&self.executable_sha256);
        format!("split-key-xks xks-proxy {} (sha256 {short})", self.version)
    }
}
