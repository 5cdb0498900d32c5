//! The operator's channel: a Unix socket (mode 0600) on the share service's
//! host. The proxy's client certificate cannot reach it, so the partner's
//! operator can act alone. One command per line, one JSON line back:
//!
//! | command | effect |
//! |---|---|
//! | `status` | lock state, denied and locked key paths, audit head |
//! | `lock [reason]` | refuse every request from now on (423) |
//! | `unlock` | serve again: clears the service lock and every automatic key-path lock, re-arms the anomaly rules |
//! | `unlock <key path>` | clears one automatic key-path lock, re-arms its rules |
//! | `deny <key path>` | refuse one key path (403) |
//! | `allow <key path>` | stop refusing it |
//!
//! Every action takes effect before the reply and is written to the audit log
//! as an `admin` record, also when persisting the state file fails (the
//! record then says so). Example: `echo lock | socat - UNIX-CONNECT:admin.sock`.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use xks_audit::{Entry, RecordKind};
use xks_threshold::KeyPath;

use crate::api::App;

/// Binds the socket (replacing a stale one) with mode 0600 and serves it to
/// this service's own user (and root) only.
///
/// # Errors
/// The socket cannot be created.
pub fn spawn(path: &Path, app: App, mut shutdown: tokio::sync::watch::Receiver<bool>) -> std::io::Result<PathBuf> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = bind_private(path)?;
    let owner = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)?.uid()
    };
    let owned = path.to_owned();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let peer = stream.peer_cred().map(|c| c.uid());
                    if !peer.as_ref().is_ok_and(|uid| peer_allowed(*uid, owner)) {
                        tracing::warn!(peer_uid = ?peer.ok(), owner_uid = owner, "admin socket: connection from another user refused");
                        continue;
                    }
                    let app = app.clone();
                    tokio::spawn(async move {
                        let (r, mut w) = stream.into_split();
                        let mut lines = BufReader::new(r).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            let reply = handle(&app, line.trim()).await;
                            if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        }
    });
    Ok(owned)
}

/// Binds in a fresh 0700 directory beside `path`, restricts the socket to
/// 0600, then moves it into place: the socket is never reachable with looser
/// permissions, whatever the umask.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = dir.join(format!(".admin-socket-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let bound = (|| {
        let tmp = staging.join("s");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    bound
}

/// Whether a peer may use the admin socket: the service's own user, or root.
fn peer_allowed(peer_uid: u32, owner_uid: u32) -> bool {
    peer_uid == owner_uid || peer_uid == 0
}

/// Executes one admin command and returns the JSON reply.
pub async fn handle(app: &App, line: &str) -> serde_json::Value {
    let s = &app.0;
    let (cmd, arg) = line.split_once(' ').map_or((line, ""), |(c, a)| (c, a.trim()));
    let key_path = |arg: &str| KeyPath::new(arg).map(|p| p.as_str().to_owned());
    let (what, key_path, applied) = match (cmd, arg) {
        ("status", _) => (None, None, Ok(())),
        ("lock", _) => (Some("lock"), None, s.controls.lock(if arg.is_empty() { "locked by the operator" } else { arg }).map(drop)),
        ("unlock", "") => {
            let r = s.controls.unlock().map(drop);
            s.anomaly.rearm(None);
            (Some("unlock"), None, r)
        }
        ("unlock" | "deny" | "allow", _) => match key_path(arg) {
            Err(e) => return serde_json::json!({ "ok": false, "error": e.to_string() }),
            Ok(p) => {
                let (what, r) = match cmd {
                    "unlock" => {
                        let r = s.controls.unlock_key_path(&p);
                        s.anomaly.rearm(Some(&p));
                        ("unlock-key-path", r)
                    }
                    "deny" => ("deny", s.controls.deny(&p)),
                    _ => ("allow", s.controls.allow(&p)),
                };
                (Some(what), Some(p), r.map(drop))
            }
        },
        _ => {
            return serde_json::json!({ "ok": false, "error": "unknown command; use status, lock [reason], unlock [key path], deny <key path>, allow <key path>" });
        }
    };
    if let Some(what) = what {
        // The change is in effect either way; the audit record says whether it survives a restart.
        let outcome = match &applied {
            Ok(()) => what.to_owned(),
            Err(_) => format!("{what} (not persisted)"),
        };
        tracing::warn!(action = %outcome, key_path = key_path.as_deref().unwrap_or(""), "operator control changed");
        let mut entry = Entry::new(RecordKind::Admin, "admin", &outcome);
        entry.key_path = key_path;
        if let Err(e) = s.audit.record(entry).await {
            tracing::error!(error = %e, "admin action not audited");
        }
    }
    if let Err(e) = applied {
        tracing::error!(error = %e, "persisting control state failed (the change is in effect until restart)");
        return serde_json::json!({ "ok": false, "error": format!("in effect, but not persisted: {e}") });
    }
    let state = s.controls.snapshot();
    let head = s.audit.head();
    serde_json::json!({
        "ok": true,
        "locked": state.locked,
        "denied": state.denied,
        "lockedKeyPaths": state.locked_key_paths,
        "auditHealthy": s.audit.is_healthy(),
        "auditHead": { "seq": head.seq, "hash": head.hash },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// Issue 15 §6: only the service's own user (or root) may use the socket,
    /// and the socket is created with its final permissions.
    #[tokio::test]
    async fn only_the_owner_reaches_the_socket_and_it_is_never_looser_than_0600() {
        assert!(peer_allowed(1000, 1000) && peer_allowed(0, 1000));
        assert!(!peer_allowed(1001, 1000));
        let dir = std::env::temp_dir().join(format!("admin-bind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("admin.sock");
        let _listener = bind_private(&path).unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert_eq!(left, vec![std::ffi::OsString::from("admin.sock")], "no staging directory left behind");
    }
}
