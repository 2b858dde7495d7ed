use std::path::Path;

use super::*;
use crate::pricing::Pricing;

#[track_caller]
fn load(yaml: &str) -> Loaded {
    let p = Pricing::embedded().unwrap();
    parse(yaml, Path::new("wf.yaml"), &p).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn problems(yaml: &str) -> Vec<Problem> {
    let p = Pricing::embedded().unwrap();
    match parse(yaml, Path::new("wf.yaml"), &p) {
        Err(WorkflowError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn defaults_are_resolved() {
    let wf = load("source: de\nsteps:\n  - endpoint: /v1/domain/keywords\n  - endpoint: backlinks/all\n    rows: 2000\n    limit: 5000\n  - endpoint: backlinks/raw\n    rows: 250k")
        .workflow;
    assert_eq!(wf.name, "wf");
    let kw = &wf.steps[0];
    assert_eq!(kw.name, "domain/keywords #1");
    assert_eq!(kw.endpoint.name, "domain/keywords");
    // rows default to limit.default (100); limit to min(rows, limit.max) = 100
    assert_eq!(
        (kw.rows, kw.limit, kw.batch, kw.repeat),
        (Some(100), Some(100), 1, 1)
    );
    assert_eq!(kw.sources, vec!["de".to_string()]);
    let raw = &wf.steps[2];
    // min(250000, 100000)
    assert_eq!(raw.limit, Some(100_000));
    assert!(
        raw.sources.is_empty(),
        "backlinks take no source, even with a workflow default"
    );
}

/// (field, line) of each problem of `yaml`.
#[track_caller]
fn lines(yaml: &str) -> Vec<(String, Option<usize>)> {
    problems(yaml)
        .into_iter()
        .map(|p| (p.field, p.line))
        .collect()
}

#[track_caller]
fn at(field: &str, line: usize) -> (String, Option<usize>) {
    (field.to_string(), Some(line))
}

#[test]
fn problems_point_at_their_fields_own_line() {
    // Invariant: a problem's line is its field's line, not its step's (the step is line 4 here).
    assert_eq!(
        lines("name: x\n# comment\nsteps:\n  - endpoint: backlinks/summary\n    targets: 5\n\n    batch: 500\n  - endpoint: nope\n"),
        vec![at("batch", 7), at("endpoint", 8)]
    );
    // Top-level and nested fields.
    assert_eq!(
        lines("version: 2\naccount:\n  tier: 1M\n  billing: weekly\nbudget:\n  rps: 0\nsteps:\n  - endpoint: backlinks/count\n"),
        vec![at("version", 1), at("account.billing", 4), at("budget.rps", 6)]
    );
    // Flow style: each field on its own line too.
    assert_eq!(
        lines("steps: [\n  {endpoint: backlinks/summary,\n   batch: 500},\n  {name: B, endpoint: backlinks/all,\n   rows: 2000, limit: 100}]\n"),
        vec![at("batch", 3), at("limit", 5)]
    );
    // A missing field points at its step; a field of `targets: {file: …}` at itself.
    assert_eq!(
        lines("steps:\n  - name: A\n    batch: 3\n  - endpoint: backlinks/count\n    targets:\n      colour: red\n"),
        vec![at("endpoint", 2), at("targets.colour", 6), at("targets.file", 5)]
    );
    // A compact sequence (items at the key's indent), quoted keys, comments and block scalars.
    assert_eq!(
        lines("steps:\n- endpoint: backlinks/summary\n  \"batch\": 500 # too many\n- name: |\n    endpoint: not a key\n  endpoint: nope\n"),
        vec![at("batch", 3), at("endpoint", 6)]
    );
}

#[test]
fn step_lines_are_recorded() {
    let wf = load("steps:\n  - endpoint: backlinks/count\n\n  -\n    endpoint: backlinks/count\n  - {endpoint: backlinks/count}\n").workflow;
    let lines: Vec<Option<usize>> = wf.steps.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![Some(2), Some(4), Some(6)]);
}

#[test]
fn problem_display_names_file_line_step_field_and_code() {
    let p =
        problems("steps:\n  - name: Summaries\n    endpoint: backlinks/summary\n    batch: 500\n");
    assert_eq!(
        p[0].to_string(),
        "wf.yaml:4: step 1 (Summaries): field `batch`: 500 targets per request is above backlinks/summary's max_batch of 100; set batch to 100 or less [W032]"
    );
}

#[test]
fn reserve_forms() {
    assert_eq!(Reserve::parse("10%"), Ok(Reserve::Percent(10.into())));
    assert_eq!(Reserve::parse("50k"), Ok(Reserve::Units(50_000)));
    assert!(Reserve::parse("150%")
        .unwrap_err()
        .contains("between 0% and 100%"));
    assert!(Reserve::parse("lots").unwrap_err().contains("percentage"));
    // 10% of 30000 = 3000; 12.5% of 1001 = 125.125 → rounds up to 126
    assert_eq!(Reserve::Percent(10.into()).of(30_000), 3_000);
    assert_eq!(Reserve::parse("12.5%").unwrap().of(1001), 126);
    assert_eq!(Reserve::Units(7).of(0), 7);
}

#[test]
fn schedule_forms() {
    assert_eq!(Schedule::parse("daily"), Ok(Schedule::Daily));
    assert_eq!(Schedule::parse("Every 3 days"), Ok(Schedule::EveryDays(3)));
    assert_eq!(Schedule::parse("every day"), Ok(Schedule::Daily));
    assert!(Schedule::parse("every 0 days")
        .unwrap_err()
        .contains("1 or more"));
    assert!(Schedule::parse("hourly")
        .unwrap_err()
        .contains("not a schedule"));
}

#[test]
fn a_long_list_of_problems_is_cut_short() {
    // 150 unknown fields: the first 100 are listed, the other 50 counted.
    let fields: String = (0..150).map(|i| format!("  zz{i}: 1\n")).collect();
    let yaml = format!("steps:\n- endpoint: backlinks/count\n{fields}");
    let p = Pricing::embedded().unwrap();
    let e = parse(&yaml, Path::new("wf.yaml"), &p).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("150 problems in wf.yaml:\n"), "{text:.80}");
    assert_eq!(text.lines().filter(|l| l.starts_with("  - ")).count(), 100);
    assert!(
        text.ends_with("\n  … and 50 more (fix these first)"),
        "{text}"
    );
    assert_eq!(e.problems().len(), 100);
}
