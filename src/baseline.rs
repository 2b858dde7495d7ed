//! Comparing a plan with a saved one (`--compare-to old.json`), so a reviewer sees what a change
//! adds: "this change adds 12,000 units".
//!
//! Reads only the baseline file it is given (a saved `budget plan --format json` result) and
//! computes; it prints nothing. Workflows are matched by path, then by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use crate::estimate::{Totals, WorkflowEstimate};
use crate::files::{self, FileError, FileKind};

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Missing, not a regular file, or larger than the baseline cap (docs/security.md).
    #[error("{source}; save one with `budget plan WF... --format json > FILE`")]
    Read { source: FileError },
    #[error("baseline {} is not JSON ({reason}); it must be a saved `budget plan --format json` result", path.display())]
    Syntax { path: PathBuf, reason: String },
    #[error("baseline {} is not a saved `budget plan --format json` result: {what}", path.display())]
    Shape { path: PathBuf, what: String },
    #[error("baseline {} has version {found}; this budget reads version 1 (save the baseline again with this budget)", path.display())]
    Version { path: PathBuf, found: String },
    #[error("baseline {}: its workflows add up to {} units but its total says {}; was it edited? Save it again", path.display(), crate::count::thousands(*sum), crate::count::thousands(*total))]
    Totals { path: PathBuf, sum: u64, total: u64 },
    #[error("baseline {}: workflow {workflow:?} is listed twice (entries {first} and {second}); a saved plan lists each workflow once", path.display())]
    Duplicate {
        path: PathBuf,
        workflow: String,
        first: usize,
        second: usize,
    },
}

/// One workflow of a saved plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedWorkflow {
    pub name: String,
    pub path: String,
    pub units: u64,
}

/// A saved plan: what the comparison needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub path: PathBuf,
    pub workflows: Vec<SavedWorkflow>,
    pub total_units: u64,
}

/// How much the total may grow: units, or a percentage of the baseline total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxIncrease {
    Units(u64),
    Percent(Decimal),
}

impl MaxIncrease {
    /// Parses `12000`, `"12k"` or `"10%"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match crate::count::units_or_percent(text, None)? {
            crate::count::UnitsOrPercent::Units(units) => Self::Units(units),
            crate::count::UnitsOrPercent::Percent(percent) => Self::Percent(percent),
        })
    }
}

impl std::fmt::Display for MaxIncrease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Units(n) => write!(f, "{} units", crate::count::thousands(*n)),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Before and after of one workflow or of the total; `None` where it did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub path: Option<String>,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

impl Change {
    /// After minus before (a missing side counts as 0).
    pub fn delta(&self) -> i128 {
        i128::from(self.after.unwrap_or(0)) - i128::from(self.before.unwrap_or(0))
    }

    /// The change in percent of `before`, to one decimal (half away from zero); `None` when
    /// there was nothing before.
    pub fn percent(&self) -> Option<Decimal> {
        let before = self.before.filter(|b| *b > 0)?;
        let delta = Decimal::from_i128_with_scale(self.delta(), 0);
        let exact = delta
            .checked_mul(Decimal::ONE_HUNDRED)?
            .checked_div(Decimal::from(before))?;
        let mut rounded = exact.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(1);
        Some(rounded)
    }
}

/// A plan compared with its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub baseline: PathBuf,
    /// Current workflows in order, then those only in the baseline.
    pub workflows: Vec<Change>,
    pub total: Change,
    pub max_increase: Option<MaxIncrease>,
    /// The total grew by more than `max_increase`.
    pub exceeded: bool,
}

/// Reads a saved `--format json` plan: a regular file within the baseline cap, JSON (a UTF-8
/// byte order mark is fine), version 1, each workflow once, workflows that add up to the total.
/// A baseline that breaks these would make every figure of the comparison wrong, so it is
/// refused rather than compared with.
pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
    let bytes =
        files::read(path, FileKind::Baseline).map_err(|source| BaselineError::Read { source })?;
    let root: Value =
        serde_json::from_slice(files::strip_bom(&bytes)).map_err(|e| BaselineError::Syntax {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let shape = |what: &str| BaselineError::Shape {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    match root.get("version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => {
            return Err(BaselineError::Version {
                path: path.to_path_buf(),
                found: v.to_string(),
            })
        }
        None => return Err(shape("`version` is missing")),
    }
    let total_units = root
        .pointer("/total/units")
        .and_then(Value::as_u64)
        .ok_or_else(|| shape("`total.units` is missing or not a count"))?;
    let list = root
        .get("workflows")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("`workflows` is missing or not a list"))?;
    let mut workflows = Vec::with_capacity(list.len());
    for (i, w) in list.iter().enumerate() {
        let field = |name: &str| w.get(name);
        let (Some(name), Some(units)) = (
            field("name").and_then(Value::as_str),
            field("units").and_then(Value::as_u64),
        ) else {
            return Err(shape(&format!(
                "workflow {} lacks a `name` or a `units` count",
                i + 1
            )));
        };
        workflows.push(SavedWorkflow {
            name: name.to_string(),
            path: field("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            units,
        });
    }
    check_workflows(path, &workflows, total_units)?;
    Ok(Baseline {
        path: path.to_path_buf(),
        workflows,
        total_units,
    })
}

/// Each workflow once (by path, or by name when it has none), and units that add up.
fn check_workflows(
    path: &Path,
    workflows: &[SavedWorkflow],
    total: u64,
) -> Result<(), BaselineError> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(workflows.len());
    for (i, w) in workflows.iter().enumerate() {
        let key = if w.path.is_empty() {
            ("", w.name.as_str())
        } else {
            (w.path.as_str(), "")
        };
        if let Some(first) = seen.insert(key, i + 1) {
            return Err(BaselineError::Duplicate {
                path: path.to_path_buf(),
                workflow: if w.path.is_empty() {
                    w.name.clone()
                } else {
                    w.path.clone()
                },
                first,
                second: i + 1,
            });
        }
    }
    // A sum beyond u64 cannot equal the total either.
    let sum = workflows
        .iter()
        .try_fold(0u64, |sum, w| sum.checked_add(w.units));
    match sum {
        Some(sum) if sum == total => Ok(()),
        sum => Err(BaselineError::Totals {
            path: path.to_path_buf(),
            sum: sum.unwrap_or(u64::MAX),
            total,
        }),
    }
}

/// Compares forecasts with a baseline.
pub fn compare(
    baseline: &Baseline,
    forecasts: &[WorkflowEstimate],
    total: &Totals,
    max_increase: Option<MaxIncrease>,
) -> Comparison {
    let mut used = vec![false; baseline.workflows.len()];
    let mut workflows = Vec::with_capacity(forecasts.len());
    for f in forecasts {
        let path = f.path.display().to_string();
        let found = baseline
            .workflows
            .iter()
            .enumerate()
            .position(|(i, s)| !used[i] && s.path == path)
            .or_else(|| {
                baseline
                    .workflows
                    .iter()
                    .enumerate()
                    .position(|(i, s)| !used[i] && s.name == f.name)
            });
        if let Some(i) = found {
            used[i] = true;
        }
        workflows.push(Change {
            name: f.name.clone(),
            path: Some(path),
            before: found.map(|i| baseline.workflows[i].units),
            after: Some(f.units),
        });
    }
    for (saved, _) in baseline
        .workflows
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
    {
        workflows.push(Change {
            name: saved.name.clone(),
            path: (!saved.path.is_empty()).then(|| saved.path.clone()),
            before: Some(saved.units),
            after: None,
        });
    }
    let total = Change {
        name: "total".into(),
        path: None,
        before: Some(baseline.total_units),
        after: Some(total.units),
    };
    let increase = total.delta();
    let exceeded = match max_increase {
        None => false,
        Some(MaxIncrease::Units(n)) => increase > i128::from(n),
        Some(MaxIncrease::Percent(p)) => {
            // increase / before × 100 > p, kept exact: increase × 100 > p × before.
            increase > 0 && {
                let lhs = Decimal::from_i128_with_scale(increase, 0) * Decimal::ONE_HUNDRED;
                // A percentage too large to multiply out is a limit nothing can exceed.
                p.checked_mul(Decimal::from(baseline.total_units))
                    .is_some_and(|limit| lhs > limit)
            }
        }
    };
    Comparison {
        baseline: baseline.path.clone(),
        workflows,
        total,
        max_increase,
        exceeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(name: &str, path: &str, units: u64) -> WorkflowEstimate {
        WorkflowEstimate {
            name: name.into(),
            path: path.into(),
            steps: Vec::new(),
            requests: 0,
            records: 0,
            units,
            units_expected: units,
            duration_seconds: 0.0,
            max_units: None,
            rps: 10,
        }
    }

    fn saved(name: &str, path: &str, units: u64) -> SavedWorkflow {
        SavedWorkflow {
            name: name.into(),
            path: path.into(),
            units,
        }
    }

    fn totals(units: u64) -> Totals {
        Totals {
            units,
            ..Totals::default()
        }
    }

    #[test]
    fn matched_by_path_then_name() {
        let baseline = Baseline {
            path: "old.json".into(),
            workflows: vec![
                saved("A", "a.yaml", 26_000),
                saved("B old", "b.yaml", 1_000),
                saved("C", "c.yaml", 500),
            ],
            total_units: 27_500,
        };
        // A by path (26,000 → 38,000: +12,000, +46.2%), "B new" by path, "C" by name (moved),
        // D is new.
        let now = [
            forecast("A", "a.yaml", 38_000),
            forecast("B new", "b.yaml", 1_000),
            forecast("C", "moved/c.yaml", 250),
            forecast("D", "d.yaml", 100),
        ];
        let c = compare(&baseline, &now, &totals(39_350), None);
        let got: Vec<(Option<u64>, Option<u64>, i128)> = c
            .workflows
            .iter()
            .map(|w| (w.before, w.after, w.delta()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(26_000), Some(38_000), 12_000),
                (Some(1_000), Some(1_000), 0),
                (Some(500), Some(250), -250),
                (None, Some(100), 100),
            ]
        );
        assert_eq!(c.workflows[0].percent().unwrap().to_string(), "46.2"); // 12000/26000 = 46.15…%
        assert_eq!(c.workflows[2].percent().unwrap().to_string(), "-50.0");
        assert_eq!(c.workflows[3].percent(), None);
        // 39,350 − 27,500 = 11,850
        assert_eq!(c.total.delta(), 11_850);
        assert!(!c.exceeded);
    }

    #[test]
    fn removed_workflows_are_listed() {
        let baseline = Baseline {
            path: "old.json".into(),
            workflows: vec![saved("A", "a.yaml", 10), saved("Gone", "g.yaml", 90)],
            total_units: 100,
        };
        let c = compare(&baseline, &[forecast("A", "a.yaml", 10)], &totals(10), None);
        assert_eq!(c.workflows[1].name, "Gone");
        assert_eq!(
            (c.workflows[1].before, c.workflows[1].after),
            (Some(90), None)
        );
        assert_eq!(c.total.delta(), -90);
    }

    #[track_caller]
    fn exceeded(before: u64, after: u64, max: &str) -> bool {
        let baseline = Baseline {
            path: "old.json".into(),
            workflows: Vec::new(),
            total_units: before,
        };
        compare(
            &baseline,
            &[],
            &totals(after),
            Some(MaxIncrease::parse(max).unwrap()),
        )
        .exceeded
    }

    #[test]
    fn max_increase_by_hand() {
        assert!(!exceeded(1000, 1100, "100")); // +100 is not above 100
        assert!(exceeded(1000, 1101, "100"));
        assert!(!exceeded(1000, 1100, "10%")); // exactly 10%
        assert!(exceeded(1000, 1101, "10%")); // 10.1%
        assert!(!exceeded(1000, 500, "0")); // a decrease never fails
        assert!(exceeded(0, 1, "1000%")); // from nothing, any growth is infinite percent
        assert!(!exceeded(0, 1, "1k"));
        // a percentage too large to multiply by the baseline is a limit nothing exceeds
        assert!(!exceeded(1000, 2000, "79228162514264337593543950335%"));
    }

    #[test]
    fn max_increase_parsing() {
        assert_eq!(MaxIncrease::parse("12k"), Ok(MaxIncrease::Units(12_000)));
        assert_eq!(
            MaxIncrease::parse("12.5%"),
            Ok(MaxIncrease::Percent(Decimal::new(125, 1)))
        );
        assert!(MaxIncrease::parse("-5%").unwrap_err().contains("negative"));
        assert!(MaxIncrease::parse("ten%")
            .unwrap_err()
            .contains("not a percentage"));
        assert!(MaxIncrease::parse("lots")
            .unwrap_err()
            .contains("not a count"));
    }
}
