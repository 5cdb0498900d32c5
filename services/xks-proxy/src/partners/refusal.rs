//! A partner's deliberate "no": its operator's lock, a key-path deny, or its
//! automatic anomaly lock. docs/xks-proxy.md ("A refusal is honoured").
//!
//! A refusal is never a technical failure: it does not count against the
//! circuit breaker, it is not beaten by a hedge, and it is not converted into
//! a failover. It is *sticky*: once partner X has refused (for every key path,
//! or for one), the proxy does not choose a partner it prefers less than X for
//! what X refused, until X answers a partial again. Partners configured before
//! X stay usable: X's refusal says X will not take part, not that a partner the
//! proxy prefers may not.

use std::collections::HashMap;
use std::sync::Mutex;

pub use xks_wire::partner::RefusalScope as Scope;

/// Key paths remembered as refused per partner; beyond this the refusal is
/// widened to the whole partner (refusing more, never less).
const MAX_REFUSED_KEY_PATHS: usize = 10_000;

/// One refusal as the partner answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What it covers.
    pub scope: Scope,
    /// Status and the partner's error code, sanitised (printable ASCII, bounded).
    pub reason: String,
}

impl Refusal {
    /// A refusal as a partner answered it (its scope read by
    /// [`Scope::of_answer`]; `code` already sanitised).
    pub fn new(scope: Scope, status: u16, code: &str) -> Self {
        Self { scope, reason: format!("{status} {code}") }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

#[derive(Debug, Default)]
struct State {
    partner: Option<Refusal>,
    key_paths: HashMap<String, Refusal>,
}

/// The refusals one partner has made and not yet taken back.
#[derive(Debug, Default)]
pub struct Refusals {
    state: Mutex<State>,
}

impl Refusals {
    /// Remembers `refusal`, met on `key_path`.
    pub fn record(&self, key_path: &str, refusal: &Refusal) {
        let Ok(mut s) = self.state.lock() else { return };
        match refusal.scope {
            Scope::Partner => s.partner = Some(refusal.clone()),
            Scope::KeyPath if s.key_paths.len() >= MAX_REFUSED_KEY_PATHS && !s.key_paths.contains_key(key_path) => {
                s.partner =
                    Some(Refusal { scope: Scope::Partner, reason: format!("{} (and too many key paths to track)", refusal.reason) });
            }
            Scope::KeyPath => {
                s.key_paths.insert(key_path.to_owned(), refusal.clone());
            }
        }
    }

    /// The refusal in force for `key_path`, if any.
    pub fn covering(&self, key_path: &str) -> Option<Refusal> {
        // A poisoned lock cannot tell: refuse rather than route around.
        let Ok(s) = self.state.lock() else {
            return Some(Refusal { scope: Scope::Partner, reason: "refusal state unavailable".into() });
        };
        s.partner.clone().or_else(|| s.key_paths.get(key_path).cloned())
    }

    /// Whether any refusal is in force (metrics).
    pub fn any(&self) -> bool {
        self.state.lock().map_or(true, |s| s.partner.is_some() || !s.key_paths.is_empty())
    }

    /// The partner answered a partial for `key_path`: it no longer refuses
    /// everything, nor that key path.
    pub fn answered(&self, key_path: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.partner = None;
            s.key_paths.remove(key_path);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn scope_follows_the_partners_error_code() {
        let r = Scope::of_answer;
        assert_eq!(r(StatusCode::LOCKED, "locked"), Some(Scope::Partner));
        assert_eq!(r(StatusCode::LOCKED, "key_path_locked"), Some(Scope::KeyPath));
        assert_eq!(r(StatusCode::FORBIDDEN, "key_path_denied"), Some(Scope::KeyPath));
        assert_eq!(r(StatusCode::FORBIDDEN, "something new"), Some(Scope::Partner), "unknown codes refuse more");
        assert_eq!(r(StatusCode::TOO_MANY_REQUESTS, "rate_limited"), None);
        assert_eq!(r(StatusCode::SERVICE_UNAVAILABLE, "locked"), None);
    }

    #[test]
    fn sticky_until_the_partner_answers() {
        let rs = Refusals::default();
        let deny = Refusal::new(Scope::KeyPath, 403, "key_path_denied");
        rs.record("a", &deny);
        assert!(rs.covering("a").is_some() && rs.covering("b").is_none());
        let lock = Refusal::new(Scope::Partner, 423, "locked");
        rs.record("b", &lock);
        assert!(rs.covering("c").is_some());
        rs.answered("c");
        assert!(rs.covering("c").is_none() && rs.covering("b").is_none(), "an answer lifts the lock");
        assert!(rs.covering("a").is_some(), "but not another key path's deny");
        rs.answered("a");
        assert!(!rs.any());
    }

    #[test]
    fn too_many_key_paths_widen_to_the_partner() {
        let rs = Refusals::default();
        let deny = Refusal::new(Scope::KeyPath, 403, "key_path_denied");
        for i in 0..=MAX_REFUSED_KEY_PATHS {
            rs.record(&format!("k{i}"), &deny);
        }
        assert!(rs.covering("never-seen").is_some());
    }
}
