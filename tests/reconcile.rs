//! `budget reconcile` end to end: a plan saved as JSON, the workflow's calls run through the real
//! guard against the simulator, and the journal set against the plan.

use serde_json::Value;

use crate::guard::{get, ledger_lines, run_clients, tagged, GuardProc};
use crate::support::simulator::Simulator;
use crate::support::{run, Scratch};

/// Audit, by hand (docs/workflows.md "The arithmetic"):
/// 1 Summaries: 3 targets in 1 request × 100 units = 300 (expected 300);
/// 2 Backlinks: 2 targets × 100 rows × 1 unit = 200 in 2 requests (expected 2 × 50 = 100);
/// 3 Keywords: 1 target × ceil(200 / 100) = 2 pages × 100 units = 200 (expected 200).
/// Total: 5 requests, 700 units, 600 expected.
const AUDIT: &str = "name: Audit
steps:
  - name: Summaries
    endpoint: backlinks/summary
    targets: [a.com, b.com, c.com]
  - name: Backlinks
    endpoint: backlinks/all
    targets: [a.com, b.com]
    rows: 100
    expected_rows: 50
  - name: Keywords
    endpoint: domain/keywords
    source: us
    targets: [a.com]
    rows: 200
    limit: 100
";

/// Saves `budget plan WORKFLOW --format json` as plan.json in `scratch`.
fn saved_plan(scratch: &Scratch, workflow: &str) -> String {
    let wf = scratch.file("audit.yaml", workflow);
    let planned = run(&["plan", &wf, "--format", "json"]);
    planned.code(0);
    scratch.file("plan.json", &planned.stdout)
}

#[track_caller]
fn step(json: &Value, number: u64) -> &Value {
    json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["kind"] == "step" && s["number"] == number)
        .unwrap_or_else(|| panic!("no step {number} in {json}"))
}

#[test]
fn a_workflow_run_through_the_guard_reconciles_to_the_simulators_bill() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    let planned: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(planned["total"]["units"], 700);
    assert_eq!(planned["total"]["units_expected"], 600);

    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.data.rows_per_target = Some(40));
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "10k", "--journal", &journal]);
    let tag = |step: &'static str| [("X-Budget-Workflow", "Audit"), ("X-Budget-Step", step)];
    let calls = vec![
        tagged(
            "/v1/backlinks/summary?target=a.com&target=b.com&target=c.com",
            &tag("Summaries"),
        ),
        tagged(
            "/v1/backlinks/all?target=a.com&limit=100",
            &tag("Backlinks"),
        ),
        // The step's number works as well as its name.
        tagged("/v1/backlinks/all?target=b.com&limit=100", &tag("2")),
        // One page was enough: the target has 40 keywords.
        tagged(
            "/v1/domain/keywords?target=a.com&source=us&limit=100",
            &tag("Keywords"),
        ),
    ];
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![calls]);
    assert!(
        answers.iter().all(|a| a.status == 200),
        "{:?}",
        answers.len()
    );
    let stopped = guard.stop();
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    // The simulator billed 300 + 40 + 40 + 100 = 480.
    assert_eq!(sim.charged(), 480);

    let reconciled = run(&["reconcile", &plan, &journal, "--format", "json"]);
    reconciled.code(0);
    let json = reconciled.json();
    assert_eq!(json["total"]["actual"]["units"], sim.charged());
    assert_eq!(json["total"]["actual"]["requests"], 4);
    assert_eq!(json["total"]["planned"]["units"], 700);
    // 480 / 700 = 68.57…% → 68.6; 480 / 600 = 80%.
    assert_eq!(json["total"]["worst_ratio"], 68.6);
    assert_eq!(json["total"]["expected_ratio"], 80.0);
    assert_eq!(json["forecast_held"], true);
    assert_eq!(json["unplanned"].as_array().unwrap().len(), 0);
    let summaries = step(&json, 1);
    assert_eq!(summaries["step"], "Summaries");
    assert_eq!(summaries["actual"]["requests"], 1);
    assert_eq!(summaries["actual"]["units"], 300);
    assert_eq!(summaries["worst_ratio"], 100.0);
    // Backlinks: 2 calls of 40 rows = 80 units; 80 / 200 = 40%, 80 / 100 expected = 80%.
    let backlinks = step(&json, 2);
    assert_eq!(backlinks["actual"]["requests"], 2);
    assert_eq!(backlinks["actual"]["units"], 80);
    assert_eq!(backlinks["planned"]["units"], 200);
    assert_eq!(backlinks["worst_ratio"], 40.0);
    assert_eq!(backlinks["expected_ratio"], 80.0);
    // Keywords: 1 page of 2 planned, 100 of 200 units.
    let keywords = step(&json, 3);
    assert_eq!(keywords["actual"]["requests"], 1);
    assert_eq!(keywords["planned"]["requests"], 2);
    assert_eq!(keywords["worst_ratio"], 50.0);
    assert_eq!(json["journal"][0], journal.as_str());

    // The table says the same for people.
    let table = run(&["reconcile", &plan, &journal]);
    table.code(0).stdout_has(
        "forecast held: 480 units charged, 68.6% of the worst case (700) and 80.0% of the expected 600",
    );
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("Backlinks"))
        .expect("Backlinks row")
        .to_string();
    for cell in ["backlinks/all", "200", "100", "80", "40.0%", "80.0%"] {
        assert!(row.contains(cell), "{row}");
    }
}

/// A journal line as a guard writes it (only the fields reconcile reads, and some it ignores).
fn line(workflow: &str, step: &str, endpoint: &str, units: u64, outcome: &str) -> String {
    format!(
        r#"{{"time":"2026-11-26T07:00:00.000Z","method":"GET","endpoint":"{endpoint}","targets":1,"status":200,"units_reserved":{units},"units_charged":{units},"latency_ms":1.0,"attempts":1,"outcome":"{outcome}","workflow":"{workflow}","step":"{step}"}}"#
    )
}

#[test]
fn a_step_above_its_worst_case_exits_1_and_is_named() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    // Backlinks planned 2 × 100 rows = 200 units; the job asked for 150 rows per target and got
    // them: 2 × 150 = 300 units, 150.0% of the worst case. The total, 300 + 300 = 600, stays
    // under 700: the step alone breaks the forecast.
    let journal = scratch.file(
        "calls.jsonl",
        &[
            line("Audit", "Summaries", "backlinks/summary", 300, "charged"),
            line("Audit", "Backlinks", "backlinks/all", 150, "charged"),
            line("Audit", "Backlinks", "backlinks/all", 150, "charged"),
        ]
        .join("\n"),
    );
    let reconciled = run(&["reconcile", &plan, &journal]);
    reconciled.code(1).stdout_has(
        "forecast exceeded: step 2 (Backlinks) of Audit: 300 units charged, above its worst case of 200 (150.0%)",
    );
    assert!(
        !reconciled.stdout.contains("in total"),
        "{}",
        reconciled.stdout
    );
    let json = run(&["reconcile", &plan, &journal, "--format", "json"]);
    json.code(1);
    let json = json.json();
    assert_eq!(json["forecast_held"], false);
    assert_eq!(step(&json, 2)["exceeded"], true);
    assert_eq!(step(&json, 1)["exceeded"], false);
    assert_eq!(json["total"]["exceeded"], false);
}

#[test]
fn unplanned_and_untagged_calls_get_rows_of_their_own() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    // An export nobody planned (1,000 units), a refused call tagged with an unknown step (0
    // units: it does not break the forecast), and an untagged keywords page (attributed by its
    // endpoint to step 3). The export alone puts the total at 1,000 + 100 = 1,100 > 700.
    let untagged = r#"{"endpoint":"domain/keywords","units_charged":100,"outcome":"charged"}"#;
    let journal = scratch.file(
        "calls.jsonl",
        &format!(
            "{}\n{}\n{untagged}\n",
            line("Audit", "Export", "backlinks/export", 1000, "charged"),
            line(
                "Audit",
                "Polls",
                "backlinks/export/status",
                0,
                "over_budget"
            ),
        ),
    );
    let json = run(&["reconcile", &plan, &journal, "--format", "json"]);
    json.code(1);
    let json = json.json();
    assert_eq!(step(&json, 3)["actual"]["units"], 100);
    let unplanned = json["unplanned"].as_array().unwrap();
    assert_eq!(unplanned.len(), 2);
    let export = unplanned
        .iter()
        .find(|u| u["endpoint"] == "backlinks/export")
        .unwrap();
    assert_eq!(export["reason"], "unknown_step");
    assert_eq!(export["step"], "Export");
    assert_eq!(export["exceeded"], true);
    let polls = unplanned
        .iter()
        .find(|u| u["endpoint"] == "backlinks/export/status")
        .unwrap();
    assert_eq!(polls["actual"]["other_calls"], 1);
    assert_eq!(polls["exceeded"], false);
    assert_eq!(json["total"]["actual"]["units"], 1100);
    let table = run(&["reconcile", &plan, &journal]);
    table
        .code(1)
        .stdout_has("forecast exceeded: 1 call to backlinks/export charged 1,000 units that no step planned (step \"Export\" is not in the plan)")
        .stdout_has("forecast exceeded: 1,100 units charged in total, above the plan's worst case of 700 (157.1%)");
}

#[test]
fn several_journals_add_up_and_csv_lists_every_row() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    let first = scratch.file(
        "calls.1.jsonl",
        &(line("Audit", "Summaries", "backlinks/summary", 300, "charged") + "\n"),
    );
    let second = scratch.file(
        "calls.2.jsonl",
        &(line("Audit", "2", "backlinks/all", 40, "charged") + "\n"),
    );
    let csv = run(&["reconcile", &plan, &first, &second, "--format", "csv"]);
    csv.code(0);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "kind,workflow,number,step,endpoint,planned_requests,planned_units,planned_units_expected,requests,units,overrun_units,other_calls,worst_ratio,expected_ratio,exceeded"
    );
    // Backlinks: 40 of 200 = 20.0%, of 100 expected = 40.0%.
    assert_eq!(
        lines[2],
        "step,Audit,2,Backlinks,backlinks/all,2,200,100,1,40,0,0,20.0,40.0,false"
    );
    // Total: 340 of 700 = 48.57…% → 48.6; of 600 = 56.66…% → 56.7.
    assert_eq!(lines[4], "total,,,,,5,700,600,2,340,0,0,48.6,56.7,false");
    let markdown = run(&["reconcile", &plan, &first, &second, "--format", "markdown"]);
    markdown
        .code(0)
        .stdout_has("### ✅ budget reconcile: forecast held: 340 units charged")
        .stdout_has("| 2 | Backlinks | `backlinks/all` |");
}

#[test]
fn bad_input_exits_2_with_what_to_do() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    let journal = scratch.file("calls.jsonl", "");
    let not_json = scratch.file("not.json", "steps: []");
    run(&["reconcile", &not_json, &journal])
        .code(2)
        .stderr_has("plan file")
        .stderr_has("is not JSON (expected value at line 1 column 1); save one with `budget plan WORKFLOW --format json > plan.json`");
    let wrong = scratch.file("wrong.json", r#"{"workflows": [{"name": "A"}]}"#);
    run(&["reconcile", &wrong, &journal])
        .code(2)
        .stderr_has("is not a saved `budget plan --format json` result: `total` is missing or not an object; `workflows[0].steps` is missing or not a list");
    let missing = scratch.path().join("none.jsonl").display().to_string();
    run(&["reconcile", &plan, &missing])
        .code(2)
        .stderr_has("cannot read the journal")
        .stderr_has("none.jsonl: no such file");
    run(&["reconcile", &plan, "/dev/null"])
        .code(2)
        .stderr_has("the journal /dev/null is a device, not a regular file");
    let bad = scratch.file("bad.jsonl", "{\"endpoint\": 5}\n");
    run(&["reconcile", &plan, &bad])
        .code(2)
        .stderr_has("has lines that are not guard journal lines")
        .stderr_has(
            "bad.jsonl:1: not a guard journal line (invalid type: integer `5`, expected a string)",
        );
    let cut = scratch.file(
        "cut.jsonl",
        &format!(
            "{}\n{{\"endpoint\":\"backlinks/al",
            line("Audit", "Summaries", "backlinks/summary", 300, "charged")
        ),
    );
    run(&["reconcile", &plan, &cut])
        .code(0)
        .stderr_has("cut.jsonl:2: the last line is incomplete (the guard stopped while writing it?); it was skipped");
    run(&["reconcile", &plan])
        .code(2)
        .stderr_has("required arguments were not provided");
}

#[test]
fn the_journal_reader_reads_what_the_guard_writes() {
    // Untagged calls through the guard: attributed by endpoint, read back field for field.
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    let sim = Simulator::start_data(1_000_000);
    let journal = scratch.path().join("calls.jsonl").display().to_string();
    let guard = GuardProc::start(sim.url(), &["--budget", "10k", "--journal", &journal]);
    let answers = run_clients(
        std::slice::from_ref(&guard.url),
        vec![vec![get("/v1/backlinks/summary?target=a.com")]],
    );
    assert_eq!(answers[0].status, 200);
    guard.stop();
    assert_eq!(ledger_lines(&journal).len(), 1);
    let json = run(&["reconcile", &plan, &journal, "--format", "json"]);
    json.code(0);
    // One target × 100 units.
    assert_eq!(step(&json.json(), 1)["actual"]["units"], 100);
}

/// Profiled (by hand): Backlinks, 2 targets × 100 rows × 1 unit = 200 at worst; Keywords in us,
/// 1 target × ceil(1,000 / 100) = 10 pages × 100 units = 1,000 at worst. No expected_rows:
/// without a profile, expected = worst (1,200 in all).
const PROFILED: &str = "name: Audit
steps:
  - name: Backlinks
    endpoint: backlinks/all
    targets: [a.com, b.com]
    rows: 100
  - name: Keywords
    endpoint: domain/keywords
    source: us
    targets: [a.com]
    rows: 1000
    limit: 100
";

/// Runs the calls of PROFILED through a guard against a simulator whose targets have `rows`
/// rows each, into `journal`.
fn profiled_run(journal: &str, rows: u64) {
    let sim = Simulator::start_data(1_000_000);
    sim.set(|s| s.data.rows_per_target = Some(rows));
    let guard = GuardProc::start(sim.url(), &["--budget", "10k", "--journal", journal]);
    let tag = |step: &'static str| [("X-Budget-Workflow", "Audit"), ("X-Budget-Step", step)];
    let calls = vec![
        tagged(
            "/v1/backlinks/all?target=a.com&limit=100",
            &tag("Backlinks"),
        ),
        tagged(
            "/v1/backlinks/all?target=b.com&limit=100",
            &tag("Backlinks"),
        ),
        // Fewer rows than the page holds: the listing ends on its first page.
        tagged(
            "/v1/domain/keywords?target=a.com&source=us&limit=100&page=1",
            &tag("Keywords"),
        ),
    ];
    let answers = run_clients(std::slice::from_ref(&guard.url), vec![calls]);
    assert!(answers.iter().all(|a| a.status == 200));
    guard.stop();
}

#[test]
fn a_profile_from_a_journal_moves_the_expected_band_and_never_the_worst_case() {
    let scratch = Scratch::new();
    let wf = scratch.file("audit.yaml", PROFILED);
    let before = run(&["plan", &wf, "--format", "json"]);
    before.code(0);
    let before = before.json();
    assert_eq!(before["total"]["units"], 1200);
    assert_eq!(before["total"]["units_expected"], 1200);
    let plan = scratch.file("plan.json", &serde_json::to_string(&before).unwrap());

    // First run: every target has 40 rows.
    let journal = scratch.path().join("run1.jsonl").display().to_string();
    profiled_run(&journal, 40);
    let profile = scratch.path().join("profile.yaml").display().to_string();
    let written = run(&["reconcile", &plan, &journal, "--write-profile", &profile]);
    written
        .code(0)
        .stderr_has("usage profile")
        .stderr_has("1 journal added");
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(
        text.contains("  backlinks/all:\n    rows_per_target: {count: 2, p50: 40, p90: 40, max: 40, observed: {40: 2}}\n"),
        "{text}"
    );
    assert!(
        text.contains("      us:\n        rows_per_target: {count: 1, p50: 40, p90: 40, max: 40, observed: {40: 1}}\n        pages_per_target: {count: 1, p50: 1, p90: 1, max: 1, observed: {1: 1}}\n"),
        "{text}"
    );

    // The later plan: Backlinks expects 2 × 40 = 80; Keywords 1 × ceil(40 / 100) = 1 page ×
    // 100 = 100. The worst case stays 200 + 1,000.
    let after = run(&["plan", &wf, "--profile", &profile, "--format", "json"]);
    after
        .code(0)
        .stderr_has("profile: Audit step 1 (Backlinks): expected_rows 40 per target, the p90 of 2 observed targets in");
    let after = after.json();
    assert_eq!(after["total"]["units"], 1200);
    assert_eq!(after["total"]["units_expected"], 180);
    for (i, expected) in [(0, 80), (1, 100)] {
        let step = &after["workflows"][0]["steps"][i];
        assert_eq!(step["units_expected"], expected, "{step}");
        assert_eq!(step["expected_from"], "profile");
        assert_eq!(step["units"], before["workflows"][0]["steps"][i]["units"]);
        assert_eq!(
            step["requests"],
            before["workflows"][0]["steps"][i]["requests"]
        );
    }
    assert!(before["workflows"][0]["steps"][0]
        .get("expected_from")
        .is_none());
    let table = run(&["plan", &wf, "--profile", &profile]);
    table.code(0).stdout_has("80 *").stdout_has(
        "* expected from the usage profile (--profile): p90 rows per target seen by the guard",
    );
    run(&["plan", &wf, "--profile", &profile, "--format", "markdown"])
        .code(0)
        .stdout_has("| 80 \\* |")
        .stdout_has("\\* expected from the usage profile");

    // The same journal again adds nothing.
    run(&["reconcile", &plan, &journal, "--write-profile", &profile])
        .code(0)
        .stderr_has("is already in the usage profile")
        .stderr_has("0 journals added");
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), text);

    // A second run where targets have 90 rows merges in: 40, 40, 90, 90 → p90 rank
    // ceil(3.6) = 4 → 90; Backlinks now expects 2 × 90 = 180.
    let second = scratch.path().join("run2.jsonl").display().to_string();
    profiled_run(&second, 90);
    run(&["reconcile", &plan, &second, "--write-profile", &profile]).code(0);
    let merged = run(&["plan", &wf, "--profile", &profile, "--format", "json"]);
    let merged = merged.json();
    assert_eq!(merged["workflows"][0]["steps"][0]["units_expected"], 180);
    assert_eq!(merged["total"]["units"], 1200);
}

#[test]
fn a_bad_profile_exits_2() {
    let scratch = Scratch::new();
    let wf = scratch.file("audit.yaml", PROFILED);
    let profile = scratch.file(
        "profile.yaml",
        "endpoints:\n  backlinks/all:\n    rows_per_target: {p90: 95, observed: {40: 2}}\n",
    );
    run(&["plan", &wf, "--profile", &profile])
        .code(2)
        .stderr_has("is not a budget usage profile")
        .stderr_has("`endpoints.backlinks/all.rows_per_target.p90` is 95 but `observed` gives 40");
    let plan = saved_plan(&scratch, AUDIT);
    let journal = scratch.file("calls.jsonl", "");
    run(&["reconcile", &plan, &journal, "--write-profile", &profile])
        .code(2)
        .stderr_has("is not a budget usage profile");
    // A profile path that can't be written to.
    let nowhere = scratch
        .path()
        .join("no/such/dir/p.yaml")
        .display()
        .to_string();
    run(&["reconcile", &plan, &journal, "--write-profile", &nowhere])
        .code(2)
        .stderr_has("cannot write the usage profile")
        .stderr_has("no such file");
    let missing = scratch.path().join("none.yaml").display().to_string();
    run(&["plan", &wf, "--profile", &missing])
        .code(2)
        .stderr_has("cannot read the usage profile")
        .stderr_has("none.yaml: no such file");
}

#[test]
fn journal_limits_and_repeats_are_named() {
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    // A line longer than 64 KiB stops the reading: it is no guard journal.
    let long = scratch.file("long.jsonl", &format!("{}\n", "x".repeat(70_000)));
    run(&["reconcile", &plan, &long])
        .code(2)
        .stderr_has("long.jsonl:1: the line is longer than 64 KiB; is this the journal a guard wrote with --journal?");
    // Units beyond the largest count: 18446744073709551615 + 1.
    let huge = scratch.file(
        "huge.jsonl",
        &[
            line(
                "Audit",
                "Summaries",
                "backlinks/summary",
                u64::MAX,
                "charged",
            ),
            line("Audit", "Summaries", "backlinks/summary", 1, "charged"),
        ]
        .join("\n"),
    );
    run(&["reconcile", &plan, &huge])
        .code(2)
        .stderr_has("huge.jsonl:2: the units charged overflow the largest count (18446744073709551615); reconcile fewer journals at once");
    // The same journal twice: counted twice, and said so.
    let journal = scratch.file(
        "calls.jsonl",
        &(line("Audit", "Summaries", "backlinks/summary", 300, "charged") + "\n"),
    );
    let twice = run(&["reconcile", &plan, &journal, &journal]);
    twice
        .code(1)
        .stderr_has("calls.jsonl has the same content as")
        .stderr_has("its calls are counted twice")
        .stdout_has("forecast exceeded: step 1 (Summaries) of Audit: 600 units charged, above its worst case of 300 (200.0%)");
}

#[test]
fn an_endpoint_row_too_large_to_add_up_is_bad_input() {
    // Two steps of one endpoint, each planning nearly the largest count: their sum, which an
    // untagged call needs, overflows.
    let scratch = Scratch::new();
    let big = u64::MAX - 1;
    let plan = scratch.file(
        "plan.json",
        &serde_json::json!({
            "workflows": [{"name": "A", "path": "a.yaml", "steps": [
                {"name": "one", "endpoint": "backlinks/summary", "requests": 1, "units": big, "units_expected": 1},
                {"name": "two", "endpoint": "backlinks/summary", "requests": 1, "units": big, "units_expected": 1}
            ]}],
            "total": {"requests": 2, "units": big, "units_expected": 2}
        })
        .to_string(),
    );
    let journal = scratch.file(
        "calls.jsonl",
        r#"{"endpoint":"backlinks/summary","units_charged":100,"outcome":"charged"}"#,
    );
    run(&["reconcile", &plan, &journal]).code(2).stderr_has(
        "plan.json: the planned units of the steps sharing an endpoint overflow the largest count",
    );
}

#[test]
fn hostile_tags_in_a_journal_are_neutralised() {
    // The guard refuses such tags, but a journal is a file anyone can write: an escape sequence
    // and a GitHub workflow command must come out inert in every format.
    let scratch = Scratch::new();
    let plan = saved_plan(&scratch, AUDIT);
    let journal = scratch.file(
        "calls.jsonl",
        &(line(
            "::error::pwned",
            "\\u001b[31mred\\nline",
            "backlinks/export",
            1000,
            "charged",
        ) + "\n"),
    );
    for format in ["table", "markdown", "csv", "json"] {
        let out = run(&["reconcile", &plan, &journal, "--format", format]);
        out.code(1);
        assert!(!out.stdout.contains('\u{1b}'), "{format}: {}", out.stdout);
        assert!(
            out.stdout
                .lines()
                .all(|l| !l.trim_start().starts_with("::")),
            "{format}: {}",
            out.stdout
        );
    }
}
