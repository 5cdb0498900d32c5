//! Loading a holder's shares at start-up, written once for both services:
//! the public key sets, the (usually sealed) share files, each share verified
//! against its key set, all of one holder. How a service indexes them (the
//! share service by generation and epoch, the proxy by generation) is its own.

use std::path::Path;

use xks_threshold::{HolderId, HolderKey, KeySet, Share};
use zeroize::Zeroizing;

/// Why a holder's shares could not be loaded (each names the file).
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// A file cannot be read or opened (sealed files: wrong or missing age identity, tampering).
    #[error("{path}: {reason}")]
    Sealed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file is not a valid key set or share, or they do not match.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        source: xks_threshold::Error,
    },
    /// Inconsistent files or configuration.
    #[error("{0}")]
    Mismatch(String),
}

/// One holder's verified shares, in the order of the share files.
#[derive(Debug)]
pub struct HolderKeys {
    /// Whose shares they are.
    pub holder: HolderId,
    /// Each share with its key set.
    pub keys: Vec<HolderKey>,
}

/// Reads a key set or share file; a sealed (sops) file is opened with `ids`.
fn read(path: &Path, ids: Option<&xks_sops::Identities>) -> Result<Zeroizing<String>, KeyLoadError> {
    xks_sops::read_file(path, ids).map_err(|e| KeyLoadError::Sealed { path: path.display().to_string(), reason: e.to_string() })
}

/// Loads the key sets (public, plain files) and the share files (opened with
/// `ids` when sealed), verifies each share against the key set of its id and
/// epoch, and checks that all belong to one holder, `expected_holder` if given.
///
/// # Errors
/// [`KeyLoadError`] naming the file.
pub fn load(
    key_sets: &[impl AsRef<Path>],
    share_files: &[impl AsRef<Path>],
    expected_holder: Option<u32>,
    ids: Option<&xks_sops::Identities>,
) -> Result<HolderKeys, KeyLoadError> {
    let mut sets = Vec::new();
    for p in key_sets {
        let p = p.as_ref();
        sets.push(KeySet::from_json(&read(p, None)?).map_err(|source| KeyLoadError::Invalid { path: p.display().to_string(), source })?);
    }
    let mut keys = Vec::new();
    let mut holder = None;
    for p in share_files {
        let p = p.as_ref();
        let invalid = |source| KeyLoadError::Invalid { path: p.display().to_string(), source };
        let share = Share::from_json(&read(p, ids)?).map_err(invalid)?;
        let ks = sets.iter().find(|k| k.id() == share.key_set_id() && k.epoch() == share.epoch()).ok_or_else(|| {
            KeyLoadError::Mismatch(format!("{}: no key set for generation {} epoch {}", p.display(), share.generation(), share.epoch()))
        })?;
        let key = HolderKey::new(share, ks.clone()).map_err(invalid)?;
        if *holder.get_or_insert(key.holder()) != key.holder() {
            return Err(KeyLoadError::Mismatch("share files belong to different holders".into()));
        }
        keys.push(key);
    }
    let holder = holder.ok_or_else(|| KeyLoadError::Mismatch("no share file".into()))?;
    if let Some(h) = expected_holder
        && h != u32::from(holder.get())
    {
        return Err(KeyLoadError::Mismatch(format!("shares belong to holder {holder}, configuration says {h}")));
    }
    Ok(HolderKeys { holder, keys })
}
