//! `budget calibrate`: measures what the API really bills for an endpoint, by the balance, as a
//! third party did by hand when it found `backlinks/authority` billed 15 units per target where
//! the table says 1 (docs/reconcile.md "Measuring real prices").
//!
//! For each endpoint, one small call: the settled balance before, the call, the settled balance
//! after. The live balance settles 20–60 s after a call, in batches, so a read right after a call
//! measures nothing: the balance is read every `interval` (30 s) and taken as settled when two
//! reads in a row agree ([`Settler`]); after a call the first read waits one interval, and when
//! the catalogue expects a charge, reads that still show the balance from before the call do not
//! count as settled (the charge may land later). Every wait is bounded by `--settle-timeout`.
//!
//! What it must not do: spend beyond what the user allowed (the catalogue's worst case of all
//! calls must fit `--max-units` before anything is sent, and it stops once the units measured
//! reach it); retry a call that may have been billed (the transport's billable policy); show the
//! key (the account transport scrubs every text). Other jobs on the same key move the balance
//! too and spoil the measurement: `commands::calibrate` warns. It renders nothing: `report` does.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT};
use reqwest::Method;
use rust_decimal::Decimal;

use crate::account::transport::{Failure, Reply, Request, Transport};
use crate::account::{AccountError, Class, Client};
use crate::pricing::{Endpoint, Per, Pricing, RecordKind};

/// The target of a calibration call when none is given: the vendor's own domain, which its index
/// certainly holds.
pub const DEFAULT_TARGET: &str = "seranking.com";
/// The regional database of endpoints that take one, unless `--source` says otherwise.
pub const DEFAULT_SOURCE: &str = "us";
/// Rows asked of row endpoints, unless `--rows` says otherwise: a small call.
pub const DEFAULT_ROWS: u64 = 10;
/// Time between two balance reads.
pub const SETTLE_INTERVAL: Duration = Duration::from_secs(30);
/// Longest wait for the balance to settle, before or after a call.
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("cannot calibrate:\n  - {}", problems.join("\n  - "))]
    Invalid { problems: Vec<String> },
    #[error("cannot set up the calls to the API: {reason}")]
    Setup { reason: String },
    #[error("{count} of {total} endpoint{} could not be measured (see above); run calibrate again when the key is idle, or allow more time with --settle-timeout", if *total == 1 { "" } else { "s" })]
    NotMeasured { count: usize, total: usize },
}

impl From<crate::account::transport::SetupError> for CalibrateError {
    fn from(e: crate::account::transport::SetupError) -> Self {
        use crate::account::transport::SetupError as S;
        CalibrateError::Setup {
            reason: match e {
                S::Url { url, reason } => format!("--api-url {url:?} is not usable: {reason}"),
                S::KeyNotSendable => "the API key cannot be sent in a header".into(),
                S::Client { reason } => reason,
            },
        }
    }
}

/// One calibration call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalCall {
    pub endpoint: Endpoint,
    pub targets: Vec<String>,
    /// The regional database, for endpoints that take one.
    pub source: Option<String>,
    /// Rows asked (`limit`), for row endpoints.
    pub rows: Option<u64>,
    /// The catalogue's worst case for this call.
    pub worst: u64,
}

impl CalCall {
    /// `/v1/{endpoint}`.
    pub fn path(&self) -> String {
        format!("/v1/{}", self.endpoint.name)
    }

    /// The query: the targets (`domain=` for domain endpoints, `target=` else), the source, the
    /// rows asked.
    pub fn query(&self) -> String {
        let name = if self.endpoint.name.starts_with("domain/") {
            "domain"
        } else {
            "target"
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for t in &self.targets {
            query.append_pair(name, t);
        }
        if let Some(source) = &self.source {
            query.append_pair("source", source);
        }
        if let Some(rows) = self.rows {
            query.append_pair("limit", &rows.to_string());
        }
        query.finish()
    }

    /// Billed items of the call when the reply shows `rows` rows: a target each (per-target
    /// records), a row each (per-row records), or the request (per-request endpoints). `None`
    /// when the rows are unknown.
    pub fn items(&self, rows: Option<u64>) -> Option<u64> {
        match (self.endpoint.per, self.endpoint.record) {
            (Per::Request, _) => Some(1),
            (Per::Record, RecordKind::Target) => u64::try_from(self.targets.len()).ok(),
            // Rows, periods, days: as many records as the reply holds.
            (Per::Record, RecordKind::Row | RecordKind::Period | RecordKind::Day) => rows,
        }
    }
}

/// The calls of a calibration and their worst case in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalPlan {
    pub calls: Vec<CalCall>,
    pub worst: u64,
}

/// Plans one call per endpoint; every problem is reported at once.
pub fn plan(
    pricing: &Pricing,
    endpoints: &[String],
    targets: &[String],
    source: &str,
    rows: u64,
) -> Result<CalPlan, CalibrateError> {
    let mut problems = Vec::new();
    let mut calls: Vec<CalCall> = Vec::new();
    let targets: Vec<String> = if targets.is_empty() {
        vec![DEFAULT_TARGET.to_string()]
    } else {
        targets.iter().map(|t| t.trim().to_string()).collect()
    };
    if targets.iter().any(String::is_empty) {
        problems.push("--target: a target is empty".to_string());
    }
    let source = source.trim().to_ascii_lowercase();
    if !pricing.knows_source(&source) {
        problems.push(format!(
            "--source: unknown regional database `{source}`; `budget prices` lists them"
        ));
    }
    for name in endpoints {
        let Some(endpoint) = pricing.endpoint(name) else {
            let hint = pricing
                .closest_endpoint(name)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            problems.push(format!(
                "unknown endpoint `{}`{hint}",
                crate::pricing::normalize_endpoint(name)
            ));
            continue;
        };
        if calls.iter().any(|c| c.endpoint.name == endpoint.name) {
            problems.push(format!("{} is named twice", endpoint.name));
            continue;
        }
        if !endpoint.methods.contains(&"GET") {
            problems.push(format!(
                "{} takes {} only; calibrate makes GET calls, so it cannot measure it",
                endpoint.name,
                endpoint.methods.join(", ")
            ));
            continue;
        }
        match endpoint.name.as_str() {
            "keywords/export" => {
                problems.push(
                    "keywords/export takes its keyword list by POST; calibrate makes GET calls with targets, so it cannot measure it"
                        .into(),
                );
                continue;
            }
            "backlinks/export/status" => {
                problems.push(
                    "backlinks/export/status needs the task_id of a running export; calibrate cannot make that call"
                        .into(),
                );
                continue;
            }
            _ => {}
        }
        let count = u64::try_from(targets.len()).unwrap_or(u64::MAX);
        if count > endpoint.max_batch {
            problems.push(format!(
                "{} takes at most {} target{} per request; give at most that many --target",
                endpoint.name,
                endpoint.max_batch,
                if endpoint.max_batch == 1 { "" } else { "s" }
            ));
            continue;
        }
        let call_rows = match (endpoint.record, endpoint.limit) {
            (RecordKind::Row, Some(limit)) if rows > limit.max => {
                problems.push(format!(
                    "--rows {rows} is above {}'s limit of {} rows per request",
                    endpoint.name, limit.max
                ));
                continue;
            }
            (RecordKind::Row, _) => Some(rows),
            (RecordKind::Target | RecordKind::Period | RecordKind::Day, _) => None,
        };
        // The call's worst case by the pricing law (docs/workflows.md "The arithmetic"); a call that names
        // no dates asks for the endpoint's default range.
        let shape = crate::estimate::Shape {
            targets: count,
            rows: call_rows,
            periods: endpoint.record.ranged().then(|| {
                crate::estimate::range_periods(endpoint, None, crate::pricing::Granularity::ByDay)
            }),
        };
        let worst = match crate::estimate::price(endpoint, &shape) {
            Ok(worst) => worst,
            Err(crate::estimate::PriceError::Unknown { .. }) => {
                problems.push(format!(
                    "the price of {} is unknown, so the worst case of its call cannot be bounded; set an assumed price with {} (evidence: assumed) to calibrate it",
                    endpoint.name,
                    crate::pricing::OVERLAY_FLAG
                ));
                continue;
            }
            Err(crate::estimate::PriceError::Overflow { .. }) => {
                problems.push(format!(
                    "the worst case of the {} call overflows the largest count",
                    endpoint.name
                ));
                continue;
            }
        };
        calls.push(CalCall {
            endpoint: endpoint.clone(),
            targets: targets.clone(),
            source: endpoint.source.then(|| source.clone()),
            rows: call_rows,
            worst,
        });
    }
    let worst = calls
        .iter()
        .try_fold(0u64, |sum, c| sum.checked_add(c.worst));
    match worst {
        Some(worst) if problems.is_empty() => Ok(CalPlan { calls, worst }),
        None => {
            problems.push("the worst case of all calls overflows the largest count".into());
            Err(CalibrateError::Invalid { problems })
        }
        Some(_) => Err(CalibrateError::Invalid { problems }),
    }
}

/// What to do after a balance read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read again after this long.
    Wait(Duration),
    /// Two reads in a row agree: the balance.
    Settled(u64),
    /// Out of time: the last read.
    GaveUp(u64),
}

/// Decides, read after read, when the balance has settled: two reads in a row that agree, and,
/// when a charge is expected, not both at the balance from before the call.
#[derive(Debug, Clone)]
pub struct Settler {
    interval: Duration,
    timeout: Duration,
    /// The balance before the call, when the catalogue expects the call to cost something.
    away_from: Option<u64>,
    last: Option<u64>,
}

impl Settler {
    pub fn new(interval: Duration, timeout: Duration, away_from: Option<u64>) -> Settler {
        Settler {
            interval,
            timeout,
            away_from,
            last: None,
        }
    }

    /// A read taken `elapsed` after the wait began.
    pub fn read(&mut self, value: u64, elapsed: Duration) -> Next {
        if self.last == Some(value) && self.away_from != Some(value) {
            return Next::Settled(value);
        }
        self.last = Some(value);
        if elapsed.saturating_add(self.interval) > self.timeout {
            Next::GaveUp(value)
        } else {
            Next::Wait(self.interval)
        }
    }
}

/// How calibration waits and how much it may spend.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub interval: Duration,
    pub timeout: Duration,
    pub max_units: u64,
}

/// What happened to one endpoint's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Balance before minus balance after, both settled.
    Measured { units: u64 },
    /// The API refused the call (nothing is billed for a non-2xx reply).
    Refused { status: u16, message: String },
    /// Not sent, or sent without a complete reply (the balance shows whether it was billed).
    NoReply { reason: String },
    /// The balance did not settle within `--settle-timeout`.
    Unsettled { last: u64 },
    /// The balance went up: a refund or a top-up happened meanwhile.
    BalanceRose { after: u64 },
    /// The balance could not be read.
    BalanceUnreadable { reason: String },
    /// Not called: the units measured so far and this call's worst case pass `--max-units`.
    Skipped { spent: u64 },
}

/// One endpoint's measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    pub call: CalCall,
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// Rows in the reply, for row endpoints.
    pub rows: Option<u64>,
    pub outcome: Outcome,
}

/// A measured price against the catalogue's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Billed items (targets, rows or the request), when known.
    pub items: Option<u64>,
    /// The catalogue's units for what the call returned (its worst case when the rows are unknown).
    pub catalogue_units: u64,
    pub measured_units: u64,
    /// Measured units per item, when the items are known and not 0 (to 4 decimals).
    pub measured_unit_price: Option<Decimal>,
    /// Measured minus catalogue units.
    pub difference: i128,
}

impl Verdict {
    pub fn agrees(&self) -> bool {
        self.difference == 0
    }

    /// The measured price per item as a whole number of units, for a pricing overlay.
    pub fn whole_unit_price(&self) -> Option<u64> {
        let items = self.items.filter(|&n| n > 0)?;
        self.measured_units
            .is_multiple_of(items)
            .then(|| self.measured_units / items)
    }
}

impl Measurement {
    /// The measured price against the catalogue, when the call was measured.
    pub fn verdict(&self) -> Option<Verdict> {
        let Outcome::Measured { units } = self.outcome else {
            return None;
        };
        let items = self.call.items(self.rows);
        let e = &self.call.endpoint;
        // What the catalogue bills for what was returned; the worst case when that is unknown.
        let catalogue_units = match e.per {
            Per::Request => e.units,
            Per::Record => items.and_then(|n| e.units.and_then(|u| n.checked_mul(u))),
        }
        .unwrap_or(self.call.worst);
        let measured_unit_price = items.filter(|&n| n > 0).map(|n| {
            (Decimal::from(units) / Decimal::from(n))
                .round_dp(4)
                .normalize()
        });
        Some(Verdict {
            items,
            catalogue_units,
            measured_units: units,
            measured_unit_price,
            difference: i128::from(units) - i128::from(catalogue_units),
        })
    }
}

/// Progress, for the person waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Waiting for the balance to settle before (`after_call` false) or after a call.
    Waiting { endpoint: &'a str, after_call: bool },
    /// The settled balance.
    Balance {
        endpoint: &'a str,
        after_call: bool,
        units_left: u64,
    },
    /// The call was answered (or not).
    Called {
        endpoint: &'a str,
        status: Option<u16>,
    },
}

/// How a wait for the balance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Settled(u64),
    GaveUp(u64),
}

/// Reads the balance until it settles (see [`Settler`]); the first read at once.
async fn settle(
    client: &Client,
    settings: &Settings,
    away_from: Option<u64>,
) -> Result<Wait, AccountError> {
    let started = Instant::now();
    let mut settler = Settler::new(settings.interval, settings.timeout, away_from);
    loop {
        let units_left = client.balance().await?.require_usable()?.units_left();
        match settler.read(units_left, started.elapsed()) {
            Next::Wait(wait) => tokio::time::sleep(wait).await,
            Next::Settled(v) => return Ok(Wait::Settled(v)),
            Next::GaveUp(v) => return Ok(Wait::GaveUp(v)),
        }
    }
}

/// Sends the call once through the billable transport (a call without a complete reply is
/// never retried: it may have been billed).
async fn call_once(
    transport: &Transport,
    call: &CalCall,
) -> Result<Reply, Failure<std::convert::Infallible>> {
    let path = call.path();
    let query = call.query();
    let request = Request {
        method: Method::GET,
        path: &path,
        query: Some(&query),
        headers: vec![(ACCEPT, HeaderValue::from_static("application/json"))],
        body: bytes::Bytes::new(),
    };
    transport.send_free(&request).await.result
}

/// Calls the endpoints one by one and measures each by the settled balance. Stops calling once
/// the units measured and the next call's worst case would pass `--max-units`, or once the
/// balance cannot be read.
pub async fn measure(
    client: &Client,
    transport: &Transport,
    plan: &CalPlan,
    settings: &Settings,
    on: &mut dyn FnMut(Event),
) -> Vec<Measurement> {
    let mut results = Vec::with_capacity(plan.calls.len());
    let mut spent = 0u64;
    let mut unreadable: Option<String> = None;
    for call in &plan.calls {
        let mut m = Measurement {
            call: call.clone(),
            before: None,
            after: None,
            rows: None,
            outcome: Outcome::Skipped { spent },
        };
        if let Some(reason) = &unreadable {
            m.outcome = Outcome::BalanceUnreadable {
                reason: reason.clone(),
            };
        } else if spent.saturating_add(call.worst) <= settings.max_units {
            measure_one(client, transport, settings, &mut m, on).await;
            if let Some(units) = m.before.zip(m.after).map(|(b, a)| b.saturating_sub(a)) {
                spent = spent.saturating_add(units);
            }
            if let Outcome::BalanceUnreadable { reason } = &m.outcome {
                unreadable = Some(reason.clone());
            }
        }
        results.push(m);
    }
    results
}

async fn measure_one(
    client: &Client,
    transport: &Transport,
    settings: &Settings,
    m: &mut Measurement,
    on: &mut dyn FnMut(Event),
) {
    let name = m.call.endpoint.name.clone();
    let unreadable = |e: AccountError| Outcome::BalanceUnreadable {
        reason: e.to_string(),
    };
    on(Event::Waiting {
        endpoint: &name,
        after_call: false,
    });
    let before = match settle(client, settings, None).await {
        Ok(Wait::Settled(v)) => v,
        Ok(Wait::GaveUp(last)) => {
            m.outcome = Outcome::Unsettled { last };
            return;
        }
        Err(e) => {
            m.outcome = unreadable(e);
            return;
        }
    };
    m.before = Some(before);
    on(Event::Balance {
        endpoint: &name,
        after_call: false,
        units_left: before,
    });
    let reply = call_once(transport, &m.call).await;
    on(Event::Called {
        endpoint: &name,
        status: reply.as_ref().ok().map(|r| r.status),
    });
    let lost = match reply {
        Ok(reply) if reply.class == Class::Success => {
            // Row endpoints: the rows returned, counted as the guard counts them.
            if m.call.endpoint.record == RecordKind::Row {
                m.rows = crate::guard::price::records_in_reply(&reply.body);
            }
            None
        }
        // Not billed: a non-2xx reply, or nothing sent.
        Ok(reply) => {
            m.outcome = Outcome::Refused {
                status: reply.status,
                message: reply.message,
            };
            return;
        }
        Err(Failure::NotSent { reason } | Failure::Unsendable { reason }) => {
            m.outcome = Outcome::NoReply { reason };
            return;
        }
        Err(Failure::Lost { reason, .. }) => Some(reason),
        Err(Failure::Hook(never)) => match never {},
    };
    on(Event::Waiting {
        endpoint: &name,
        after_call: true,
    });
    // The meter never shows a call at once: the first read waits one interval. When the
    // catalogue expects a charge, reads still at the balance from before do not settle it.
    tokio::time::sleep(settings.interval).await;
    let away_from = m
        .call
        .endpoint
        .units
        .is_some_and(|u| u > 0)
        .then_some(before);
    m.outcome = match settle(client, settings, away_from).await {
        Ok(Wait::Settled(after)) => {
            m.after = Some(after);
            on(Event::Balance {
                endpoint: &name,
                after_call: true,
                units_left: after,
            });
            match (before.checked_sub(after), lost) {
                (None, _) => Outcome::BalanceRose { after },
                // Billed or not, the balance says; but the reply's rows are unknown.
                (Some(_), Some(reason)) => Outcome::NoReply { reason },
                (Some(units), None) => Outcome::Measured { units },
            }
        }
        Ok(Wait::GaveUp(last)) => {
            m.after = Some(last);
            Outcome::Unsettled { last }
        }
        Err(e) => unreadable(e),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn settles(away_from: Option<u64>, reads: &[u64], expected: Next) {
        // Reads every 30 s, at most 120 s: reads at 0, 30, 60, 90 and 120 s.
        let mut s = Settler::new(Duration::from_secs(30), Duration::from_secs(120), away_from);
        let mut next = Next::Wait(Duration::ZERO);
        for (i, &value) in reads.iter().enumerate() {
            next = s.read(value, Duration::from_secs(30 * i as u64));
            if !matches!(next, Next::Wait(_)) {
                assert_eq!(
                    i + 1,
                    reads.len(),
                    "decided before the last read: {reads:?}"
                );
            }
        }
        assert_eq!(next, expected, "{reads:?}");
    }

    #[test]
    fn the_balance_settles_when_two_reads_agree() {
        let wait = Next::Wait(Duration::from_secs(30));
        settles(None, &[1000], wait);
        settles(None, &[1000, 1000], Next::Settled(1000));
        // A batch lands between the reads: not settled until two agree.
        settles(None, &[1000, 985, 985], Next::Settled(985));
        // A charge is expected: two reads at the balance before do not settle it.
        settles(Some(1000), &[1000, 1000], wait);
        settles(Some(1000), &[1000, 1000, 970, 970], Next::Settled(970));
        // A moving balance (another job on the key) gives up at the timeout: the read at 120 s
        // is the last (120 + 30 > 120).
        settles(None, &[1000, 990, 980, 970, 960], Next::GaveUp(960));
        settles(
            Some(1000),
            &[1000, 1000, 1000, 1000, 1000],
            Next::GaveUp(1000),
        );
    }

    fn pricing() -> Pricing {
        Pricing::embedded().expect("pricing")
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn calls_are_planned_with_their_worst_case() {
        let p = plan(
            &pricing(),
            &names(&[
                "backlinks/authority",
                "/v1/backlinks/all",
                "domain/keywords",
            ]),
            &names(&["a.com", "b.com"]),
            "US",
            10,
        );
        // backlinks/all and domain/keywords take one target per request.
        let e = p.unwrap_err().to_string();
        assert!(
            e.contains(
                "backlinks/all takes at most 1 target per request; give at most that many --target"
            ),
            "{e}"
        );
        assert!(e.contains("domain/keywords takes at most 1 target"), "{e}");
        let p = plan(
            &pricing(),
            &names(&["backlinks/authority", "backlinks/all", "domain/keywords"]),
            &names(&["a.com"]),
            "US",
            10,
        )
        .expect("plan");
        // authority: 1 target × 15 units (the measured price the catalogue keeps over the
        // table's 1); all: 10 rows × 1 unit; domain/keywords: 100 a request. 15 + 10 + 100 = 125.
        let worst: Vec<u64> = p.calls.iter().map(|c| c.worst).collect();
        assert_eq!(worst, [15, 10, 100]);
        assert_eq!(p.worst, 125);
        assert_eq!(p.calls[0].query(), "target=a.com");
        assert_eq!(p.calls[1].query(), "target=a.com&limit=10");
        assert_eq!(p.calls[2].query(), "domain=a.com&source=us&limit=10");
        assert_eq!(p.calls[2].path(), "/v1/domain/keywords");
        // Without --target: the vendor's domain.
        let p = plan(&pricing(), &names(&["backlinks/summary"]), &[], "us", 10).expect("plan");
        assert_eq!(p.calls[0].targets, [DEFAULT_TARGET]);
        assert_eq!(p.worst, 100);
    }

    #[test]
    fn every_problem_is_named() {
        let e = plan(
            &pricing(),
            &names(&[
                "backlinks/sumary",
                "keywords/export",
                "backlinks/export/status",
                "site-audit/audits/standard",
                "backlinks/all",
                "backlinks/all",
            ]),
            &names(&["a.com"]),
            "zz",
            20_000,
        )
        .unwrap_err()
        .to_string();
        for phrase in [
            "unknown endpoint `backlinks/sumary`; did you mean backlinks/summary?",
            "keywords/export takes its keyword list by POST",
            "backlinks/export/status needs the task_id",
            // the catalogue's `methods` say it takes POST only.
            "site-audit/audits/standard takes POST only; calibrate makes GET calls, so it cannot measure it",
            "--rows 20000 is above backlinks/all's limit of 10000 rows per request",
            "--source: unknown regional database `zz`",
        ] {
            assert!(e.contains(phrase), "{e} lacks {phrase:?}");
        }
    }

    fn measured(endpoint: &str, targets: usize, rows: Option<u64>, units: u64) -> Measurement {
        let endpoint = pricing().endpoint(endpoint).expect("endpoint").clone();
        let limit = (endpoint.record == RecordKind::Row).then_some(10);
        let shape = crate::estimate::Shape {
            targets: targets as u64,
            rows: limit,
            periods: None,
        };
        let worst = crate::estimate::price(&endpoint, &shape).expect("price");
        Measurement {
            call: CalCall {
                endpoint,
                targets: vec!["a.com".into(); targets],
                source: None,
                rows: limit,
                worst,
            },
            before: Some(1000),
            after: Some(1000 - units),
            rows,
            outcome: Outcome::Measured { units },
        }
    }

    #[test]
    fn verdicts_by_hand() {
        // authority, 2 targets, the catalogue's measured 15 per target = 30; billed 30: agrees.
        let v = measured("backlinks/authority", 2, None, 30)
            .verdict()
            .expect("verdict");
        assert_eq!((v.items, v.catalogue_units, v.difference), (Some(2), 30, 0));
        assert_eq!(v.whole_unit_price(), Some(15));
        assert!(v.agrees());
        // authority/page, 2 targets, the assumed 5 per target = 10; billed 2 (the table's 1 per
        // target): 2 − 10 = −8.
        let v = measured("backlinks/authority/page", 2, None, 2)
            .verdict()
            .expect("verdict");
        assert_eq!(
            (v.items, v.catalogue_units, v.difference),
            (Some(2), 10, -8)
        );
        assert_eq!(v.whole_unit_price(), Some(1));
        assert!(!v.agrees());
        // summary, 1 target: 100 = 100.
        let v = measured("backlinks/summary", 1, None, 100)
            .verdict()
            .expect("verdict");
        assert!(v.agrees());
        // all, 10 rows asked, 7 returned: 7 units at 1 per row.
        let v = measured("backlinks/all", 1, Some(7), 7)
            .verdict()
            .expect("verdict");
        assert_eq!((v.items, v.catalogue_units), (Some(7), 7));
        assert!(v.agrees());
        // all, rows unknown: compared with the worst case (10); per row unknown.
        let v = measured("backlinks/all", 1, None, 7)
            .verdict()
            .expect("verdict");
        assert_eq!((v.items, v.catalogue_units, v.difference), (None, 10, -3));
        assert_eq!(v.whole_unit_price(), None);
        // domain/keywords bills the request: 100 whatever the rows.
        let v = measured("domain/keywords", 1, Some(7), 100)
            .verdict()
            .expect("verdict");
        assert_eq!((v.items, v.catalogue_units), (Some(1), 100));
        assert!(v.agrees());
        // 10 units for 3 targets: 3.3333 each (to 4 decimals), not a whole price.
        let v = measured("backlinks/authority", 3, None, 10)
            .verdict()
            .expect("verdict");
        assert_eq!(
            v.measured_unit_price.map(|d| d.to_string()).as_deref(),
            Some("3.3333")
        );
        assert_eq!(v.whole_unit_price(), None);
        // 3 units for 2 targets: 1.5 each, not a whole price.
        let v = measured("backlinks/authority", 2, None, 3)
            .verdict()
            .expect("verdict");
        assert_eq!(
            v.measured_unit_price.map(|d| d.to_string()).as_deref(),
            Some("1.5")
        );
        assert_eq!(v.whole_unit_price(), None);
        // Not measured: no verdict.
        let mut m = measured("backlinks/summary", 1, None, 0);
        m.outcome = Outcome::Unsettled { last: 1000 };
        assert_eq!(m.verdict(), None);
    }
}
