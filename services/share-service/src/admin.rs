//! The operator's channel: a Unix socket (mode 0600) on the share service's
//! host. The proxy's client certificate cannot reach it, so the partner's
//! operator can act alone. One command per line, one JSON line back:
//!
//! | command | effect |
//! |---|---|
//! | `status` | lock state, denied key paths, audit head |
//! | `lock [reason]` | refuse every request from now on (423) |
//! | `unlock` | serve again (also clears an automatic anomaly lock) |
//! | `deny <key path>` | refuse one key path (403) |
//! | `allow <key path>` | stop refusing it |
//!
//! Every action is written to the audit log as an `admin` record and takes
//! effect before the reply. Example: `echo lock | socat - UNIX-CONNECT:admin.sock`.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use xks_audit::{Entry, RecordKind};
use xks_threshold::KeyPath;

use crate::api::App;

/// Binds the socket (replacing a stale one) with mode 0600 and serves it.
///
/// # Errors
/// The socket cannot be created.
pub fn spawn(path: &Path, app: App, mut shutdown: tokio::sync::watch::Receiver<bool>) -> std::io::Result<PathBuf> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let owned = path.to_owned();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
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

/// Executes one admin command and returns the JSON reply.
pub async fn handle(app: &App, line: &str) -> serde_json::Value {
    let s = &app.0;
    let (cmd, arg) = line.split_once(' ').map_or((line, ""), |(c, a)| (c, a.trim()));
    let result = match cmd {
        "status" => Ok(None),
        "lock" => s.controls.lock(if arg.is_empty() { "locked by the operator" } else { arg }).map(|_| Some(("lock", None))),
        "unlock" => s.controls.unlock().map(|_| Some(("unlock", None))),
        "deny" | "allow" => match KeyPath::new(arg) {
            Err(e) => return serde_json::json!({ "ok": false, "error": e.to_string() }),
            Ok(p) => {
                let r = if cmd == "deny" { s.controls.deny(p.as_str()) } else { s.controls.allow(p.as_str()) };
                r.map(|_| Some((cmd, Some(p.as_str().to_owned()))))
            }
        },
        _ => {
            return serde_json::json!({ "ok": false, "error": "unknown command; use status, lock [reason], unlock, deny <key path>, allow <key path>" });
        }
    };
    let action = match result {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "persisting control state failed (the change is in effect until restart)");
            return serde_json::json!({ "ok": false, "error": format!("in effect, but not persisted: {e}") });
        }
    };
    if let Some((what, key_path)) = action {
        tracing::warn!(action = what, key_path = key_path.as_deref().unwrap_or(""), "operator control changed");
        let mut entry = Entry::new(RecordKind::Admin, "admin", what);
        entry.key_path = key_path;
        if let Err(e) = s.audit.record(entry).await {
            tracing::error!(error = %e, "admin action not audited");
        }
    }
    let state = s.controls.snapshot();
    let head = s.audit.head();
    serde_json::json!({
        "ok": true,
        "locked": state.locked,
        "denied": state.denied,
        "auditHealthy": s.audit.is_healthy(),
        "auditHead": { "seq": head.seq, "hash": head.hash },
    })
}
