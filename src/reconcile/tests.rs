use super::*;

fn planned(requests: u64, units: u64, units_expected: u64) -> Planned {
    Planned {
        requests,
        units,
        units_expected,
    }
}

fn step(name: &str, endpoint: &str, p: Planned) -> SavedStep {
    SavedStep {
        name: name.into(),
        endpoint: endpoint.into(),
        planned: p,
    }
}

/// Audit: 1 Summaries (summary, 300), 2 Backlinks (all, 200, 100 expected), 3 More summaries
/// (summary, 100). Research: 1 Keywords (domain/keywords, 200, 100 expected), 2 Backlinks (all,
/// 100). Total 900 units at worst, 300 + 100 + 100 + 100 + 100 = 700 expected, 7 requests.
fn plan() -> SavedPlan {
    SavedPlan {
        path: "plan.json".into(),
        workflows: vec![
            SavedWorkflow {
                name: "Audit".into(),
                path: "audit.yaml".into(),
                steps: vec![
                    step("Summaries", "backlinks/summary", planned(1, 300, 300)),
                    step("Backlinks", "backlinks/all", planned(2, 200, 100)),
                    step("More summaries", "backlinks/summary", planned(1, 100, 100)),
                ],
            },
            SavedWorkflow {
                name: "Research".into(),
                path: "research.yaml".into(),
                steps: vec![
                    step("Keywords", "domain/keywords", planned(2, 200, 100)),
                    step("Backlinks", "backlinks/all", planned(1, 100, 100)),
                ],
            },
        ],
        total: planned(7, 900, 700),
    }
}

fn call(workflow: Option<&str>, step: Option<&str>, endpoint: &str, units: u64) -> Call {
    Call {
        endpoint: endpoint.into(),
        units_charged: units,
        outcome: "charged".into(),
        overrun: None,
        targets: Some(1),
        workflow: workflow.map(str::to_string),
        step: step.map(str::to_string),
        source: None,
        rows: None,
        target_hash: None,
        continues: false,
    }
}

#[track_caller]
fn goes(workflow: Option<&str>, step: Option<&str>, endpoint: &str, expected: &Target) {
    let plan = plan();
    let r = Reconciler::new(&plan);
    assert_eq!(
        &r.target(&call(workflow, step, endpoint, 0)),
        expected,
        "workflow {workflow:?}, step {step:?}, {endpoint}"
    );
}

#[track_caller]
fn unplanned(workflow: Option<&str>, step: Option<&str>, endpoint: &str, reason: Unplanned) {
    goes(
        workflow,
        step,
        endpoint,
        &Target::Unplanned(
            workflow.map(str::to_string),
            step.map(str::to_string),
            endpoint.into(),
            reason,
        ),
    );
}

#[test]
fn calls_are_attributed_by_tags_then_endpoint() {
    use Target::{Endpoint, Step};
    // Tagged by name, by number, by the workflow's path.
    goes(
        Some("Audit"),
        Some("Summaries"),
        "backlinks/summary",
        &Step(0, 0),
    );
    goes(Some("Audit"), Some("2"), "backlinks/all", &Step(0, 1));
    goes(
        Some("audit.yaml"),
        Some("Backlinks"),
        "backlinks/all",
        &Step(0, 1),
    );
    // A step tag without a workflow: every workflow's steps of that name.
    goes(None, Some("Keywords"), "domain/keywords", &Step(1, 0));
    goes(
        None,
        Some("Backlinks"),
        "backlinks/all",
        &Endpoint(vec![(0, 1), (1, 1)]),
    );
    // Untagged steps: by endpoint, one step or an endpoint row of several.
    goes(Some("Audit"), None, "backlinks/all", &Step(0, 1));
    goes(
        Some("Audit"),
        None,
        "backlinks/summary",
        &Endpoint(vec![(0, 0), (0, 2)]),
    );
    goes(None, None, "domain/keywords", &Step(1, 0));
    // Unplanned, and why.
    unplanned(
        Some("Nope"),
        Some("Summaries"),
        "backlinks/summary",
        Unplanned::UnknownWorkflow,
    );
    unplanned(
        Some("Audit"),
        Some("Exports"),
        "backlinks/export",
        Unplanned::UnknownStep,
    );
    unplanned(
        Some("Audit"),
        Some("9"),
        "backlinks/summary",
        Unplanned::UnknownStep,
    );
    // Names match exactly: no case folding.
    unplanned(
        Some("Audit"),
        Some("summaries"),
        "backlinks/summary",
        Unplanned::UnknownStep,
    );
    unplanned(
        Some("Audit"),
        Some("Summaries"),
        "backlinks/export",
        Unplanned::OtherEndpoint,
    );
    unplanned(None, None, "backlinks/export", Unplanned::NotPlanned);
}

#[track_caller]
fn ratio(part: u64, whole: u64, expected: Option<&str>) {
    assert_eq!(
        percent(part, whole).map(|d| d.to_string()).as_deref(),
        expected,
        "{part} of {whole}"
    );
}

#[test]
fn ratios_by_hand() {
    ratio(40, 100, Some("40.0"));
    ratio(1, 3, Some("33.3")); // 33.33…
    ratio(2, 3, Some("66.7")); // 66.66…
    ratio(1, 16, Some("6.3")); // 6.25, half away from zero
    ratio(125, 100, Some("125.0"));
    ratio(5, 0, None);
}

fn reconcile(calls: &[Call]) -> Reconciliation {
    let plan = plan();
    let mut r = Reconciler::new(&plan);
    for c in calls {
        r.add(c).expect("add");
    }
    r.finish(&["calls.jsonl".into()]).expect("finish")
}

#[test]
fn a_forecast_that_held() {
    let mut refused = call(Some("Audit"), Some("Backlinks"), "backlinks/all", 0);
    refused.outcome = "over_budget".into();
    let r = reconcile(&[
        call(Some("Audit"), Some("Summaries"), "backlinks/summary", 300),
        call(Some("Audit"), Some("Backlinks"), "backlinks/all", 40),
        call(Some("Audit"), Some("Backlinks"), "backlinks/all", 60),
        refused,
        call(Some("Research"), None, "domain/keywords", 100),
    ]);
    assert_eq!(r.calls, 5);
    assert!(r.forecast_held());
    // Audit step 2: 2 billed requests, 40 + 60 = 100 units of 200 (50.0%), of 100 expected
    // (100.0%), one call refused.
    let backlinks = &r.steps[1];
    assert_eq!(backlinks.step.name, "Backlinks");
    assert_eq!(backlinks.step.number, 2);
    assert_eq!(
        backlinks.figures.actual,
        Actual {
            requests: 2,
            units: 100,
            overrun_units: 0,
            other_calls: 1
        }
    );
    assert_eq!(backlinks.figures.worst_ratio().unwrap().to_string(), "50.0");
    assert_eq!(
        backlinks.figures.expected_ratio().unwrap().to_string(),
        "100.0"
    );
    // Total: 300 + 40 + 60 + 100 = 500 of 900.
    assert_eq!(r.total.actual.units, 500);
    assert_eq!(r.total.actual.requests, 4);
    assert_eq!(r.total.planned.units, 900);
    assert!(r.endpoints.is_empty() && r.unplanned.is_empty());
}

#[test]
fn a_step_above_its_worst_case_breaks_the_forecast() {
    // Research step 2 plans 100; 150 are charged. The total (150) stays far below 900: the
    // step alone breaks the forecast.
    let mut over = call(Some("Research"), Some("Backlinks"), "backlinks/all", 150);
    over.overrun = Some(50);
    let r = reconcile(&[over]);
    assert!(!r.forecast_held());
    let exceeded: Vec<&StepRow> = r.steps.iter().filter(|s| s.figures.exceeded()).collect();
    assert_eq!(exceeded.len(), 1);
    assert_eq!(exceeded[0].step.workflow, "Research");
    assert_eq!(exceeded[0].step.number, 2);
    assert_eq!(exceeded[0].figures.actual.overrun_units, 50);
    assert_eq!(
        exceeded[0].figures.worst_ratio().unwrap().to_string(),
        "150.0"
    );
    assert!(!r.total.exceeded());
}

#[test]
fn untagged_calls_to_a_shared_endpoint_are_judged_with_their_steps() {
    // Audit plans backlinks/summary twice: 300 + 100 = 400 together. A tagged call of 300 to
    // step 1 and two untagged ones of 100: the endpoint row holds 300 + 200 = 500 > 400.
    let r = reconcile(&[
        call(Some("Audit"), Some("Summaries"), "backlinks/summary", 300),
        call(Some("Audit"), None, "backlinks/summary", 100),
        call(Some("Audit"), None, "backlinks/summary", 100),
    ]);
    assert_eq!(r.endpoints.len(), 1);
    let row = &r.endpoints[0];
    assert_eq!(row.workflow.as_deref(), Some("Audit"));
    assert_eq!(row.endpoint, "backlinks/summary");
    let numbers: Vec<usize> = row.steps.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 3]);
    assert_eq!(row.untagged_calls, 2);
    assert_eq!(row.figures.planned.units, 400);
    assert_eq!(row.figures.actual.units, 500);
    assert!(row.figures.exceeded());
    // Step 1 alone held (300 of 300); the total (500 of 900) too.
    assert!(!r.steps[0].figures.exceeded());
    assert!(!r.total.exceeded());
    assert!(!r.forecast_held());
}

#[test]
fn unplanned_calls_break_the_forecast_only_when_they_cost() {
    let free = reconcile(&[call(None, None, "account/subscription", 0)]);
    assert_eq!(free.unplanned.len(), 1);
    assert_eq!(free.unplanned[0].reason, Unplanned::NotPlanned);
    assert!(free.forecast_held());
    let costly = reconcile(&[call(None, None, "backlinks/export", 1000)]);
    assert!(!costly.forecast_held());
    assert_eq!(costly.unplanned[0].actual.units, 1000);
    // 1,000 units, none planned: above the total of 900 as well.
    assert!(costly.total.exceeded());
}

#[test]
fn overflow_is_an_error() {
    let plan = plan();
    let mut r = Reconciler::new(&plan);
    r.add(&call(None, None, "backlinks/export", u64::MAX))
        .expect("first");
    assert_eq!(
        r.add(&call(None, None, "backlinks/export", 1)),
        Err("units charged")
    );
}
