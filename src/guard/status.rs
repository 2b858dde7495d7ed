//! `GET /budget/status`: the guard's budget, rate and calls as JSON, for people, scripts and a
//! live dashboard. The field names are a contract (docs/guard.md "The status endpoint"): add
//! fields, never rename or remove them.
//!
//! The figures come from the same places as everything else: the budget's state (shared by
//! every guard in Redis mode) and the journal's running totals, which the call events feed
//! ([`super::events`]). This module reads; it changes nothing and renders nothing but JSON.

use serde::Serialize;

use super::journal::{EndpointTotals, Totals};
use super::state::{Figures, State, StateError};

/// What a guard knows about its budget besides the state: fixed at start.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// `crate::account::account_id` of the key (never the key).
    pub account: String,
    /// The budget's epoch (its id in the journal).
    pub epoch: String,
    /// `flag` (`--budget`), `live` (the live balance) or `shared` (joined in Redis).
    pub source: &'static str,
    /// `memory` or `redis`.
    pub state: &'static str,
    pub shadow: bool,
    /// `--alert-at`, in percent.
    pub thresholds: Vec<u8>,
    /// When this guard started (RFC 3339).
    pub started: String,
}

/// The whole status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// This document's version: 1.
    pub version: u32,
    pub time: String,
    /// When this guard process started (its `calls` count from then).
    pub started: String,
    /// `enforce`, or `shadow` (`--shadow`: nothing is refused for the budget).
    pub mode: &'static str,
    pub account: String,
    pub epoch: String,
    pub budget: Budget,
    pub rate: Rate,
    /// This guard process's calls since it started.
    pub calls: Calls,
    pub alerts: Alerts,
    /// Clients (`--clients`): all of them on the metrics listener; a client's own entry only
    /// when a client asks on the API listener.
    pub clients: Vec<ClientStatus>,
    /// How fast this guard spends, and when the budget runs out at that pace.
    pub burn: Burn,
    /// This guard's latest priced calls that were refused (402, 503 for the rate, 405/422/501),
    /// newest first, at most [`RECENT_REFUSALS`]; a client sees its own.
    pub recent_refusals: Vec<RecentRefusal>,
    /// Approvals (`--approval-above`, `--soft-budget`; docs/guard.md "Raise and approve").
    pub approvals: ApprovalsStatus,
}

/// Most refusals [`Status::recent_refusals`] lists.
pub const RECENT_REFUSALS: usize = 20;
/// The window the burn rate is measured over.
pub const BURN_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);
/// The shortest window the burn rate is measured over (a guard that just started).
pub const BURN_MIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// The pace of spending.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Burn {
    /// The window the rate is measured over: the last 300 s, or since this guard started (at
    /// least 60 s).
    pub window_seconds: u64,
    /// Units this guard was charged in the window.
    pub units: u64,
    /// `units` per minute of the window, two decimals.
    pub units_per_minute: f64,
    /// At that pace, when `remaining_units` is gone (RFC 3339; `null` when nothing is spent
    /// or nothing remains).
    pub exhausts_at: Option<String>,
    pub exhausts_in_seconds: Option<u64>,
}

/// One refused call.
#[derive(Debug, Clone, Serialize)]
pub struct RecentRefusal {
    pub time: String,
    pub method: String,
    pub endpoint: String,
    pub status: u16,
    /// The journal's `outcome`.
    pub outcome: super::journal::Outcome,
    /// What the call was priced at.
    pub units: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The approval it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// Approvals as the status shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApprovalsStatus {
    /// `--approval-above`.
    pub approval_above_units: Option<u64>,
    /// `--soft-budget`.
    pub soft_budget_units: Option<u64>,
    /// Units of approved calls (the allowance above the soft limit).
    pub approved_units: u64,
    /// Approvals waiting for an operator.
    pub pending: usize,
    /// Every approval kept (pending, approved, denied); a client sees its own.
    pub list: Vec<super::admin::Approval>,
}

/// The burn rate: `units` charged over `window`, and when `remaining` is gone at that pace
/// from `now` (pure arithmetic; the caller keeps the charges).
pub fn burn(
    units: u64,
    window: std::time::Duration,
    remaining: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Burn {
    let ms = window.as_millis().max(1);
    // units per minute, in hundredths, rounded down: units × 60,000 ms × 100 / window ms.
    let hundredths = u128::from(units) * 6_000_000 / ms;
    #[allow(clippy::cast_precision_loss)]
    let per_minute = hundredths as f64 / 100.0;
    // remaining / (units per ms), in whole seconds rounded up.
    let exhausts_in = (units > 0 && remaining > 0).then(|| {
        let ms_left = u128::from(remaining.unsigned_abs()) * ms;
        u64::try_from(ms_left.div_ceil(u128::from(units) * 1000)).unwrap_or(u64::MAX)
    });
    Burn {
        window_seconds: window.as_secs(),
        units,
        units_per_minute: per_minute,
        exhausts_at: exhausts_in.and_then(|s| {
            let at = now.checked_add_signed(chrono::Duration::seconds(i64::try_from(s).ok()?))?;
            Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
        exhausts_in_seconds: exhausts_in,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// `flag`, `live` or `shared`.
    pub source: &'static str,
    /// `memory` or `redis`.
    pub state: &'static str,
    pub budget_units: u64,
    /// Charged so far (overruns included, so it may exceed the budget).
    pub spent_units: i64,
    /// What calls may still reserve (below zero when overdrawn).
    pub remaining_units: i64,
    /// Held by calls in flight.
    pub reserved_units: u64,
    /// `spent_units` as a percentage of `budget_units`, two decimals (0 for a budget of 0).
    pub spent_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub requests_per_second: u32,
    pub window_ms: u64,
    /// Requests started in the current window (every guard sharing it, in Redis mode).
    pub window_used: u64,
    /// Calls of this guard waiting for the window.
    pub queue_depth: usize,
    pub max_queue: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Calls {
    pub calls: u64,
    pub charged_calls: u64,
    pub over_budget: u64,
    pub other: u64,
    pub units_charged: u64,
    pub overrun_units: u64,
    pub would_refuse: u64,
    pub would_refuse_units: u64,
    pub refused_before_pricing: u64,
    /// Calls by outcome, as the metrics' `outcome` label names them (`forwarded`,
    /// `over_budget`, `rate_queue_full`, `unauthorized`, `bad_request`, `upstream_error`,
    /// `unavailable`); refusals before pricing included. Absent for a client.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub by_outcome: std::collections::BTreeMap<&'static str, u64>,
    /// Refusals before pricing by reason (`unauthorized`, `not_api`, `unknown_endpoint` …).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub refused_by_reason: std::collections::BTreeMap<&'static str, u64>,
}

impl Calls {
    fn of(t: &EndpointTotals, refused: u64) -> Calls {
        Calls {
            calls: t.calls,
            charged_calls: t.charged_calls,
            over_budget: t.over_budget,
            other: t.other,
            units_charged: t.units_charged,
            overrun_units: t.overrun,
            would_refuse: t.would_refuse,
            would_refuse_units: t.would_refuse_units,
            refused_before_pricing: refused,
            by_outcome: std::collections::BTreeMap::new(),
            refused_by_reason: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    pub thresholds_percent: Vec<u8>,
    /// Thresholds whose alert was claimed for this budget (by this guard or, in Redis mode,
    /// another), as this guard knows them.
    pub fired_percent: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientStatus {
    pub name: String,
    /// Its own budget, when it has one (else `null`, and the remaining fields too).
    pub budget_units: Option<u64>,
    pub spent_units: Option<i64>,
    pub remaining_units: Option<i64>,
    pub reserved_units: Option<u64>,
    /// Its share of the rate in requests per window, when it has one.
    pub requests_per_second: Option<u32>,
    /// This guard process's calls of the client.
    pub calls: Calls,
}

/// A percentage with two decimals.
fn percent(part: i64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let hundredths = i128::from(part) * 10_000 / i128::from(whole);
    // Within f64's exact range for any budget Redis can hold.
    #[allow(clippy::cast_precision_loss)]
    let value = hundredths as f64 / 100.0;
    value
}

/// The budget part of a status.
pub fn budget(info: &Info, f: &Figures) -> Budget {
    Budget {
        source: info.source,
        state: info.state,
        budget_units: f.total,
        spent_units: f.spent(),
        remaining_units: f.left,
        reserved_units: f.reserved,
        spent_percent: percent(f.spent(), f.total),
    }
}

/// Which clients a status shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Client(&'a str),
}

/// Reads the status now. `clients`: every configured client's name and rate share.
pub async fn read(
    state: &State,
    totals: &Totals,
    info: &Info,
    fired: Vec<u8>,
    clients: &[(String, Option<u32>)],
    scope: Scope<'_>,
) -> Result<Status, StateError> {
    let figures = state.figures().await?;
    let window_used = state.window_used().await?;
    let own = state.client_figures().await?;
    let mut sum = EndpointTotals::default();
    for t in totals.endpoints.values() {
        sum.absorb(t);
    }
    let refused: u64 = totals.refused.values().sum();
    let clients = clients
        .iter()
        .filter(|(name, _)| match scope {
            Scope::All => true,
            Scope::Client(only) => name == only,
        })
        .map(|(name, rps)| {
            let f = own.iter().find(|(n, _)| n == name).map(|(_, f)| *f);
            ClientStatus {
                name: name.clone(),
                budget_units: f.map(|f| f.total),
                spent_units: f.map(|f| f.spent()),
                remaining_units: f.map(|f| f.left),
                reserved_units: f.map(|f| f.reserved),
                requests_per_second: *rps,
                calls: Calls::of(&totals.clients.get(name).copied().unwrap_or_default(), 0),
            }
        })
        .collect();
    let mut calls = Calls::of(&sum, refused);
    calls.by_outcome = totals.outcomes.clone();
    calls.refused_by_reason = totals
        .refused
        .iter()
        .map(|(why, n)| (why.name(), *n))
        .collect();
    Ok(Status {
        version: 1,
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        started: info.started.clone(),
        mode: if info.shadow { "shadow" } else { "enforce" },
        account: info.account.clone(),
        epoch: info.epoch.clone(),
        budget: budget(info, &figures),
        rate: Rate {
            requests_per_second: state.rps(),
            window_ms: crate::count::millis(state.window()),
            window_used,
            queue_depth: state.queued(),
            max_queue: state.max_queue(),
        },
        calls,
        alerts: Alerts {
            thresholds_percent: info.thresholds.clone(),
            fired_percent: fired,
        },
        clients,
        burn: Burn::default(),
        recent_refusals: Vec::new(),
        approvals: ApprovalsStatus::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_by_hand() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T07:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        // 1,500 units in 300 s = 300 a minute = 5 a second; 9,000 left: 1,800 s = 07:30.
        let b = burn(1500, std::time::Duration::from_secs(300), 9000, now);
        assert_eq!(b.units_per_minute, 300.0);
        assert_eq!(b.exhausts_in_seconds, Some(1800));
        assert_eq!(b.exhausts_at.as_deref(), Some("2026-11-26T07:30:00Z"));
        // 100 units in 7 s: 857.14 a minute (100 × 60 / 7 = 857.142…); 50 left: 3.5 s → 4 s.
        let b = burn(100, std::time::Duration::from_secs(7), 50, now);
        assert_eq!(b.units_per_minute, 857.14);
        assert_eq!(b.exhausts_in_seconds, Some(4));
        // Nothing spent, or nothing left: no exhaustion time.
        assert_eq!(
            burn(0, std::time::Duration::from_secs(300), 50, now).exhausts_at,
            None
        );
        assert_eq!(
            burn(10, std::time::Duration::from_secs(300), 0, now).exhausts_at,
            None
        );
    }

    #[test]
    fn percentages_by_hand() {
        // 800 of 1,000 = 80%; 1 of 3 = 33.33%; overdrawn 1,500 of 1,000 = 150%.
        assert_eq!(percent(800, 1000), 80.0);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(1500, 1000), 150.0);
        assert_eq!(percent(5, 0), 0.0);
    }

    #[tokio::test]
    async fn a_status_reads_the_state_and_the_totals() {
        use crate::guard::state::{Ask, Backend, ClientBudget, MemoryState};
        // --budget 1,000 of which 300 were spent before this start; client seo: 400 of its own.
        let state = State::new(
            Backend::Memory(MemoryState::continuing(
                1000,
                300,
                &[ClientBudget {
                    name: "seo".into(),
                    budget: 400,
                    spent: 100,
                }],
            )),
            10,
            std::time::Duration::from_secs(1),
            10,
        );
        let _in_flight = state
            .reserve(Ask {
                client: Some("seo"),
                ..Ask::units(50)
            })
            .await
            .unwrap();
        let info = Info {
            account: "acct".into(),
            epoch: "e1".into(),
            source: "flag",
            state: "memory",
            shadow: false,
            thresholds: vec![50, 80],
            started: "2026-11-26T07:00:00.000Z".into(),
        };
        let status = read(
            &state,
            &Totals::default(),
            &info,
            vec![],
            &[("seo".into(), Some(5)), ("ads".into(), None)],
            Scope::All,
        )
        .await
        .unwrap();
        // left 1,000 − 300 − 50 = 650; reserved 50; spent 1,000 − 650 − 50 = 300 (30%).
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["budget"]["remaining_units"], 650);
        assert_eq!(json["budget"]["reserved_units"], 50);
        assert_eq!(json["budget"]["spent_units"], 300);
        assert_eq!(json["budget"]["spent_percent"], 30.0);
        assert_eq!(json["mode"], "enforce");
        // seo: 400 − 100 − 50 = 250 left, 100 spent; ads has no budget of its own.
        assert_eq!(json["clients"][0]["remaining_units"], 250);
        assert_eq!(json["clients"][0]["spent_units"], 100);
        assert_eq!(json["clients"][0]["requests_per_second"], 5);
        assert_eq!(json["clients"][1]["budget_units"], serde_json::Value::Null);
        let mine = read(
            &state,
            &Totals::default(),
            &info,
            vec![],
            &[("seo".into(), Some(5)), ("ads".into(), None)],
            Scope::Client("ads"),
        )
        .await
        .unwrap();
        assert_eq!(mine.clients.len(), 1);
        assert_eq!(mine.clients[0].name, "ads");
    }
}
