//! The JSON Schema (draft 2020-12) of the workflow file, for editors that validate and complete
//! workflow YAML. Hand-written in `schema/workflow.schema.json` and embedded; a test keeps its
//! field lists equal to the parser's. It documents the format; `workflow` stays the validator.

/// The schema text.
pub const WORKFLOW: &str = include_str!("../schema/workflow.schema.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::workflow::{ACCOUNT_FIELDS, BUDGET_FIELDS, STEP_FIELDS, TOP_FIELDS};

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
        let schema: Value = serde_json::from_str(super::WORKFLOW).expect("the schema is JSON");
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        same_fields(&schema, "/properties", TOP_FIELDS);
        same_fields(&schema, "/$defs/step/properties", STEP_FIELDS);
        same_fields(&schema, "/properties/account/properties", ACCOUNT_FIELDS);
        same_fields(&schema, "/properties/budget/properties", BUDGET_FIELDS);
    }
}
