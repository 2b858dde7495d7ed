//! The validation context: where problems are collected, each placed on its field's own line,
//! and the readers every mapping shares (unknown fields, counts, text).
//!
//! Validation never stops at the first problem: each reader records what is wrong and returns
//! `Err(Reported)`, and the caller carries on with the other fields.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::diagnostic::{Diagnostic, Problem, StepRef};
use super::outline::{Outline, PathId};
use crate::pricing::{closest_name, Pricing};

/// Marks a field whose problem has been recorded.
pub(super) struct Reported;

pub(super) struct Check<'a> {
    pub path: &'a Path,
    pub pricing: &'a Pricing,
    outline: &'a Outline,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl<'a> Check<'a> {
    pub fn new(path: &'a Path, pricing: &'a Pricing, outline: &'a Outline) -> Self {
        Self {
            path,
            pricing,
            outline,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The path of step `number` (1-based) in the document.
    pub fn step_path(number: usize) -> PathId {
        PathId::ROOT.key("steps").index(number.saturating_sub(1))
    }

    /// The line of `field` (`batch`, `targets.file`) of `step`, or of the top-level field; when
    /// the field itself is not written (a missing one), the nearest enclosing line.
    pub fn line(&self, step: Option<&StepRef>, field: &str) -> Option<usize> {
        let base = match step {
            Some(step) => Self::step_path(step.number),
            None => PathId::ROOT,
        };
        let segments: Vec<&str> = field.split('.').filter(|s| !s.is_empty()).collect();
        (0..=segments.len()).rev().find_map(|n| {
            let path = segments[..n].iter().fold(base, |p, s| p.key(s));
            self.outline.line(path)
        })
    }

    fn at(&self, step: Option<&StepRef>, field: &str, diagnostic: Diagnostic) -> Problem {
        Problem {
            path: self.path.to_path_buf(),
            step: step.cloned(),
            field: field.to_string(),
            line: self.line(step, field),
            column: None,
            diagnostic,
        }
    }

    pub fn problem(&mut self, step: Option<&StepRef>, field: &str, diagnostic: Diagnostic) {
        let problem = self.at(step, field, diagnostic);
        self.problems.push(problem);
    }

    pub fn warn(&mut self, step: Option<&StepRef>, field: &str, diagnostic: Diagnostic) {
        let warning = self.at(step, field, diagnostic);
        self.warnings.push(warning);
    }

    /// Keys of `m` not in `known`, each with the closest known name; `<<` is a merge key.
    pub fn unknown_fields(
        &mut self,
        m: &Mapping,
        step: Option<&StepRef>,
        prefix: &str,
        known: &'static [&'static str],
    ) {
        for key in m.keys() {
            let key = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| crate::yaml_inline(key));
            if known.contains(&key.as_str()) {
                continue;
            }
            let diagnostic = if key == "<<" {
                Diagnostic::MergeKey
            } else {
                Diagnostic::UnknownField {
                    suggestion: closest_name(&key, known.iter().copied()),
                    known,
                }
            };
            self.problem(step, &format!("{prefix}{key}"), diagnostic);
        }
    }

    /// An optional count field: `Ok(None)` when absent, `Err` when a problem was recorded.
    pub fn count(
        &mut self,
        m: &Mapping,
        step: Option<&StepRef>,
        prefix: &str,
        field: &str,
        min: u64,
    ) -> Result<Option<u64>, Reported> {
        let Some(value) = m.get(field) else {
            return Ok(None);
        };
        let name = format!("{prefix}{field}");
        match crate::count::from_yaml(value) {
            Ok(n) if n < min => {
                self.problem(step, &name, Diagnostic::CountBelow { min, found: n });
                Err(Reported)
            }
            Ok(n) => Ok(Some(n)),
            Err(reason) => {
                self.problem(step, &name, Diagnostic::BadCount { reason });
                Err(Reported)
            }
        }
    }

    /// An optional text field (a number is taken as its text).
    pub fn text(
        &mut self,
        m: &Mapping,
        step: Option<&StepRef>,
        prefix: &str,
        field: &str,
    ) -> Result<Option<String>, Reported> {
        match m.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => {
                self.problem(
                    step,
                    &format!("{prefix}{field}"),
                    Diagnostic::ExpectedText {
                        found: crate::yaml_inline(other),
                    },
                );
                Err(Reported)
            }
        }
    }
}
