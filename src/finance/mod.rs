//! Finance arithmetic: overage cost for a tier and a usage, and scheduled workflows projected to
//! the end of the billing period (runs, units, the day the balance runs out, overage).
//!
//! Finance asks "what will this period cost beyond the plan, and when do we run out?". The answer
//! must be exact and reproducible, so this module is pure: it never reads the clock, the network
//! or a file (the caller passes `now`, the period end and the balance), counts units in `u64`
//! with checked arithmetic and money in `Decimal`, rounded to cents once, at the end. It never
//! renders anything (see `report`).

mod overage;
mod pools;
mod projection;
mod time;

pub use overage::{
    all_tiers, projection_cost, quote, Amount, OverageQuery, OverageQuote, ProjectionCost,
    RateQuote, TierQuote, RATES,
};
pub use pools::{pool_spend, PoolSpend};
pub use projection::{
    project, project_without_overage, DayPoint, Projection, ScheduledWorkflow, TotalProjection,
    WorkflowProjection,
};
pub use time::{parse_datetime, run_times, MAX_PERIOD_DAYS};

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

/// What can go wrong in finance arithmetic; every case is bad input (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinanceError {
    #[error("unknown tier `{tier}`; use one of: {valid}")]
    UnknownTier { tier: String, valid: String },
    #[error("the enterprise tier is priced by contract: pass --usd-per-million X (your rate in USD per 1M units)")]
    EnterpriseRate,
    #[error("the enterprise tier's included credits are set by contract: pass --included N with --usage, or give the overage directly with --units N")]
    EnterpriseIncluded,
    #[error("the cost of {units} units at ${usd_per_million} per 1M units is too large to compute; check the rate and the units")]
    MoneyOverflow {
        units: u64,
        usd_per_million: Decimal,
    },
    #[error(
        "period end {end} is not after now {now}; pass a later --period-end (or an earlier --now)"
    )]
    PeriodNotAfterNow { now: String, end: String },
    #[error("the period from now to its end is {days} days; a forecast covers at most {max} days: pass an earlier --period-end")]
    PeriodTooLong { days: i64, max: i64 },
    #[error("the projected {quantity} overflow the largest count (18446744073709551615); forecast fewer workflows or a shorter period")]
    UnitsOverflow { quantity: &'static str },
}

/// A date-time as the reports print it: RFC 3339 in UTC (`2026-11-26T00:00:00Z`).
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
