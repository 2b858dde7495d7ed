//! `budget forecast`: scheduled workflows projected to the end of the billing period.

use std::io::Write;
use std::path::PathBuf;

use chrono::{NaiveDateTime, Timelike, Utc};

use super::balance::KeyUse;
use super::plan::Planned;
use crate::cli::{ForecastArgs, Global};
use crate::estimate::{Balance, BalanceSource};
use crate::finance::{self, PoolSpend, Projection, ProjectionCost, ScheduledWorkflow};
use crate::report::{self, ForecastReport};
use crate::{Error, Status};

/// The clock, to the second (reports show whole seconds).
pub(super) fn now_utc() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(0).unwrap_or(now)
}

/// The period end: `--period-end`, else the live subscription's expiry.
pub(super) fn period_end(
    flag: Option<NaiveDateTime>,
    live: Option<&Balance>,
) -> Option<(NaiveDateTime, BalanceSource)> {
    match (flag, live.and_then(|b| b.expires)) {
        (Some(end), _) => Some((end, BalanceSource::Flag)),
        (None, Some(end)) => Some((end, BalanceSource::Live)),
        (None, None) => None,
    }
}

/// A projection ready to be rendered (by `forecast` and by `report`).
pub(super) struct Forecasted {
    pub projection: Projection,
    pub paths: Vec<PathBuf>,
    /// The balance with the units reserved by running jobs.
    pub balance: Option<Balance>,
    pub period_end_source: BalanceSource,
    pub cost: Option<ProjectionCost>,
    /// No account declares overage: the jobs stop when the balance runs out.
    pub overage_off: bool,
    /// How the subscription and wallet pools fare (a live balance with both).
    pub pools: Option<PoolSpend>,
    pub notes: Vec<String>,
}

impl Forecasted {
    pub fn view(&self, offline: bool) -> ForecastReport<'_> {
        ForecastReport {
            projection: &self.projection,
            paths: &self.paths,
            balance: self.balance.as_ref(),
            period_end_source: self.period_end_source,
            cost: self.cost.as_ref(),
            overage_off: self.overage_off,
            pools: self.pools.as_ref(),
            notes: &self.notes,
            offline,
        }
    }
}

/// Projects the planned workflows (each run costs its worst case) from `now` to the period end
/// against `balance` (reservations included), prices the overage at the account's tier when it
/// declares overage, and tells how the balance's pools fare.
pub(super) fn project(
    planned: &Planned,
    balance: Option<Balance>,
    (period_end, period_end_source): (NaiveDateTime, BalanceSource),
    now: NaiveDateTime,
) -> Result<Forecasted, Error> {
    let scheduled: Vec<ScheduledWorkflow> = planned
        .workflows
        .iter()
        .zip(&planned.forecasts)
        .map(|(w, f)| ScheduledWorkflow {
            name: w.name.clone(),
            schedule: w.schedule,
            units_per_run: f.units,
            // The plan priced it already: listing its requests cannot fail differently; if it
            // did, a run pays what the balance holds of it.
            run: crate::estimate::RunRequests::of(w).ok(),
        })
        .collect();
    let spendable = balance
        .as_ref()
        .map(|b| b.units_left.saturating_sub(b.reserved));
    let chosen = crate::estimate::overage_account(&planned.workflows);
    // Overage is off unless the account declares it: the jobs stop instead of running over.
    let overage_off = chosen.chosen.is_none_or(|(_, a)| a.overage.is_none());
    let projection = match overage_off {
        true => finance::project_without_overage(&scheduled, now, period_end, spendable)?,
        false => finance::project(&scheduled, now, period_end, spendable)?,
    };

    let mut notes = Vec::new();
    for w in planned.workflows.iter().filter(|w| w.schedule.is_none()) {
        notes.push(format!(
            "{} has no schedule: projected as one run (once)",
            w.name
        ));
    }
    notes.extend(chosen.warning());
    let account = chosen.chosen;
    let cost = match account {
        Some((_, a)) => finance::projection_cost(&projection, a, &planned.pricing)?,
        None => None,
    };
    // Subscription credits expire at the period end, the wallet's don't: spent first.
    let pools = balance.as_ref().and_then(|b| {
        b.pools
            .map(|pools| finance::pool_spend(&projection, pools, b.reserved))
    });
    Ok(Forecasted {
        projection,
        paths: planned.workflows.iter().map(|w| w.path.clone()).collect(),
        balance,
        period_end_source,
        cost,
        overage_off,
        pools,
        notes,
    })
}

/// `period end unknown` (exit 2), with the reason `--offline` gives when it is the reason.
pub(super) fn period_end_unknown(offline: bool) -> Error {
    Error::Usage {
        message: match offline {
            true => "period end unknown: --offline reads no subscription; pass --period-end",
            false => "period end unknown: pass --period-end or set SERANKING_API_KEY",
        }
        .into(),
    }
}

pub fn run(global: &Global, args: &ForecastArgs) -> Result<Status, Error> {
    let planned = super::plan::estimate_files(global, &args.workflows, None)?;
    // Flags win; the API is asked only for what they leave open.
    let call = !global.offline && (args.units_left.is_none() || args.period_end.is_none());
    let key_use = if call {
        KeyUse::CallIfSet
    } else {
        KeyUse::LedgerOnly
    };
    let key = super::balance::load_key(global, key_use)?;
    let live = match call {
        true => super::balance::resolve(global, None, key.as_ref())?,
        false => None,
    };
    let period_end = period_end(args.period_end, live.as_ref())
        .ok_or_else(|| period_end_unknown(global.offline))?;
    let balance = match args.units_left {
        Some(units_left) => Some(Balance::from_flag(units_left)),
        None => live,
    };
    // Units held by running gates of the same account will be spent too.
    let balance = match balance {
        Some(b) => {
            let account = crate::account::account_id(key.as_ref());
            let reserved = super::open_ledger(global)?.reserved(&account)?;
            Some(Balance { reserved, ..b })
        }
        None => None,
    };
    let now = args.now.unwrap_or_else(now_utc);
    let forecasted = project(&planned, balance, period_end, now)?;
    let view = forecasted.view(global.offline);
    if let Some(path) = &args.chart {
        let cannot = |e: std::io::Error| Error::Usage {
            message: format!(
                "cannot write chart {}: {}",
                path.display(),
                crate::io_reason(&e)
            ),
        };
        let mut file = std::fs::File::create(path).map_err(cannot)?;
        report::forecast_chart(&mut file, &forecasted.projection).map_err(cannot)?;
        file.flush().map_err(cannot)?;
    }
    super::to_stdout(|out| report::forecast(out, global.format, &view))?;
    Ok(if forecasted.projection.runs_out() {
        Status::OverBudget
    } else {
        Status::Ok
    })
}
