//! The plan arithmetic (`budget plan`; not `budget forecast`, which is `finance`): workflow × pricing → requests, records and units, per step and in total,
//! and the verdict against a balance.
//!
//! Pure and exact: unit counts are `u64` with checked arithmetic (an overflow is an error naming
//! the step, never a wrap or a panic) and money is `Decimal`. No I/O of any kind.

mod verdict;

#[cfg(test)]
mod laws;

pub use verdict::{
    assess, overage_account, overage_cost, Assessment, Balance, BalanceSource, BalanceView,
    OverMaxUnits, OverageCost, Pools, Verdict,
};

use std::path::PathBuf;

use rust_decimal::Decimal;

use crate::pricing::{Endpoint, Per, RecordKind};
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
    /// Where the expected band comes from when not from the workflow file itself (absent: the
    /// step's own `expected_rows`, or the worst case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_from: Option<ExpectedFrom>,
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
}

/// Estimates one workflow. `default_rps` is the pricing file's rate limit.
pub fn workflow(workflow: &Workflow, default_rps: u32) -> Result<WorkflowEstimate, EstimateError> {
    let path = workflow.path.display().to_string();
    let mut steps = Vec::with_capacity(workflow.steps.len());
    for (i, step) in workflow.steps.iter().enumerate() {
        let overflow = |quantity| EstimateError::StepOverflow {
            path: path.clone(),
            step: i + 1,
            name: step.name.clone(),
            quantity,
        };
        steps.push(estimate_step(step).map_err(overflow)?);
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

/// The arithmetic table of DESIGN §3. `Err` names the quantity that overflowed.
fn estimate_step(step: &Step) -> Result<StepEstimate, &'static str> {
    let e = &step.endpoint;
    let t = step.targets;
    let s = u64::try_from(step.sources.len().max(1)).map_err(|_| "sources")?;
    let r = step.repeat;
    // Runs of the step: once per source, `repeat` times.
    let runs = s.checked_mul(r).ok_or("requests")?;
    let mul = |a: u64, b: u64, what| a.checked_mul(b).ok_or(what);

    // Requests and records of one run, worst case and expected.
    let (requests_one, requests_one_expected, records_one, records_one_expected) = match e.record {
        RecordKind::Target => {
            let requests = t.div_ceil(step.batch);
            (requests, requests, t, t)
        }
        RecordKind::Row => {
            let rows = step.rows.unwrap_or(1);
            let expected_rows = step.expected_rows.unwrap_or(rows);
            let limit = step.limit.unwrap_or(rows).max(1);
            let pages = |rows: u64| {
                if e.paged {
                    rows.div_ceil(limit).max(1)
                } else {
                    1
                }
            };
            (
                mul(t, pages(rows), "requests")?,
                mul(t, pages(expected_rows), "requests")?,
                mul(t, rows, "records")?,
                mul(t, expected_rows, "records")?,
            )
        }
    };
    let (requests, requests_expected) = match step.calls {
        Some(calls) => {
            let requests = mul(calls, runs, "requests")?;
            (requests, requests)
        }
        None => (
            mul(requests_one, runs, "requests")?,
            mul(requests_one_expected, runs, "requests")?,
        ),
    };
    let records = mul(records_one, runs, "records")?;
    let records_expected = mul(records_one_expected, runs, "records")?;
    let (billed, billed_expected) = match e.per {
        Per::Record => (records, records_expected),
        Per::Request => (requests, requests_expected),
    };
    Ok(StepEstimate {
        name: step.name.clone(),
        endpoint: e.name.clone(),
        per: e.per,
        unit_cost: e.units,
        targets: t,
        sources: s,
        repeat: r,
        requests,
        records,
        units: mul(billed, e.units, "units")?,
        units_expected: mul(billed_expected, e.units, "units")?,
        expected_from: None,
    })
}

/// Worst-case units of one request carrying `targets` targets (and, for row endpoints, asking
/// for `rows` rows per target): the step arithmetic above applied to a single call, for the
/// run-time guard. `Err` names the quantity that overflowed.
pub fn price_request(
    endpoint: &Endpoint,
    targets: u64,
    rows: Option<u64>,
) -> Result<u64, &'static str> {
    let targets = targets.max(1);
    let rows = match endpoint.record {
        RecordKind::Target => None,
        RecordKind::Row => Some(rows.unwrap_or(1)),
    };
    let step = Step {
        name: String::new(),
        endpoint: endpoint.clone(),
        targets,
        batch: targets,
        rows,
        expected_rows: None,
        limit: rows,
        sources: Vec::new(),
        calls: Some(1),
        repeat: 1,
        line: None,
    };
    estimate_step(&step).map(|s| s.units)
}

#[cfg(test)]
mod tests;
