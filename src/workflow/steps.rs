//! The `steps` list: each step's endpoint, counts and row fields, checked against the pricing
//! catalogue (`max_batch`, `limit.max`, paging).

use serde_yaml::Value;

use chrono::NaiveDate;
use serde_yaml::Mapping;

use super::check::{Check, Reported};
use super::diagnostic::{Diagnostic, StepRef};
use super::fields::STEP_FIELDS;
use super::Step;
use crate::pricing::range::parse_date;
use crate::pricing::{Endpoint, Granularity, RecordKind};

/// A step's date range and granularity, once checked.
type Range = (Option<(NaiveDate, NaiveDate)>, Granularity);

/// How a step is named in messages: its `name`, else `<endpoint> #<n>`, else `step #<n>`.
pub(super) fn step_ref(number: usize, value: &Value) -> StepRef {
    let name = match (
        value.get("name").and_then(Value::as_str),
        value.get("endpoint").and_then(Value::as_str),
    ) {
        (Some(name), _) => name.to_string(),
        (None, Some(endpoint)) => {
            format!("{} #{number}", crate::pricing::normalize_endpoint(endpoint))
        }
        (None, None) => format!("step #{number}"),
    };
    StepRef { number, name }
}

impl Check<'_> {
    pub(super) fn steps(
        &mut self,
        value: Option<&Value>,
        default_source: Option<&str>,
    ) -> Option<Vec<Step>> {
        let list = match value {
            Some(Value::Sequence(list)) if !list.is_empty() => list,
            Some(Value::Sequence(_)) | None | Some(Value::Null) => {
                self.problem(None, "steps", Diagnostic::NoSteps);
                return None;
            }
            Some(other) => {
                self.problem(
                    None,
                    "steps",
                    Diagnostic::StepsNotAList {
                        found: crate::yaml_inline(other),
                    },
                );
                return None;
            }
        };
        let mut steps = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, value) in list.iter().enumerate() {
            match self.step(i + 1, value, default_source) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn step(&mut self, number: usize, value: &Value, default_source: Option<&str>) -> Option<Step> {
        let sref = step_ref(number, value);
        let s = Some(&sref);
        let Some(m) = value.as_mapping() else {
            self.problem(s, "", Diagnostic::StepNotMapping);
            return None;
        };
        let before = self.problems.len();
        self.unknown_fields(m, s, "", STEP_FIELDS);
        if let Some(name) = m.get("name").filter(|n| !n.is_string()) {
            let found = crate::yaml_inline(name);
            self.problem(s, "name", Diagnostic::ExpectedText { found });
        }
        let endpoint = self.endpoint(m.get("endpoint"), s);
        let targets = self.targets(m.get("targets"), s);
        let batch = self.count(m, s, "", "batch", 1);
        let rows = self.count(m, s, "", "rows", 1);
        let expected_rows = self.count(m, s, "", "expected_rows", 0);
        let limit = self.count(m, s, "", "limit", 1);
        let calls = self.count(m, s, "", "calls", 1);
        let repeat = self.count(m, s, "", "repeat", 1);
        let sources = self.step_sources(m, s);
        let endpoint = endpoint?;
        let e = &endpoint;
        if e.units.is_none() {
            let endpoint = e.name.clone();
            self.problem(s, "endpoint", Diagnostic::PriceUnknown { endpoint });
        }
        let range = self.range(m, s, e);

        // A step that sets no batch sends the endpoint's default batch (at most max_batch).
        let batch = batch.ok()?.map_or(Ok(e.default_batch), |batch| {
            if batch > e.max_batch {
                self.problem(
                    s,
                    "batch",
                    Diagnostic::BatchAboveMax {
                        batch,
                        endpoint: e.name.clone(),
                        max_batch: e.max_batch,
                    },
                );
                return Err(Reported);
            }
            Ok(batch)
        });
        let (rows, expected_rows, limit) = self.row_fields(s, e, rows, expected_rows, limit);
        let sources = self.resolve_sources(s, e, sources, default_source);
        if self.problems.len() > before {
            return None;
        }
        Some(Step {
            name: sref.name.clone(),
            targets: targets?,
            batch: batch.ok()?,
            rows,
            expected_rows,
            limit,
            sources: sources?,
            calls: calls.ok()?,
            repeat: repeat.ok()?.unwrap_or(1),
            dates: range.as_ref().ok()?.0,
            granularity: range.ok()?.1,
            line: self.line(s, ""),
            endpoint,
        })
    }

    /// `date_from`, `date_to` and `granularity`: a period endpoint takes all three, a day
    /// endpoint the dates; without dates a step asks for the endpoint's default range.
    fn range(&mut self, m: &Mapping, s: Option<&StepRef>, e: &Endpoint) -> Result<Range, Reported> {
        let mut failed = false;
        for field in ["date_from", "date_to", "granularity"] {
            let taken = match e.record {
                RecordKind::Period => true,
                RecordKind::Day => field != "granularity",
                RecordKind::Target | RecordKind::Row => false,
            };
            if taken || !m.contains_key(field) {
                continue;
            }
            let diagnostic = match (e.record, field) {
                (RecordKind::Day, "granularity") => Diagnostic::GranularityNotTaken {
                    endpoint: e.name.clone(),
                },
                _ => Diagnostic::NotARangeEndpoint {
                    endpoint: e.name.clone(),
                    field,
                },
            };
            self.problem(s, field, diagnostic);
            failed = true;
        }
        if failed {
            return Err(Reported);
        }
        let mut date = |field: &str| -> Result<Option<NaiveDate>, Reported> {
            match self.text(m, s, "", field)? {
                None => Ok(None),
                Some(text) => parse_date(text.trim()).map(Some).ok_or_else(|| {
                    let found = format!("{text:?}");
                    self.problem(s, field, Diagnostic::BadDate { found });
                    Reported
                }),
            }
        };
        let from = date("date_from");
        let to = date("date_to");
        let granularity = match self.text(m, s, "", "granularity") {
            Ok(None) => Ok(Granularity::ByDay),
            Ok(Some(text)) => Granularity::parse(text.trim()).ok_or_else(|| {
                let found = format!("{text:?}");
                self.problem(s, "granularity", Diagnostic::BadGranularity { found });
                Reported
            }),
            Err(Reported) => Err(Reported),
        };
        let dates = match (from?, to?) {
            (None, None) => None,
            (Some(_), None) => {
                self.problem(s, "date_to", Diagnostic::HalfRange { missing: "date_to" });
                return Err(Reported);
            }
            (None, Some(_)) => {
                let missing = "date_from";
                self.problem(s, "date_from", Diagnostic::HalfRange { missing });
                return Err(Reported);
            }
            (Some(from), Some(to)) if from > to => {
                let (from, to) = (from.to_string(), to.to_string());
                self.problem(s, "date_to", Diagnostic::DatesBackwards { from, to });
                return Err(Reported);
            }
            (Some(from), Some(to)) => Some((from, to)),
        };
        Ok((dates, granularity?))
    }

    /// The step's endpoint in the catalogue, suggesting the closest name for a typo.
    fn endpoint(&mut self, value: Option<&Value>, s: Option<&StepRef>) -> Option<Endpoint> {
        let Some(value) = value else {
            self.problem(s, "endpoint", Diagnostic::EndpointMissing);
            return None;
        };
        let Some(text) = value.as_str() else {
            self.problem(s, "endpoint", Diagnostic::EndpointNotText);
            return None;
        };
        match self.pricing.endpoint(text) {
            Some(endpoint) => Some(endpoint.clone()),
            None => {
                let suggestion = self.pricing.closest_endpoint(text).map(str::to_string);
                self.problem(
                    s,
                    "endpoint",
                    Diagnostic::UnknownEndpoint {
                        endpoint: text.to_string(),
                        suggestion,
                    },
                );
                None
            }
        }
    }

    /// Resolves `rows`, `expected_rows` and `limit` against the endpoint's kind and limits.
    fn row_fields(
        &mut self,
        s: Option<&StepRef>,
        e: &Endpoint,
        rows: Result<Option<u64>, Reported>,
        expected_rows: Result<Option<u64>, Reported>,
        limit: Result<Option<u64>, Reported>,
    ) -> (Option<u64>, Option<u64>, Option<u64>) {
        let row_limit = match (e.record, e.limit) {
            (RecordKind::Row, Some(row_limit)) => row_limit,
            _ => {
                for (field, given) in [
                    ("rows", &rows),
                    ("expected_rows", &expected_rows),
                    ("limit", &limit),
                ] {
                    if matches!(given, Ok(Some(_))) {
                        self.problem(
                            s,
                            field,
                            Diagnostic::NotARowEndpoint {
                                endpoint: e.name.clone(),
                                field,
                            },
                        );
                    }
                }
                return (None, None, None);
            }
        };
        let (Ok(rows), Ok(expected_rows), Ok(limit)) = (rows, expected_rows, limit) else {
            return (None, None, None);
        };
        // Rows the step wants per target: as given, else what its `limit` asks for (a request
        // asking `limit=L` can return L rows), else the endpoint's default limit.
        let asked = limit.filter(|l| *l <= row_limit.max);
        let rows = rows.or(asked).unwrap_or(row_limit.default);
        if !e.paged && rows > row_limit.max {
            self.problem(
                s,
                "rows",
                Diagnostic::RowsAboveMax {
                    rows,
                    endpoint: e.name.clone(),
                    max: row_limit.max,
                    paged_alternative: e.name.starts_with("backlinks/").then_some("backlinks/raw"),
                },
            );
        }
        if let Some(limit) = limit {
            if limit > row_limit.max {
                self.problem(
                    s,
                    "limit",
                    Diagnostic::LimitAboveMax {
                        limit,
                        endpoint: e.name.clone(),
                        max: row_limit.max,
                    },
                );
            } else if !e.paged && limit < rows && rows <= row_limit.max {
                self.problem(
                    s,
                    "limit",
                    Diagnostic::LimitBelowRows {
                        endpoint: e.name.clone(),
                        limit,
                        rows,
                    },
                );
            }
        }
        if let Some(expected) = expected_rows {
            if expected > rows {
                self.problem(
                    s,
                    "expected_rows",
                    Diagnostic::ExpectedAboveRows { expected, rows },
                );
            }
        }
        let limit = limit.unwrap_or(rows.min(row_limit.max));
        (Some(rows), expected_rows, Some(limit))
    }
}
