//! A per-partner circuit breaker: after `threshold` consecutive failures the
//! partner is skipped (tried last) for `open_for`, then one probe decides.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures, and until when the breaker is open.
#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

impl State {
    fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|until| now < until)
    }
}

/// Breaker state.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self { threshold, open_for, state: Mutex::new(State::default()) }
    }

    /// Whether the partner should be skipped now.
    pub fn is_open(&self) -> bool {
        self.state.lock().map(|s| s.is_open(Instant::now())).unwrap_or(false)
    }

    /// Records a success: closes the breaker.
    pub fn success(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = State::default();
        }
    }

    /// Records a failure; returns true when this failure opened the breaker.
    pub fn failure(&self) -> bool {
        let Ok(mut s) = self.state.lock() else { return false };
        s.failures = s.failures.saturating_add(1);
        if s.failures >= self.threshold {
            let now = Instant::now();
            let was_open = s.is_open(now);
            s.open_until = Some(now + self.open_for);
            return !was_open;
        }
        false
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.state.lock().map(|s| s.failures).unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_on_success() {
        let b = Breaker::new(3, Duration::from_secs(60));
        assert!(!b.failure() && !b.failure());
        assert!(!b.is_open());
        assert!(b.failure());
        assert!(b.is_open());
        b.success();
        assert!(!b.is_open());
        let b = Breaker::new(1, Duration::from_millis(0));
        assert!(b.failure());
        assert!(!b.is_open(), "half-open after the open period");
    }
}
