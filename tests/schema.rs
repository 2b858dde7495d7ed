//! `budget schema`: the workflow file's JSON Schema, in draft 2020-12 and draft-07.

use serde_json::Value;

use crate::support::run;

fn schema() -> Value {
    run(&["schema"]).code(0).json()
}

/// The printed schema of each draft, each with a validator of that draft, so every check below
/// runs on both: `budget schema` (2020-12) and `budget schema --draft 7`.
fn validators() -> Vec<(&'static str, jsonschema::Validator)> {
    let new = schema();
    assert_eq!(
        new["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let old = run(&["schema", "--draft", "7"]).code(0).json();
    assert_eq!(old["$schema"], "http://json-schema.org/draft-07/schema#");
    vec![
        (
            "2020-12",
            jsonschema::draft202012::new(&new).expect("a valid draft 2020-12 schema"),
        ),
        (
            "7",
            jsonschema::draft7::new(&old).expect("a valid draft-07 schema"),
        ),
    ]
}

fn yaml(text: &str) -> Value {
    let value: serde_yaml::Value = serde_yaml::from_str(text).expect("yaml");
    serde_json::to_value(value).expect("yaml as json")
}

#[test]
fn every_example_workflow_validates() {
    for (draft, validator) in validators() {
        let mut checked = 0;
        for entry in
            std::fs::read_dir(crate::support::root().join("workflows")).expect("workflows/")
        {
            let path = entry.expect("entry").path();
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                continue;
            }
            let doc = yaml(&std::fs::read_to_string(&path).expect("read"));
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "draft {draft}: {}: {errors:?}",
                path.display()
            );
            checked += 1;
        }
        assert!(
            checked >= 5,
            "draft {draft}: only {checked} workflows checked"
        );
    }
}

/// Editors find the schema through the comment on each bundled workflow's first line
/// (docs/editors.md): it must be there and name the draft-07 file, which must exist.
#[test]
fn every_example_workflow_names_the_draft_07_schema() {
    let root = crate::support::root();
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("workflows")).expect("workflows/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "# yaml-language-server: $schema=../schema/workflow.draft-07.schema.json",
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} workflows checked");
    let named = root.join("workflows/../schema/workflow.draft-07.schema.json");
    let on_disk = std::fs::read_to_string(named).expect("the schema the comment names");
    let printed = run(&["schema", "--draft", "7"]).code(0).stdout.clone();
    assert_eq!(on_disk, printed, "budget schema --draft 7 prints the file");
}

#[test]
fn an_unknown_draft_is_refused() {
    run(&["schema", "--draft", "4"])
        .code(2)
        .stderr_has("invalid value '4' for '--draft <DRAFT>'")
        .stderr_has("[possible values: 2020-12, 7]");
}

#[test]
fn valid_and_invalid_samples() {
    for (draft, validator) in validators() {
        samples(draft, &validator);
    }
}

#[track_caller]
fn samples(draft: &str, validator: &jsonschema::Validator) {
    let valid = [
        "steps: [{endpoint: backlinks/summary}]",
        "version: 1\nsource: us\naccount: {tier: 1M, billing: yearly, overage: addon}\nbudget: {max_units: 250k, reserve: 10%, rps: 5}\nschedule: every 3 days\nsteps: [{endpoint: /v1/domain/keywords, targets: {file: t.txt}, sources: [us, de], rows: \"3_000\", expected_rows: 100, limit: 1000, calls: 2, repeat: 2}]",
        "account: {tier: enterprise, usd_per_million: \"30.00\"}\nsteps: [{endpoint: backlinks/all, targets: [a.com, b.com], rows: 1.5M}]",
        "account: {tier: 1M, overage: off}\nsteps: [{endpoint: backlinks/authority/page/history, date_from: 2026-01-01, date_to: 2026-10-31, granularity: by_month}]",
        "steps: [{endpoint: GET serp/classic/tasks, calls: 5}, {endpoint: keywords/export, sources: [uk], targets: 20k, batch: 10000}]",
    ];
    for text in valid {
        let errors: Vec<String> = validator
            .iter_errors(&yaml(text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "draft {draft}: {text}: {errors:?}");
    }
    let invalid = [
        ("no steps", "name: x"),
        ("empty steps", "steps: []"),
        ("unknown top field", "stepz: []\nsteps: [{endpoint: a}]"),
        ("unknown step field", "steps: [{endpoint: a, target: 3}]"),
        ("missing endpoint", "steps: [{targets: 3}]"),
        ("count as words", "steps: [{endpoint: a, targets: ten}]"),
        ("zero targets", "steps: [{endpoint: a, targets: 0}]"),
        ("negative rows", "steps: [{endpoint: a, rows: -5}]"),
        (
            "source and sources",
            "steps: [{endpoint: a, source: us, sources: [de]}]",
        ),
        (
            "enterprise without a rate",
            "account: {tier: enterprise}\nsteps: [{endpoint: a}]",
        ),
        (
            "bad billing",
            "account: {tier: 1M, billing: weekly}\nsteps: [{endpoint: a}]",
        ),
        (
            "bad reserve",
            "budget: {reserve: some}\nsteps: [{endpoint: a}]",
        ),
        (
            "bad schedule",
            "schedule: sometimes\nsteps: [{endpoint: a}]",
        ),
        ("version 2", "version: 2\nsteps: [{endpoint: a}]"),
        (
            "bad overage",
            "account: {tier: 1M, overage: sometimes}\nsteps: [{endpoint: a}]",
        ),
        (
            "bad granularity",
            "steps: [{endpoint: a, granularity: hourly}]",
        ),
        ("bad date", "steps: [{endpoint: a, date_from: 2026/10/01}]"),
    ];
    for (what, text) in invalid {
        assert!(
            !validator.is_valid(&yaml(text)),
            "draft {draft}: {what} validated: {text}"
        );
    }
}
