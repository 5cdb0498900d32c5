//! Output files are written whole or not at all: a temporary file in the same
//! directory, flushed to disk, then linked into place. Files are created
//! readable by their owner only (0600): everything written so far is secret.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_temp(path: &Path, data: &[u8]) -> Result<PathBuf, String> {
    let tmp = temp_path(path);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("cannot write {}: {e}", path.display()))
        }
    }
}

/// Creates `path` with `data`; an existing file is an error and is left untouched.
///
/// # Errors
/// The file exists, or cannot be written (nothing is left behind).
pub fn create(path: &Path, data: &[u8]) -> Result<(), String> {
    if path.exists() {
        return Err(format!("{} already exists; refusing to overwrite it", path.display()));
    }
    let tmp = write_temp(path, data)?;
    // A hard link fails if the target appeared meanwhile: never clobbers.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    sync_dir(path)
}

/// Replaces `path` with `data` in one step (rename): readers see the old or the new file, never a mix.
///
/// # Errors
/// The file cannot be written (the old one stays).
pub fn replace(path: &Path, data: &[u8]) -> Result<(), String> {
    let tmp = write_temp(path, data)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot replace {}: {e}", path.display())
    })?;
    sync_dir(path)
}

/// Flushes the directory entry of `path` to disk: without it, a crash right
/// after a link or rename can lose the new name although its data was synced.
fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot sync directory {}: {e}", dir.display()))
}

/// Reads a file as UTF-8 text.
///
/// # Errors
/// Unreadable or not UTF-8, naming the file.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
