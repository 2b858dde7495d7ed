//! `budget plan` and `budget check`.

use std::io::Write;

use crate::cli::{Global, PlanArgs};
use crate::forecast::{self, Verdict, WorkflowForecast};
use crate::pricing::Pricing;
use crate::report::{self, PlanReport};
use crate::workflow::{self, Reserve, Workflow};
use crate::{Error, Status};

/// Everything a plan computes, before rendering.
pub struct Planned {
    pub pricing: Pricing,
    pub workflows: Vec<Workflow>,
    pub forecasts: Vec<WorkflowForecast>,
    pub total: forecast::Totals,
}

/// Loads pricing and workflows and forecasts them; warnings go to stderr.
pub fn forecast_files(global: &Global, paths: &[std::path::PathBuf]) -> Result<Planned, Error> {
    let pricing = Pricing::load(global.pricing.as_deref())?;
    let mut workflows = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for path in paths {
        match workflow::load(path, &pricing) {
            Ok(loaded) => {
                warnings.extend(loaded.warnings);
                workflows.push(loaded.workflow);
            }
            Err(e) => errors.push(e),
        }
    }
    if !global.quiet {
        report::warnings(&mut std::io::stderr().lock(), &warnings);
    }
    if !errors.is_empty() {
        return Err(Error::Workflows(errors));
    }
    let forecasts = workflows
        .iter()
        .map(|w| forecast::forecast(w, pricing.requests_per_second))
        .collect::<Result<Vec<_>, _>>()?;
    let total = forecast::totals(&forecasts)?;
    Ok(Planned {
        pricing,
        workflows,
        forecasts,
        total,
    })
}

pub fn run(global: &Global, args: &PlanArgs, require_balance: bool) -> Result<Status, Error> {
    let reserve = args
        .reserve
        .as_deref()
        .map(Reserve::parse)
        .transpose()
        .map_err(|e| Error::Usage {
            message: format!("--reserve: {e}"),
        })?;
    let planned = forecast_files(global, &args.workflows)?;
    let balance = super::balance::resolve(global, args.units_left)?;
    let assessment = forecast::assess(
        &planned.workflows,
        &planned.forecasts,
        &planned.total,
        balance,
        reserve,
        &planned.pricing,
    );
    let mut out = std::io::stdout().lock();
    report::plan(
        &mut out,
        global.format,
        &PlanReport {
            pricing: &planned.pricing,
            workflows: &planned.forecasts,
            total: &planned.total,
            assessment: &assessment,
        },
    )?;
    out.flush()?;
    match assessment.verdict {
        Verdict::OverBudget => Ok(Status::OverBudget),
        Verdict::Unknown if require_balance => Err(Error::BalanceUnknown),
        Verdict::Fits | Verdict::Unknown => Ok(Status::Ok),
    }
}
