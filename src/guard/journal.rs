//! The guard's call journal (`--journal FILE`): the record of what the guard spent, read back on
//! start ([`super::history`]) so that a restart never grants units already spent, and the
//! running totals shown when the guard stops.
//!
//! One JSON object per line, appended with one `write` per line (`O_APPEND`: lines of
//! concurrent calls never interleave). A line is a **call** when it has an `endpoint`; other
//! lines have a `kind` and readers that want calls skip them:
//! - call: `time`, `method`, `endpoint`, `targets`, `status`, `units_reserved`, `units_charged`,
//!   `overrun` (units billed beyond the call's price, charged all the same), `latency_ms`
//!   (arrival to reply, waits included), `attempts` (upstream attempts, 0 when refused locally), `outcome`, `epoch` (the budget it was spent from) and `hold` (the id of
//!   its `hold` line, when it had one); then, when known, what `budget reconcile` reads to set
//!   calls against a plan ([`super::tags`]): `workflow` and `step` (the client's tags), `source`,
//!   `rows` (rows in a 2xx reply of a row endpoint), `target_hash` and `continues` (paged
//!   endpoints); and `evidence` (where the price of a priced call comes from, `assumed`
//!   included) and `counted` (for a call billed by its reply's records, whether they were counted
//!   or the price charged). Written as the call ends. Only calls that reached pricing get one;
//!   refusals before pricing are counted instead (below);
//! - `{"kind":"budget", "epoch", "account", "budget", "source", "state", "spent"}`: written at
//!   each start: which budget this guard spends from (`spent`: already spent in it; `carried`,
//!   when present: units spent before epochs existed that this epoch takes over);
//! - `{"kind":"hold", "epoch", "hold", "units"}`: written before a call that holds units is
//!   forwarded, so that a guard killed mid-call counts it as spent when it restarts;
//! - `{"kind":"raise", "epoch", "by", "budget_before", "budget_units", "operator"}`: a raise of
//!   the running budget (`budget guard-admin raise`), replayed on start;
//! - `{"kind":"approval", "epoch", "event", "id", "units", "endpoint", "method", "reason"}` (and
//!   `client`, `operator`): an approval requested, approved, denied or expired
//!   (`super::admin`); a call that passed on one carries `"approval": ID` on its line;
//! - `{"kind":"refused_summary", "seconds", "counts": {"unauthorized": N, …}}`: refusals before
//!   pricing (no token, not an API path, unknown endpoint, too large …), at most one line per
//!   [`SUMMARY_EVERY`], so that a flood of bad calls cannot fill the disk.
//!
//! Never the key nor the query (which may carry `apikey`). The totals hold the catalogue's
//! endpoints only, whatever paths clients send: a refused call counts under its reason, never
//! under a path of its own (docs/security.md). This module does not render tables.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;

use super::history::History;

/// How often refusals before pricing are written as one summary line (when there were any).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// What became of a call that was priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx from the API: charged.
    Charged,
    /// A non-2xx answer from the API: its reservation was released (the API bills only 2xx).
    Released,
    /// Refused by the guard: it does not fit the budget (402).
    OverBudget,
    /// Refused by the guard: no slot in the rate window in time, or the queue was full (503).
    RateQueue,
    /// Refused by the guard at pricing: a path of the catalogue it would not forward as sent
    /// (a method its entries do not take, 405; an unknown price, 501; a call it cannot price
    /// exactly, 422).
    Rejected,
    /// The API could not be reached (502), the shared state failed, or the hold could not be
    /// written to the journal (503).
    Failed,
}

/// Why a call was refused before it was priced. Counted, not journaled one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Missing or wrong client token (401).
    Unauthorized,
    /// Not under `/v1/` (404).
    NotApi,
    /// Not in the pricing catalogue (400).
    UnknownEndpoint,
    /// A request the guard cannot read or price (400), or whose head is malformed or too large.
    Malformed,
    /// A body above the limit (413).
    TooLarge,
    /// Headers or body not received in time (408, or the connection closed).
    Timeout,
    /// Over the connection cap with no idle connection to close (503).
    TooManyConnections,
    /// Too many request bytes buffered across clients (503).
    Busy,
    /// Arrived while the guard was stopping (503).
    Stopping,
}

impl Refusal {
    /// The name used in the journal and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::NotApi => "not_api",
            Refusal::UnknownEndpoint => "unknown_endpoint",
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::Timeout => "timeout",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::Busy => "busy",
            Refusal::Stopping => "stopping",
        }
    }
}

/// One call line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub time: String,
    pub method: String,
    pub endpoint: String,
    pub targets: u64,
    pub status: u16,
    pub units_reserved: u64,
    pub units_charged: u64,
    /// Units billed beyond what the call was priced at (charged all the same); 0 normally.
    pub overrun: u64,
    pub latency_ms: f64,
    pub attempts: u32,
    pub outcome: Outcome,
    /// The client's `X-Budget-Workflow` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The client's `X-Budget-Step` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The regional database, for endpoints that take one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Rows in the 2xx reply of a row endpoint, when the reply shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Where the price of the call's catalogue entry comes from (`table`, `docs`, `measured`,
    /// `assumed`), for a call the guard priced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::pricing::Evidence>,
    /// A call billed by the records of its reply: `true` when they were counted, `false` when the
    /// reply did not show them (e.g. `output=xml`) and the call was charged its price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<bool>,
    /// Paged endpoints: a digest of the one target the call names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_hash: Option<String>,
    /// Paged endpoints: the call asks for a later page of a listing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub continues: bool,
    /// The id of the call's `hold` line, when it wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// The client the call was charged to (`--clients`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Shadow mode (`--shadow`): enforcement would have refused this call for the budget (the
    /// guard's or the client's); it was forwarded and charged all the same.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub would_refuse: bool,
    /// The approval this call asked for (with `approval_needed`) or passed on
    /// (`budget guard-admin approve ID`; its charge is the allowance above the soft limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Refused (402) until an operator approves it (`--approval-above`, `--soft-budget`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approval_needed: bool,
}

/// A call line as written: the entry and the budget it was spent from.
#[derive(Serialize)]
struct CallLine<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    epoch: &'a str,
}

/// Which budget a guard spends from, written once at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetLine {
    pub time: String,
    pub kind: &'static str,
    pub epoch: String,
    /// `crate::account::account_id` of the key (never the key).
    pub account: String,
    /// The budget's figure: the `--budget`, or what the live balance allowed.
    pub budget: u64,
    /// `flag` or `live`.
    pub source: &'static str,
    /// `memory` or `redis`.
    pub state: &'static str,
    /// Units already spent in this epoch when this guard started.
    pub spent: u64,
    /// Units spent before epochs existed (call lines without `epoch`) that this new epoch
    /// continues; written on its first line only, and only then.
    #[serde(skip_serializing_if = "is_zero")]
    pub carried: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct HoldLine<'a> {
    time: String,
    kind: &'static str,
    epoch: &'a str,
    hold: &'a str,
    units: u64,
    /// The client whose own budget holds the units too.
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    /// The call passes on an operator's approval.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    approved: bool,
}

/// A raise of a running guard's budget (`budget guard-admin raise`), replayed on start so that
/// a raised budget stays raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaiseLine {
    pub time: String,
    pub kind: &'static str,
    pub epoch: String,
    /// Units added.
    pub by: u64,
    /// The budget's figure before and after.
    pub budget_before: u64,
    pub budget_units: u64,
    /// Who raised it (`--as NAME`, or their login name).
    pub operator: String,
}

/// A step of an approval: `requested`, `approved`, `denied` or `expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalLine {
    pub time: String,
    pub kind: &'static str,
    pub epoch: String,
    pub event: &'static str,
    pub id: String,
    pub units: u64,
    pub endpoint: String,
    pub method: String,
    /// `above` (`--approval-above`) or `soft_budget`.
    pub reason: super::admin::Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// An alert threshold claimed for a budget (`--alert-at`): replayed on start so that a
/// restart does not send it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    pub time: String,
    pub kind: &'static str,
    pub epoch: String,
    pub threshold_percent: u8,
    pub budget_units: u64,
    pub spent_units: i64,
}

#[derive(Serialize)]
struct SummaryLine {
    time: String,
    kind: &'static str,
    seconds: u64,
    counts: BTreeMap<Refusal, u64>,
}

/// Totals of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EndpointTotals {
    pub calls: u64,
    /// Calls answered 2xx by the API.
    pub charged_calls: u64,
    /// Calls refused for the budget (402).
    pub over_budget: u64,
    /// Other calls that were not charged.
    pub other: u64,
    pub units_charged: u64,
    /// Units charged beyond the calls' prices.
    pub overrun: u64,
    /// Shadow mode: calls enforcement would have refused for the budget (forwarded all the
    /// same), and the units they were priced at.
    pub would_refuse: u64,
    pub would_refuse_units: u64,
}

impl EndpointTotals {
    /// Adds one call line.
    fn add(&mut self, entry: &Entry) {
        self.calls += 1;
        match entry.outcome {
            Outcome::Charged => self.charged_calls += 1,
            Outcome::OverBudget => self.over_budget += 1,
            _ => self.other += 1,
        }
        self.units_charged = self.units_charged.saturating_add(entry.units_charged);
        self.overrun = self.overrun.saturating_add(entry.overrun);
        if entry.would_refuse {
            self.would_refuse += 1;
            self.would_refuse_units = self.would_refuse_units.saturating_add(entry.units_reserved);
        }
    }

    /// Adds another's figures.
    pub fn absorb(&mut self, other: &EndpointTotals) {
        self.calls += other.calls;
        self.charged_calls += other.charged_calls;
        self.over_budget += other.over_budget;
        self.other += other.other;
        self.units_charged = self.units_charged.saturating_add(other.units_charged);
        self.overrun = self.overrun.saturating_add(other.overrun);
        self.would_refuse += other.would_refuse;
        self.would_refuse_units = self
            .would_refuse_units
            .saturating_add(other.would_refuse_units);
    }
}

/// What a guard did while it ran: priced calls by endpoint, refusals before pricing by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub endpoints: BTreeMap<String, EndpointTotals>,
    pub refused: BTreeMap<Refusal, u64>,
    /// Priced calls by client (`--clients`).
    pub clients: BTreeMap<String, EndpointTotals>,
    /// Every call, refusals before pricing included, by the metrics' `outcome` label
    /// ([`super::metrics::OUTCOMES`]).
    pub outcomes: BTreeMap<&'static str, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the guard journal {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("cannot read the guard journal {path}: {reason}; it is the record of what this guard spent, so the guard does not start without it (fix or move the file; --new-budget starts a fresh budget in a new journal)")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write to the guard journal {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("the guard journal {path} is in use by another guard: two guards spending from one journal's budget would each spend all of it; give each guard its own --journal, or share one budget through --redis")]
    InUse { path: PathBuf },
}

/// How a guard shares its journal with other guards on the same machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// The journal's budget is this guard's alone (state in this process): no other guard may
    /// use the file while it runs.
    Alone,
    /// The budget lives in Redis: guards of that budget may write to one file.
    Shared,
}

/// The journal file (if any), this run's budget epoch, and the totals.
pub struct Journal {
    file: Option<(PathBuf, Mutex<File>)>,
    epoch: OnceLock<String>,
    /// Unique per guard process: hold ids are `SESSION-N`.
    session: String,
    next_hold: AtomicU64,
    totals: Mutex<Totals>,
    /// Refusals since the last summary line.
    pending: Mutex<BTreeMap<Refusal, u64>>,
    write_failed: AtomicBool,
}

/// A short random id: epochs and sessions.
pub fn new_id() -> String {
    format!("{:012x}", rand::random::<u64>() >> 16)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    /// A journal that writes nothing (no `--journal`): totals only.
    pub fn in_memory() -> Journal {
        Journal {
            file: None,
            epoch: OnceLock::new(),
            session: new_id(),
            next_hold: AtomicU64::new(0),
            totals: Mutex::new(Totals::default()),
            pending: Mutex::new(BTreeMap::new()),
            write_failed: AtomicBool::new(false),
        }
    }

    /// Opens `path` for appending (created 0600 if missing), locked for `sharing` (an advisory
    /// lock the system drops when the process ends, however it ends), and replays what it holds
    /// for `account` ([`History::read`]). A torn last line is ended with a newline, so that the
    /// next line starts on a line of its own.
    pub fn open(
        path: &Path,
        account: &str,
        now: chrono::DateTime<chrono::Utc>,
        settle_lag: Duration,
        sharing: Sharing,
    ) -> Result<(Journal, History), JournalError> {
        // 0600: the journal records the account's calls (see `crate::ledger` on files).
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| JournalError::Open {
                path: path.to_path_buf(),
                reason: crate::io_reason(&e),
            })?;
        // A device or a pipe would never end its replay (`/dev/zero`) or take its lines.
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(JournalError::Open {
                path: path.to_path_buf(),
                reason: "it is not a regular file".into(),
            });
        }
        let locked = match sharing {
            Sharing::Alone => file.try_lock(),
            Sharing::Shared => file.try_lock_shared(),
        };
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::InUse {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(JournalError::Open {
                    path: path.to_path_buf(),
                    reason: crate::io_reason(&e),
                })
            }
        }
        let read_error = |e: std::io::Error| JournalError::Read {
            path: path.to_path_buf(),
            reason: crate::io_reason(&e),
        };
        let history = History::read(
            std::io::BufReader::with_capacity(1 << 16, &mut file),
            account,
            now,
            settle_lag,
        )
        .map_err(read_error)?;
        let len = file.seek(SeekFrom::End(0)).map_err(read_error)?;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(read_error)?;
            file.read_exact(&mut last).map_err(read_error)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(|e| JournalError::Write {
                    path: path.to_path_buf(),
                    reason: crate::io_reason(&e),
                })?;
            }
        }
        let mut journal = Journal::in_memory();
        journal.file = Some((path.to_path_buf(), Mutex::new(file)));
        Ok((journal, history))
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Writes one line (one `write`); `Err` when there is a file and the write failed.
    fn write_line(&self, value: &impl Serialize) -> Result<(), JournalError> {
        let Some((path, file)) = &self.file else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line).map_err(|e| {
            self.write_failed.store(true, Ordering::Relaxed);
            JournalError::Write {
                path: path.clone(),
                reason: crate::io_reason(&e),
            }
        })
    }

    /// Starts spending from `line.epoch`: writes the budget line. Later lines carry the epoch.
    pub fn begin(&self, line: &BudgetLine) -> Result<(), JournalError> {
        self.write_line(line)?;
        let _ = self.epoch.set(line.epoch.clone());
        Ok(())
    }

    /// The epoch set by [`Journal::begin`] (empty before).
    pub fn epoch(&self) -> &str {
        self.epoch.get().map_or("", String::as_str)
    }

    /// Records that a call holding `units` is about to be forwarded. Returns the hold's id (to
    /// put on the call's line), `None` when there is nothing to record (no file, no units).
    /// An error means the hold is not on record: the call must not be forwarded.
    pub fn hold(&self, units: u64) -> Result<Option<String>, JournalError> {
        self.hold_for(units, None)
    }

    /// As [`Journal::hold`], naming the client whose own budget holds the units too.
    pub fn hold_for(
        &self,
        units: u64,
        client: Option<&str>,
    ) -> Result<Option<String>, JournalError> {
        self.hold_approved(units, client, false)
    }

    /// As [`Journal::hold_for`], saying whether the call passes on an operator's approval.
    pub fn hold_approved(
        &self,
        units: u64,
        client: Option<&str>,
        approved: bool,
    ) -> Result<Option<String>, JournalError> {
        if self.file.is_none() || units == 0 {
            return Ok(None);
        }
        let id = format!(
            "{}-{}",
            self.session,
            self.next_hold.fetch_add(1, Ordering::Relaxed) + 1
        );
        self.write_line(&HoldLine {
            time: now(),
            kind: "hold",
            epoch: self.epoch(),
            hold: &id,
            units,
            client,
            approved,
        })?;
        Ok(Some(id))
    }

    /// Records a raise of the budget. An error means it is not on record (the state was
    /// raised all the same: the caller says so).
    pub fn raise(&self, line: &RaiseLine) -> Result<(), JournalError> {
        self.write_line(line)
    }

    /// Records a step of an approval.
    pub fn approval(&self, line: &ApprovalLine) -> Result<(), JournalError> {
        self.write_line(line)
    }

    /// Records that an alert threshold was claimed for this budget.
    pub fn alert(&self, line: &AlertLine) -> Result<(), JournalError> {
        self.write_line(line)
    }

    /// Records a priced call. A failed write is remembered (see [`Journal::write_failed`]) rather
    /// than failing the call, whose units are already spent (its hold line, if any, makes a
    /// restart count it in full).
    pub fn record(&self, entry: &Entry) {
        {
            let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
            totals
                .endpoints
                .entry(entry.endpoint.clone())
                .or_default()
                .add(entry);
            if let Some(client) = &entry.client {
                totals.clients.entry(client.clone()).or_default().add(entry);
            }
            *totals
                .outcomes
                .entry(super::metrics::outcome_of(entry))
                .or_default() += 1;
        }
        let _ = self.write_line(&CallLine {
            entry,
            epoch: self.epoch(),
        });
    }

    /// Counts a refusal before pricing; [`Journal::summarise`] writes the counts.
    pub fn refuse(&self, why: Refusal) {
        *self
            .totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .outcomes
            .entry(super::metrics::refusal_outcome(why))
            .or_default() += 1;
        for counts in [
            &mut self
                .totals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .refused,
            &mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()),
        ] {
            *counts.entry(why).or_default() += 1;
        }
    }

    /// Writes the refusals counted since the last call as one line covering `seconds`, when
    /// there were any.
    pub fn summarise(&self, seconds: u64) {
        let counts = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if counts.is_empty() {
            return;
        }
        let _ = self.write_line(&SummaryLine {
            time: now(),
            kind: "refused_summary",
            seconds,
            counts,
        });
    }

    /// Whether a journal line could not be written.
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(Ordering::Relaxed)
    }

    /// Totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(endpoint: &str, status: u16, charged: u64, outcome: Outcome) -> Entry {
        Entry {
            time: "2026-11-26T07:00:00.000Z".into(),
            method: "GET".into(),
            endpoint: endpoint.into(),
            targets: 2,
            status,
            units_reserved: 200,
            units_charged: charged,
            overrun: 0,
            latency_ms: 1.5,
            attempts: 1,
            outcome,
            workflow: None,
            step: None,
            source: None,
            rows: None,
            evidence: None,
            counted: None,
            target_hash: None,
            continues: false,
            hold: None,
            client: None,
            would_refuse: false,
            approval: None,
            approval_needed: false,
        }
    }

    fn open(path: &Path) -> (Journal, History) {
        Journal::open(
            path,
            "acct",
            chrono::Utc::now(),
            Duration::from_secs(120),
            Sharing::Alone,
        )
        .expect("open")
    }

    fn budget_line(epoch: &str, budget: u64) -> BudgetLine {
        BudgetLine {
            time: "2026-11-26T07:00:00.000Z".into(),
            kind: "budget",
            epoch: epoch.into(),
            account: "acct".into(),
            budget,
            source: "flag",
            state: "memory",
            spent: 0,
            carried: 0,
        }
    }

    #[test]
    fn lines_and_totals() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let (journal, history) = open(&path);
        assert_eq!(history, History::default());
        journal.begin(&budget_line("e1", 1000)).expect("begin");
        let hold = journal.hold(200).expect("hold").expect("an id");
        assert!(hold.ends_with("-1"), "{hold}");
        assert_eq!(journal.hold(0).expect("no units"), None);
        journal.record(&Entry {
            hold: Some(hold.clone()),
            ..entry("backlinks/summary", 200, 200, Outcome::Charged)
        });
        journal.record(&entry("backlinks/summary", 402, 0, Outcome::OverBudget));
        journal.record(&entry("backlinks/all", 500, 0, Outcome::Released));
        journal.record(&Entry {
            workflow: Some("Audit".into()),
            step: Some("2".into()),
            source: Some("us".into()),
            rows: Some(40),
            target_hash: Some("d6c1754dbbf0bc91".into()),
            continues: true,
            ..entry("domain/keywords", 200, 100, Outcome::Charged)
        });
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        // Created 0600: only its owner reads the account's calls.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("metadata").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            lines[0],
            r#"{"time":"2026-11-26T07:00:00.000Z","kind":"budget","epoch":"e1","account":"acct","budget":1000,"source":"flag","state":"memory","spent":0}"#
        );
        assert!(
            lines[1].contains(&format!(
                r#""kind":"hold","epoch":"e1","hold":"{hold}","units":200}}"#
            )),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            format!(
                r#"{{"time":"2026-11-26T07:00:00.000Z","method":"GET","endpoint":"backlinks/summary","targets":2,"status":200,"units_reserved":200,"units_charged":200,"overrun":0,"latency_ms":1.5,"attempts":1,"outcome":"charged","hold":"{hold}","epoch":"e1"}}"#
            )
        );
        // The fields for `budget reconcile` follow, each only when known.
        assert!(
            lines[5].ends_with(r#""outcome":"charged","workflow":"Audit","step":"2","source":"us","rows":40,"target_hash":"d6c1754dbbf0bc91","continues":true,"epoch":"e1"}"#),
            "{}",
            lines[5]
        );
        let totals = journal.totals();
        assert_eq!(
            totals.endpoints["backlinks/summary"],
            EndpointTotals {
                calls: 2,
                charged_calls: 1,
                over_budget: 1,
                other: 0,
                units_charged: 200,
                overrun: 0,
                would_refuse: 0,
                would_refuse_units: 0,
            }
        );
        assert_eq!(totals.endpoints["backlinks/all"].other, 1);
        // Read back: the epoch, 200 + 100 charged.
        drop(journal);
        let (_, history) = open(&path);
        let last = history.last.expect("a budget");
        assert_eq!((last.epoch.as_str(), last.spent()), ("e1", 300));
    }

    /// Invariant: refusals before pricing write at most one line per summary, however many.
    #[test]
    fn refusals_are_summarised() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let (journal, _) = open(&path);
        for _ in 0..1000 {
            journal.refuse(Refusal::Unauthorized);
        }
        journal.refuse(Refusal::NotApi);
        journal.summarise(10);
        // nothing new: no line.
        journal.summarise(10);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(r#""kind":"refused_summary","seconds":10,"counts":{"unauthorized":1000,"not_api":1}}"#),
            "{text}"
        );
        let totals = journal.totals();
        assert_eq!(totals.refused[&Refusal::Unauthorized], 1000);
        assert!(totals.endpoints.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let begun = serde_json::to_string(&budget_line("e1", 500)).expect("json");
        std::fs::write(&path, format!("{begun}\n{{\"time\":\"2026-11-26T07:0")).expect("write");
        let (journal, history) = open(&path);
        assert!(history.torn);
        journal.begin(&budget_line("e1", 500)).expect("begin");
        journal.record(&entry("backlinks/all", 200, 40, Outcome::Charged));
        drop(journal);
        let text = std::fs::read_to_string(&path).expect("read");
        // the new line starts on a line of its own, so it is read back: 40 spent.
        assert!(text
            .lines()
            .last()
            .expect("a line")
            .starts_with("{\"time\""));
        let (_, history) = open(&path);
        assert_eq!(history.last.expect("a budget").spent(), 40);
        assert_eq!(history.unreadable, 1);
    }

    /// Invariant: one budget per journal in this process's state: a second guard cannot spend
    /// it again beside the first; guards of one Redis budget may share a file.
    #[test]
    fn a_journal_is_one_guards_alone_unless_shared_through_redis() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let open_as = |sharing| {
            Journal::open(
                &path,
                "acct",
                chrono::Utc::now(),
                Duration::from_secs(1),
                sharing,
            )
        };
        let first = open_as(Sharing::Alone).expect("first");
        let e = open_as(Sharing::Alone).err().expect("in use");
        assert!(
            e.to_string().contains("is in use by another guard")
                && e.to_string().contains("give each guard its own --journal"),
            "{e}"
        );
        assert!(open_as(Sharing::Shared).is_err());
        drop(first);
        let _a = open_as(Sharing::Shared).expect("shared");
        let _b = open_as(Sharing::Shared).expect("shared too");
        assert!(open_as(Sharing::Alone).is_err());
    }

    #[test]
    fn unopenable_journal_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let e = Journal::open(
            &dir.path().join("no/such/dir/calls.jsonl"),
            "acct",
            chrono::Utc::now(),
            Duration::from_secs(1),
            Sharing::Alone,
        )
        .err()
        .expect("error");
        assert!(
            e.to_string().starts_with("cannot open the guard journal"),
            "{e}"
        );
        assert!(e.to_string().ends_with("no such file"), "{e}");
        let e = Journal::open(
            Path::new("/dev/zero"),
            "acct",
            chrono::Utc::now(),
            Duration::from_secs(1),
            Sharing::Alone,
        )
        .err()
        .expect("error");
        assert!(e.to_string().ends_with("it is not a regular file"), "{e}");
    }
}
