//! The verdict: does the plan fit the balance, and what would the overage cost?

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use super::{Band, Requests, Totals, WorkflowEstimate};
use crate::pricing::{usd_for_units, Billing, OverageRate, Pricing};
use crate::workflow::{Account, Reserve, Workflow};

/// Where a balance came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BalanceSource {
    /// Read from the API.
    Live,
    /// Given with `--units-left`.
    Flag,
}

/// The two pools a live balance is made of: the subscription's credits, which expire at the end
/// of the billing period, and the wallet's, which don't. `wallet` is `None` when the API reported
/// the subscription alone (no `/v1/account/credits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pools {
    pub subscription: u64,
    pub wallet: Option<u64>,
}

impl Pools {
    /// Both pools together (what `units_left` is).
    pub fn total(&self) -> u64 {
        self.subscription.saturating_add(self.wallet.unwrap_or(0))
    }
}

/// A known balance, before the reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub source: BalanceSource,
    pub status: Option<String>,
    /// Everything usable: both pools together when they are known.
    pub units_left: u64,
    /// The pools `units_left` is made of; `None` for `--units-left`.
    pub pools: Option<Pools>,
    pub units_limit: Option<u64>,
    pub expires: Option<NaiveDateTime>,
    /// Units held by reservations of other running jobs on the same account.
    pub reserved: u64,
}

impl Balance {
    /// A balance given with `--units-left`: nothing else is known about the account.
    pub fn from_flag(units_left: u64) -> Self {
        Balance {
            source: BalanceSource::Flag,
            status: None,
            units_left,
            pools: None,
            units_limit: None,
            expires: None,
            reserved: 0,
        }
    }
}

/// What a balance leaves to spend: `units_left` less the reserve and what running jobs hold,
/// never below zero. The one definition `plan`, `check`, `gate` and a guard on the live balance
/// share.
pub fn usable(units_left: u64, reserve: u64, reserved: u64) -> u64 {
    units_left.saturating_sub(reserve).saturating_sub(reserved)
}

/// The balance as reported: with the reserve and what is usable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BalanceView {
    pub source: BalanceSource,
    pub status: Option<String>,
    pub units_left: u64,
    pub pools: Option<Pools>,
    pub units_limit: Option<u64>,
    pub reserve: u64,
    pub reserved: u64,
    pub usable: u64,
    #[serde(serialize_with = "serialize_datetime")]
    pub expires: Option<NaiveDateTime>,
}

fn serialize_datetime<S: serde::Serializer>(
    value: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Fits,
    OverBudget,
    Unknown,
}

/// A workflow above its own `budget.max_units`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OverMaxUnits {
    pub workflow: String,
    pub units: u64,
    pub max_units: u64,
}

/// Units beyond `units_left`, priced at the account's overage rate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OverageCost {
    pub units: u64,
    pub tier: String,
    pub billing: Billing,
    pub rate: OverageRate,
    #[serde(with = "rust_decimal::serde::str")]
    pub usd_per_million: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub usd: Decimal,
}

/// Where a job stops when the balance runs out and overage is off: the first request the balance
/// can no longer pay (the API refuses it with "Insufficient funds").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StopsAt {
    /// The workflow's name.
    pub workflow: String,
    /// The step's number in its workflow (1-based).
    pub step: usize,
    pub step_name: String,
    /// The request of that step (1-based, in the order the pricing law lists them).
    pub request: u64,
    /// The requests the step makes in all.
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub balance: Option<BalanceView>,
    pub verdict: Verdict,
    pub over_by: u64,
    /// Units beyond the balance priced at the account's overage rate (overage on).
    pub overage: Option<OverageCost>,
    /// Where the job stops when the plan is beyond the balance and overage is off.
    pub stops_at: Option<StopsAt>,
    pub over_max_units: Vec<OverMaxUnits>,
}

/// Judges a plan. The reserve is `reserve` when given (the `--reserve` flag), else the largest
/// reserve any workflow asks for. Over budget: a workflow above its `max_units` (whether or not
/// a balance is known), or the total above `usable = units_left − reserve − reserved`.
pub fn assess(
    workflows: &[Workflow],
    forecasts: &[WorkflowEstimate],
    total: &Totals,
    balance: Option<Balance>,
    reserve: Option<Reserve>,
    pricing: &Pricing,
) -> Assessment {
    let over_max_units: Vec<OverMaxUnits> = forecasts
        .iter()
        .filter_map(|f| {
            let max_units = f.max_units?;
            (f.units > max_units).then(|| OverMaxUnits {
                workflow: f.name.clone(),
                units: f.units,
                max_units,
            })
        })
        .collect();
    let Some(balance) = balance else {
        return Assessment {
            balance: None,
            verdict: if over_max_units.is_empty() {
                Verdict::Unknown
            } else {
                Verdict::OverBudget
            },
            over_by: 0,
            overage: None,
            stops_at: None,
            over_max_units,
        };
    };
    let reserve_units = reserve
        .map(|r| r.of(balance.units_left))
        .or_else(|| {
            workflows
                .iter()
                .filter_map(|w| w.reserve)
                .map(|r| r.of(balance.units_left))
                .max()
        })
        .unwrap_or(0);
    let usable = usable(balance.units_left, reserve_units, balance.reserved);
    let over_by = total.units.saturating_sub(usable);
    let spendable = balance.units_left.saturating_sub(balance.reserved);
    // Beyond what the account can spend: priced at its overage rate when overage is on, else the
    // job stops where the balance runs out (overage is off unless declared: docs/finance.md).
    let chosen = overage_account(workflows).chosen;
    let (overage, stops_at) = match total.units.saturating_sub(spendable) {
        0 => (None, None),
        units => match chosen.filter(|(_, a)| a.overage.is_some()) {
            Some((_, account)) => (overage_cost(units, account, pricing), None),
            None => (None, stops_at(workflows, spendable)),
        },
    };
    Assessment {
        verdict: if over_by > 0 || !over_max_units.is_empty() {
            Verdict::OverBudget
        } else {
            Verdict::Fits
        },
        balance: Some(BalanceView {
            source: balance.source,
            status: balance.status,
            units_left: balance.units_left,
            pools: balance.pools,
            units_limit: balance.units_limit,
            reserve: reserve_units,
            reserved: balance.reserved,
            usable,
            expires: balance.expires,
        }),
        over_by,
        overage,
        stops_at,
        over_max_units,
    }
}

/// One run of a workflow's requests, in order: what `budget forecast` pays request by request
/// when overage is off (the API rejects a request the balance cannot pay, bills nothing for
/// it, and the job stops there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequests {
    steps: Vec<(Requests, crate::pricing::Endpoint, u64)>,
}

impl RunRequests {
    /// Lists `workflow`'s requests (worst case). `Err` names the quantity that overflowed.
    pub fn of(workflow: &Workflow) -> Result<RunRequests, super::PriceError> {
        let steps = workflow
            .steps
            .iter()
            .map(|step| {
                let requests = Requests::of(step, Band::Worst)?;
                let units = requests.units(&step.endpoint)?;
                Ok((requests, step.endpoint.clone(), units))
            })
            .collect::<Result<_, super::PriceError>>()?;
        Ok(RunRequests { steps })
    }

    /// Units a run pays out of `balance`: every request in order until the first the balance
    /// left cannot pay (that one and the rest of the run are not billed).
    pub fn paid_within(&self, balance: u64) -> Result<u64, super::PriceError> {
        let mut left = balance;
        for (requests, endpoint, units) in &self.steps {
            match requests.stop(endpoint, left)? {
                None => left -= units,
                Some(stop) => return Ok(balance - left + stop.spent),
            }
        }
        Ok(balance - left)
    }
}

/// The first request of `workflows` (in order: workflows, steps, each step's requests) that
/// `budget` units cannot pay; `None` when they pay for everything.
pub fn stops_at(workflows: &[Workflow], budget: u64) -> Option<StopsAt> {
    let mut left = budget;
    for w in workflows {
        for (i, step) in w.steps.iter().enumerate() {
            let requests = Requests::of(step, Band::Worst).ok()?;
            match requests.stop(&step.endpoint, left).ok()? {
                Some(stop) => {
                    return Some(StopsAt {
                        workflow: w.name.clone(),
                        step: i + 1,
                        step_name: step.name.clone(),
                        request: stop.request,
                        requests: requests.count().ok()?,
                    })
                }
                None => left -= requests.units(&step.endpoint).ok()?,
            }
        }
    }
    None
}

/// Which account prices overage when several workflows are planned together.
pub struct OverageAccount<'a> {
    /// One API key, one account: the first workflow that names one, and its account.
    pub chosen: Option<(&'a Workflow, &'a Account)>,
    /// A later workflow whose account differs, worth a warning.
    pub differing: Option<&'a Workflow>,
}

impl OverageAccount<'_> {
    /// The warning when workflows disagree.
    pub fn warning(&self) -> Option<String> {
        let ((first, account), other) = (self.chosen?, self.differing?);
        Some(format!(
            "{} and {} name different accounts; the overage is priced at {}'s ({} tier)",
            first.name, other.name, first.name, account.tier
        ))
    }
}

pub fn overage_account(workflows: &[Workflow]) -> OverageAccount<'_> {
    let mut named = workflows
        .iter()
        .filter_map(|w| w.account.as_ref().map(|a| (w, a)));
    let chosen = named.next();
    let differing = chosen.and_then(|(_, first)| named.find(|(_, a)| *a != first).map(|(w, _)| w));
    OverageAccount { chosen, differing }
}

/// Prices overage units for an account: its own `usd_per_million`, else its tier's table rate.
pub fn overage_cost(units: u64, account: &Account, pricing: &Pricing) -> Option<OverageCost> {
    let usd_per_million = account.usd_per_million(pricing)?;
    Some(OverageCost {
        units,
        tier: account.tier.clone(),
        billing: account.billing,
        rate: account.overage?,
        usd_per_million,
        usd: usd_for_units(units, usd_per_million, pricing.overage.per_units)?,
    })
}
