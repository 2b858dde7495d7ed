//! What a guard's journal says was spent before this start: the replay that makes a guard's
//! budget survive its own crash and restart (docs/guard.md "What survives what").
//!
//! The journal ([`super::journal`]) is the record. Each start writes a `budget` line naming the
//! budget's *epoch* (a fresh budget gets a new one; a guard that continues keeps it); a call
//! that holds units writes a `hold` line before it is forwarded and its call line (with the same
//! `hold` id) when it ends. Spent in an epoch = the `units_charged` of its call lines + the units
//! of its `hold` lines that never got a call line (the guard died with the call in flight: the
//! API may have billed it, so it counts in full, as Redis counts a hold that times out).
//!
//! Lines this reader does not know are skipped (other tools may add kinds); lines that are not
//! JSON are counted and skipped. A torn last line (a crash mid-write) is expected and is not an
//! error: it can only be a call line (whose hold then counts in full) or a line written before
//! anything was forwarded. Journals written before epochs existed (call lines without `epoch`)
//! count as one budget of unknown account, so that upgrading mid-job does not regrant.
//!
//! Pure: reads the lines it is given; the time is passed in. It writes nothing.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The longest line read; a longer one (corruption) is skipped as unreadable.
const MAX_LINE: usize = 1 << 20;

/// What the journal holds for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The account's latest budget, when the journal holds one.
    pub last: Option<PastBudget>,
    /// The journal ended in a torn line (a crash mid-write), which was skipped.
    pub torn: bool,
    /// Other lines that were not JSON, skipped.
    pub unreadable: u64,
}

/// One budget (epoch) as replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastBudget {
    /// Its epoch; empty for lines written before epochs existed.
    pub epoch: String,
    /// The time of its first line, as written.
    pub started: String,
    /// Its budget as last set (`None` for lines written before epochs existed).
    pub budget: Option<u64>,
    /// Units charged by its calls.
    pub charged: u64,
    /// Units held by calls that never ended (no call line): spent in full.
    pub unsettled: u64,
    pub unsettled_calls: u64,
    /// Units charged or left unsettled within the settle lag before now (the API's balance may
    /// not show them yet).
    pub recent: u64,
    /// Units spent by each client (`--clients`): charged, plus holds that never ended.
    pub clients: std::collections::BTreeMap<String, u64>,
    /// Alert thresholds claimed for this budget (`alert` lines).
    pub alerts: std::collections::BTreeSet<u8>,
    /// Units operators added to it while it ran (`raise` lines): `--budget` plus these is
    /// its figure.
    pub raised: u64,
    /// Units charged by calls that passed on an operator's approval (and held by such calls
    /// that never ended): the allowance above `--soft-budget`.
    pub approved: u64,
}

impl PastBudget {
    /// Units spent: charged, plus held by calls that never ended.
    pub fn spent(&self) -> u64 {
        self.charged.saturating_add(self.unsettled)
    }
}

/// The fields of a line that replay reads; every other field is ignored.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    kind: Option<&'a str>,
    #[serde(borrow, default)]
    time: Option<&'a str>,
    #[serde(borrow, default)]
    epoch: Option<&'a str>,
    #[serde(borrow, default)]
    account: Option<&'a str>,
    #[serde(borrow, default)]
    hold: Option<&'a str>,
    #[serde(default)]
    budget: Option<u64>,
    #[serde(default)]
    units: Option<u64>,
    #[serde(default)]
    carried: Option<u64>,
    #[serde(default)]
    units_charged: Option<u64>,
    #[serde(borrow, default)]
    endpoint: Option<&'a str>,
    #[serde(borrow, default)]
    client: Option<&'a str>,
    #[serde(default)]
    threshold_percent: Option<u8>,
    #[serde(default)]
    by: Option<u64>,
    #[serde(borrow, default)]
    approval: Option<&'a str>,
    #[serde(default)]
    approval_needed: bool,
    #[serde(default)]
    approved: bool,
}

#[derive(Default)]
struct Epoch {
    started: String,
    budget: Option<u64>,
    charged: u64,
    recent: u64,
    clients: std::collections::BTreeMap<String, u64>,
    alerts: std::collections::BTreeSet<u8>,
    raised: u64,
    approved: u64,
}

/// A hold not yet ended: its epoch, units, whether recent, its client, whether approved.
type Open = (String, u64, bool, Option<String>, bool);

impl History {
    /// Replays `journal` for `account` (see `crate::account::account_id`), `now` being the time
    /// of this start; calls that ended (or holds taken) within `settle_lag` before `now` count
    /// as recent.
    pub fn read(
        mut journal: impl BufRead,
        account: &str,
        now: DateTime<Utc>,
        settle_lag: Duration,
    ) -> std::io::Result<History> {
        let lag = chrono::Duration::from_std(settle_lag).unwrap_or(chrono::Duration::MAX);
        let since = now
            .checked_sub_signed(lag)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let recent = |time: Option<&str>| {
            time.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= since)
        };
        // Epochs of this account (and "" for lines from before epochs), in the order of
        // their first budget line; holds not yet ended, by id.
        let mut epochs: HashMap<String, Epoch> = HashMap::new();
        let mut latest: Option<String> = None;
        let mut open: HashMap<String, Open> = HashMap::new();
        let mut history = History::default();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = journal
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)?;
            if read == 0 {
                break;
            }
            let complete = buf.last() == Some(&b'\n');
            if !complete && read > MAX_LINE {
                // An overlong line: skip to its end.
                let mut rest = Vec::new();
                journal.read_until(b'\n', &mut rest)?;
                history.unreadable += 1;
                continue;
            }
            let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(line) = serde_json::from_slice::<Line>(text) else {
                if complete {
                    history.unreadable += 1;
                } else {
                    history.torn = true;
                }
                continue;
            };
            match (line.kind, line.endpoint) {
                (Some("budget"), _) => {
                    let (Some(epoch), Some(acct)) = (line.epoch, line.account) else {
                        continue;
                    };
                    if acct != account {
                        continue;
                    }
                    let entry = epochs.entry(epoch.to_string()).or_insert_with(|| Epoch {
                        started: line.time.unwrap_or_default().to_string(),
                        ..Epoch::default()
                    });
                    entry.budget = line.budget;
                    entry.charged = entry.charged.saturating_add(line.carried.unwrap_or(0));
                    latest = Some(epoch.to_string());
                }
                (Some("hold"), _) => {
                    if let (Some(epoch), Some(id), Some(units)) =
                        (line.epoch, line.hold, line.units)
                    {
                        open.insert(
                            id.to_string(),
                            (
                                epoch.to_string(),
                                units,
                                recent(line.time),
                                line.client.map(str::to_string),
                                line.approved,
                            ),
                        );
                    }
                }
                (None, Some(_)) => {
                    // A call line.
                    let epoch = line.epoch.unwrap_or("");
                    if let Some(id) = line.hold {
                        open.remove(id);
                    }
                    let is_recent = recent(line.time);
                    let entry = epochs.entry(epoch.to_string()).or_insert_with(|| Epoch {
                        started: line.time.unwrap_or_default().to_string(),
                        ..Epoch::default()
                    });
                    let charged = line.units_charged.unwrap_or(0);
                    entry.charged = entry.charged.saturating_add(charged);
                    if line.approval.is_some() && !line.approval_needed {
                        entry.approved = entry.approved.saturating_add(charged);
                    }
                    if let Some(client) = line.client {
                        let spent = entry.clients.entry(client.to_string()).or_default();
                        *spent = spent.saturating_add(charged);
                    }
                    if is_recent {
                        entry.recent = entry.recent.saturating_add(charged);
                    }
                    if epoch.is_empty() && latest.is_none() {
                        latest = Some(String::new());
                    }
                }
                (Some("raise"), _) => {
                    if let (Some(epoch), Some(by)) = (line.epoch, line.by) {
                        let entry = epochs.entry(epoch.to_string()).or_default();
                        entry.raised = entry.raised.saturating_add(by);
                    }
                }
                (Some("alert"), _) => {
                    if let (Some(epoch), Some(percent)) = (line.epoch, line.threshold_percent) {
                        epochs
                            .entry(epoch.to_string())
                            .or_default()
                            .alerts
                            .insert(percent);
                    }
                }
                // Refusal summaries and kinds this reader does not know.
                _ => {}
            }
        }
        // The latest budget of this account; lines from before epochs only when the journal
        // names no budget of this account at all (they may be its history).
        history.last = latest.and_then(|id| {
            let epoch = epochs.remove(&id)?;
            let mut past = PastBudget {
                started: epoch.started,
                budget: epoch.budget,
                charged: epoch.charged,
                recent: epoch.recent,
                clients: epoch.clients,
                alerts: epoch.alerts,
                raised: epoch.raised,
                approved: epoch.approved,
                ..PastBudget::default()
            };
            for (of, units, is_recent, client, approved) in open.values() {
                if *of == id {
                    past.unsettled = past.unsettled.saturating_add(*units);
                    if *approved {
                        past.approved = past.approved.saturating_add(*units);
                    }
                    past.unsettled_calls += 1;
                    if *is_recent {
                        past.recent = past.recent.saturating_add(*units);
                    }
                    if let Some(client) = client {
                        let spent = past.clients.entry(client.clone()).or_default();
                        *spent = spent.saturating_add(*units);
                    }
                }
            }
            past.epoch = id;
            Some(past)
        });
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-26T08:00:00Z";

    #[track_caller]
    fn replay(text: &str) -> History {
        let now = DateTime::parse_from_rfc3339(NOW)
            .unwrap()
            .with_timezone(&Utc);
        History::read(text.as_bytes(), "acct", now, Duration::from_secs(120)).unwrap()
    }

    fn budget(time: &str, epoch: &str, account: &str, units: u64) -> String {
        format!(
            r#"{{"time":"{time}","kind":"budget","epoch":"{epoch}","account":"{account}","budget":{units}}}"#
        )
    }

    fn hold(time: &str, epoch: &str, id: &str, units: u64) -> String {
        format!(
            r#"{{"time":"{time}","kind":"hold","epoch":"{epoch}","hold":"{id}","units":{units}}}"#
        )
    }

    fn call(time: &str, epoch: Option<&str>, id: Option<&str>, charged: u64) -> String {
        let mut line = format!(
            r#"{{"time":"{time}","method":"GET","endpoint":"backlinks/summary","targets":1,"status":200,"units_reserved":100,"units_charged":{charged},"latency_ms":1.0,"attempts":1,"outcome":"charged""#
        );
        if let Some(epoch) = epoch {
            line.push_str(&format!(r#","epoch":"{epoch}""#));
        }
        if let Some(id) = id {
            line.push_str(&format!(r#","hold":"{id}""#));
        }
        line.push('}');
        line
    }

    const T0: &str = "2026-11-26T07:00:00Z";
    /// 30 s before NOW: within the 120 s settle lag.
    const LATE: &str = "2026-11-26T07:59:30Z";

    #[test]
    fn spent_is_charged_plus_holds_that_never_ended() {
        let text = [
            budget(T0, "e1", "acct", 3000),
            hold(T0, "e1", "s-1", 100),
            call(T0, Some("e1"), Some("s-1"), 40),
            hold(T0, "e1", "s-2", 100),
            call(T0, Some("e1"), Some("s-2"), 100),
            // in flight when the guard was killed: no call line.
            hold(LATE, "e1", "s-3", 1000),
            // a free call (no hold line).
            call(LATE, Some("e1"), None, 0),
        ]
        .join("\n")
            + "\n";
        let history = replay(&text);
        let last = history.last.expect("a budget");
        // charged 40 + 100 = 140; unsettled 1,000; spent 1,140; recent: the hold at 07:59:30
        // (1,000) and the free call (0).
        assert_eq!(last.epoch, "e1");
        assert_eq!(last.budget, Some(3000));
        assert_eq!(last.charged, 140);
        assert_eq!((last.unsettled, last.unsettled_calls), (1000, 1));
        assert_eq!(last.spent(), 1140);
        assert_eq!(last.recent, 1000);
        assert_eq!((history.torn, history.unreadable), (false, 0));
    }

    #[test]
    fn clients_and_alerts_are_replayed() {
        let text = [
            budget(T0, "e1", "acct", 3000),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"hold","epoch":"e1","hold":"s-1","units":100,"client":"seo"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","method":"GET","endpoint":"backlinks/all","units_charged":40,"hold":"s-1","client":"seo","epoch":"e1"}"#.to_string(),
            // seo's call in flight when the guard died: 200 in full.
            r#"{"time":"2026-11-26T07:00:00Z","kind":"hold","epoch":"e1","hold":"s-2","units":200,"client":"seo"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","method":"GET","endpoint":"backlinks/summary","units_charged":100,"client":"ads","epoch":"e1"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"alert","epoch":"e1","threshold_percent":50}"#.to_string(),
            // another budget's alert: not this one's.
            r#"{"time":"2026-11-26T07:00:00Z","kind":"alert","epoch":"e0","threshold_percent":80}"#.to_string(),
        ]
        .join("\n")
            + "\n";
        let last = replay(&text).last.expect("a budget");
        // seo: 40 charged + 200 held by a call that never ended = 240; ads: 100.
        assert_eq!(last.clients["seo"], 240);
        assert_eq!(last.clients["ads"], 100);
        assert_eq!(last.alerts, [50].into());
        // 40 + 100 + 200 = 340 spent in all.
        assert_eq!(last.spent(), 340);
    }

    /// Invariant: raises of a budget are replayed (its figure is `--budget` plus them), and so
    /// is the allowance approved calls took above the soft limit — calls that passed on an
    /// approval, and approved holds that never ended — but not the refusals that asked for one.
    #[test]
    fn raises_and_approved_calls_are_replayed() {
        let text = [
            budget(T0, "e1", "acct", 250),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"raise","epoch":"e1","by":100,"budget_before":250,"budget_units":350,"operator":"alice"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"raise","epoch":"e0","by":999,"operator":"old"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","method":"GET","endpoint":"backlinks/summary","units_charged":0,"status":402,"approval":"a-1","approval_needed":true,"epoch":"e1"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","method":"GET","endpoint":"backlinks/summary","units_charged":100,"approval":"a-1","epoch":"e1"}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"hold","epoch":"e1","hold":"s-1","units":300,"approved":true}"#.to_string(),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"raise","epoch":"e1","by":50,"operator":"bob"}"#.to_string(),
        ]
        .join("\n")
            + "\n";
        let last = replay(&text).last.expect("a budget");
        // 100 + 50 raised in e1 (e0's is another budget's); approved: 100 charged + the
        // approved hold of 300 that never ended = 400; spent 100 + 300 = 400.
        assert_eq!(last.raised, 150);
        assert_eq!(last.approved, 400);
        assert_eq!(last.spent(), 400);
    }

    #[test]
    fn the_latest_budget_of_this_account_counts() {
        let text = [
            budget(T0, "e1", "acct", 3000),
            call(T0, Some("e1"), None, 500),
            // another account's budget on the same journal: ignored.
            budget(T0, "x1", "other", 9000),
            call(T0, Some("x1"), None, 700),
            // a fresh start of this account (--new-budget), then a restart that continues it
            // with a new figure.
            budget(T0, "e2", "acct", 2000),
            call(LATE, Some("e2"), None, 300),
            budget(LATE, "e2", "acct", 2500),
            call(LATE, Some("e2"), None, 200),
        ]
        .join("\n")
            + "\n";
        let last = replay(&text).last.expect("a budget");
        // e2: 300 + 200 = 500 charged, both recent; its figure as last set, 2,500; started T0.
        assert_eq!(last.epoch, "e2");
        assert_eq!(last.budget, Some(2500));
        assert_eq!(last.started, T0);
        assert_eq!((last.charged, last.recent), (500, 500));
    }

    #[test]
    fn a_torn_last_line_and_garbage_are_skipped() {
        let torn = call(T0, Some("e1"), Some("s-1"), 100);
        let text = format!(
            "{}\n{}\nnot json\n\n{}\n{}",
            budget(T0, "e1", "acct", 3000),
            hold(T0, "e1", "s-1", 100),
            call(T0, Some("e1"), None, 7),
            &torn[..torn.len() / 2]
        );
        let history = replay(&text);
        assert!(history.torn);
        assert_eq!(history.unreadable, 1);
        // the torn call line never settled its hold: 100 unsettled + 7 charged = 107 spent.
        assert_eq!(history.last.expect("a budget").spent(), 107);
    }

    #[test]
    fn lines_from_before_epochs_are_a_budget_of_unknown_account() {
        let text = [
            call(T0, None, None, 100),
            call(T0, None, None, 200),
            r#"{"time":"2026-11-26T07:00:00Z","kind":"refused_summary","seconds":10,"counts":{"unauthorized":5}}"#.to_string(),
        ]
        .join("\n")
            + "\n";
        let last = replay(&text).last.expect("legacy history");
        // 100 + 200 = 300, with no budget figure.
        assert_eq!(
            (last.epoch.as_str(), last.budget, last.spent()),
            ("", None, 300)
        );
        // Once the journal names a budget of this account, older lines are not its history.
        let text = format!("{text}{}\n", budget(LATE, "e9", "acct", 50));
        let last = replay(&text).last.expect("a budget");
        assert_eq!((last.epoch.as_str(), last.spent()), ("e9", 0));
        // Nothing at all, or only another account's budget: no history.
        assert_eq!(replay(""), History::default());
        assert_eq!(replay(&(budget(T0, "x", "other", 1) + "\n")).last, None);
    }
}
