//! The guard's shared state: the unit budget (reservations held by calls in flight) and the
//! rolling one-second request window. Two backends behind one enum: in-process (one guard) and
//! Redis (several guards on several machines sharing one key), with the same semantics.
//!
//! Budget: `try_reserve(units)` takes units from `left` atomically or says how many are left;
//! `settle(id, charged)` gives back `reserved − charged` (a 2xx reply) — or, when the call was
//! billed more than it held (an overrun), takes the difference too, so `left` may go below zero
//! and later calls see it; `release(id)` gives back everything (non-2xx: the vendor bills only
//! 2xx).
//!
//! Rate: at most `rps` requests start in any rolling window (one second plus a margin,
//! `--rate-margin`, 25 ms by default, for the network jitter between the guard and the API,
//! whose own window is measured on arrival). A caller that finds the window full waits, first
//! in line among this guard's callers (a FIFO lock), and gives up with [`RateError`] after its
//! deadline or when the queue is full.
//!
//! The margin must hold where the API sees it: between the *sends*, not between the grants. A
//! grant is made on the window's clock (this process's, or Redis's in shared mode) at some time
//! `R`; the request leaves later, after the grant's answer came back (a Redis round trip) and
//! the task ran again, by a delay that varies from call to call (in Redis mode the margin was
//! measured shrinking to 1.1 ms at the API). So a slot is recorded at `R + slack`, and the
//! caller uses it only if it is ready to send within `slack` of asking for it (measured on its
//! own clock, from before the request to Redis, so the round trip is included); otherwise the
//! slot is left unused (it still counts) and another is taken. Then every send happens at or
//! after its grant and at or before its recorded time, and any `rps + 1` sends span at least
//! the window. `slack` is [`SEND_SLACK`] plus twice the smoothed round trip to Redis. "Send"
//! is the hand-off to the HTTP client: a call that must first open a connection to the API
//! (after an idle spell, or when more calls run at once than connections are pooled) leaves
//! later by the handshake, which only the margin absorbs; on a network where a TLS handshake to
//! the API takes longer than 25 ms, raise `--rate-margin`.
//!
//! This module prices nothing and does no HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::redis::{RedisState, Slot};

/// The rolling window the guard keeps by default: the vendor's one second, plus a margin so that
/// calls the network delays unevenly still arrive at most `rps` per second (`--rate-margin`).
pub const WINDOW: Duration = Duration::from_millis(1025);
/// The time from asking for a slot to sending that a call may take before the slot is left
/// unused (see the module); twice the Redis round trip is added in shared mode.
pub const SEND_SLACK: Duration = Duration::from_millis(5);

/// When a slot was granted, on the clock the window is kept on (this process's for the
/// in-process state, Redis's in shared mode), as time since that clock's origin. Callers need not
/// look at it; tests check the window on these times, not on when their tasks resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Granted(pub Duration);

/// A held reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: String,
    pub units: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the call needs {needed} units, {left} left")]
    Exceeded { needed: u64, left: i64 },
    #[error("the shared state in Redis is unavailable: {reason}")]
    Redis { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("waited {waited_ms} ms for a free slot in the {rps} requests/second window; the API key is busier than it can serve, try again later")]
    Timeout { waited_ms: u64, rps: u32 },
    #[error(
        "{queued} calls are already waiting for the {rps} requests/second window; try again later"
    )]
    QueueFull { queued: usize, rps: u32 },
    #[error("the shared state in Redis is unavailable: {reason}")]
    Redis { reason: String },
}

/// Where the budget and the window live.
pub enum Backend {
    Memory(MemoryState),
    Redis(Box<RedisState>),
}

/// The budget and the window, with this guard's waiting line in front of the window.
pub struct State {
    backend: Backend,
    rps: u32,
    window: Duration,
    max_wait: Duration,
    max_queue: usize,
    queued: AtomicUsize,
    line: tokio::sync::Mutex<()>,
    /// Smoothed time a slot request takes (µs): the Redis round trip.
    round_trip_us: AtomicU64,
    /// Slots taken but left unused because the caller was not ready to send in time.
    missed: AtomicU64,
}

impl State {
    pub fn new(backend: Backend, rps: u32, max_wait: Duration, max_queue: usize) -> State {
        State {
            backend,
            rps: rps.max(1),
            window: WINDOW,
            max_wait,
            max_queue: max_queue.max(1),
            queued: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
            round_trip_us: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        }
    }

    /// Keeps a window of `window` instead of [`WINDOW`] (one second plus `--rate-margin`).
    pub fn with_window(mut self, window: Duration) -> State {
        self.window = window;
        self
    }

    /// Slots left unused because their caller was not ready to send within the slack.
    pub fn missed_slots(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    /// How long a caller may take from asking for a slot to sending (see the module).
    fn slack(&self) -> Duration {
        match self.backend {
            Backend::Memory(_) => SEND_SLACK,
            Backend::Redis(_) => SEND_SLACK.saturating_add(Duration::from_micros(
                self.round_trip_us.load(Ordering::Relaxed).saturating_mul(2),
            )),
        }
    }

    /// Smooths in one slot request's time (an eighth of each new one; the first one sets it).
    fn observe(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .round_trip_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 8 + took / 8
                })
            });
    }

    pub fn rps(&self) -> u32 {
        self.rps
    }

    /// Units left to reserve (budget minus holds and charges).
    pub async fn left(&self) -> Result<i64, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.left()),
            Backend::Redis(r) => r.left().await,
        }
    }

    /// Units not charged yet: left plus what calls in flight hold. Never grows (a settled call
    /// gives back only what it was not charged), so a figure read earlier is never too small.
    pub async fn unspent(&self) -> Result<u64, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.unspent()),
            Backend::Redis(r) => Ok(u64::try_from(r.unspent().await?).unwrap_or(0)),
        }
    }

    pub async fn try_reserve(&self, units: u64) -> Result<Hold, StateError> {
        match &self.backend {
            Backend::Memory(m) => m.try_reserve(units),
            Backend::Redis(r) => r.try_reserve(units).await,
        }
    }

    /// Ends a hold with `charged` units billed; above the held units the difference is taken
    /// from the budget too.
    pub async fn settle(&self, hold: &Hold, charged: u64) -> Result<(), StateError> {
        match &self.backend {
            Backend::Memory(m) => {
                m.settle(hold, charged);
                Ok(())
            }
            Backend::Redis(r) => r.settle(hold, charged).await,
        }
    }

    /// Ends a hold with nothing billed.
    pub async fn release(&self, hold: &Hold) -> Result<(), StateError> {
        self.settle(hold, 0).await
    }

    /// Waits for a slot in the rolling window (FIFO among this guard's callers).
    pub async fn slot(&self) -> Result<Granted, RateError> {
        let started = Instant::now();
        let deadline = started + self.max_wait;
        let queued = self.queued.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.queued);
        if queued >= self.max_queue {
            return Err(RateError::QueueFull {
                queued,
                rps: self.rps,
            });
        }
        let timeout = || RateError::Timeout {
            waited_ms: crate::count::millis(started.elapsed()),
            rps: self.rps,
        };
        let _first = tokio::time::timeout_at(deadline.into(), self.line.lock())
            .await
            .map_err(|_| timeout())?;
        loop {
            let slack = self.slack();
            let asked = Instant::now();
            let answer = match &self.backend {
                Backend::Memory(m) => match m.try_slot(self.rps, self.window, slack, asked) {
                    Ok(at) => Ok(Granted(at.saturating_duration_since(m.origin))),
                    Err(wait) => Err(wait),
                },
                Backend::Redis(r) => match r.try_slot(self.rps, self.window, slack).await? {
                    Slot::Granted { at_us } => Ok(Granted(Duration::from_micros(at_us))),
                    Slot::Wait(wait) => Err(wait),
                },
            };
            // From asking (before the round trip) to now, which is right before the send.
            let took = asked.elapsed();
            self.observe(took);
            let wait = match answer {
                Ok(granted) if took <= slack => return Ok(granted),
                // Too late to send within the slot's recorded time: leave it (it counts), take
                // another.
                Ok(_) => {
                    self.missed.fetch_add(1, Ordering::Relaxed);
                    Duration::ZERO
                }
                Err(wait) => wait,
            };
            if Instant::now() + wait > deadline {
                return Err(timeout());
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Leaves the waiting line when dropped.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `left` as the API of this module reports it.
fn clamp(left: i128) -> i64 {
    i64::try_from(left).unwrap_or(if left < 0 { i64::MIN } else { i64::MAX })
}

/// One guard's state in memory.
pub struct MemoryState {
    inner: Mutex<Memory>,
    /// The origin of [`Granted`] times.
    origin: Instant,
}

struct Memory {
    /// Signed and wide: an overrun may take it below zero.
    left: i128,
    next: u64,
    holds: HashMap<String, u64>,
    window: VecDeque<Instant>,
}

impl MemoryState {
    pub fn new(budget: u64) -> MemoryState {
        MemoryState {
            inner: Mutex::new(Memory {
                left: i128::from(budget),
                next: 0,
                holds: HashMap::new(),
                window: VecDeque::new(),
            }),
            origin: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        // The critical sections cannot panic half-way; a poisoned lock still holds valid figures.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn left(&self) -> i64 {
        clamp(self.lock().left)
    }

    fn unspent(&self) -> u64 {
        let m = self.lock();
        let unspent = m
            .holds
            .values()
            .fold(m.left, |sum, units| sum.saturating_add(i128::from(*units)));
        // An overdrawn budget (an overrun took it below zero) has nothing unspent.
        u64::try_from(unspent).unwrap_or(0)
    }

    fn try_reserve(&self, units: u64) -> Result<Hold, StateError> {
        let mut m = self.lock();
        if m.left < i128::from(units) {
            return Err(StateError::Exceeded {
                needed: units,
                left: clamp(m.left),
            });
        }
        m.left -= i128::from(units);
        m.next += 1;
        let id = m.next.to_string();
        m.holds.insert(id.clone(), units);
        Ok(Hold { id, units })
    }

    fn settle(&self, hold: &Hold, charged: u64) {
        let mut m = self.lock();
        if let Some(held) = m.holds.remove(&hold.id) {
            m.left += i128::from(held) - i128::from(charged);
        }
    }

    /// `Ok(now)`: a slot was taken at `now` and recorded at `now + slack`; `Err(wait)`: the
    /// window is full for that long.
    fn try_slot(
        &self,
        rps: u32,
        window: Duration,
        slack: Duration,
        now: Instant,
    ) -> Result<Instant, Duration> {
        let mut m = self.lock();
        while m
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            m.window.pop_front();
        }
        match m.window.front() {
            Some(oldest) if m.window.len() >= rps as usize => Err((*oldest + window)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))),
            _ => {
                m.window.push_back(now + slack);
                Ok(now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The behaviour both backends share is tested on both, in tests/conformance/state.rs; here
    // the memory backend's own window arithmetic.

    #[test]
    fn memory_window_holds_rps() {
        let m = MemoryState::new(0);
        let t0 = Instant::now();
        let slack = Duration::from_millis(5);
        for _ in 0..3 {
            assert_eq!(m.try_slot(3, WINDOW, slack, t0), Ok(t0));
        }
        // 4th in the same instant: the slots are recorded 5 ms after their grant, so it waits
        // the window and the slack, 1,030 ms.
        assert_eq!(
            m.try_slot(3, WINDOW, slack, t0),
            Err(Duration::from_millis(1030))
        );
        assert_eq!(
            m.try_slot(3, WINDOW, slack, t0 + WINDOW),
            Err(Duration::from_millis(5))
        );
        // once the window has passed the recorded times, a slot frees up.
        let later = t0 + WINDOW + slack;
        assert_eq!(m.try_slot(3, WINDOW, slack, later), Ok(later));
    }
}
