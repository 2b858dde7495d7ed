//! The plan arithmetic (`budget plan`; not `budget forecast`, which is `finance`): workflow × pricing → requests, records and units, per step and in total,
//! and the verdict against a balance.
//!
//! Pure and exact: unit counts are `u64` with checked arithmetic (an overflow is an error naming
//! the step, never a wrap or a panic) and money is `Decimal`. No I/O of any kind.

mod requests;
mod verdict;

#[cfg(test)]
mod laws;

pub use requests::{price, range_periods, Band, PriceError, Requests, Shape, Stop};

pub use verdict::{
    assess, overage_account, overage_cost, stops_at, usable, Assessment, Balance, BalanceSource,
    BalanceView, OverMaxUnits, OverageCost, Pools, RunRequests, StopsAt, Verdict,
};

use std::path::PathBuf;

use rust_decimal::Decimal;

use crate::pricing::{Evidence, Per, OVERLAY_FLAG};
use crate::workflow::{Step, Workflow};

/// The cost of one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepEstimate {
    pub name: String,
    pub endpoint: String,
    pub per: Per,
    pub unit_cost: u64,
    pub targets: u64,
    /// Regional databases the step runs against (1 when the endpoint takes none).
    pub sources: u64,
    pub repeat: u64,
    pub requests: u64,
    pub records: u64,
    pub units: u64,
    pub units_expected: u64,
    /// Where the endpoint's price comes from (docs/reference.md "The pricing file").
    pub evidence: Evidence,
    /// Sources disagree about the endpoint's price; the larger figure is used.
    pub disputed: bool,
    /// Where the expected band comes from when not from the workflow file itself (absent: the
    /// step's own `expected_rows`, or the worst case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_from: Option<ExpectedFrom>,
}

impl StepEstimate {
    /// The step's figures rest on a price nobody published, or one another source contradicts.
    pub fn uncertain(&self) -> bool {
        self.evidence == Evidence::Assumed || self.disputed
    }
}

/// The source of a step's expected band other than its workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedFrom {
    /// A usage profile's p90 rows per target (`budget plan --profile`).
    Profile,
}

/// The cost of one workflow.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkflowEstimate {
    pub name: String,
    pub path: PathBuf,
    pub steps: Vec<StepEstimate>,
    pub requests: u64,
    pub records: u64,
    pub units: u64,
    pub units_expected: u64,
    pub duration_seconds: f64,
    pub max_units: Option<u64>,
    /// The request rate the duration assumes.
    pub rps: u32,
}

/// Sums over several workflows.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Totals {
    pub requests: u64,
    pub records: u64,
    pub units: u64,
    pub units_expected: u64,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EstimateError {
    #[error("{path}: step {step} ({name}): the {quantity} overflow{} the largest count (18446744073709551615); reduce targets, rows, sources or repeat", if quantity.ends_with('s') { "" } else { "s" })]
    StepOverflow {
        path: String,
        step: usize,
        name: String,
        quantity: &'static str,
    },
    #[error("{path}: the workflow's total {quantity} overflow the largest count (18446744073709551615); split the workflow")]
    TotalOverflow {
        path: String,
        quantity: &'static str,
    },
    #[error("the total {quantity} of all workflows overflow the largest count (18446744073709551615); plan them separately")]
    PlanOverflow { quantity: &'static str },
    #[error("{path}: {}", unknown_price_text(steps))]
    UnknownPrice {
        path: String,
        /// (step number, step name, endpoint).
        steps: Vec<(usize, String, String)>,
    },
}

fn unknown_price_text(steps: &[(usize, String, String)]) -> String {
    let lines: Vec<String> = steps
        .iter()
        .map(|(number, name, endpoint)| {
            format!(
                "step {number} ({name}): the price of {endpoint} is unknown (no source publishes it); set it in a pricing overlay, {OVERLAY_FLAG}, holding `endpoints: {{{endpoint}: {{units: N, evidence: docs, ref: \"where the figure comes from\"}}}}`, or remove the step"
            )
        })
        .collect();
    lines.join("\n  ")
}

/// Estimates one workflow. `default_rps` is the pricing file's rate limit.
pub fn workflow(workflow: &Workflow, default_rps: u32) -> Result<WorkflowEstimate, EstimateError> {
    let path = workflow.path.display().to_string();
    let mut steps = Vec::with_capacity(workflow.steps.len());
    let mut unknown = Vec::new();
    for (i, step) in workflow.steps.iter().enumerate() {
        match estimate_step(step) {
            Ok(estimate) => steps.push(estimate),
            Err(PriceError::Unknown { endpoint }) => {
                unknown.push((i + 1, step.name.clone(), endpoint));
            }
            Err(PriceError::Overflow { quantity }) => {
                return Err(EstimateError::StepOverflow {
                    path,
                    step: i + 1,
                    name: step.name.clone(),
                    quantity,
                })
            }
        }
    }
    if !unknown.is_empty() {
        return Err(EstimateError::UnknownPrice {
            path,
            steps: unknown,
        });
    }
    let total = |quantity: &'static str, pick: fn(&StepEstimate) -> u64| {
        steps
            .iter()
            .try_fold(0u64, |sum, s| sum.checked_add(pick(s)))
            .ok_or(EstimateError::TotalOverflow {
                path: path.clone(),
                quantity,
            })
    };
    let requests = total("requests", |s| s.requests)?;
    let records = total("records", |s| s.records)?;
    let units = total("units", |s| s.units)?;
    let units_expected = total("expected units", |s| s.units_expected)?;
    let rps = workflow.rps.unwrap_or(default_rps).max(1);
    Ok(WorkflowEstimate {
        name: workflow.name.clone(),
        path: workflow.path.clone(),
        requests,
        records,
        units,
        units_expected,
        duration_seconds: seconds(&[(requests, rps)]),
        max_units: workflow.max_units,
        rps,
        steps,
    })
}

/// Whether any step of `workflows` is priced on assumed or disputed evidence (`--strict-prices`).
pub fn uncertain_prices(workflows: &[WorkflowEstimate]) -> bool {
    workflows
        .iter()
        .any(|w| w.steps.iter().any(StepEstimate::uncertain))
}

/// Sums workflows.
pub fn totals(workflows: &[WorkflowEstimate]) -> Result<Totals, EstimateError> {
    let sum = |quantity: &'static str, pick: fn(&WorkflowEstimate) -> u64| {
        workflows
            .iter()
            .try_fold(0u64, |sum, w| sum.checked_add(pick(w)))
            .ok_or(EstimateError::PlanOverflow { quantity })
    };
    Ok(Totals {
        requests: sum("requests", |w| w.requests)?,
        records: sum("records", |w| w.records)?,
        units: sum("units", |w| w.units)?,
        units_expected: sum("expected units", |w| w.units_expected)?,
        duration_seconds: seconds(
            &workflows
                .iter()
                .map(|w| (w.requests, w.rps))
                .collect::<Vec<_>>(),
        ),
    })
}

/// Seconds that `(requests, rps)` runs take one after another, each to the millisecond, summed
/// in decimal: the f64 is the nearest to that short decimal, so JSON prints `0.3`, never
/// `0.30000000000000004` (the noise of adding floats).
fn seconds(runs: &[(u64, u32)]) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    let total = runs
        .iter()
        .filter_map(|&(requests, rps)| {
            Decimal::from(requests)
                .checked_div(Decimal::from(rps.max(1)))
                .map(|s| s.round_dp(3))
        })
        .fold(Decimal::ZERO, |sum, s| sum.saturating_add(s));
    total.to_f64().unwrap_or(f64::MAX)
}

/// A step's figures, from the requests it makes (the pricing law, [`requests`]).
fn estimate_step(step: &Step) -> Result<StepEstimate, PriceError> {
    let e = &step.endpoint;
    let worst = Requests::of(step, Band::Worst)?;
    let expected = Requests::of(step, Band::Expected)?;
    let sources = u64::try_from(step.sources.len().max(1)).map_err(|_| PriceError::Overflow {
        quantity: "sources",
    })?;
    Ok(StepEstimate {
        name: step.name.clone(),
        endpoint: e.name.clone(),
        per: e.per,
        unit_cost: e.units.ok_or_else(|| PriceError::Unknown {
            endpoint: e.name.clone(),
        })?,
        targets: step.targets,
        sources,
        repeat: step.repeat,
        requests: worst.count()?,
        records: worst.records()?,
        units: worst.units(e)?,
        units_expected: expected.units(e)?,
        evidence: e.evidence,
        disputed: e.disputed(),
        expected_from: None,
    })
}

#[cfg(test)]
mod tests;
