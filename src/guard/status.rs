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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
                units: 50,
                client: Some("seo"),
                shadow: false,
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
