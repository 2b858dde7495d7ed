//! Reservations: units held by running `budget gate` jobs and `budget guard` budgets, so that
//! two holders started at the same moment on the same account cannot both spend the same
//! headroom.
//!
//! A gate asks the ledger to admit its plan: under one lock the ledger drops the entries of
//! processes that are gone, sums the live reservations of the account, lets the caller decide
//! with that sum and, when the caller admits, records the new reservation. `plan`, `check`,
//! `forecast`, other gates and guards starting on the live balance subtract the same sum.
//!
//! **Gates** hold their plan's worst case while their command runs. A reservation lives while
//! its holder *or* its child runs ([`Reservation::child`], recorded once the command started):
//! the child is killed with the gate (`crate::gate`, `PR_SET_PDEATHSIG`), and should it survive
//! anyway its units stay reserved. Pids are checked with their start time ([`process`]), so a
//! reused pid never keeps a dead holder's units, nor drops a live one's.
//!
//! **Guards** hold the part of their budget they have not spent: the budget minus what their
//! calls were charged (calls in flight still count as unspent). The live balance drops as the
//! guard's calls are billed, so holding the whole budget would count every spent unit twice;
//! holding what is unspent keeps `balance − holds` right. The guard writes its hold again
//! every few seconds (`crate::guard::hold`); the unspent part only shrinks, so a hold read
//! between two updates is too large, never too small (it fails closed). A guard with
//! `--budget N` holds N out of the same account too: it spends from the same units whatever
//! its budget came from. Guards sharing one budget through Redis hold it once
//! ([`Reservation::shares`]). A guard that stops releases its hold; one that is killed leaves
//! it to the liveness checks below.
//!
//! Liveness: the file ledger (this machine) checks pid and start time at every read. Redis
//! entries are leases renewed by their holder (`redis::LEASE`, 30 s): a holder on another
//! machine cannot be checked by pid, so a `kill -9`ed gate's reservation lapses within 30 s,
//! by which time its command is long dead (killed with the gate). Readers on the holder's own
//! machine drop it at once by the pid check.
//!
//! Files: the state directory is created 0700 and every file in it 0600 (reservations name
//! commands and accounts); an existing directory that others may write (or read) is reported
//! through the caller's [`Warn`] with the `chmod 700` that fixes it.
//!
//! Accounts are named by [`crate::account::account_id`], a hash of the API key: the key itself
//! is never stored, printed or put in an error.
//!
//! The [`Ledger`] trait is synchronous on purpose: the critical section is a few microseconds of
//! file work, every caller (`plan`, `check`, `gate`) is synchronous, and a Redis backend for jobs
//! on several machines can use the redis crate's blocking connection (an async caller such as a
//! guard can wrap it in `spawn_blocking`). It is used as a trait object (`Box<dyn Ledger>`) so the
//! backend is chosen at run time. This module must not price, plan or print anything.

mod file;
pub mod process;
mod redis;

pub use self::redis::RedisLedger;
pub use file::FileLedger;
pub use process::ProcessId;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who holds a reservation: a gate running a job, or a guard holding a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HolderKind {
    /// `budget gate`: the plan's worst case, for as long as its command runs.
    #[default]
    Gate,
    /// `budget guard`: the part of its budget it has not spent yet, for as long as it runs.
    Guard,
}

impl HolderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderKind::Gate => "gate",
            HolderKind::Guard => "guard",
        }
    }
}

/// A unit reservation held by a running gate or guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Unique per reservation, for release.
    pub id: String,
    /// [`crate::account::account_id`] of the key the job spends from.
    pub account: String,
    /// A gate or a guard (entries written before guards registered are gates).
    #[serde(default)]
    pub kind: HolderKind,
    /// The process that holds it; when it is gone (and its child too), the reservation is dropped.
    pub pid: u32,
    /// The holder's start time ([`ProcessId::start`]), so that a reused pid is not taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// A gate's command once started: the reservation stays while it runs, even should the
    /// gate itself be gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<ProcessId>,
    /// Where the pids mean something ([`process::host`]): the kernel boot and pid namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Holders of one shared budget (guards sharing it through Redis) all hold the same units:
    /// reservations with the same `shares` count once, at the largest of their units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<String>,
    /// A gate: the plan's worst-case units. A guard: the units of its budget not spent yet.
    pub units: u64,
    /// Names of the workflows the job runs (none for a guard).
    pub workflows: Vec<String>,
    /// The command the gate runs (program name and arguments, for people); for a guard, where
    /// it listens.
    pub command: String,
    pub started: DateTime<Utc>,
}

impl Reservation {
    /// The holding process.
    pub fn holder(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start: self.pid_start,
        }
    }

    /// Whether its holder, or the holder's child, still runs, as seen from `here` (this
    /// machine's [`process::host`]). A reservation written under another kernel boot or pid
    /// namespace cannot be checked here: `None`.
    fn live_from(&self, here: Option<&str>) -> Option<bool> {
        match (self.host.as_deref(), here) {
            (Some(theirs), Some(ours)) if theirs != ours => None,
            _ => Some(self.holder().alive() || self.child.is_some_and(|c| c.alive())),
        }
    }
}

/// What a gate or a guard asks to reserve (the units are decided under the ledger's lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub account: String,
    pub kind: HolderKind,
    /// The holding process (this one).
    pub holder: ProcessId,
    /// See [`Reservation::shares`].
    pub shares: Option<String>,
    pub workflows: Vec<String>,
    pub command: String,
}

impl Claim {
    /// A claim held by this process.
    pub fn new(account: &str, kind: HolderKind, workflows: Vec<String>, command: String) -> Claim {
        Claim {
            account: account.to_string(),
            kind,
            holder: ProcessId::current(),
            shares: None,
            workflows,
            command,
        }
    }

    /// The reservation recording this claim for `units`.
    fn reservation(&self, units: u64) -> Reservation {
        Reservation {
            id: reservation_id(self.holder.pid),
            account: self.account.clone(),
            kind: self.kind,
            pid: self.holder.pid,
            pid_start: self.holder.start,
            child: None,
            host: process::host(),
            shares: self.shares.clone(),
            units,
            workflows: self.workflows.clone(),
            command: self.command.clone(),
            started: chrono::Utc::now(),
        }
    }
}

/// The units held by `list`: the sum of their units, except that reservations of one shared
/// budget ([`Reservation::shares`]) count once, at the largest. `None` on overflow.
pub fn held<'a>(list: impl IntoIterator<Item = &'a Reservation>) -> Option<u64> {
    let mut shared: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut sum = 0u64;
    for r in list {
        match r.shares.as_deref() {
            Some(key) => {
                let units = shared.entry(key).or_default();
                *units = (*units).max(r.units);
            }
            None => sum = sum.checked_add(r.units)?,
        }
    }
    shared
        .values()
        .try_fold(sum, |sum, units| sum.checked_add(*units))
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

/// A place where running gates and guards record what they hold.
pub trait Ledger: Send + Sync {
    /// Atomically: drops reservations of processes that are gone, sums the live reservations of
    /// `claim.account` ([`held`]) and calls `admit` with that sum; when `admit` returns the units
    /// to hold, records the claim for them and returns it. `admit` may be called more than once
    /// (an optimistic backend retries after a conflict), so it must only compute.
    fn reserve(
        &self,
        claim: &Claim,
        admit: &mut dyn FnMut(u64) -> Option<u64>,
    ) -> Result<Option<Reservation>, LedgerError>;

    /// Writes a held reservation again with its new `units` and `child` (a gate that started
    /// its command, a guard whose unspent budget shrank), writing it back should it be gone. No
    /// admission is made: only a holder that shrinks its hold, or that holds a budget already
    /// counted under its `shares`, may call it.
    fn update(&self, reservation: &Reservation) -> Result<(), LedgerError>;

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

/// As [`open`], telling `warn` what the caller should pass on: lease renewals that fail or find
/// the reservation gone (Redis; a file reservation lives as long as its process), and a state
/// directory that other users may write to (file).
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
        None => Ok(Box::new(FileLedger::new(state_dir()?).with_warnings(warn))),
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

#[cfg(test)]
mod tests;
