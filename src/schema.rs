//! The JSON Schemas `budget schema` prints: the workflow file's, for editors that validate and
//! complete workflow YAML, and those of the commands' `--format json` output, for programs that
//! read it (docs/json.md documents the same contract field by field).
//!
//! Hand-written files, embedded: `schema/workflow.schema.json` (draft 2020-12, the default of
//! `budget schema`) and `schema/workflow.draft-07.schema.json`, its draft-07 twin for the YAML
//! language server, which validates draft-07 but not yet 2020-12 (docs/editors.md); and
//! `schema/output/NAME.schema.json` (draft 2020-12 only) for the outputs of [`Output`]. The tests
//! below keep the workflow files' field lists equal to the parser's and to each other, and every
//! output schema's fields and values named in docs/json.md; the integration tests validate the
//! binary's real output against the output schemas. The schemas document; nothing here reads a
//! workflow or an output.

/// The draft 2020-12 schema text.
pub const WORKFLOW: &str = include_str!("../schema/workflow.schema.json");

/// The draft-07 schema text: the same fields, `definitions` for `$defs`, and a `$ref` that
/// carries a description wrapped in `allOf` (draft-07 ignores the siblings of a `$ref`).
pub const WORKFLOW_DRAFT_07: &str = include_str!("../schema/workflow.draft-07.schema.json");

/// Which JSON Schema dialect `budget schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Draft {
    /// Draft 2020-12, the current standard.
    #[default]
    V2020_12,
    /// Draft-07, for the YAML language server (VS Code, Neovim, Helix, Zed …).
    V7,
}

/// The workflow schema in `draft`.
pub fn workflow(draft: Draft) -> &'static str {
    match draft {
        Draft::V2020_12 => WORKFLOW,
        Draft::V7 => WORKFLOW_DRAFT_07,
    }
}

/// A command output with a JSON Schema (`budget schema --output NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `plan`, `check` and `gate` (whose JSON goes to stderr).
    Plan,
    Balance,
    /// A quote and `--all-tiers`, one schema with a branch for each.
    Overage,
    Forecast,
    Reconcile,
    Prices,
}

impl Output {
    /// Every output with a schema, in the order docs/json.md documents them.
    pub const ALL: [Output; 6] = [
        Output::Plan,
        Output::Balance,
        Output::Overage,
        Output::Forecast,
        Output::Reconcile,
        Output::Prices,
    ];

    /// The name `--output` takes, which is also the schema file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Output::Plan => "plan",
            Output::Balance => "balance",
            Output::Overage => "overage",
            Output::Forecast => "forecast",
            Output::Reconcile => "reconcile",
            Output::Prices => "prices",
        }
    }

    /// The schema text (draft 2020-12).
    pub fn schema(self) -> &'static str {
        match self {
            Output::Plan => include_str!("../schema/output/plan.schema.json"),
            Output::Balance => include_str!("../schema/output/balance.schema.json"),
            Output::Overage => include_str!("../schema/output/overage.schema.json"),
            Output::Forecast => include_str!("../schema/output/forecast.schema.json"),
            Output::Reconcile => include_str!("../schema/output/reconcile.schema.json"),
            Output::Prices => include_str!("../schema/output/prices.schema.json"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Draft-07 exists for the YAML language server, which reads workflow files only; a program
    /// reading `--format json` can use draft 2020-12, so the output schemas come in that draft
    /// alone rather than in a second set of files to keep equal.
    #[error("--draft 7 is for the workflow schema only (the YAML language server); the output schemas are draft 2020-12: drop --draft 7 to print the {output} schema")]
    DraftOfOutput { output: &'static str },
}

/// What `budget schema` prints: the schema of `output` when one is named, else the workflow
/// file's in `draft`.
pub fn text(output: Option<Output>, draft: Draft) -> Result<&'static str, SchemaError> {
    match (output, draft) {
        (None, draft) => Ok(workflow(draft)),
        (Some(output), Draft::V2020_12) => Ok(output.schema()),
        (Some(output), Draft::V7) => Err(SchemaError::DraftOfOutput {
            output: output.name(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::{text, workflow, Draft, Output, WORKFLOW_DRAFT_07};
    use crate::workflow::{ACCOUNT_FIELDS, BUDGET_FIELDS, STEP_FIELDS, TOP_FIELDS};

    fn parsed(draft: Draft) -> Value {
        serde_json::from_str(workflow(draft)).expect("the schema is JSON")
    }

    #[track_caller]
    fn same_fields(schema: &Value, pointer: &str, fields: &[&str]) {
        let keys: BTreeSet<&str> = schema
            .pointer(pointer)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("schema lacks {pointer}"))
            .keys()
            .map(String::as_str)
            .collect();
        let expected: BTreeSet<&str> = fields.iter().copied().collect();
        assert_eq!(
            keys, expected,
            "{pointer} differs from the parser's field list"
        );
    }

    #[test]
    fn schema_fields_match_the_parser() {
        // (draft, its $schema URI, where the reusable definitions live)
        let cases = [
            (
                Draft::V2020_12,
                "https://json-schema.org/draft/2020-12/schema",
                "$defs",
            ),
            (
                Draft::V7,
                "http://json-schema.org/draft-07/schema#",
                "definitions",
            ),
        ];
        for (draft, uri, defs) in cases {
            let schema = parsed(draft);
            assert_eq!(schema["$schema"], uri, "{draft:?}");
            same_fields(&schema, "/properties", TOP_FIELDS);
            same_fields(&schema, &format!("/{defs}/step/properties"), STEP_FIELDS);
            same_fields(&schema, "/properties/account/properties", ACCOUNT_FIELDS);
            same_fields(&schema, "/properties/budget/properties", BUDGET_FIELDS);
        }
    }

    /// Every leaf of `value` (a string, number, boolean or null) with its path, in a form both
    /// drafts share: `$defs` and `definitions` are written `DEFS`, a `$ref`'s target likewise,
    /// and the `allOf` that draft-07 wraps around a described `$ref` is looked through.
    /// `$schema`, `$id` and `$comment` are the drafts' own and are left out.
    fn leaves(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match key.as_str() {
                        "$schema" | "$id" | "$comment" => {}
                        "allOf" => {
                            for item in child.as_array().into_iter().flatten() {
                                leaves(item, path, out);
                            }
                        }
                        "$ref" => {
                            let target = child.as_str().unwrap_or_default();
                            let target = target
                                .replace("#/$defs/", "#/DEFS/")
                                .replace("#/definitions/", "#/DEFS/");
                            out.push((format!("{path}/$ref"), target));
                        }
                        "$defs" | "definitions" => leaves(child, &format!("{path}/DEFS"), out),
                        other => leaves(child, &format!("{path}/{other}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    leaves(item, &format!("{path}/{i}"), out);
                }
            }
            leaf => out.push((path.to_string(), leaf.to_string())),
        }
    }

    /// docs/json.md, which documents the output schemas field by field.
    const DOC: &str = include_str!("../docs/json.md");

    /// The section of docs/json.md for `output`: from its heading, which names `budget schema
    /// --output NAME`, to the next heading of its level.
    fn section(output: Output) -> &'static str {
        let marker = format!("`budget schema --output {}`", output.name());
        let start = DOC
            .match_indices("\n## ")
            .map(|(i, _)| i + 1)
            .find(|&i| DOC[i..].lines().next().is_some_and(|h| h.contains(&marker)))
            .unwrap_or_else(|| panic!("docs/json.md has no heading naming {marker}"));
        let rest = &DOC[start..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
        &rest[..end]
    }

    /// Every field name the section's tables document: the last part of the path in each row's
    /// first cell (`workflows[].steps[].units` → `units`, `endpoints.*.calls` → `calls`).
    fn documented_fields(section: &str) -> BTreeSet<String> {
        section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|cell| cell.split('`').next())
            .map(|path| {
                let last = path.rsplit('.').next().unwrap_or(path);
                last.trim_end_matches("[]").to_string()
            })
            .collect()
    }

    /// Every property name anywhere in a schema (`$defs` included).
    fn schema_fields(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    out.extend(properties.keys().cloned());
                }
                map.values().for_each(|child| schema_fields(child, out));
            }
            Value::Array(items) => items.iter().for_each(|item| schema_fields(item, out)),
            _ => {}
        }
    }

    /// Every string an `enum` or `const` allows, anywhere in a schema.
    fn schema_values(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("enum", Value::Array(items)) => {
                            out.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
                        }
                        ("const", Value::String(text)) => {
                            out.insert(text.clone());
                        }
                        _ => schema_values(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| schema_values(item, out)),
            _ => {}
        }
    }

    /// Invariant: docs/json.md and the output schemas name the same fields, and the doc names
    /// every value an enumeration takes. A field added to a schema (which the integration
    /// tests force whenever a renderer adds one) fails here until the doc documents it; a row
    /// left in the doc for a field the schema lost fails too.
    #[test]
    fn the_doc_documents_every_field_and_value_of_every_output_schema() {
        for output in Output::ALL {
            let schema: Value = serde_json::from_str(output.schema())
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", output.name()));
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema",
                "{}",
                output.name()
            );
            let text = section(output);
            let mut fields = BTreeSet::new();
            schema_fields(&schema, &mut fields);
            let documented = documented_fields(text);
            let undocumented: Vec<_> = fields.difference(&documented).collect();
            let unknown: Vec<_> = documented.difference(&fields).collect();
            assert!(
                undocumented.is_empty() && unknown.is_empty(),
                "{}: fields of the schema not in docs/json.md: {undocumented:?}; rows of docs/json.md the schema lacks: {unknown:?}",
                output.name()
            );
            let quoted: BTreeSet<&str> = text
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|span| span.trim_matches('"'))
                .collect();
            let mut values = BTreeSet::new();
            schema_values(&schema, &mut values);
            let missing: Vec<_> = values
                .iter()
                .filter(|v| !quoted.contains(v.as_str()))
                .collect();
            assert!(
                missing.is_empty(),
                "{}: values the schema allows that docs/json.md does not name in backticks: {missing:?}",
                output.name()
            );
        }
    }

    #[test]
    fn an_output_schema_is_draft_2020_12_only() {
        assert!(text(Some(Output::Plan), Draft::V2020_12)
            .is_ok_and(|t| t.contains("urn:budget:output:plan:1")));
        assert_eq!(text(None, Draft::V7).ok(), Some(WORKFLOW_DRAFT_07));
        let e = text(Some(Output::Reconcile), Draft::V7).expect_err("refused");
        assert!(
            e.to_string()
                .ends_with("drop --draft 7 to print the reconcile schema"),
            "{e}"
        );
    }

    /// Invariant: the draft-07 file says what the 2020-12 file says. Every property, `required`
    /// list, enum, pattern, bound, description and `$ref` sits at the same place with the same
    /// value, so an edit made to one file and not the other fails here.
    #[test]
    fn the_draft_07_twin_says_the_same() {
        let mut new = Vec::new();
        let mut old = Vec::new();
        leaves(&parsed(Draft::V2020_12), "", &mut new);
        leaves(&parsed(Draft::V7), "", &mut old);
        new.sort();
        old.sort();
        // The 2020-12 file has 7 top-level and 11 step properties, so far more than 18 leaves.
        assert!(new.len() > 18, "too few leaves found: {new:?}");
        let only_new: Vec<_> = new.iter().filter(|l| !old.contains(l)).collect();
        let only_old: Vec<_> = old.iter().filter(|l| !new.contains(l)).collect();
        assert!(
            only_new.is_empty() && only_old.is_empty(),
            "only in workflow.schema.json: {only_new:#?}\nonly in workflow.draft-07.schema.json: {only_old:#?}"
        );
        assert_eq!(new.len(), old.len(), "a leaf is repeated in one file");
    }
}
