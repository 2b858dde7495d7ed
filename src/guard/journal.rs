//! The guard's call journal (`--journal FILE`): one JSON line per call, appended as the call ends,
//! and the running totals by endpoint shown when the guard stops.
//!
//! A line holds what was asked and what it cost, never the key nor the query (which may carry
//! `apikey`): `time`, `method`, `endpoint`, `targets`, `status`, `units_reserved`,
//! `units_charged`, `overrun` (units billed beyond the call's price, charged all the same),
//! `latency_ms` (arrival to reply, waits included), `attempts` (upstream attempts, 0 when refused
//! locally) and `outcome`; then, when known, what `budget reconcile` reads to set calls against a
//! plan ([`super::tags`]): `workflow` and `step` (the client's tags), `source`, `rows` (rows in a
//! 2xx reply of a row endpoint), `target_hash` and `continues` (paged endpoints). This module does
//! not render tables.
//!
//! A refused call may carry any path a client sent, 64 KB of it or a new one each time. So its
//! journal line keeps at most [`MAX_ENDPOINT_CHARS`] characters of the path (cut with `…`), and in
//! the totals it counts under its endpoint only when that endpoint has been priced in this run
//! (it is in the catalogue); otherwise under one [`UNKNOWN_ENDPOINT`] row. The totals hold at
//! most the catalogue's endpoints plus that row, whatever clients send (README "Security").

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// What became of a call.
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
    /// Refused by the guard: not an API path, an unknown endpoint, or a wrong method.
    Rejected,
    /// Refused by the guard: missing or wrong client token (401).
    Unauthorized,
    /// The API could not be reached (502), or the shared state failed (503).
    Failed,
}

/// One journal line.
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
    /// Paged endpoints: a digest of the one target the call names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_hash: Option<String>,
    /// Paged endpoints: the call asks for a later page of a listing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub continues: bool,
}

/// The totals row of refused calls whose path is no endpoint priced in this run.
pub const UNKNOWN_ENDPOINT: &str = "(unknown endpoint)";

/// The most characters of a refused call's path a journal line keeps (catalogue names are
/// under 40).
pub const MAX_ENDPOINT_CHARS: usize = 128;

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
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the guard journal {path}: {reason}")]
    Open { path: PathBuf, reason: String },
}

/// The journal file (if any) and the totals.
pub struct Journal {
    file: Option<(PathBuf, Mutex<File>)>,
    totals: Mutex<Totals>,
    write_failed: std::sync::atomic::AtomicBool,
}

/// Totals by row, and the endpoints priced so far (a refused call's path counts under its own
/// row only when it is one of them).
#[derive(Default)]
struct Totals {
    rows: BTreeMap<String, EndpointTotals>,
    priced: BTreeSet<String>,
}

/// Whether the guard priced the call, so that its endpoint is a catalogue name; refused and
/// unauthorised calls carry the path as the client sent it.
fn priced(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Rejected | Outcome::Unauthorized)
}

/// `endpoint` cut to [`MAX_ENDPOINT_CHARS`] characters, marked with `…` when cut.
fn shortened(endpoint: &str) -> Option<String> {
    let (cut, _) = endpoint.char_indices().nth(MAX_ENDPOINT_CHARS)?;
    Some(format!("{}…", &endpoint[..cut]))
}

impl Journal {
    /// Appends to `path` (created if missing) when given.
    pub fn open(path: Option<&Path>) -> Result<Journal, JournalError> {
        let file = match path {
            None => None,
            Some(path) => {
                // 0600: the journal records the account's calls (see `crate::ledger` on files).
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| JournalError::Open {
                        path: path.to_path_buf(),
                        reason: crate::io_reason(&e),
                    })?;
                Some((path.to_path_buf(), Mutex::new(file)))
            }
        };
        Ok(Journal {
            file,
            totals: Mutex::new(Totals::default()),
            write_failed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Records a call. A failed write is remembered (see [`Journal::write_failed`]) rather than
    /// failing the call, whose units are already spent.
    pub fn record(&self, entry: &Entry) {
        {
            let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
            let row = if priced(entry.outcome) {
                if !totals.priced.contains(&entry.endpoint) {
                    totals.priced.insert(entry.endpoint.clone());
                }
                entry.endpoint.clone()
            } else if totals.priced.contains(&entry.endpoint) {
                entry.endpoint.clone()
            } else {
                UNKNOWN_ENDPOINT.to_string()
            };
            let t = totals.rows.entry(row).or_default();
            t.calls += 1;
            match entry.outcome {
                Outcome::Charged => t.charged_calls += 1,
                Outcome::OverBudget => t.over_budget += 1,
                _ => t.other += 1,
            }
            t.units_charged = t.units_charged.saturating_add(entry.units_charged);
            t.overrun = t.overrun.saturating_add(entry.overrun);
        }
        if let Some((_, file)) = &self.file {
            let short = match shortened(&entry.endpoint) {
                Some(endpoint) if !priced(entry.outcome) => Some(Entry {
                    endpoint,
                    ..entry.clone()
                }),
                _ => None,
            };
            let mut line = serde_json::to_vec(short.as_ref().unwrap_or(entry)).unwrap_or_default();
            line.push(b'\n');
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line: with O_APPEND, lines of concurrent calls never interleave.
            if file.write_all(&line).is_err() {
                self.write_failed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Whether a journal line could not be written.
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Totals by endpoint, in name order ([`UNKNOWN_ENDPOINT`] first).
    pub fn totals(&self) -> BTreeMap<String, EndpointTotals> {
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rows
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
            target_hash: None,
            continues: false,
        }
    }

    #[test]
    fn lines_and_totals() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let journal = Journal::open(Some(&path)).expect("open");
        journal.record(&entry("backlinks/summary", 200, 200, Outcome::Charged));
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
        assert_eq!(lines.len(), 4);
        // Created 0600: only its owner reads the account's calls.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("metadata").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            lines[0],
            r#"{"time":"2026-11-26T07:00:00.000Z","method":"GET","endpoint":"backlinks/summary","targets":2,"status":200,"units_reserved":200,"units_charged":200,"overrun":0,"latency_ms":1.5,"attempts":1,"outcome":"charged"}"#
        );
        // The fields for `budget reconcile` follow, each only when known.
        assert!(
            lines[3].ends_with(r#""outcome":"charged","workflow":"Audit","step":"2","source":"us","rows":40,"target_hash":"d6c1754dbbf0bc91","continues":true}"#),
            "{}",
            lines[3]
        );
        let totals = journal.totals();
        assert_eq!(
            totals["backlinks/summary"],
            EndpointTotals {
                calls: 2,
                charged_calls: 1,
                over_budget: 1,
                other: 0,
                units_charged: 200,
                overrun: 0
            }
        );
        assert_eq!(totals["backlinks/all"].other, 1);
    }

    #[test]
    fn refused_paths_are_bucketed_and_cut() {
        // Invariant: whatever paths clients send, the totals hold the priced endpoints plus one
        // row, and a journal line holds at most 128 characters of a path. The old code made a
        // row of every rejected path (a 65 KB path made a 1.1 MB summary).
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("calls.jsonl");
        let journal = Journal::open(Some(&path)).expect("open");
        let long = "x".repeat(65_000);
        journal.record(&entry(&long, 400, 0, Outcome::Rejected));
        journal.record(&entry("nope/1", 400, 0, Outcome::Rejected));
        journal.record(&entry("nope/2", 401, 0, Outcome::Unauthorized));
        // Before backlinks/summary is priced, a refused call to it is unknown too; after, its own.
        journal.record(&entry("backlinks/summary", 405, 0, Outcome::Rejected));
        journal.record(&entry("backlinks/summary", 200, 200, Outcome::Charged));
        journal.record(&entry("backlinks/summary", 405, 0, Outcome::Rejected));
        let totals = journal.totals();
        assert_eq!(
            totals.keys().collect::<Vec<_>>(),
            vec![UNKNOWN_ENDPOINT, "backlinks/summary"]
        );
        assert_eq!(totals[UNKNOWN_ENDPOINT].calls, 4);
        assert_eq!(totals[UNKNOWN_ENDPOINT].other, 4);
        assert_eq!(totals["backlinks/summary"].calls, 2);
        let text = std::fs::read_to_string(&path).expect("read");
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        // 128 x's and the mark.
        assert_eq!(first["endpoint"], format!("{}…", "x".repeat(128)));
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn unopenable_ledger_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let e = Journal::open(Some(&dir.path().join("no/such/dir/calls.jsonl")))
            .err()
            .expect("error");
        assert!(
            e.to_string().starts_with("cannot open the guard journal"),
            "{e}"
        );
        assert!(e.to_string().ends_with("no such file"), "{e}");
    }
}
