//! A per-partner circuit breaker: after `threshold` consecutive failures the
//! partner is skipped (tried last) for `open_for`, then one probe decides.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Breaker state.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<(u32, Option<Instant>)>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self { threshold, open_for, state: Mutex::new((0, None)) }
    }

    /// Whether the partner should be skipped now.
    pub fn is_open(&self) -> bool {
        self.state.lock().map(|s| s.1.is_some_and(|until| Instant::now() < until)).unwrap_or(false)
    }

    /// Records a success: closes the breaker.
    pub fn success(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = (0, None);
        }
    }

    /// Records a failure; returns true when this failure opened the breaker.
    pub fn failure(&self) -> bool {
        let Ok(mut s) = self.state.lock() else { return false };
        s.0 = s.0.saturating_add(1);
        if s.0 >= self.threshold {
            let was_open = s.1.is_some_and(|until| Instant::now() < until);
            s.1 = Some(Instant::now() + self.open_for);
            return !was_open;
        }
        false
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.state.lock().map(|s| s.0).unwrap_or(0)
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
