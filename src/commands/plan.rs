//! `budget plan` and `budget check`, and the checking that `budget gate` shares with them.

use super::balance::KeyUse;
use crate::account::ApiKey;
use crate::baseline::{self, Comparison, MaxIncrease};
use crate::cli::{Global, PlanArgs};
use crate::estimate::{self, Assessment, Balance, Verdict, WorkflowEstimate};
use crate::pricing::Pricing;
use crate::report::{self, PlanReport};
use crate::workflow::{self, Reserve, Workflow};
use crate::{Error, Status};

use super::ci;

/// Everything a plan computes, before rendering.
pub struct Planned {
    pub pricing: Pricing,
    pub workflows: Vec<Workflow>,
    pub forecasts: Vec<WorkflowEstimate>,
    pub total: estimate::Totals,
}

/// Loads pricing and workflows and forecasts them, the expected band from a usage profile when
/// one is given; warnings and the profile's notes go to stderr.
pub fn estimate_files(
    global: &Global,
    paths: &[std::path::PathBuf],
    profile: Option<&std::path::Path>,
) -> Result<Planned, Error> {
    let pricing = super::load_pricing(global)?;
    let profile = profile
        .map(|path| Ok::<_, Error>((path, crate::reconcile::profile::load(path)?)))
        .transpose()?;
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
        return Err(Error::Workflows { errors });
    }
    let applied = profile.as_ref().map(|(path, profile)| {
        let app = crate::reconcile::profile::apply(&mut workflows, profile);
        if !global.quiet {
            let notes = report::profile_notes(&workflows, &app, &path.display().to_string());
            report::notes(&mut std::io::stderr().lock(), &notes);
        }
        app.applied
    });
    let mut forecasts = workflows
        .iter()
        .map(|w| estimate::workflow(w, pricing.requests_per_second))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(applied) = &applied {
        crate::reconcile::profile::mark(&mut forecasts, applied);
    }
    let total = estimate::totals(&forecasts)?;
    Ok(Planned {
        pricing,
        workflows,
        forecasts,
        total,
    })
}

/// A plan ready to be judged: forecasts, the balance without reservations, the account.
pub struct Checked {
    pub planned: Planned,
    pub reserve: Option<Reserve>,
    pub balance: Option<Balance>,
    /// [`crate::account::account_id`] of the key.
    pub account: String,
    pub api_key: Option<ApiKey>,
    pub comparison: Option<Comparison>,
    /// `--offline`: why no balance is known, when none is.
    pub offline: bool,
    /// `--strict-prices`: a verdict of "fits" must not rest on an assumed or disputed price.
    pub strict_prices: bool,
}

impl Checked {
    /// Judges the plan with `reserved` units held by other running jobs.
    pub fn assess(&self, reserved: u64) -> Assessment {
        let balance = self.balance.clone().map(|b| Balance { reserved, ..b });
        estimate::assess(
            &self.planned.workflows,
            &self.planned.forecasts,
            &self.planned.total,
            balance,
            self.reserve,
            &self.planned.pricing,
        )
    }

    pub fn report<'a>(&'a self, assessment: &'a Assessment) -> PlanReport<'a> {
        PlanReport {
            pricing: &self.planned.pricing,
            workflows: &self.planned.forecasts,
            total: &self.planned.total,
            assessment,
            offline: self.offline,
            strict_failed: self.strict_prices
                && assessment.verdict == Verdict::Fits
                && estimate::uncertain_prices(&self.planned.forecasts),
        }
    }
}

/// `--reserve N|P%`.
pub(super) fn parse_reserve(reserve: Option<&str>) -> Result<Option<Reserve>, Error> {
    reserve
        .map(Reserve::parse)
        .transpose()
        .map_err(|e| Error::Usage {
            message: format!("--reserve: {e}"),
        })
}

/// Warns on stderr when the workflows name different accounts (the first one prices overage).
pub(super) fn warn_accounts(global: &Global, workflows: &[Workflow]) {
    if let Some(warning) = estimate::overage_account(workflows).warning() {
        if !global.quiet {
            report::notes(
                &mut std::io::stderr().lock(),
                &[format!("warning: {warning}")],
            );
        }
    }
}

/// Parses the flags, loads and forecasts the workflows, compares with the baseline and reads the
/// balance. Flag problems come first, so a typo never waits for the API.
pub fn prepare(global: &Global, args: &PlanArgs) -> Result<Checked, Error> {
    let reserve = parse_reserve(args.reserve.as_deref())?;
    let max_increase = args
        .max_increase
        .as_deref()
        .map(MaxIncrease::parse)
        .transpose()
        .map_err(|e| Error::Usage {
            message: format!("--max-increase: {e}"),
        })?;
    let saved = args.compare_to.as_deref().map(baseline::load).transpose()?;
    let planned = estimate_files(global, &args.workflows, args.profile.as_deref())?;
    warn_accounts(global, &planned.workflows);
    let comparison = saved
        .map(|saved| baseline::compare(&saved, &planned.forecasts, &planned.total, max_increase));
    let key_use = match global.offline || args.units_left.is_some() {
        true => KeyUse::LedgerOnly,
        false => KeyUse::CallIfSet,
    };
    let api_key = super::balance::load_key(global, key_use)?;
    let account = crate::account::account_id(api_key.as_ref());
    let balance = super::balance::resolve(global, args.units_left, api_key.as_ref())?;
    Ok(Checked {
        planned,
        reserve,
        balance,
        account,
        api_key,
        comparison,
        offline: global.offline,
        strict_prices: args.strict_prices,
    })
}

pub fn run(global: &Global, args: &PlanArgs, require_balance: bool) -> Result<Status, Error> {
    let checked = prepare(global, args)?;
    // Reservations matter only against a balance; without one the ledger is not touched.
    let reserved = match &checked.balance {
        Some(_) => super::open_ledger(global)?.reserved(&checked.account)?,
        None => 0,
    };
    let assessment = checked.assess(reserved);
    let report = checked.report(&assessment);
    let comparison = checked.comparison.as_ref();
    super::to_stdout(|out| report::plan_compared(out, global.format, &report, comparison))?;
    ci::step_summary(&report, comparison);
    if ci::github_actions() {
        report::verdict_annotations(&mut std::io::stderr().lock(), &report, comparison);
    }
    let exceeded = comparison.is_some_and(|c| c.exceeded);
    // A verdict of "fits" that rests on an assumed or disputed price fails with --strict-prices.
    let strict_failed = report.strict_failed;
    if strict_failed {
        report::notes(
            &mut std::io::stderr().lock(),
            &report::strict_prices_lines(&report),
        );
    }
    match assessment.verdict {
        Verdict::OverBudget => Ok(Status::OverBudget),
        Verdict::Unknown if require_balance => Err(Error::BalanceUnknown {
            offline: global.offline,
        }),
        _ if exceeded || strict_failed => Ok(Status::OverBudget),
        Verdict::Fits | Verdict::Unknown => Ok(Status::Ok),
    }
}
