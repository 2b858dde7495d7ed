//! Turning workflow YAML into a validated `Workflow`, collecting every problem on the way.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::targets::{count_list, count_targets, TargetCount};
use super::{Account, Loaded, Problem, Reserve, Schedule, Step, StepRef, Workflow, WorkflowError};
use crate::pricing::{
    closest_name, parse_usd, Billing, Endpoint, OverageRate, Pricing, RecordKind, ENTERPRISE,
};

pub(crate) const TOP_FIELDS: &[&str] = &[
    "version", "name", "source", "account", "budget", "schedule", "steps",
];
pub(crate) const STEP_FIELDS: &[&str] = &[
    "name",
    "endpoint",
    "targets",
    "batch",
    "rows",
    "expected_rows",
    "limit",
    "source",
    "sources",
    "calls",
    "repeat",
];
pub(crate) const ACCOUNT_FIELDS: &[&str] = &["tier", "billing", "overage", "usd_per_million"];
pub(crate) const BUDGET_FIELDS: &[&str] = &["max_units", "reserve", "rps"];

/// Parses and validates workflow text. `path` names the file in messages and anchors relative
/// targets files.
pub fn parse(text: &str, path: &Path, pricing: &Pricing) -> Result<Loaded, WorkflowError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        WorkflowError::Syntax {
            path: path.to_path_buf(),
            location: location
                .as_ref()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default(),
            line: location.map(|l| l.line()),
            message: crate::yaml_message(&e),
        }
    })?;
    let mut check = Check {
        path,
        pricing,
        lines: LineIndex::scan(text),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let workflow = check.workflow(&root);
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

struct Check<'a> {
    path: &'a Path,
    pricing: &'a Pricing,
    lines: LineIndex,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

/// Marks a field whose problem has been recorded.
struct Reported;

impl Check<'_> {
    fn problem_at(&self, step: Option<&StepRef>, field: &str, message: String) -> Problem {
        let line = match step {
            Some(step) => self.lines.steps.get(step.number - 1).copied(),
            None => self
                .lines
                .top
                .get(field.split('.').next().unwrap_or(field))
                .copied(),
        };
        Problem {
            path: self.path.to_path_buf(),
            step: step.cloned(),
            field: field.to_string(),
            message,
            line,
        }
    }

    fn problem(&mut self, step: Option<&StepRef>, field: &str, message: impl Into<String>) {
        let problem = self.problem_at(step, field, message.into());
        self.problems.push(problem);
    }

    fn warn(&mut self, step: Option<&StepRef>, field: &str, message: impl Into<String>) {
        let warning = self.problem_at(step, field, message.into());
        self.warnings.push(warning);
    }

    fn unknown_fields(
        &mut self,
        m: &Mapping,
        step: Option<&StepRef>,
        prefix: &str,
        known: &[&str],
    ) {
        for key in m.keys() {
            let key = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| crate::yaml_inline(key));
            if known.contains(&key.as_str()) {
                continue;
            }
            let hint = match closest_name(&key, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known fields: {}", known.join(", ")),
            };
            self.problem(
                step,
                &format!("{prefix}{key}"),
                format!("unknown field; {hint}"),
            );
        }
    }

    /// An optional count field: `Ok(None)` when absent, `Err` when a problem was recorded.
    fn count(
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
                self.problem(step, &name, format!("must be at least {min}, found {n}"));
                Err(Reported)
            }
            Ok(n) => Ok(Some(n)),
            Err(e) => {
                self.problem(step, &name, e);
                Err(Reported)
            }
        }
    }

    fn text(
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
                    format!("expected text, found {}", crate::yaml_inline(other)),
                );
                Err(Reported)
            }
        }
    }

    fn workflow(&mut self, root: &Value) -> Option<Workflow> {
        let Some(m) = root.as_mapping() else {
            let found = match root {
                Value::Null => "an empty file".to_string(),
                other => crate::yaml_inline(other),
            };
            self.problem(
                None,
                "",
                format!("a workflow is a mapping with a `steps` list, found {found}"),
            );
            return None;
        };
        self.unknown_fields(m, None, "", TOP_FIELDS);
        match m.get("version") {
            None => {}
            Some(v) if crate::count::from_yaml(v) == Ok(1) => {}
            Some(v) => self.problem(
                None,
                "version",
                format!(
                    "unsupported version {}; 1 is the only version",
                    crate::yaml_inline(v)
                ),
            ),
        }
        let name = self
            .text(m, None, "", "name")
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                self.path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "workflow".into())
            });
        let source = self.text(m, None, "", "source").ok().flatten();
        let source = source.and_then(|code| self.source_code(None, "source", &code).ok());
        let account = match m.get("account") {
            None => Ok(None),
            Some(value) => self.account(value).map(Some),
        };
        let (max_units, reserve, rps) = match m.get("budget") {
            None => (Ok(None), Ok(None), Ok(None)),
            Some(value) => self.budget(value),
        };
        let schedule = match self.text(m, None, "", "schedule") {
            Ok(Some(text)) => Schedule::parse(&text)
                .map(Some)
                .map_err(|e| self.problem(None, "schedule", e)),
            Ok(None) => Ok(None),
            Err(Reported) => Err(()),
        };
        let steps = self.steps(m.get("steps"), source.as_deref());
        Some(Workflow {
            name,
            path: self.path.to_path_buf(),
            account: account.ok()?,
            max_units: max_units.ok()?,
            reserve: reserve.ok()?,
            rps: rps.ok()?,
            schedule: schedule.ok()?,
            steps: steps?,
        })
    }

    fn account(&mut self, value: &Value) -> Result<Account, Reported> {
        let Some(m) = value.as_mapping() else {
            self.problem(
                None,
                "account",
                "must be a mapping such as `{tier: 1M, billing: monthly}`",
            );
            return Err(Reported);
        };
        let before = self.problems.len();
        self.unknown_fields(m, None, "account.", ACCOUNT_FIELDS);
        let tier = match self.text(m, None, "account.", "tier")? {
            None => {
                self.problem(
                    None,
                    "account.tier",
                    format!("missing; use one of: {}", self.pricing.overage.tier_names()),
                );
                None
            }
            Some(t) if t.eq_ignore_ascii_case(ENTERPRISE) => Some(ENTERPRISE.to_string()),
            Some(t) => match self.pricing.overage.tier(&t) {
                Some(tier) => Some(tier.tier.clone()),
                None => {
                    let names = self.pricing.overage.tier_names();
                    self.problem(
                        None,
                        "account.tier",
                        format!("unknown tier `{t}`; use one of: {names}"),
                    );
                    None
                }
            },
        };
        let billing = match self.text(m, None, "account.", "billing")? {
            None => Billing::default(),
            Some(b) => Billing::parse(&b).unwrap_or_else(|| {
                self.problem(
                    None,
                    "account.billing",
                    format!("unknown billing `{b}`; use monthly or yearly"),
                );
                Billing::default()
            }),
        };
        let overage = match self.text(m, None, "account.", "overage")? {
            None => OverageRate::default(),
            Some(o) => OverageRate::parse(&o).unwrap_or_else(|| {
                self.problem(
                    None,
                    "account.overage",
                    format!("unknown overage rate `{o}`; use plan or addon"),
                );
                OverageRate::default()
            }),
        };
        let usd_per_million = match self.text(m, None, "account.", "usd_per_million")? {
            None => None,
            Some(text) => match parse_usd(&text) {
                Ok(rate) => Some(rate),
                Err(e) => {
                    self.problem(None, "account.usd_per_million", e);
                    None
                }
            },
        };
        if tier.as_deref() == Some(ENTERPRISE)
            && usd_per_million.is_none()
            && m.get("usd_per_million").is_none()
        {
            self.problem(
                None,
                "account.usd_per_million",
                "enterprise overage is priced by contract: set `usd_per_million` to your rate (e.g. \"30.00\")",
            );
        }
        match tier {
            Some(tier) if self.problems.len() == before => Ok(Account {
                tier,
                billing,
                overage,
                usd_per_million,
            }),
            _ => Err(Reported),
        }
    }

    #[allow(clippy::type_complexity)]
    fn budget(
        &mut self,
        value: &Value,
    ) -> (
        Result<Option<u64>, Reported>,
        Result<Option<Reserve>, Reported>,
        Result<Option<u32>, Reported>,
    ) {
        let Some(m) = value.as_mapping() else {
            self.problem(
                None,
                "budget",
                "must be a mapping such as `{max_units: 50000, reserve: 10%}`",
            );
            return (Err(Reported), Err(Reported), Err(Reported));
        };
        self.unknown_fields(m, None, "budget.", BUDGET_FIELDS);
        let max_units = self.count(m, None, "budget.", "max_units", 0);
        let reserve = match m.get("reserve") {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(units) => Ok(Some(Reserve::Units(units))),
                None => {
                    self.problem(
                        None,
                        "budget.reserve",
                        format!("{n} is not a whole number of units or a percentage"),
                    );
                    Err(Reported)
                }
            },
            Some(Value::String(s)) => Reserve::parse(s).map(Some).map_err(|e| {
                self.problem(None, "budget.reserve", e);
                Reported
            }),
            Some(other) => {
                self.problem(
                    None,
                    "budget.reserve",
                    format!(
                        "expected units or a percentage, found {}",
                        crate::yaml_inline(other)
                    ),
                );
                Err(Reported)
            }
        };
        let rps = self
            .count(m, None, "budget.", "rps", 1)
            .and_then(|rps| match rps {
                None => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    self.problem(
                        None,
                        "budget.rps",
                        format!("{n} requests per second is more than any API allows"),
                    );
                    Reported
                }),
            });
        (max_units, reserve, rps)
    }

    /// Validates a regional database code, suggesting the closest known one.
    fn source_code(
        &mut self,
        step: Option<&StepRef>,
        field: &str,
        code: &str,
    ) -> Result<String, Reported> {
        let lower = code.trim().to_ascii_lowercase();
        if self.pricing.knows_source(&lower) {
            // One database, two spellings: count it once.
            return Ok(if lower == "worldwide" {
                "ww".into()
            } else {
                lower
            });
        }
        let hint = match closest_name(&lower, self.pricing.sources.iter().map(String::as_str)) {
            Some(near) if lower.len() > 2 => format!("did you mean `{near}`? "),
            _ => String::new(),
        };
        self.problem(
            step,
            field,
            format!("unknown regional database `{code}`; {hint}use a two-letter country code such as us, de or gb, or ww (`budget prices` lists them)"),
        );
        Err(Reported)
    }

    fn steps(&mut self, value: Option<&Value>, default_source: Option<&str>) -> Option<Vec<Step>> {
        let list = match value {
            Some(Value::Sequence(list)) if !list.is_empty() => list,
            Some(Value::Sequence(_)) | None | Some(Value::Null) => {
                self.problem(None, "steps", "the workflow has no steps; add a `steps:` list with at least one `- endpoint: …`");
                return None;
            }
            Some(other) => {
                self.problem(
                    None,
                    "steps",
                    format!(
                        "must be a list of steps, found {}",
                        crate::yaml_inline(other)
                    ),
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
        let Some(m) = value.as_mapping() else {
            let sref = StepRef {
                number,
                name: format!("step #{number}"),
            };
            self.problem(
                Some(&sref),
                "",
                "a step is a mapping with at least `endpoint: …`",
            );
            return None;
        };
        let endpoint_text = m
            .get("endpoint")
            .and_then(Value::as_str)
            .map(str::to_string);
        let explicit_name = m.get("name").and_then(Value::as_str).map(str::to_string);
        let name = explicit_name
            .clone()
            .unwrap_or_else(|| match &endpoint_text {
                Some(e) => format!("{} #{number}", crate::pricing::normalize_endpoint(e)),
                None => format!("step #{number}"),
            });
        let sref = StepRef { number, name };
        let s = Some(&sref);
        let before = self.problems.len();
        self.unknown_fields(m, s, "", STEP_FIELDS);
        if m.get("name").is_some() && explicit_name.is_none() {
            self.problem(s, "name", "expected text");
        }
        let endpoint = match (m.get("endpoint"), endpoint_text) {
            (None, _) => {
                self.problem(
                    s,
                    "endpoint",
                    "missing; name the API endpoint, e.g. `endpoint: backlinks/summary`",
                );
                None
            }
            (Some(_), None) => {
                self.problem(
                    s,
                    "endpoint",
                    "expected an endpoint path such as backlinks/summary",
                );
                None
            }
            (Some(_), Some(text)) => match self.pricing.endpoint(&text) {
                Some(endpoint) => Some(endpoint.clone()),
                None => {
                    let hint = match self.pricing.closest_endpoint(&text) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "run `budget prices` for the catalogue".to_string(),
                    };
                    self.problem(s, "endpoint", format!("unknown endpoint `{text}`; {hint}"));
                    None
                }
            },
        };
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

        let batch = batch.ok()?.map_or(Ok(e.max_batch), |batch| {
            if batch > e.max_batch {
                self.problem(
                    s,
                    "batch",
                    format!(
                        "{batch} targets per request is above {}'s max_batch of {}; set batch to {} or less",
                        e.name, e.max_batch, e.max_batch
                    ),
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
            dates: None,
            granularity: crate::pricing::Granularity::ByDay,
            line: self.lines.steps.get(number - 1).copied(),
            endpoint,
        })
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
                            format!(
                                "{} returns one record per target, not rows; remove `{field}` (use `targets` and `batch`)",
                                e.name
                            ),
                        );
                    }
                }
                return (None, None, None);
            }
        };
        let (Ok(rows), Ok(expected_rows), Ok(limit)) = (rows, expected_rows, limit) else {
            return (None, None, None);
        };
        let rows = rows.unwrap_or(row_limit.default);
        if !e.paged && rows > row_limit.max {
            self.problem(
                s,
                "rows",
                format!(
                    "{rows} rows per target is above the {} that {} returns (it is not paged); set rows to {} or less{}",
                    row_limit.max,
                    e.name,
                    row_limit.max,
                    if e.name.starts_with("backlinks/") { ", or use backlinks/raw, which pages" } else { "" }
                ),
            );
        }
        if let Some(limit) = limit {
            if limit > row_limit.max {
                self.problem(
                    s,
                    "limit",
                    format!(
                        "{limit} rows per request is above {}'s maximum of {}; set limit to {} or less",
                        e.name, row_limit.max, row_limit.max
                    ),
                );
            } else if !e.paged && limit < rows && rows <= row_limit.max {
                self.problem(
                    s,
                    "limit",
                    format!(
                        "{} is not paged, so one request per target returns at most {limit} rows, fewer than rows {rows}; raise limit to {rows} or lower rows",
                        e.name
                    ),
                );
            }
        }
        if let Some(expected) = expected_rows {
            if expected > rows {
                self.problem(
                    s,
                    "expected_rows",
                    format!("{expected} is more than rows {rows}; expected_rows is the likely case and rows the worst case, so expected_rows ≤ rows"),
                );
            }
        }
        let limit = limit.unwrap_or(rows.min(row_limit.max));
        (Some(rows), expected_rows, Some(limit))
    }

    /// `source: us`, `sources: [us, de]` or either form with a list; `Err` after a problem.
    fn step_sources(
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
            self.problem(
                s,
                "sources",
                "both `source` and `sources` are set; keep one",
            );
            return Err(Reported);
        }
        let Some(&field) = given.first() else {
            return Ok(codes);
        };
        let items: Vec<&Value> = match &m[field] {
            Value::Sequence(list) if list.is_empty() => {
                self.problem(
                    s,
                    field,
                    "the list is empty; name at least one regional database",
                );
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
                    self.problem(
                        s,
                        field,
                        format!(
                            "expected a regional database code, found {}",
                            crate::yaml_inline(item)
                        ),
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return Err(Reported);
        }
        Ok(codes)
    }

    fn resolve_sources(
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
                    format!(
                        "{} takes no regional database (`source`); remove `{field}` from this step",
                        e.name
                    ),
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
                        format!(
                            "{} needs a regional database; add `source: us` (or another code) to this step or to the workflow",
                            e.name
                        ),
                    );
                    None
                }
            };
        }
        let mut codes = Vec::with_capacity(given.len());
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for (field, code) in given {
            match self.source_code(s, &field, &code) {
                Ok(code) if !seen.insert(code.clone()) => {
                    self.problem(
                        s,
                        &field,
                        format!("`{code}` is listed twice; each source runs the step once"),
                    );
                    ok = false;
                }
                Ok(code) => codes.push(code),
                Err(Reported) => ok = false,
            }
        }
        ok.then_some(codes)
    }

    fn targets(&mut self, value: Option<&Value>, s: Option<&StepRef>) -> Option<u64> {
        let count = match value {
            None => return Some(1),
            Some(value @ (Value::Number(_) | Value::String(_))) => {
                match crate::count::from_yaml(value) {
                    Ok(0) => {
                        self.problem(
                            s,
                            "targets",
                            "must be at least 1 (remove the step if it has nothing to do)",
                        );
                        return None;
                    }
                    Ok(n) => return Some(n),
                    Err(e) => {
                        self.problem(
                            s,
                            "targets",
                            format!("{e}; or give a list of targets, or `{{file: targets.txt}}`"),
                        );
                        return None;
                    }
                }
            }
            Some(Value::Sequence(list)) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                if names.len() != list.len() {
                    self.problem(
                        s,
                        "targets",
                        "every target in the list must be text (a domain, host or URL)",
                    );
                    return None;
                }
                if names.is_empty() {
                    self.problem(s, "targets", "the list is empty; give at least one target");
                    return None;
                }
                if let Some(blank) = names.iter().position(|n| n.trim().is_empty()) {
                    self.problem(
                        s,
                        "targets",
                        format!(
                            "target #{} is empty; remove it or write the domain",
                            blank + 1
                        ),
                    );
                    return None;
                }
                let count = count_list(names.into_iter());
                self.duplicates(s, "the list", count);
                count
            }
            Some(Value::Mapping(m)) => self.targets_file(m, s)?,
            Some(other) => {
                self.problem(
                    s,
                    "targets",
                    format!(
                        "expected a count, a list or `{{file: path}}`, found {}",
                        crate::yaml_inline(other)
                    ),
                );
                return None;
            }
        };
        Some(count.targets)
    }

    fn targets_file(&mut self, m: &Mapping, s: Option<&StepRef>) -> Option<TargetCount> {
        self.unknown_fields(m, s, "targets.", &["file"]);
        let Some(file) = m.get("file").and_then(Value::as_str) else {
            self.problem(
                s,
                "targets.file",
                "missing; write `targets: {file: path/to/targets.txt}`",
            );
            return None;
        };
        let base = self.path.parent().unwrap_or(Path::new(""));
        let resolved = base.join(file);
        let reader = std::fs::File::open(&resolved).map_err(|e| {
            self.problem(
                s,
                "targets.file",
                format!(
                    "cannot read targets file {}: {} (the path is relative to the workflow file)",
                    resolved.display(),
                    crate::io_reason(&e)
                ),
            )
        });
        let reader = reader.ok()?;
        if reader.metadata().is_ok_and(|m| !m.is_file()) {
            self.problem(
                s,
                "targets.file",
                format!(
                    "{} is not a regular file; name a text file with one target per line",
                    resolved.display()
                ),
            );
            return None;
        }
        let count = count_targets(reader)
            .map_err(|e| {
                let reason = crate::io_reason(&e);
                self.problem(
                    s,
                    "targets.file",
                    format!("cannot read targets file {}: {reason}", resolved.display()),
                )
            })
            .ok()?;
        if count.targets == 0 {
            self.problem(
                s,
                "targets.file",
                format!(
                    "{} lists no targets (only blank lines or # comments)",
                    resolved.display()
                ),
            );
            return None;
        }
        self.duplicates(s, &resolved.display().to_string(), count);
        Some(count)
    }

    fn duplicates(&mut self, s: Option<&StepRef>, origin: &str, count: TargetCount) {
        if count.duplicates > 0 {
            let n = count.duplicates;
            self.warn(
                s,
                "targets",
                format!(
                    "{origin} repeats {n} target{}; {} counted (and paid) as many times as listed",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it is" } else { "they are" }
                ),
            );
        }
    }
}

/// Lines of top-level keys and of each step, found by scanning the text (block style only).
#[derive(Default)]
struct LineIndex {
    top: HashMap<String, usize>,
    steps: Vec<usize>,
}

impl LineIndex {
    fn scan(text: &str) -> Self {
        let mut index = Self::default();
        let mut in_steps = false;
        let mut item_indent = None;
        for (i, line) in text.lines().enumerate() {
            let number = i + 1;
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if indent == 0 && !trimmed.starts_with('-') {
                if let Some((key, _)) = trimmed.split_once(':') {
                    index.top.entry(key.trim().to_string()).or_insert(number);
                    in_steps = key.trim() == "steps";
                    continue;
                }
            }
            if in_steps && (trimmed == "-" || trimmed.starts_with("- ")) {
                match item_indent {
                    None => {
                        item_indent = Some(indent);
                        index.steps.push(number);
                    }
                    Some(expected) if expected == indent => index.steps.push(number),
                    Some(_) => {}
                }
            }
        }
        index
    }
}
