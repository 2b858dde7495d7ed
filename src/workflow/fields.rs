//! The fields of each mapping, and the top level of a workflow: version, name, source,
//! schedule, and where `account`, `budget` and `steps` are handed on.
//!
//! Adding a field: add its name to the list below (the schema test checks
//! schema/workflow.schema.json against these lists), read it where its mapping is checked
//! (`steps.rs`, `account.rs` or here), and give each new problem a `Diagnostic` variant.

use serde_yaml::Value;

use super::check::{Check, Reported};
use super::diagnostic::Diagnostic;
use super::document::{Document, Segment};
use super::{Schedule, Workflow};

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
    "date_from",
    "date_to",
    "granularity",
];
pub(crate) const ACCOUNT_FIELDS: &[&str] = &["tier", "billing", "overage", "usd_per_million"];
pub(crate) const BUDGET_FIELDS: &[&str] = &["max_units", "reserve", "rps"];
/// The fields of `targets: {file: …}`.
pub(crate) const TARGETS_FIELDS: &[&str] = &["file"];

impl Check<'_> {
    /// Reports the custom tags the document had (they were taken off its values).
    pub(super) fn tags(&mut self, document: &Document) {
        for (at, tag) in &document.tags {
            let (step, rest) = match at.as_slice() {
                [Segment::Key(steps), Segment::Index(i), rest @ ..] if steps == "steps" => {
                    let value = document
                        .root
                        .get("steps")
                        .and_then(|s| s.get(*i))
                        .unwrap_or(&Value::Null);
                    (Some(super::steps::step_ref(i + 1, value)), rest)
                }
                all => (None, all),
            };
            let field: Vec<&str> = rest
                .iter()
                .filter_map(|s| match s {
                    Segment::Key(k) => Some(k.as_str()),
                    Segment::Index(_) => None,
                })
                .collect();
            self.problem(
                step.as_ref(),
                &field.join("."),
                Diagnostic::CustomTag { tag: tag.clone() },
            );
        }
    }

    pub(super) fn workflow(&mut self, root: &Value) -> Option<Workflow> {
        let Some(m) = root.as_mapping() else {
            let found = match root {
                Value::Null => "an empty file".to_string(),
                other => crate::yaml_inline(other),
            };
            self.problem(None, "", Diagnostic::NotAWorkflow { found });
            return None;
        };
        self.unknown_fields(m, None, "", TOP_FIELDS);
        match m.get("version") {
            None => {}
            Some(v) if crate::count::from_yaml(v) == Ok(1) => {}
            Some(v) => self.problem(
                None,
                "version",
                Diagnostic::UnsupportedVersion {
                    found: crate::yaml_inline(v),
                },
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
            Ok(Some(text)) => Schedule::parse(&text).map(Some).map_err(|reason| {
                self.problem(None, "schedule", Diagnostic::BadSchedule { reason });
                Reported
            }),
            Ok(None) => Ok(None),
            Err(Reported) => Err(Reported),
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
}
