//! Exponential back-off with full jitter, and `Retry-After`.

use std::time::Duration;

use super::AccountError;

/// Hidden setting for tests: the back-off base delay in milliseconds (default 200).
pub const ENV_RETRY_BASE_MS: &str = "BUDGET_RETRY_BASE_MS";
pub const DEFAULT_BASE_DELAY_MS: u64 = 200;
/// No single wait is longer than this (a `Retry-After` included).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// Waits before attempt 2, 3, …: a uniformly random time in `[0, min(MAX_DELAY, base × 2^(n−1))]`
/// after failed attempt `n` (AWS's "full jitter": many clients sharing one key do not retry in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(DEFAULT_BASE_DELAY_MS),
        }
    }
}

impl Backoff {
    /// The default, or `BUDGET_RETRY_BASE_MS` when set (tests make it tiny).
    pub fn from_env() -> Result<Backoff, AccountError> {
        match std::env::var(ENV_RETRY_BASE_MS) {
            Err(_) => Ok(Backoff::default()),
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map(|ms| Backoff {
                    base: Duration::from_millis(ms),
                })
                .map_err(|_| AccountError::Setting {
                    name: ENV_RETRY_BASE_MS.into(),
                    reason: format!("{text:?} is not a whole number of milliseconds"),
                }),
        }
    }

    /// The longest wait after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY)
    }

    /// A random wait in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = crate::count::millis(self.ceiling(attempt));
        Duration::from_millis(rand::random_range(0..=ceiling))
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (relative to `now`).
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_DELAY));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO).min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ceiling_is(base_ms: u64, attempt: u32, expected_ms: u64) {
        let backoff = Backoff {
            base: Duration::from_millis(base_ms),
        };
        assert_eq!(
            backoff.ceiling(attempt),
            Duration::from_millis(expected_ms),
            "attempt {attempt}"
        );
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        // 200, 400, 800, 1600, 3200, 6400, then the 10 s cap.
        for (attempt, ms) in [
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1600),
            (5, 3200),
            (6, 6400),
            (7, 10_000),
            (40, 10_000),
        ] {
            ceiling_is(200, attempt, ms);
        }
        ceiling_is(1, 3, 4);
        ceiling_is(0, 5, 0);
    }

    #[test]
    fn delays_stay_within_the_ceiling() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
        };
        for _ in 0..200 {
            assert!(backoff.delay(1) <= Duration::from_millis(100));
            assert!(backoff.delay(3) <= Duration::from_millis(400));
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("3600", now), Some(MAX_DELAY));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:03 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }
}
