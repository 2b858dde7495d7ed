//! `budget forecast`: scheduled workflows projected to the end of the billing period.

use std::io::Write;

use chrono::{NaiveDateTime, Timelike, Utc};

use super::balance::KeyUse;
use crate::cli::{ForecastArgs, Global};
use crate::estimate::{Balance, BalanceSource};
use crate::finance::{self, ScheduledWorkflow};
use crate::report::{self, ForecastReport};
use crate::{Error, Status};

/// The clock, to the second (reports show whole seconds).
fn now_utc() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(0).unwrap_or(now)
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
    let (period_end, period_end_source) =
        match (args.period_end, live.as_ref().and_then(|b| b.expires)) {
            (Some(end), _) => (end, BalanceSource::Flag),
            (None, Some(end)) => (end, BalanceSource::Live),
            (None, None) => {
                return Err(Error::Usage {
                    message: match global.offline {
                        true => {
                            "period end unknown: --offline reads no subscription; pass --period-end"
                        }
                        false => "period end unknown: pass --period-end or set SERANKING_API_KEY",
                    }
                    .into(),
                })
            }
        };
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

    let scheduled: Vec<ScheduledWorkflow> = planned
        .workflows
        .iter()
        .zip(&planned.forecasts)
        .map(|(w, f)| ScheduledWorkflow {
            name: w.name.clone(),
            schedule: w.schedule,
            units_per_run: f.units,
        })
        .collect();
    let spendable = balance
        .as_ref()
        .map(|b| b.units_left.saturating_sub(b.reserved));
    let projection = finance::project(&scheduled, now, period_end, spendable)?;

    let mut notes = Vec::new();
    for w in planned.workflows.iter().filter(|w| w.schedule.is_none()) {
        notes.push(format!(
            "{} has no schedule: projected as one run (once)",
            w.name
        ));
    }
    let chosen = crate::estimate::overage_account(&planned.workflows);
    notes.extend(chosen.warning());
    let account = chosen.chosen;
    let cost = match account {
        Some((_, a)) => finance::projection_cost(&projection, a, &planned.pricing)?,
        None => None,
    };
    // Overage is off unless the account declares it: the jobs stop instead of running over.
    let overage_off = account.is_none_or(|(_, a)| a.overage.is_none());

    let paths: Vec<_> = planned.workflows.iter().map(|w| w.path.clone()).collect();
    // Subscription credits expire at the period end, the wallet's don't: spent first.
    let pools = balance.as_ref().and_then(|b| {
        b.pools
            .map(|pools| finance::pool_spend(&projection, pools, b.reserved))
    });
    let view = ForecastReport {
        projection: &projection,
        paths: &paths,
        balance: balance.as_ref(),
        period_end_source,
        cost: cost.as_ref(),
        overage_off,
        pools: pools.as_ref(),
        notes: &notes,
        offline: global.offline,
    };
    if let Some(path) = &args.chart {
        let cannot = |e: std::io::Error| Error::Usage {
            message: format!(
                "cannot write chart {}: {}",
                path.display(),
                crate::io_reason(&e)
            ),
        };
        let mut file = std::fs::File::create(path).map_err(cannot)?;
        report::forecast_chart(&mut file, &projection).map_err(cannot)?;
        file.flush().map_err(cannot)?;
    }
    super::to_stdout(|out| report::forecast(out, global.format, &view))?;
    Ok(if projection.runs_out() {
        Status::OverBudget
    } else {
        Status::Ok
    })
}
