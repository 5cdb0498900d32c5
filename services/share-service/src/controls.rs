//! The operator's kill switch: lock everything, or deny single key paths; and
//! the anomaly detector's automatic locks (of everything, or of one key path).
//! Checked on every request; persisted so a restart does not undo a lock.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Persisted control state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlState {
    /// Why the service is locked (`None` = unlocked).
    pub locked: Option<String>,
    /// Key paths refused.
    pub denied: BTreeSet<String>,
    /// Key paths locked automatically, with the reason.
    #[serde(default)]
    pub locked_key_paths: BTreeMap<String, String>,
}

/// Why one key path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPathRefusal {
    /// On the operator's deny-list.
    Denied,
    /// Locked automatically by the anomaly detector.
    Locked,
}

/// Lock and deny-list, cheap to check.
#[derive(Debug)]
pub struct Controls {
    locked: AtomicBool,
    any_denied: AtomicBool,
    any_key_path_locked: AtomicBool,
    state: Mutex<ControlState>,
    file: PathBuf,
}

impl Controls {
    /// Loads the persisted state (absent file = unlocked, nothing denied).
    ///
    /// # Errors
    /// An unreadable or malformed state file (failing closed is the operator's
    /// call: fix or delete the file).
    pub fn load(file: &Path) -> std::io::Result<Self> {
        let state: ControlState = match std::fs::read(file) {
            Ok(b) => serde_json::from_slice(&b).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ControlState::default(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            locked: AtomicBool::new(state.locked.is_some()),
            any_denied: AtomicBool::new(!state.denied.is_empty()),
            any_key_path_locked: AtomicBool::new(!state.locked_key_paths.is_empty()),
            state: Mutex::new(state),
            file: file.to_owned(),
        })
    }

    /// Whether everything is locked.
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::SeqCst)
    }

    /// The operator's or the anomaly detector's refusal of one key path, if
    /// any, read under one lock (a denial wins over an automatic lock). The
    /// common case, nothing denied or locked, is two atomic loads.
    pub fn key_path_refusal(&self, key_path: &str) -> Option<KeyPathRefusal> {
        let denied = self.any_denied.load(Ordering::SeqCst);
        let locked = self.any_key_path_locked.load(Ordering::SeqCst);
        if !denied && !locked {
            return None;
        }
        // A poisoned state lock fails closed.
        let Ok(s) = self.state.lock() else { return Some(KeyPathRefusal::Denied) };
        if denied && s.denied.contains(key_path) {
            Some(KeyPathRefusal::Denied)
        } else if locked && s.locked_key_paths.contains_key(key_path) {
            Some(KeyPathRefusal::Locked)
        } else {
            None
        }
    }

    /// A snapshot of the state.
    pub fn snapshot(&self) -> ControlState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut ControlState)) -> std::io::Result<ControlState> {
        let mut s = self.state.lock().map_err(|_| std::io::Error::other("control state lock poisoned"))?;
        f(&mut s);
        // Effective immediately, even if persisting fails (the error is reported).
        self.locked.store(s.locked.is_some(), Ordering::SeqCst);
        self.any_denied.store(!s.denied.is_empty(), Ordering::SeqCst);
        self.any_key_path_locked.store(!s.locked_key_paths.is_empty(), Ordering::SeqCst);
        persist(&self.file, &s)?;
        Ok(s.clone())
    }

    /// Locks everything.
    ///
    /// # Errors
    /// Persisting failed (the lock is in effect nonetheless).
    pub fn lock(&self, reason: &str) -> std::io::Result<ControlState> {
        self.update(|s| s.locked = Some(reason.to_owned()))
    }

    /// Unlocks everything: the service lock and every key-path lock (not the denies).
    ///
    /// # Errors
    /// Persisting failed.
    pub fn unlock(&self) -> std::io::Result<ControlState> {
        self.update(|s| {
            s.locked = None;
            s.locked_key_paths.clear();
        })
    }

    /// Locks one key path (an automatic lock scoped to what tripped).
    ///
    /// # Errors
    /// Persisting failed (the lock is in effect nonetheless).
    pub fn lock_key_path(&self, key_path: &str, reason: &str) -> std::io::Result<ControlState> {
        self.update(|s| {
            s.locked_key_paths.insert(key_path.to_owned(), reason.to_owned());
        })
    }

    /// Unlocks one key path.
    ///
    /// # Errors
    /// Persisting failed.
    pub fn unlock_key_path(&self, key_path: &str) -> std::io::Result<ControlState> {
        self.update(|s| {
            s.locked_key_paths.remove(key_path);
        })
    }

    /// Denies one key path.
    ///
    /// # Errors
    /// Persisting failed (the deny is in effect nonetheless).
    pub fn deny(&self, key_path: &str) -> std::io::Result<ControlState> {
        self.update(|s| {
            s.denied.insert(key_path.to_owned());
        })
    }

    /// Allows a denied key path again.
    ///
    /// # Errors
    /// Persisting failed.
    pub fn allow(&self, key_path: &str) -> std::io::Result<ControlState> {
        self.update(|s| {
            s.denied.remove(key_path);
        })
    }
}

/// Writes the state atomically (temp file, fsync, rename).
fn persist(file: &Path, s: &ControlState) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
