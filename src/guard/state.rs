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
    /// The client whose own budget holds the units too (`--clients`), when it has one.
    pub client: Option<String>,
}

/// What a call asks the budget for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask<'a> {
    pub units: u64,
    /// The call's client, when clients are configured (`--clients`); its own budget, when it
    /// has one, must hold the units too.
    pub client: Option<&'a str>,
    /// `--shadow`: the units are held even when they do not fit (the budget may go below zero),
    /// and the refusal that enforcement would have made is returned beside the hold.
    pub shadow: bool,
    /// `--soft-budget`: a call that would take the units used (spent and held) past this
    /// figure, plus the units of calls an operator approved, is refused with
    /// [`StateError::SoftLimit`] unless it is `approved`.
    pub soft: Option<u64>,
    /// An operator approved this call (`budget guard-admin approve ID`): it passes the soft
    /// limit, and its units raise the allowance above the soft limit by exactly what it is
    /// charged (docs/guard.md "Raise and approve").
    pub approved: bool,
}

impl<'a> Ask<'a> {
    /// A plain ask: `units`, no client, enforce mode, no soft limit.
    pub fn units(units: u64) -> Ask<'a> {
        Ask {
            units,
            client: None,
            shadow: false,
            soft: None,
            approved: false,
        }
    }
}

/// How a running guard's budget is raised (`budget guard-admin raise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raise {
    /// By this many units.
    By(u64),
    /// To this figure (no lower than the budget now).
    To(u64),
}

/// A raise made: the budget's figure before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: u64,
    pub after: u64,
}

impl Raised {
    /// Units added.
    pub fn by(&self) -> u64 {
        self.after.saturating_sub(self.before)
    }
}

/// A reservation made: the hold, and in shadow mode the refusal enforcement would have made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub hold: Hold,
    pub would_refuse: Option<StateError>,
}

/// A client's own budget (`--clients`), as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBudget {
    pub name: String,
    /// Its figure (units, a percentage already applied).
    pub budget: u64,
    /// Units of it already spent before this start (the journal's record).
    pub spent: u64,
}

/// The budget's figures at one moment, for the status endpoint, metrics and alerts. `spent` is
/// `total − left − reserved`: what calls were charged (and holds that timed out), overruns
/// included, so it may exceed `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    /// The budget's figure: `--budget` (spent before a restart included), the live figure at
    /// start, or the shared budget's as its creator set it.
    pub total: u64,
    /// Units that may still be reserved (below zero when overdrawn).
    pub left: i64,
    /// Units held by calls in flight.
    pub reserved: u64,
}

impl Figures {
    /// Units charged: `total − left − reserved`.
    pub fn spent(&self) -> i64 {
        clamp(i128::from(self.total) - i128::from(self.left) - i128::from(self.reserved))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the call needs {needed} units, {left} left")]
    Exceeded { needed: u64, left: i64 },
    /// The call's client's own budget (`--clients`) does not hold it.
    #[error("the call needs {needed} units, {left} left of client {client}'s budget of {budget}")]
    ClientExceeded {
        client: String,
        needed: u64,
        left: i64,
        budget: u64,
    },
    #[error("the shared state in Redis is unavailable: {reason}")]
    Redis { reason: String },
    /// The call would take the units used past the soft limit (`--soft-budget`) and the
    /// allowance operators approved: it needs an approval.
    #[error("the call needs {needed} units; {used} are used of the soft limit of {limit}")]
    SoftLimit { needed: u64, used: i64, limit: u64 },
    /// `raise --to` below the budget's figure now.
    #[error("the budget is {total} units already; a raise to {to} would lower it (give a figure above {total}, or --by N)")]
    NotARaise { total: u64, to: u64 },
    /// A raise past what the state can hold.
    #[error("a budget of {total} + {by} units is more than the guard can hold ({max} at most)")]
    RaiseTooLarge { total: u64, by: u64, max: u64 },
}

/// The largest budget a raise may reach (Redis's scripts count exactly up to 2^53).
pub const MAX_RAISED: u64 = super::redis::MAX_BUDGET;

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
    /// The client's share of the rate (`--clients`) had no slot within `--max-wait`.
    #[error("client {client}'s share of the rate ({share} requests/second) had no free slot in time; its calls are coming faster than its share, try again later")]
    ClientShare { client: String, share: u32 },
}

impl From<StateError> for RateError {
    fn from(e: StateError) -> RateError {
        RateError::Redis {
            reason: e.to_string(),
        }
    }
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
    /// Clients' shares of the rate (`--clients`): requests per window, by client.
    shares: HashMap<String, u32>,
    /// In this process: each client's window (Redis keeps them in Redis).
    client_windows: Mutex<HashMap<String, VecDeque<Instant>>>,
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
            shares: HashMap::new(),
            client_windows: Mutex::new(HashMap::new()),
        }
    }

    /// Gives clients their shares of the rate: at most `rps` of a client's calls start in any
    /// window, besides the guard's own limit (see [`State::slot_for`]).
    pub fn with_shares(mut self, shares: HashMap<String, u32>) -> State {
        self.shares = shares;
        self
    }

    /// Calls waiting for the rate window now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The budget's figures now (see [`Figures`]).
    pub async fn figures(&self) -> Result<Figures, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.figures()),
            Backend::Redis(r) => r.figures().await,
        }
    }

    /// Each client's own budget now (`--clients`), by name: its figures as [`State::figures`].
    pub async fn client_figures(&self) -> Result<Vec<(String, Figures)>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.client_figures()),
            Backend::Redis(r) => r.client_figures().await,
        }
    }

    /// Claims the alert at `percent` of the budget `epoch` for this guard: always granted in
    /// this process (the caller keeps the claimed set, and the journal replays it); in Redis,
    /// granted to exactly one of the guards sharing the budget.
    pub async fn claim_alert(&self, epoch: &str, percent: u8) -> Result<bool, StateError> {
        match &self.backend {
            Backend::Memory(_) => Ok(true),
            Backend::Redis(r) => r.claim_alert(epoch, percent).await,
        }
    }

    /// The thresholds of `thresholds` already claimed for `epoch` by any guard (Redis mode; in
    /// this process, the journal's replay says).
    pub async fn claimed_alerts(
        &self,
        epoch: &str,
        thresholds: &[u8],
    ) -> Result<Vec<u8>, StateError> {
        match &self.backend {
            Backend::Memory(_) => Ok(Vec::new()),
            Backend::Redis(r) => r.claimed_alerts(epoch, thresholds).await,
        }
    }

    /// Slots taken in the rolling window now (all guards sharing it, in Redis mode).
    pub async fn window_used(&self) -> Result<u64, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.window_used(self.window, Instant::now())),
            Backend::Redis(r) => r.window_used(self.window).await,
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

    /// Raises the budget (`budget guard-admin raise`): its figure and the units left grow by
    /// the same amount, so what was spent stays spent. In Redis, once for every guard sharing it.
    pub async fn raise(&self, raise: Raise) -> Result<Raised, StateError> {
        match &self.backend {
            Backend::Memory(m) => m.raise(raise),
            Backend::Redis(r) => r.raise(raise).await,
        }
    }

    /// Units of approved calls above the soft limit (charged, or held by calls in flight).
    pub async fn approved(&self) -> Result<u64, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(u64::try_from(m.lock().approved).unwrap_or(0)),
            Backend::Redis(r) => r.approved().await,
        }
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
        self.reserve(Ask::units(units))
            .await
            .map(|reserved| reserved.hold)
    }

    /// Reserves `ask.units` from the budget and from the client's own budget, atomically; in
    /// shadow mode even when they do not fit (see [`Ask`]).
    pub async fn reserve(&self, ask: Ask<'_>) -> Result<Reserved, StateError> {
        match &self.backend {
            Backend::Memory(m) => m.reserve(ask),
            Backend::Redis(r) => r.reserve(ask).await,
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
        self.slot_for(None).await
    }

    /// As [`State::slot`], for a call of `client`: a client with a share of the rate first
    /// waits for a slot in its own window (outside the line, so that a client at its share
    /// never holds up the others), then for one in the guard's. The client's window is kept
    /// between grants: it shares the rate out, while the guard's window is what protects the key.
    pub async fn slot_for(&self, client: Option<&str>) -> Result<Granted, RateError> {
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
        if let Some((client, share)) = client.and_then(|c| Some((c, *self.shares.get(c)?))) {
            loop {
                let wait = match &self.backend {
                    Backend::Memory(_) => self.client_slot(client, share),
                    Backend::Redis(r) => {
                        match r.try_client_slot(client, share, self.window).await? {
                            Slot::Granted { .. } => None,
                            Slot::Wait(wait) => Some(wait),
                        }
                    }
                };
                let Some(wait) = wait else { break };
                if Instant::now() + wait > deadline {
                    return Err(RateError::ClientShare {
                        client: client.to_string(),
                        share,
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
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

impl State {
    /// A slot in `client`'s own window in this process: `None` when taken, else how long the
    /// window is full.
    fn client_slot(&self, client: &str, share: u32) -> Option<Duration> {
        let now = Instant::now();
        let mut windows = self
            .client_windows
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let window = windows.entry(client.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            window.pop_front();
        }
        match window.front() {
            Some(oldest) if window.len() >= share as usize => Some(
                (*oldest + self.window)
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            ),
            _ => {
                window.push_back(now);
                None
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
    /// The budget's figure ([`Figures::total`]).
    total: u64,
    /// Signed and wide: an overrun may take it below zero.
    left: i128,
    next: u64,
    /// Units held by each call in flight, its client's (when it has a budget), and whether an
    /// operator approved it.
    holds: HashMap<String, (u64, Option<String>, bool)>,
    /// Units of approved calls: the allowance above the soft limit.
    approved: i128,
    /// Clients' own budgets: figure and units left.
    clients: std::collections::BTreeMap<String, (u64, i128)>,
    window: VecDeque<Instant>,
}

impl MemoryState {
    pub fn new(budget: u64) -> MemoryState {
        MemoryState {
            inner: Mutex::new(Memory {
                total: budget,
                left: i128::from(budget),
                next: 0,
                holds: HashMap::new(),
                approved: 0,
                clients: std::collections::BTreeMap::new(),
                window: VecDeque::new(),
            }),
            origin: Instant::now(),
        }
    }

    /// A budget of `total` units of which `spent` were spent before this start (the journal's
    /// record), with clients' own budgets.
    pub fn continuing(total: u64, spent: u64, clients: &[ClientBudget]) -> MemoryState {
        MemoryState::continuing_approved(total, spent, clients, 0)
    }

    /// As [`MemoryState::continuing`], with `approved` units of approved calls charged before
    /// this start (the allowance above the soft limit, replayed from the journal).
    pub fn continuing_approved(
        total: u64,
        spent: u64,
        clients: &[ClientBudget],
        approved: u64,
    ) -> MemoryState {
        let state = MemoryState::new(total);
        {
            let mut m = state.lock();
            m.approved = i128::from(approved);
            m.left = i128::from(total) - i128::from(spent);
            for c in clients {
                m.clients.insert(
                    c.name.clone(),
                    (c.budget, i128::from(c.budget) - i128::from(c.spent)),
                );
            }
        }
        state
    }

    fn figures(&self) -> Figures {
        let m = self.lock();
        Figures {
            total: m.total,
            left: clamp(m.left),
            reserved: m.holds.values().map(|(units, _, _)| *units).sum(),
        }
    }

    fn client_figures(&self) -> Vec<(String, Figures)> {
        let m = self.lock();
        m.clients
            .iter()
            .map(|(name, (total, left))| {
                let reserved = m
                    .holds
                    .values()
                    .filter(|(_, c, _)| c.as_deref() == Some(name.as_str()))
                    .map(|(units, _, _)| *units)
                    .sum();
                (
                    name.clone(),
                    Figures {
                        total: *total,
                        left: clamp(*left),
                        reserved,
                    },
                )
            })
            .collect()
    }

    fn window_used(&self, window: Duration, now: Instant) -> u64 {
        let m = self.lock();
        m.window
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < window)
            .count() as u64
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
        let unspent = m.holds.values().fold(m.left, |sum, (units, _, _)| {
            sum.saturating_add(i128::from(*units))
        });
        // An overdrawn budget (an overrun took it below zero) has nothing unspent.
        u64::try_from(unspent).unwrap_or(0)
    }

    fn reserve(&self, ask: Ask<'_>) -> Result<Reserved, StateError> {
        let mut m = self.lock();
        let units = i128::from(ask.units);
        let client = ask
            .client
            .filter(|c| m.clients.contains_key(*c))
            .map(str::to_string);
        // The guard's budget first (a call the total cannot hold is refused for the total),
        // then the client's own.
        let mut refusal = (m.left < units).then(|| StateError::Exceeded {
            needed: ask.units,
            left: clamp(m.left),
        });
        if refusal.is_none() {
            if let Some((budget, left)) = client.as_ref().and_then(|c| m.clients.get(c)) {
                if *left < units {
                    refusal = Some(StateError::ClientExceeded {
                        client: client.clone().unwrap_or_default(),
                        needed: ask.units,
                        left: clamp(*left),
                        budget: *budget,
                    });
                }
            }
        }
        // Then the soft limit: the units used (spent and held) with this call's, against the
        // limit plus what operators approved.
        if let (None, Some(soft), false) = (&refusal, ask.soft, ask.approved) {
            let used = i128::from(m.total) - m.left;
            if used + units > i128::from(soft) + m.approved {
                refusal = Some(StateError::SoftLimit {
                    needed: ask.units,
                    used: clamp(used),
                    limit: soft,
                });
            }
        }
        if let (Some(refusal), false) = (&refusal, ask.shadow) {
            return Err(refusal.clone());
        }
        if ask.approved {
            m.approved += units;
        }
        m.left -= units;
        if let Some((_, left)) = client.as_ref().and_then(|c| m.clients.get_mut(c)) {
            *left -= units;
        }
        m.next += 1;
        let id = m.next.to_string();
        m.holds
            .insert(id.clone(), (ask.units, client.clone(), ask.approved));
        Ok(Reserved {
            hold: Hold {
                id,
                units: ask.units,
                client,
            },
            would_refuse: refusal,
        })
    }

    fn settle(&self, hold: &Hold, charged: u64) {
        let mut m = self.lock();
        if let Some((held, client, approved)) = m.holds.remove(&hold.id) {
            let back = i128::from(held) - i128::from(charged);
            m.left += back;
            // An approved call's allowance is what it was charged, never more than approved.
            if approved && back > 0 {
                m.approved -= back;
            }
            if let Some((_, left)) = client.as_ref().and_then(|c| m.clients.get_mut(c)) {
                *left += back;
            }
        }
    }

    fn raise(&self, raise: Raise) -> Result<Raised, StateError> {
        let mut m = self.lock();
        let before = m.total;
        let by = match raise {
            Raise::By(by) => by,
            Raise::To(to) if to < before => {
                return Err(StateError::NotARaise { total: before, to })
            }
            Raise::To(to) => to - before,
        };
        let after = before
            .checked_add(by)
            .filter(|after| *after <= MAX_RAISED)
            .ok_or(StateError::RaiseTooLarge {
                total: before,
                by,
                max: MAX_RAISED,
            })?;
        m.total = after;
        m.left += i128::from(by);
        Ok(Raised { before, after })
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
