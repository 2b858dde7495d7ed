//! When to try again: exponential back-off with full jitter, the one `Retry-After` policy, and
//! the retry state of one call (attempts and deadline).
//!
//! The policy, for every request path (account reads and the guard's forwarding): after failed
//! attempt *n* the wait is `max(back-off(n), Retry-After)`. The server is never asked again sooner
//! than it said, nor sooner than the back-off spreads clients sharing a key. No wait is longer than
//! [`MAX_DELAY`]: a `Retry-After` beyond it, a wait that would pass the call's time limit, or the
//! last allowed attempt ends the call with what it has (docs/reference.md "Retries and limits").

use std::time::{Duration, Instant};

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

/// A `Retry-After` value: delay-seconds, or an HTTP date (relative to `now`; a date in the
/// past is no wait).
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The wait before the next attempt after failed attempt `attempt` (1-based) whose reply asked
/// for `retry_after`, by the module's policy; `None` when the server asked for more than
/// [`MAX_DELAY`] (the call ends with the server's reply rather than ask again too soon).
pub fn wait_before_retry(
    backoff: &Backoff,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    match retry_after {
        Some(asked) if asked > MAX_DELAY => None,
        Some(asked) => Some(backoff.delay(attempt).max(asked)),
        None => Some(backoff.delay(attempt)),
    }
}

/// The retry state of one call: attempts made and the deadline, which starts with the first
/// attempt (a guard's wait for the rate window before it is bounded on its own).
#[derive(Debug, Clone)]
pub struct RetryState {
    attempts: u32,
    max_attempts: u32,
    deadline: Instant,
    backoff: Backoff,
}

impl RetryState {
    /// A call allowed `max_attempts` (0 is read as 1) within `timeout`, starting now.
    pub fn start(max_attempts: u32, timeout: Duration, backoff: Backoff) -> RetryState {
        RetryState {
            attempts: 0,
            max_attempts: max_attempts.max(1),
            deadline: Instant::now() + timeout,
            backoff,
        }
    }

    /// Counts an attempt about to be made.
    pub fn attempt(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time left before the deadline (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The wait before trying again, or `None` when the call must end with what it has: the
    /// last allowed attempt was made, the server asked for too long a wait, or the wait would
    /// pass the deadline.
    pub fn next_wait(&self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.attempts >= self.max_attempts {
            return None;
        }
        let wait = wait_before_retry(&self.backoff, self.attempts, retry_after)?;
        (Instant::now() + wait < self.deadline).then_some(wait)
    }
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
        // Not capped here: the policy decides what a long wait means.
        assert_eq!(retry_after("3600", now), Some(Duration::from_secs(3600)));
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

    #[test]
    fn the_wait_is_the_longer_of_backoff_and_retry_after() {
        // base 0: the back-off is always 0, so the wait is what the server asked.
        let none = Backoff {
            base: Duration::ZERO,
        };
        assert_eq!(
            wait_before_retry(&none, 1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(wait_before_retry(&none, 1, None), Some(Duration::ZERO));
        // base 10 s: attempt 1's ceiling is 10 s = MAX_DELAY; Retry-After 0 never shortens it
        // below the back-off, which is at most 10 s.
        let long = Backoff {
            base: Duration::from_secs(10),
        };
        for _ in 0..50 {
            let wait = wait_before_retry(&long, 1, Some(Duration::ZERO)).unwrap();
            assert!(wait <= MAX_DELAY, "{wait:?}");
        }
        // More than MAX_DELAY asked: no retry (never sooner than the server said).
        assert_eq!(
            wait_before_retry(&none, 1, Some(MAX_DELAY + Duration::from_secs(1))),
            None
        );
        assert_eq!(
            wait_before_retry(&none, 1, Some(MAX_DELAY)),
            Some(MAX_DELAY)
        );
    }

    #[test]
    fn retry_state_ends_at_the_attempt_limit_and_the_deadline() {
        let none = Backoff {
            base: Duration::ZERO,
        };
        let mut state = RetryState::start(2, Duration::from_secs(60), none);
        state.attempt();
        assert_eq!(state.next_wait(None), Some(Duration::ZERO));
        state.attempt();
        assert_eq!(state.attempts(), 2);
        assert_eq!(state.next_wait(None), None, "2 of 2 attempts made");
        // 0 attempts allowed is read as 1.
        let mut state = RetryState::start(0, Duration::from_secs(60), none);
        state.attempt();
        assert_eq!(state.next_wait(None), None);
        // A Retry-After of 10 s is allowed (= MAX_DELAY), but the deadline is 5 s away: the
        // call ends; 1 s fits.
        let mut state = RetryState::start(5, Duration::from_secs(5), none);
        state.attempt();
        assert_eq!(state.next_wait(Some(Duration::from_secs(10))), None);
        assert_eq!(
            state.next_wait(Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }
}
