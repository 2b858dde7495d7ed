//! Reservations: units held by running `budget gate` jobs, so that two jobs started at the same
//! moment on the same account cannot both spend the same headroom.
//!
//! A gate asks the ledger to admit its plan: under one lock the ledger drops the entries of
//! processes that are gone, sums the live reservations of the account, lets the caller decide
//! with that sum and, when the caller admits, records the new reservation. `plan`, `check` and
//! other gates subtract the same sum from `usable`.
//!
//! Accounts are named by [`crate::account::account_id`], a hash of the API key: the key itself is never stored,
//! printed or put in an error.
//!
//! The [`Ledger`] trait is synchronous on purpose: the critical section is a few microseconds of
//! file work, every caller (`plan`, `check`, `gate`) is synchronous, and a Redis backend for jobs
//! on several machines can use the redis crate's blocking connection (an async caller such as a
//! guard can wrap it in `spawn_blocking`). It is used as a trait object (`Box<dyn Ledger>`) so the
//! backend is chosen at run time. This module must not price, plan or print anything.

mod file;
mod redis;

pub use self::redis::RedisLedger;
pub use file::FileLedger;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A unit reservation held by a running gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Unique per reservation, for release.
    pub id: String,
    /// [`crate::account::account_id`] of the key the job spends from.
    pub account: String,
    /// The gate process that holds it; when it is gone, the reservation is dropped.
    pub pid: u32,
    /// The plan's worst-case units.
    pub units: u64,
    /// Names of the workflows the job runs.
    pub workflows: Vec<String>,
    /// The command the gate runs (program name and arguments, for people).
    pub command: String,
    pub started: DateTime<Utc>,
}

/// What a gate asks to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub account: String,
    pub pid: u32,
    pub units: u64,
    pub workflows: Vec<String>,
    pub command: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no place for the reservation ledger: set XDG_STATE_HOME or HOME")]
    NoStateDir,
    #[error("cannot use the reservation ledger {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("the reservation ledger {path} is damaged ({reason}); delete it when no `budget gate` is running")]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the reservation ledger {path} stayed locked for {seconds} s; is a `budget` process stuck?"
    )]
    Locked { path: PathBuf, seconds: u64 },
    #[error("reserved units of account {account} overflow the largest count")]
    Overflow { account: String },
    #[error("the shared reservation ledger (Redis at {at}) is unavailable: {reason}; check --redis / BUDGET_REDIS_URL and that Redis runs")]
    Redis { at: String, reason: String },
}

/// A place where running gates record what they hold.
pub trait Ledger {
    /// Atomically: drops reservations of processes that are gone, sums the live reservations of
    /// `claim.account` and calls `admit` with that sum; when `admit` returns true, records the
    /// claim and returns it. `admit` may be called more than once (an optimistic backend retries
    /// after a conflict), so it must only compute.
    fn reserve(
        &self,
        claim: &Claim,
        admit: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<Reservation>, LedgerError>;

    /// Removes a reservation; removing one that is already gone is not an error.
    fn release(&self, reservation: &Reservation) -> Result<(), LedgerError>;

    /// The units held by live reservations of an account.
    fn reserved(&self, account: &str) -> Result<u64, LedgerError>;

    /// Every live reservation, all accounts, oldest first.
    fn list(&self) -> Result<Vec<Reservation>, LedgerError>;

    /// Where the ledger lives, for people.
    fn location(&self) -> String;
}

/// Told (from a background thread) what went wrong keeping a held reservation alive; the caller
/// decides how to show it (this module prints nothing).
pub type Warn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// A new reservation's id: the holder's pid and a random salt, unique across machines.
fn reservation_id(pid: u32) -> String {
    let salt: u64 = rand::random();
    format!("{pid}-{salt:016x}")
}

/// The ledger to use: the Redis ledger at `redis_url` (`--redis` / `BUDGET_REDIS_URL`, shared by
/// gates on several machines) when given, else the file under the state directory.
pub fn open(redis_url: Option<&str>) -> Result<Box<dyn Ledger>, LedgerError> {
    open_with_warnings(redis_url, std::sync::Arc::new(|_: &str| {}))
}

/// As [`open`], for a process that holds reservations: `warn` hears of lease renewals that fail
/// or find the reservation gone (Redis only; a file reservation lives as long as its process).
pub fn open_with_warnings(
    redis_url: Option<&str>,
    warn: Warn,
) -> Result<Box<dyn Ledger>, LedgerError> {
    match redis_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Ok(Box::new(RedisLedger::with_lease(
            url,
            self::redis::LEASE,
            warn,
        )?)),
        None => Ok(Box::new(FileLedger::new(state_dir()?))),
    }
}

pub(crate) use self::redis::redis_failure;

/// `$XDG_STATE_HOME/budget`, else `~/.local/state/budget` (XDG base directory spec: a relative
/// XDG_STATE_HOME is ignored).
pub fn state_dir() -> Result<PathBuf, LedgerError> {
    let from = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(state) = from("XDG_STATE_HOME") {
        return Ok(state.join("budget"));
    }
    from("HOME")
        .map(|home| home.join(".local").join("state").join("budget"))
        .ok_or(LedgerError::NoStateDir)
}

/// Whether a process still runs: `kill(pid, 0)` succeeds, or fails only for lack of permission.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A private redis-server for the Redis backends' unit tests (shared with the integration tests).
#[cfg(test)]
#[path = "../../tests/support/redis_server.rs"]
pub(crate) mod redis_server;

#[cfg(test)]
mod tests;
