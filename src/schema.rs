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

    use super::{workflow, Draft};
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
