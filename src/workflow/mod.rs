//! Workflow files: what a job is going to call, validated against the pricing catalogue.
//!
//! A workflow is written by a person, so validation is thorough and precise: every problem in a
//! file is collected and reported together, each naming the file, the step (number and name) and
//! the field, with what to do about it. This module is pure: it reads the workflow file and the
//! targets files it names, and nothing else. It never prices anything (see `forecast`).

mod account;
mod check;
mod diagnostic;
mod document;
mod fields;
mod outline;
mod sources;
mod steps;
mod target_count;
mod targets;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::pricing::{Billing, Endpoint, Granularity, OverageRate, Pricing};

pub use diagnostic::{
    Clip, Code, Diagnostic, Problem, Severity, StepRef, Warning, WorkflowError, MAX_SHOWN,
};
#[cfg(test)]
pub(crate) use fields::{ACCOUNT_FIELDS, BUDGET_FIELDS, STEP_FIELDS, TOP_FIELDS};
pub use outline::MAX_DEPTH;
pub use target_count::{count_targets, TargetCount, TargetsError, MAX_LINE};

/// A validated workflow, every default resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub path: PathBuf,
    pub account: Option<Account>,
    pub max_units: Option<u64>,
    pub reserve: Option<Reserve>,
    pub rps: Option<u32>,
    pub schedule: Option<Schedule>,
    pub steps: Vec<Step>,
}

/// One validated step. `rows` and `limit` are set exactly for row endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub endpoint: Endpoint,
    pub targets: u64,
    pub batch: u64,
    pub rows: Option<u64>,
    pub expected_rows: Option<u64>,
    pub limit: Option<u64>,
    /// Regional databases the step runs against; empty for endpoints that take none.
    pub sources: Vec<String>,
    pub calls: Option<u64>,
    pub repeat: u64,
    /// Period and day endpoints: the date range asked for (`date_from`, `date_to`); `None` asks
    /// for the endpoint's default range.
    pub dates: Option<(NaiveDate, NaiveDate)>,
    /// Period endpoints: how rows are grouped (`by_day` unless the step says otherwise).
    pub granularity: Granularity,
    /// 1-based line of the step in its file, when it could be found.
    pub line: Option<usize>,
}

/// The account whose overage tier prices units beyond the balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// A tier of the pricing file (`1M` … `500M`) or `enterprise`.
    pub tier: String,
    pub billing: Billing,
    /// The overage rate, when overage is on; `None` (`overage: off`, the default): the vendor's
    /// default, where calls fail with "Insufficient funds" once the balance is spent.
    pub overage: Option<OverageRate>,
    pub usd_per_million: Option<Decimal>,
}

impl Account {
    /// USD per 1M overage units: the account's own `usd_per_million`, else its tier's table
    /// rate for its billing and overage kind. `None` when overage is off or the tier is not in
    /// `pricing`.
    pub fn usd_per_million(&self, pricing: &Pricing) -> Option<Decimal> {
        let rate = self.overage?;
        match self.usd_per_million {
            Some(usd) => Some(usd),
            None => Some(pricing.overage.tier(&self.tier)?.rate(self.billing, rate)),
        }
    }
}

/// Units kept untouched: a count, or a percentage of `units_left`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    Units(u64),
    Percent(Decimal),
}

impl Reserve {
    /// Parses `"10%"`, `"12.5%"` or a count such as `"50k"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(
            match crate::count::units_or_percent(text, Some(Decimal::ONE_HUNDRED))? {
                crate::count::UnitsOrPercent::Units(units) => Self::Units(units),
                crate::count::UnitsOrPercent::Percent(percent) => Self::Percent(percent),
            },
        )
    }

    /// The reserve for a balance. A percentage rounds up: a reserve is never smaller than asked.
    pub fn of(self, units_left: u64) -> u64 {
        match self {
            Self::Units(units) => units,
            Self::Percent(percent) => {
                let exact = Decimal::from(units_left) * percent / Decimal::ONE_HUNDRED;
                u64::try_from(exact.ceil()).unwrap_or(units_left)
            }
        }
    }
}

impl fmt::Display for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Units(units) => write!(f, "{units} units"),
            Self::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

/// How often a workflow runs, for `budget forecast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Once,
    Daily,
    Weekly,
    Monthly,
    EveryDays(u32),
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        match words.as_slice() {
            ["once"] => Ok(Self::Once),
            ["daily"] | ["every", "day"] => Ok(Self::Daily),
            ["weekly"] | ["every", "week"] => Ok(Self::Weekly),
            ["monthly"] | ["every", "month"] => Ok(Self::Monthly),
            ["every", n, "days" | "day"] => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Self::EveryDays(n)),
                _ => Err(format!(
                    "\"{}\": the number of days must be a whole number of 1 or more",
                    diagnostic::Clip(text)
                )),
            },
            _ => Err(format!(
                "\"{}\" is not a schedule; use once, daily, weekly, monthly or \"every N days\"",
                diagnostic::Clip(text)
            )),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Once => f.write_str("once"),
            Self::Daily => f.write_str("daily"),
            Self::Weekly => f.write_str("weekly"),
            Self::Monthly => f.write_str("monthly"),
            Self::EveryDays(n) => write!(f, "every {n} days"),
        }
    }
}

/// A workflow and the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub workflow: Workflow,
    pub warnings: Vec<Warning>,
}

/// Reads and validates a workflow file.
pub fn load(path: &Path, pricing: &Pricing) -> Result<Loaded, WorkflowError> {
    // Bounded: a regular file of at most the workflow cap (docs/security.md).
    let bytes = crate::files::read(path, crate::files::FileKind::Workflow)
        .map_err(|source| WorkflowError::Read { source })?;
    let text = document::text(bytes, path)?;
    parse(&text, path, pricing)
}

/// Parses and validates workflow text. `path` names the file in messages and anchors relative
/// targets files.
pub fn parse(text: &str, path: &Path, pricing: &Pricing) -> Result<Loaded, WorkflowError> {
    let document = document::parse(text, path)?;
    let mut check = check::Check::new(path, pricing, &document.outline);
    check.tags(&document);
    let workflow = check.workflow(&document.root);
    match workflow {
        Some(workflow) if check.problems.is_empty() => Ok(Loaded {
            workflow,
            warnings: check.warnings,
        }),
        _ => Err(WorkflowError::Invalid {
            path: path.to_path_buf(),
            problems: check.problems,
        }),
    }
}

#[cfg(test)]
mod tests;
