//! Regional databases: `source: us` (a workflow default or a step's), `sources: [us, de]`, and
//! whether the step's endpoint takes one at all.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::check::{Check, Reported};
use super::diagnostic::{Diagnostic, StepRef};
use crate::pricing::{closest_name, Endpoint};

impl Check<'_> {
    /// Validates a regional database code, suggesting the closest known one.
    pub(super) fn source_code(
        &mut self,
        step: Option<&StepRef>,
        field: &str,
        code: &str,
    ) -> Result<String, Reported> {
        let lower = code.trim().to_ascii_lowercase();
        // One database, two spellings (`gb` for `uk`, `worldwide` for `ww`): its canonical code.
        if let Some(canonical) = self.pricing.source_code(&lower) {
            return Ok(canonical);
        }
        let suggestion = match closest_name(&lower, self.pricing.sources.iter().map(String::as_str))
        {
            Some(near) if lower.len() > 2 => Some(near.to_string()),
            _ => None,
        };
        self.problem(
            step,
            field,
            Diagnostic::UnknownSource {
                code: code.to_string(),
                suggestion,
            },
        );
        Err(Reported)
    }

    /// `source: us`, `sources: [us, de]` or either form with a list; `Err` after a problem.
    pub(super) fn step_sources(
        &mut self,
        m: &Mapping,
        s: Option<&StepRef>,
    ) -> Result<Vec<(String, String)>, Reported> {
        let mut codes = Vec::new();
        let given: Vec<&str> = ["source", "sources"]
            .into_iter()
            .filter(|f| m.contains_key(*f))
            .collect();
        if given.len() == 2 {
            self.problem(s, "sources", Diagnostic::SourceAndSources);
            return Err(Reported);
        }
        let Some(&field) = given.first() else {
            return Ok(codes);
        };
        let items: Vec<&Value> = match &m[field] {
            Value::Sequence(list) if list.is_empty() => {
                self.problem(s, field, Diagnostic::EmptySources);
                return Err(Reported);
            }
            Value::Sequence(list) => list.iter().collect(),
            other => vec![other],
        };
        let mut failed = false;
        for item in items {
            match item.as_str() {
                Some(code) => codes.push((field.to_string(), code.to_string())),
                None => {
                    let found = crate::yaml_inline(item);
                    self.problem(s, field, Diagnostic::SourceNotText { found });
                    failed = true;
                }
            }
        }
        if failed {
            return Err(Reported);
        }
        Ok(codes)
    }

    pub(super) fn resolve_sources(
        &mut self,
        s: Option<&StepRef>,
        e: &Endpoint,
        given: Result<Vec<(String, String)>, Reported>,
        default_source: Option<&str>,
    ) -> Option<Vec<String>> {
        let given = given.ok()?;
        if !e.source {
            if let Some((field, _)) = given.first() {
                self.problem(
                    s,
                    field,
                    Diagnostic::SourceNotTaken {
                        endpoint: e.name.clone(),
                        field: field.clone(),
                    },
                );
                return None;
            }
            return Some(Vec::new());
        }
        if given.is_empty() {
            return match default_source {
                Some(code) => Some(vec![code.to_string()]),
                None => {
                    self.problem(
                        s,
                        "source",
                        Diagnostic::SourceMissing {
                            endpoint: e.name.clone(),
                        },
                    );
                    None
                }
            };
        }
        let mut codes = Vec::with_capacity(given.len());
        // canonical code → the spelling that named it first.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut ok = true;
        for (field, written) in given {
            match self.source_code(s, &field, &written) {
                Ok(code) => match seen.get(&code) {
                    Some(first) if first.eq_ignore_ascii_case(written.trim()) => {
                        self.problem(s, &field, Diagnostic::SourceTwice { code });
                        ok = false;
                    }
                    Some(first) => {
                        let diagnostic = Diagnostic::SameDatabase {
                            first: first.clone(),
                            second: written.trim().to_string(),
                            code,
                        };
                        self.problem(s, &field, diagnostic);
                        ok = false;
                    }
                    None => {
                        seen.insert(code.clone(), written.trim().to_string());
                        codes.push(code);
                    }
                },
                Err(Reported) => ok = false,
            }
        }
        ok.then_some(codes)
    }
}
