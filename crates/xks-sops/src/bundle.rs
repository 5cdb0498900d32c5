//! A bundle: the files a service runs with (configuration, key set,
//! certificates, and sealed shares, keys and credentials), carried as one JSON
//! object of relative path → content, for platforms that pass environment
//! variables but no files (a serverless container: `xks-proxy
//! --files-from-env`, terraform/modules/xks-proxy-scaleway).
//!
//! A bundle holds public or sealed files only: one that holds an age identity
//! or a private key in the clear is refused, by [`Bundle::parse`] as by the
//! Terraform module, because the bundle travels through Terraform plans and the
//! platform's configuration. The identity that opens the sealed files comes
//! separately (`SOPS_AGE_KEY`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Largest bundle accepted, in bytes of JSON (Scaleway passes at most 64 KiB
/// in one secret environment variable; this bound only caps memory).
pub const MAX_BUNDLE: usize = 1 << 20;

/// What is wrong with a bundle. Messages name paths, never contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The environment variable is not set, or not UTF-8.
    #[error("environment variable {0} is not set (or not UTF-8): it should hold the bundle of files")]
    Missing(String),
    /// Not a JSON object of strings.
    #[error("the bundle is not a JSON object of relative paths to file contents: {0}")]
    Shape(String),
    /// Larger than [`MAX_BUNDLE`].
    #[error("the bundle is larger than {MAX_BUNDLE} bytes")]
    TooLarge,
    /// A path that is absolute, climbs out, or has unexpected characters.
    #[error("bundle path {0:?}: want a relative path of [A-Za-z0-9._-] segments, without '.' or '..'")]
    Path(String),
    /// A file holds secret material in the clear.
    #[error("bundle file {path} holds {what} in the clear: seal it to its holder (xksctl secrets seal)")]
    Unsealed {
        /// The file.
        path: String,
        /// What was found.
        what: &'static str,
    },
    /// Writing the files failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
}

/// Files by relative path, checked: public or sealed only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle(BTreeMap<String, String>);

impl Bundle {
    /// An empty bundle.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    ///
    /// # Errors
    /// [`BundleError::Path`] or [`BundleError::Unsealed`].
    pub fn insert(&mut self, path: &str, content: String) -> Result<(), BundleError> {
        check_path(path)?;
        if let Some(what) = clear_secret(&content) {
            return Err(BundleError::Unsealed { path: path.to_owned(), what });
        }
        self.0.insert(path.to_owned(), content);
        Ok(())
    }

    /// Parses and checks the JSON form.
    ///
    /// # Errors
    /// [`BundleError`] naming the first problem.
    pub fn parse(json: &str) -> Result<Self, BundleError> {
        if json.len() > MAX_BUNDLE {
            return Err(BundleError::TooLarge);
        }
        let files: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| BundleError::Shape(e.to_string()))?;
        let mut bundle = Self::new();
        for (path, content) in files {
            bundle.insert(&path, content)?;
        }
        Ok(bundle)
    }

    /// Reads and checks the bundle in environment variable `name`.
    ///
    /// # Errors
    /// [`BundleError::Missing`], else as [`Bundle::parse`].
    pub fn from_env(name: &str) -> Result<Self, BundleError> {
        let json = std::env::var(name).map_err(|_| BundleError::Missing(name.to_owned()))?;
        Self::parse(&json)
    }

    /// The JSON form (what `--files-from-env` reads).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// The files, by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Writes every file under `dir` (created 0700 with its subdirectories;
    /// files 0600, each written whole to a temporary name, then renamed).
    ///
    /// # Errors
    /// [`BundleError::Io`] naming the file.
    pub fn write_into(&self, dir: &Path) -> Result<(), BundleError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_error(dir, &e))?;
        for (rel, content) in &self.0 {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| io_error(parent, &e))?;
            }
            let tmp = path.with_extension("bundle-tmp");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io_error(&tmp, &e))?;
            file.write_all(content.as_bytes()).map_err(|e| io_error(&tmp, &e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, &e))?;
        }
        Ok(())
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> BundleError {
    BundleError::Io { path: path.display().to_string(), reason: e.to_string() }
}

fn check_path(path: &str) -> Result<(), BundleError> {
    let segment_ok =
        |s: &str| !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if path.split('/').all(segment_ok) { Ok(()) } else { Err(BundleError::Path(path.to_owned())) }
}

/// Secret material as it is written when it is not sealed (sealed files hold
/// neither string: sops stores every value as `ENC[…]`).
fn clear_secret(content: &str) -> Option<&'static str> {
    if content.contains("AGE-SECRET-KEY-") {
        Some("an age identity")
    } else if content.contains("-----BEGIN") && content.contains("PRIVATE KEY-----") {
        Some("a private key")
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        for good in ["xks-proxy.toml", "tls/client.key.sops", "keys/keyset-g1-e0.json", "a.b_c-d"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "./a", "a//b", "a/", "a b", "a\\b", "é"] {
            assert!(matches!(check_path(bad), Err(BundleError::Path(_))), "{bad:?}");
        }
    }

    #[test]
    fn secrets_in_the_clear_are_refused() {
        let identity = format!("AGE-SECRET-KEY-1{}", "Q".repeat(58));
        let pem = "-----BEGIN PRIVATE KEY-----\nMIG…\n-----END PRIVATE KEY-----\n";
        let ec = "-----BEGIN EC PRIVATE KEY-----\nMHc…\n-----END EC PRIVATE KEY-----\n";
        for (content, what) in [(identity.as_str(), "an age identity"), (pem, "a private key"), (ec, "a private key")] {
            let json = serde_json::json!({ "k": content }).to_string();
            match Bundle::parse(&json) {
                Err(BundleError::Unsealed { path, what: w }) => {
                    assert_eq!(path, "k");
                    assert_eq!(w, what);
                }
                other => panic!("{other:?}"),
            }
        }
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n";
        assert!(Bundle::parse(&serde_json::json!({ "ca.crt": cert }).to_string()).is_ok());
    }

    #[test]
    fn only_an_object_of_strings_is_a_bundle() {
        for bad in ["[]", "\"x\"", "{\"a\": 1}", "{\"a\": {\"b\": \"c\"}}", "not json"] {
            assert!(matches!(Bundle::parse(bad), Err(BundleError::Shape(_))), "{bad}");
        }
        assert!(matches!(Bundle::parse(&" ".repeat(MAX_BUNDLE + 1)), Err(BundleError::TooLarge)));
    }

    #[test]
    fn json_round_trip() {
        let mut b = Bundle::new();
        b.insert("xks-proxy.toml", "listen = \"0.0.0.0:8080\"\n".into()).unwrap();
        b.insert("tls/client.crt", "-----BEGIN CERTIFICATE-----\n".into()).unwrap();
        assert_eq!(Bundle::parse(&b.to_json()).unwrap(), b);
    }

    #[test]
    fn writes_private_files() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("xks-bundle-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let b = Bundle::parse(r#"{"a.toml": "x = 1\n", "tls/b.pem": "-----BEGIN CERTIFICATE-----\n"}"#).unwrap();
        b.write_into(&dir.join("files")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("files/a.toml")).unwrap(), "x = 1\n");
        assert_eq!(std::fs::read_to_string(dir.join("files/tls/b.pem")).unwrap(), "-----BEGIN CERTIFICATE-----\n");
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("files"), 0o700);
        assert_eq!(mode("files/tls"), 0o700);
        assert_eq!(mode("files/a.toml"), 0o600);
        // Written again (a restart): replaced whole, no temporary left.
        b.write_into(&dir.join("files")).unwrap();
        assert!(!dir.join("files/a.bundle-tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
