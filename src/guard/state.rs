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
//! Rate: at most `rps` requests start in any rolling window of `WINDOW` (one second plus a small
//! margin for the network jitter between the guard and the API, whose own window is measured on
//! arrival). A caller that finds the window full waits, first in line among this guard's callers
//! (a FIFO lock), and gives up with [`RateError`] after its deadline or when the queue is full.
//!
//! This module prices nothing and does no HTTP.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::redis::{RedisState, Slot};

/// The rolling window the guard keeps: the vendor's one second, plus a margin so that calls the
/// network delays unevenly still arrive at most `rps` per second.
pub const WINDOW: Duration = Duration::from_millis(1025);

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
    max_wait: Duration,
    max_queue: usize,
    queued: AtomicUsize,
    line: tokio::sync::Mutex<()>,
}

impl State {
    pub fn new(backend: Backend, rps: u32, max_wait: Duration, max_queue: usize) -> State {
        State {
            backend,
            rps: rps.max(1),
            max_wait,
            max_queue: max_queue.max(1),
            queued: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
        }
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
            let wait = match &self.backend {
                Backend::Memory(m) => match m.try_slot(self.rps, Instant::now()) {
                    Ok(at) => return Ok(Granted(at.saturating_duration_since(m.origin))),
                    Err(wait) => wait,
                },
                Backend::Redis(r) => match r.try_slot(self.rps).await? {
                    Slot::Granted { at_us } => return Ok(Granted(Duration::from_micros(at_us))),
                    Slot::Wait(wait) => wait,
                },
            };
            if Instant::now() + wait > deadline {
                return Err(timeout());
            }
            tokio::time::sleep(wait).await;
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

    /// `Ok(now)`: a slot was taken at `now`; `Err(wait)`: the window is full for that long.
    fn try_slot(&self, rps: u32, now: Instant) -> Result<Instant, Duration> {
        let mut m = self.lock();
        while m
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            m.window.pop_front();
        }
        match m.window.front() {
            Some(oldest) if m.window.len() >= rps as usize => Err((*oldest + WINDOW)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))),
            _ => {
                m.window.push_back(now);
                Ok(now)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;

    fn memory(budget: u64, rps: u32) -> State {
        State::new(
            Backend::Memory(MemoryState::new(budget)),
            rps,
            Duration::from_secs(5),
            1000,
        )
    }

    #[tokio::test]
    async fn reserve_settle_release_by_hand() {
        let state = memory(1000, 10);
        let a = state.try_reserve(600).await.expect("600 of 1000");
        // Unspent (the guard's hold in the ledger): 400 left + 600 in flight = 1,000.
        assert_eq!(state.unspent().await, Ok(1000));
        // 400 left: 500 does not fit.
        assert_eq!(
            state.try_reserve(500).await,
            Err(StateError::Exceeded {
                needed: 500,
                left: 400
            })
        );
        // the 600 call returned 250 records: 350 come back, 750 left.
        state.settle(&a, 250).await.expect("settle");
        assert_eq!(state.left().await, Ok(750));
        // 1,000 − 250 charged = 750 unspent; reserving more does not change it.
        assert_eq!(state.unspent().await, Ok(750));
        let b = state.try_reserve(750).await.expect("all of it");
        assert_eq!(state.left().await, Ok(0));
        assert_eq!(state.unspent().await, Ok(750));
        state.release(&b).await.expect("release");
        assert_eq!(state.left().await, Ok(750));
        // settling twice gives nothing back twice.
        state.release(&b).await.expect("release again");
        assert_eq!(state.left().await, Ok(750));
    }

    #[tokio::test]
    async fn an_overrun_is_charged_and_may_overdraw() {
        // Invariant: a call billed beyond its hold is charged in full; later calls see it.
        let state = memory(1000, 10);
        let a = state.try_reserve(100).await.expect("100 of 1000");
        // the reply held 5,000 records: 1000 − 5000 = −4,000 left.
        state.settle(&a, 5000).await.expect("settle");
        assert_eq!(state.left().await, Ok(-4000));
        assert_eq!(
            state.try_reserve(1).await,
            Err(StateError::Exceeded {
                needed: 1,
                left: -4000
            })
        );
        // overdrawn, the budget refuses even a free call (0 units > −4,000 left is false).
        assert!(state.try_reserve(0).await.is_err());
    }

    #[tokio::test]
    async fn memory_window_holds_rps() {
        let m = MemoryState::new(0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(m.try_slot(3, t0), Ok(t0));
        }
        // 4th in the same instant: wait the whole window.
        assert_eq!(m.try_slot(3, t0), Err(WINDOW));
        // once the window has passed, a slot frees up.
        assert_eq!(m.try_slot(3, t0 + WINDOW), Ok(t0 + WINDOW));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reservations_never_exceed_the_budget() {
        // 64 tasks each try 10 calls of 7 units against 1000: at most 142 calls fit (994 units).
        let state = Arc::new(memory(1000, 10));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let state = state.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = 0u64;
                for _ in 0..10 {
                    if let Ok(hold) = state.try_reserve(7).await {
                        state.settle(&hold, 7).await.expect("settle");
                        got += 7;
                    }
                }
                got
            }));
        }
        let mut spent = 0;
        for t in tasks {
            spent += t.await.expect("task");
        }
        assert_eq!(spent, 994);
        assert_eq!(state.left().await, Ok(6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_keep_the_window() {
        // 30 callers, 20 per window: the first 20 start at once, the next 10 a window later
        // (checked on the times the limiter granted, not on when the tasks resumed).
        let state = Arc::new(memory(0, 20));
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let state = state.clone();
            tasks.push(tokio::spawn(
                async move { state.slot().await.expect("slot") },
            ));
        }
        let mut granted = Vec::new();
        for t in tasks {
            granted.push(t.await.expect("task"));
        }
        granted.sort();
        assert_window(&granted, 20);
    }

    /// No `limit` + 1 grants fall within one window (1.025 s: the vendor's second plus margin).
    #[track_caller]
    pub(crate) fn assert_window(sorted: &[Granted], limit: usize) {
        for pair in sorted.windows(limit + 1) {
            let span = pair[limit].0 - pair[0].0;
            assert!(span >= WINDOW, "{} grants within {span:?}", limit + 1);
        }
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let state = State::new(
            Backend::Memory(MemoryState::new(0)),
            1,
            Duration::from_millis(50),
            1000,
        );
        state.slot().await.expect("first slot");
        let e = state.slot().await.unwrap_err();
        assert!(matches!(e, RateError::Timeout { rps: 1, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("for a free slot in the 1 requests/second window"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let state = Arc::new(State::new(
            Backend::Memory(MemoryState::new(0)),
            1,
            Duration::from_secs(2),
            1,
        ));
        state.slot().await.expect("first slot");
        let waiting = {
            let state = state.clone();
            tokio::spawn(async move { state.slot().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let e = state.slot().await.unwrap_err();
        assert!(e.to_string().contains("1 calls are already waiting"), "{e}");
        let _ = waiting.await;
    }
}
