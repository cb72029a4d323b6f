//! One retry policy for everything crdguard sends: API requests (observe, apply, migrate,
//! wait) and catalog downloads. How many tries, and how long to pause between them; the
//! adapters own the sleeping (async or blocking) and what counts as transient.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The pause before the second try; doubled before each further one.
    pub first_delay: Duration,
    /// The longest pause of our own choosing.
    pub max_delay: Duration,
    /// The longest pause a server may ask for with `Retry-After`, so that a hostile or confused
    /// server cannot park crdguard for hours.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// API requests: 5 tries, 0.2 s doubling to 5 s; worst case 4 pauses of at most 30 s.
    pub const API: RetryPolicy = RetryPolicy {
        attempts: 5,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(30),
    };

    /// Catalog downloads: 3 tries, 1 s then 2 s (a release asset host that fails twice in a
    /// row is down, and the user is waiting).
    pub const DOWNLOAD: RetryPolicy = RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(30),
    };

    /// Whether try `attempt` (1-based) that failed transiently may be followed by another.
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt < self.attempts.max(1)
    }

    /// The pause after try `attempt` (1-based) failed: the server's `Retry-After` when it gave
    /// one (never shorter than our own pause, never longer than `max_retry_after`), else our
    /// own doubling pause.
    pub fn pause_after(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after).max(doubled),
            None => doubled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_bound_and_honour_retry_after_within_it() {
        let api = RetryPolicy::API;
        let pauses: Vec<u128> = (1..=6)
            .map(|a| api.pause_after(a, None).as_millis())
            .collect();
        assert_eq!(pauses, vec![200, 400, 800, 1600, 3200, 5000]);
        assert_eq!(
            api.pause_after(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        // A server asking for an hour gets the bound; one asking for nothing gets our pause.
        assert_eq!(
            api.pause_after(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
        assert_eq!(
            api.pause_after(3, Some(Duration::ZERO)),
            Duration::from_millis(800)
        );
        assert!(api.retries_after(4) && !api.retries_after(5));
        let once = RetryPolicy {
            attempts: 0,
            ..RetryPolicy::DOWNLOAD
        };
        assert!(!once.retries_after(1), "0 attempts means one try");
    }
}
