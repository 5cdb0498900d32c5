//! The token bucket behind every request-rate bound (the share service's
//! `limits.max_requests_per_second`, the proxy's per-key-store quotas).

use std::sync::Mutex;
use std::time::Instant;

/// Tokens and when they were last counted.
#[derive(Debug)]
struct Level {
    tokens: f64,
    at: Instant,
}

/// A token bucket: `rate` tokens per second, at most `capacity`, full at start.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    level: Mutex<Level>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, capacity: u32) -> Self {
        let capacity = f64::from(capacity);
        Self { rate: f64::from(rate), capacity, level: Mutex::new(Level { tokens: capacity, at: Instant::now() }) }
    }

    /// Takes one token; false when none is left (or the state is poisoned:
    /// refusing is the safe answer).
    pub fn take(&self) -> bool {
        let Ok(mut level) = self.level.lock() else { return false };
        let now = Instant::now();
        level.tokens = (level.tokens + now.duration_since(level.at).as_secs_f64() * self.rate).min(self.capacity);
        level.at = now;
        if level.tokens >= 1.0 {
            level.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_capacity_then_refuses() {
        let b = TokenBucket::new(1, 3);
        assert_eq!((0..5).filter(|_| b.take()).count(), 3);
        assert!(!TokenBucket::new(0, 0).take());
    }
}
