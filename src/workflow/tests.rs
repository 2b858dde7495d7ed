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

#[test]
fn step_lines_are_found() {
    let p = problems("name: x\n# comment\nsteps:\n  - endpoint: backlinks/summary\n    batch: 500\n\n  - endpoint: nope\n");
    let lines: Vec<Option<usize>> = p.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(4), Some(7)]);
}

#[test]
fn problem_display_names_file_step_and_field() {
    let p =
        problems("steps:\n  - name: Summaries\n    endpoint: backlinks/summary\n    batch: 500\n");
    assert_eq!(
        p[0].to_string(),
        "wf.yaml:2: step 1 (Summaries): field `batch`: 500 targets per request is above backlinks/summary's max_batch of 100; set batch to 100 or less"
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
