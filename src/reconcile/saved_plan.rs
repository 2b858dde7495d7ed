//! Reading a saved plan (`budget plan --format json > plan.json`): what reconciling needs of it —
//! each workflow's name and path, each step's name, endpoint and planned requests and units, and
//! the total. Other fields (present now or added later) are ignored.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Planned, ReconcileError};
use crate::estimate::{Totals, WorkflowEstimate};
use crate::files::{self, FileKind};

/// One step of a saved plan; its number is its place in the workflow, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedStep {
    pub name: String,
    pub endpoint: String,
    pub planned: Planned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedWorkflow {
    pub name: String,
    pub path: String,
    pub steps: Vec<SavedStep>,
}

/// A saved plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlan {
    pub path: PathBuf,
    pub workflows: Vec<SavedWorkflow>,
    pub total: Planned,
}

/// Reads and checks a saved plan; every missing or mistyped field is reported at once.
pub fn load(path: &Path) -> Result<SavedPlan, ReconcileError> {
    let bytes = files::read(path, FileKind::Plan)?;
    let root: Value = serde_json::from_slice(files::strip_bom(&bytes)).map_err(|e| {
        ReconcileError::PlanSyntax {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    parse(path, &root)
}

/// Collects the problems of a plan's JSON.
struct Problems(Vec<String>);

impl Problems {
    fn count(&mut self, value: &Value, at: &str, field: &str) -> u64 {
        match value.get(field).and_then(Value::as_u64) {
            Some(n) => n,
            None => {
                self.0
                    .push(format!("`{at}.{field}` is missing or not a count"));
                0
            }
        }
    }

    fn text(&mut self, value: &Value, at: &str, field: &str) -> String {
        match value.get(field).and_then(Value::as_str) {
            Some(s) => s.to_string(),
            None => {
                self.0
                    .push(format!("`{at}.{field}` is missing or not a string"));
                String::new()
            }
        }
    }

    fn planned(&mut self, value: &Value, at: &str) -> Planned {
        Planned {
            requests: self.count(value, at, "requests"),
            units: self.count(value, at, "units"),
            units_expected: self.count(value, at, "units_expected"),
        }
    }
}

/// The plan just computed from workflow files, as a saved plan would hold it (`budget report
/// --journal` without `--plan`: the journals against the plan the page shows). `path` is empty.
pub fn from_estimates(workflows: &[WorkflowEstimate], total: &Totals) -> SavedPlan {
    let planned = |requests, units, units_expected| Planned {
        requests,
        units,
        units_expected,
    };
    SavedPlan {
        path: PathBuf::new(),
        workflows: workflows
            .iter()
            .map(|w| SavedWorkflow {
                name: w.name.clone(),
                path: w.path.display().to_string(),
                steps: w
                    .steps
                    .iter()
                    .map(|s| SavedStep {
                        name: s.name.clone(),
                        endpoint: s.endpoint.clone(),
                        planned: planned(s.requests, s.units, s.units_expected),
                    })
                    .collect(),
            })
            .collect(),
        total: planned(total.requests, total.units, total.units_expected),
    }
}

fn parse(path: &Path, root: &Value) -> Result<SavedPlan, ReconcileError> {
    let mut p = Problems(Vec::new());
    let total = match root.get("total") {
        Some(total) if total.is_object() => p.planned(total, "total"),
        _ => {
            p.0.push("`total` is missing or not an object".into());
            Planned::default()
        }
    };
    let mut workflows = Vec::new();
    match root.get("workflows").and_then(Value::as_array) {
        None => p.0.push("`workflows` is missing or not a list".into()),
        Some(list) => {
            for (i, w) in list.iter().enumerate() {
                let at = format!("workflows[{i}]");
                let name = p.text(w, &at, "name");
                let path = w
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let mut steps = Vec::new();
                match w.get("steps").and_then(Value::as_array) {
                    None => p.0.push(format!("`{at}.steps` is missing or not a list")),
                    Some(list) => {
                        for (j, s) in list.iter().enumerate() {
                            let at = format!("{at}.steps[{j}]");
                            steps.push(SavedStep {
                                name: p.text(s, &at, "name"),
                                endpoint: p.text(s, &at, "endpoint"),
                                planned: p.planned(s, &at),
                            });
                        }
                    }
                }
                workflows.push(SavedWorkflow { name, path, steps });
            }
        }
    }
    if !p.0.is_empty() {
        return Err(ReconcileError::PlanShape {
            path: path.to_path_buf(),
            problems: p.0,
        });
    }
    Ok(SavedPlan {
        path: path.to_path_buf(),
        workflows,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_plan_is_read_and_unknown_fields_are_ignored() {
        let json = serde_json::json!({
            "version": 1,
            "workflows": [{
                "name": "Audit", "path": "audit.yaml", "later_field": true,
                "steps": [{"name": "Summaries", "endpoint": "backlinks/summary", "requests": 3,
                           "units": 25000, "units_expected": 25000, "evidence": "table"}]
            }],
            "total": {"requests": 3, "units": 25000, "units_expected": 20000},
            "balance": {"pools": []}
        });
        let plan = parse(Path::new("plan.json"), &json).expect("plan");
        assert_eq!(plan.workflows[0].name, "Audit");
        assert_eq!(plan.workflows[0].path, "audit.yaml");
        assert_eq!(
            plan.workflows[0].steps[0],
            SavedStep {
                name: "Summaries".into(),
                endpoint: "backlinks/summary".into(),
                planned: Planned {
                    requests: 3,
                    units: 25_000,
                    units_expected: 25_000
                }
            }
        );
        assert_eq!(plan.total.units_expected, 20_000);
    }

    #[test]
    fn every_problem_is_named() {
        let json = serde_json::json!({
            "workflows": [{"name": "A", "steps": [{"name": "s", "endpoint": 5, "requests": -1,
                           "units": 1, "units_expected": 1}]}]
        });
        let e = parse(Path::new("plan.json"), &json)
            .unwrap_err()
            .to_string();
        for phrase in [
            "plan.json is not a saved `budget plan --format json` result",
            "`total` is missing or not an object",
            "`workflows[0].steps[0].endpoint` is missing or not a string",
            "`workflows[0].steps[0].requests` is missing or not a count",
        ] {
            assert!(e.contains(phrase), "{e} lacks {phrase:?}");
        }
    }
}
