//! `budget plan`, `check` and `prices` end to end: figures, verdicts, every validation error.

use crate::support::{run, Scratch};

#[test]
fn docs_example_costs_26000_units_in_6_requests() {
    // summary: ceil(250/100) = 3 requests, 250 × 100 = 25000 units
    // export:  1 request, 1 × 1000 = 1000 units; status: 2 calls × 0 = 0 units
    let r = run(&["plan", "workflows/docs-example.yaml", "--format", "json"]);
    let json = r.code(0).json();
    assert_eq!(json["total"]["units"], 26000);
    assert_eq!(json["total"]["requests"], 6);
    assert_eq!(json["total"]["duration_seconds"], 0.6);
    assert_eq!(json["verdict"], "unknown");
    assert_eq!(json["balance"], serde_json::Value::Null);
    let steps = &json["workflows"][0]["steps"];
    assert_eq!(steps[0]["endpoint"], "backlinks/summary");
    assert_eq!(steps[0]["unit_cost"], 100);
    assert_eq!(steps[0]["requests"], 3);
    assert_eq!(steps[0]["units"], 25000);
    assert_eq!(steps[2]["requests"], 2);
}

#[test]
fn json_field_order_follows_the_contract() {
    let r = run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--format",
        "json",
        "--units-left",
        "30000",
    ]);
    let text = &r.code(0).stdout;
    let order = [
        "\"version\"",
        "\"pricing\"",
        "\"workflows\"",
        "\"total\"",
        "\"balance\"",
        "\"verdict\"",
        "\"over_by\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| text.find(k).expect(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn doc_override_reproduces_1032() {
    // summary 3 calls × 10 + export 1 × 1000 + status 2 polls × 1 = 1032
    let json = run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--pricing-overlay",
        "pricing/docs-example-1032.yaml",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["total"]["units"], 1032);
    // the overlay's evidence is the doc's worked example, not the table.
    assert_eq!(json["workflows"][0]["steps"][0]["evidence"], "docs");
}

#[test]
fn every_shipped_workflow_plans_cleanly() {
    let mut seen = 0;
    for entry in std::fs::read_dir(crate::support::root().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let r = run(&["plan", path.to_str().unwrap(), "--units-left", "10M"]);
            r.code(0);
            assert!(r.stderr.is_empty(), "{}: {}", path.display(), r.stderr);
            seen += 1;
        }
    }
    assert!(seen >= 4, "at least four example workflows");
}

#[test]
fn table_output_reads_first() {
    let r = run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--units-left",
        "30000",
    ]);
    r.code(0)
        .stdout_has("Summaries for 250 domains")
        .stdout_has("26,000")
        .stdout_has("6 requests take 0.6 s at 10 requests/second")
        .stdout_has("fits: 26,000 of 30,000 usable units (4,000 to spare)");
}

#[test]
fn expected_column_only_when_it_differs() {
    let r = run(&["plan", "workflows/docs-example.yaml"]);
    assert!(!r.code(0).stdout.contains("expected"));
    let r = run(&["plan", "workflows/backlink-audit.yaml"]);
    r.code(0).stdout_has("expected");
}

// ---- verdicts ----------------------------------------------------------------------------

#[track_caller]
fn verdict(args: &[&str], code: i32, verdict: &str, over_by: u64) -> serde_json::Value {
    let mut all = vec!["plan", "workflows/docs-example.yaml", "--format", "json"];
    all.extend_from_slice(args);
    let json = run(&all).code(code).json();
    assert_eq!(json["verdict"], verdict, "{args:?}");
    assert_eq!(json["over_by"], over_by, "{args:?}");
    json
}

#[test]
fn fits_exactly_and_over_by_one() {
    // 26000 needed: 26000 left fits with 0 to spare; 25999 is over by 1
    let json = verdict(&["--units-left", "26000"], 0, "fits", 0);
    assert_eq!(json["balance"]["usable"], 26000);
    assert_eq!(json["balance"]["source"], "flag");
    verdict(&["--units-left", "25999"], 1, "over_budget", 1);
    run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--units-left",
        "25999",
    ])
    .code(1)
    .stdout_has("over budget: 26,000 units planned, 25,999 usable (over by 1)");
    run(&[
        "check",
        "workflows/docs-example.yaml",
        "--units-left",
        "26000",
    ])
    .code(0);
    run(&[
        "check",
        "workflows/docs-example.yaml",
        "--units-left",
        "25999",
    ])
    .code(1);
}

#[test]
fn reserve_as_percent_and_units() {
    // 10% of 28889 = 2888.9, rounded up to 2889 → usable 26000: fits
    let json = verdict(&["--units-left", "28889", "--reserve", "10%"], 0, "fits", 0);
    assert_eq!(json["balance"]["reserve"], 2889);
    // 10% of 28888 = 2888.8 → 2889 → usable 25999: over by 1
    verdict(
        &["--units-left", "28888", "--reserve", "10%"],
        1,
        "over_budget",
        1,
    );
    // 30000 − 4000 = 26000 fits; 30000 − 4001 = 25999 over by 1
    verdict(
        &["--units-left", "30000", "--reserve", "4000"],
        0,
        "fits",
        0,
    );
    verdict(
        &["--units-left", "30000", "--reserve", "4001"],
        1,
        "over_budget",
        1,
    );
    // a reserve larger than the balance leaves 0 usable: over by all 26000
    verdict(
        &["--units-left", "30000", "--reserve", "50k"],
        1,
        "over_budget",
        26000,
    );
}

#[test]
fn workflow_reserve_and_flag_precedence() {
    let s = Scratch::new();
    let wf = s.file(
        "r.yaml",
        "budget: {reserve: 20%}\nsteps: [{endpoint: backlinks/summary, targets: 80}]",
    );
    // 80 × 100 = 8000 units; 20% of 10000 = 2000 → usable 8000: fits exactly
    let json = run(&["plan", &wf, "--units-left", "10000", "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["balance"]["reserve"], 2000);
    // 20% of 9999 = 1999.8 → 2000 → usable 7999: over by 1
    run(&["plan", &wf, "--units-left", "9999"]).code(1);
    // --reserve replaces the workflow's: 0 reserve → usable 9999 fits
    run(&["plan", &wf, "--units-left", "9999", "--reserve", "0"]).code(0);
}

#[test]
fn max_units_is_enforced_with_or_without_a_balance() {
    let s = Scratch::new();
    // 3 × 100 = 300 units against max_units 299
    let wf = s.file(
        "m.yaml",
        "name: Capped\nbudget: {max_units: 299}\nsteps: [{endpoint: backlinks/count, targets: 3}]",
    );
    let r = run(&["plan", &wf]);
    r.code(1).stdout_has(
        "over budget: Capped plans 300 units, above its budget.max_units of 299 (over by 1)",
    );
    assert!(
        !r.stdout.lines().any(|l| l == "over budget"),
        "said once, with its reason: {}",
        r.stdout
    );
    // 3 targets in one batch: 1 request
    r.stdout_has("1 request takes 0.1 s");
    let json = run(&["plan", &wf, "--units-left", "1M", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(json["verdict"], "over_budget");
    assert_eq!(json["over_by"], 0);
    assert_eq!(json["over_max_units"][0]["max_units"], 299);
    let ok = s.file(
        "ok.yaml",
        "budget: {max_units: 300}\nsteps: [{endpoint: backlinks/count, targets: 3}]",
    );
    run(&["plan", &ok]).code(0);
}

#[test]
fn overage_is_priced_at_the_account_tier() {
    let s = Scratch::new();
    let body = "steps:\n  - {endpoint: backlinks/summary, targets: 250}\n  - {endpoint: backlinks/export}\n";
    // 26000 units, 6000 left: 20000 overage units
    let cases = [
        // 20000 × 99.99 / 1e6 = 1.9998 → $2.00
        (
            "account: {tier: 1M, overage: plan}\n",
            "1M",
            "99.99",
            "2.00",
        ),
        // 20000 × 39.99 / 1e6 = 0.7998 → $0.80
        (
            "account: {tier: 1M, billing: yearly, overage: addon}\n",
            "1M",
            "39.99",
            "0.80",
        ),
        // 20000 × 46.67 / 1e6 = 0.9334 → $0.93
        (
            "account: {tier: 3M, overage: plan}\n",
            "3M",
            "46.67",
            "0.93",
        ),
        // 20000 × 12.50 / 1e6 = 0.25
        (
            "account: {tier: enterprise, overage: plan, usd_per_million: \"12.50\"}\n",
            "enterprise",
            "12.50",
            "0.25",
        ),
    ];
    for (account, tier, rate, usd) in cases {
        let wf = s.file("o.yaml", &format!("{account}{body}"));
        let json = run(&["plan", &wf, "--units-left", "6000", "--format", "json"])
            .code(1)
            .json();
        let o = &json["overage"];
        assert_eq!(o["units"], 20000, "{account}");
        assert_eq!(o["tier"], tier);
        assert_eq!(o["usd_per_million"], rate);
        assert_eq!(o["usd"], usd, "{account}");
    }
    let wf = s.file(
        "o.yaml",
        &format!("account: {{tier: 1M, overage: plan}}\n{body}"),
    );
    run(&["plan", &wf, "--units-left", "6000"])
        .code(1)
        .stdout_has("overage: 20,000 units beyond units_left would cost $2.00 at the 1M monthly plan rate ($99.99 per 1M)");
    // no overage when the plan fits units_left (even if a reserve makes it over budget)
    let json = run(&[
        "plan",
        &wf,
        "--units-left",
        "26000",
        "--reserve",
        "1",
        "--format",
        "json",
    ])
    .code(1)
    .json();
    assert_eq!(json["overage"], serde_json::Value::Null);
}

#[test]
fn check_without_a_balance_exits_3() {
    run(&["check", "workflows/docs-example.yaml"])
        .code(3)
        .stderr_has("balance unknown: set SERANKING_API_KEY or pass --units-left");
}

#[test]
fn several_workflows_are_summed() {
    // docs example 26000 + competitor monitoring 1600 (5 × 100 + 2 × 100 + 3 × 3 pages × 100)
    let json = run(&[
        "plan",
        "workflows/docs-example.yaml",
        "workflows/competitor-monitoring.yaml",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["workflows"].as_array().unwrap().len(), 2);
    assert_eq!(json["total"]["units"], 27600);
    assert_eq!(json["total"]["requests"], 6 + 16);
}

#[test]
fn markdown_and_csv() {
    run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--format",
        "markdown",
        "--units-left",
        "30000",
    ])
    .code(0)
    .stdout_has("### ✅ budget: fits: 26,000 of 30,000 usable units (4,000 to spare)")
    .stdout_has("| 1 | Summaries for 250 domains | `backlinks/summary` | 3 | 250 | 25,000 |");
    let r = run(&["plan", "workflows/docs-example.yaml", "--format", "csv"]);
    let lines: Vec<&str> = r.code(0).stdout.lines().collect();
    assert_eq!(lines.len(), 4, "header + 3 steps");
    assert!(lines[0].starts_with("workflow,path,step,name,endpoint"));
    assert!(lines[1].ends_with(",3,250,25000,25000"), "{}", lines[1]);
}

// ---- targets files -----------------------------------------------------------------------

#[test]
fn targets_file_is_relative_to_the_workflow_and_duplicates_warn() {
    let s = Scratch::new();
    s.file(
        "lists/clients.txt",
        "# clients\na.com\n\nb.com\na.com\n  c.com  \n",
    );
    let wf = s.file(
        "jobs/audit.yaml",
        "steps: [{endpoint: backlinks/summary, targets: {file: ../lists/clients.txt}}]",
    );
    // 4 targets (a.com twice) → 1 request, 4 × 100 = 400 units
    let r = run(&["plan", &wf, "--format", "json"]);
    let json = r.code(0).json();
    assert_eq!(json["total"]["units"], 400);
    assert_eq!(json["workflows"][0]["steps"][0]["targets"], 4);
    r.stderr_has("warning:")
        .stderr_has("repeats 1 target; it is counted (and paid) as many times as listed");
    // --quiet silences warnings, not output
    let r = run(&["plan", &wf, "--quiet"]);
    assert!(r.code(0).stderr.is_empty(), "{}", r.stderr);
}

// ---- validation errors: each message and exit code 2 --------------------------------------

#[track_caller]
fn invalid(yaml: &str, phrases: &[&str]) {
    let s = Scratch::new();
    let wf = s.file("bad.yaml", yaml);
    let r = run(&["plan", &wf]);
    r.code(2);
    assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
    for phrase in phrases {
        r.stderr_has(phrase);
    }
    r.stderr_has("bad.yaml");
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("Error {"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_endpoint_suggests_the_closest() {
    invalid(
        "steps:\n  - name: Sums\n    endpoint: backlinks/sumary\n",
        &["step 1 (Sums): field `endpoint`: unknown endpoint `backlinks/sumary`; did you mean `backlinks/summary`?"],
    );
    invalid(
        "steps: [{endpoint: zzz}]",
        &["unknown endpoint `zzz`; run `budget prices` for the catalogue"],
    );
    invalid("steps: [{name: x}]", &["field `endpoint`: missing"]);
}

#[test]
fn batch_above_max_batch() {
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: 500, batch: 101}]",
        &["field `batch`: 101 targets per request is above backlinks/summary's max_batch of 100; set batch to 100 or less"],
    );
}

#[test]
fn rows_on_a_target_endpoint() {
    invalid(
        "steps: [{endpoint: backlinks/summary, rows: 10}]",
        &["field `rows`: backlinks/summary returns one record per target, not rows; remove `rows`"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, limit: 10}]",
        &["field `limit`: backlinks/summary returns one record per target"],
    );
}

#[test]
fn rows_above_the_limit_of_a_non_paged_endpoint() {
    invalid(
        "steps: [{endpoint: backlinks/all, rows: 10001}]",
        &["field `rows`: 10001 rows per target is above the 10000 that backlinks/all returns (it is not paged)", "backlinks/raw"],
    );
    invalid(
        "steps: [{endpoint: backlinks/all, rows: 500, limit: 200}]",
        &["field `limit`: backlinks/all is not paged, so one request per target returns at most 200 rows, fewer than rows 500"],
    );
}

#[test]
fn expected_rows_above_rows() {
    invalid(
        "steps: [{endpoint: backlinks/all, rows: 500, expected_rows: 501}]",
        &["field `expected_rows`: 501 is more than rows 500"],
    );
    // rows defaults to 100 here
    invalid(
        "steps: [{endpoint: backlinks/all, expected_rows: 101}]",
        &["101 is more than rows 100"],
    );
}

#[test]
fn limit_above_the_endpoint_maximum() {
    invalid(
        "steps: [{endpoint: backlinks/raw, rows: 1M, limit: 100001}]",
        &["field `limit`: 100001 rows per request is above backlinks/raw's maximum of 100000; set limit to 100000 or less"],
    );
}

#[test]
fn source_problems() {
    invalid(
        "steps: [{endpoint: backlinks/all, source: us}]",
        &["field `source`: backlinks/all takes no regional database (`source`); remove `source` from this step"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords}]",
        &["field `source`: domain/keywords needs a regional database; add `source: us`"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, sources: [us, xx]}]",
        &["field `sources`: unknown regional database `xx`"],
    );
    invalid(
        "source: zz\nsteps: [{endpoint: backlinks/count}]",
        &["field `source`: unknown regional database `zz`"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, sources: [us, US]}]",
        &["`us` is listed twice"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, source: us, sources: [de]}]",
        &["both `source` and `sources` are set"],
    );
}

#[test]
fn missing_targets_file() {
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: {file: nowhere.txt}}]",
        &[
            "field `targets.file`: cannot read the targets file",
            "nowhere.txt: no such file (the path is relative to the workflow file) [W052]",
        ],
    );
}

#[test]
fn empty_targets() {
    let s = Scratch::new();
    s.file("empty.txt", "# nothing yet\n\n");
    let wf = s.file(
        "e.yaml",
        "steps: [{endpoint: backlinks/summary, targets: {file: empty.txt}}]",
    );
    run(&["plan", &wf])
        .code(2)
        .stderr_has("lists no targets (only blank lines or # comments)");
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: []}]",
        &["the list is empty"],
    );
}

#[test]
fn zero_and_negative_counts() {
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: 0}]",
        &["field `targets`: must be at least 1"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, batch: 0}]",
        &["field `batch`: must be at least 1, found 0"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, repeat: 0}]",
        &["field `repeat`: must be at least 1, found 0"],
    );
    invalid(
        "steps: [{endpoint: backlinks/export/status, calls: 0}]",
        &["field `calls`: must be at least 1, found 0"],
    );
    invalid(
        "steps: [{endpoint: backlinks/all, rows: 0}]",
        &["field `rows`: must be at least 1, found 0"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: -3}]",
        &["field `targets`: -3 is negative"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: \"12 apples\"}]",
        &["\"12 apples\" is not a count"],
    );
}

#[test]
fn counts_accept_separators_and_suffixes() {
    let s = Scratch::new();
    // "1_000" = "1,000" = "1k" targets → 10 requests, 100000 units each; "0.5k" = 500 → 5, 50000
    for (targets, units) in [
        ("\"1_000\"", 100_000),
        ("\"1,000\"", 100_000),
        ("1k", 100_000),
        ("0.5k", 50_000),
    ] {
        let wf = s.file(
            "c.yaml",
            &format!("steps: [{{endpoint: backlinks/summary, targets: {targets}}}]"),
        );
        let json = run(&["plan", &wf, "--format", "json"]).code(0).json();
        assert_eq!(json["total"]["units"], units, "{targets}");
    }
}

#[test]
fn unknown_fields_are_errors() {
    invalid(
        "nmae: x\nsteps: [{endpoint: backlinks/count}]",
        &["field `nmae`: unknown field; did you mean `name`?"],
    );
    invalid(
        "steps: [{endpoint: backlinks/count, tragets: 3}]",
        &["step 1 (backlinks/count #1): field `tragets`: unknown field; did you mean `targets`?"],
    );
    invalid(
        "account: {tier: 1M, colour: red}\nsteps: [{endpoint: backlinks/count}]",
        &["field `account.colour`: unknown field"],
    );
}

#[test]
fn yaml_syntax_errors_show_line_and_column() {
    // `file:line:column:`, as compilers write it; the list never closes, so libyaml stops at
    // the end of the text (line 4, column 1).
    invalid(
        "steps:\n  - endpoint: backlinks/count\n    targets: [a, b\n",
        &["bad.yaml:4:1: invalid YAML: did not find expected ',' or ']' [W004]"],
    );
    invalid(
        "steps:\n  - endpoint: x\n  bad indentation: [\n",
        &["bad.yaml:3:3: invalid YAML:", "[W004]"],
    );
}

#[test]
fn account_budget_and_schedule_problems() {
    invalid(
        "account: {tier: 7M}\nsteps: [{endpoint: backlinks/count}]",
        &["field `account.tier`: unknown tier `7M`; use one of: 1M, 2M, 3M, 5M, 10M, 20M, 30M, 50M, 100M, 200M, 300M, 500M, enterprise"],
    );
    invalid(
        "account: {tier: enterprise}\nsteps: [{endpoint: backlinks/count}]",
        &["field `account.usd_per_million`: enterprise overage is priced by contract"],
    );
    invalid(
        "account: {tier: 1M, billing: weekly}\nsteps: [{endpoint: backlinks/count}]",
        &["unknown billing `weekly`; use monthly or yearly"],
    );
    invalid(
        "budget: {reserve: 120%}\nsteps: [{endpoint: backlinks/count}]",
        &["field `budget.reserve`: \"120%\" is not between 0% and 100%"],
    );
    invalid(
        "budget: {rps: 0}\nsteps: [{endpoint: backlinks/count}]",
        &["field `budget.rps`: must be at least 1"],
    );
    invalid(
        "schedule: hourly\nsteps: [{endpoint: backlinks/count}]",
        &["field `schedule`: \"hourly\" is not a schedule"],
    );
    invalid(
        "version: 2\nsteps: [{endpoint: backlinks/count}]",
        &["field `version`: unsupported version 2"],
    );
}

#[test]
fn empty_and_stepless_files() {
    invalid(
        "",
        &["a workflow is a mapping with a `steps` list, found an empty file"],
    );
    invalid(
        "name: nothing to do\n",
        &["field `steps`: the workflow has no steps"],
    );
    invalid(
        "steps: [backlinks/summary]",
        &["step 1 (step #1): a step is a mapping"],
    );
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let yaml = "name: Broken\nbudget: {rps: 0}\nsteps:\n  - endpoint: backlinks/summary\n    batch: 500\n  - name: Second\n    endpoint: backlinks/al\n  - endpoint: domain/keywords\n    rows: 5000\n    expected_rows: 6000\n";
    let s = Scratch::new();
    let wf = s.file("broken.yaml", yaml);
    let r = run(&["plan", &wf]);
    r.code(2)
        .stderr_has("5 problems in")
        .stderr_has("field `budget.rps`")
        .stderr_has("step 1 (backlinks/summary #1): field `batch`")
        .stderr_has("step 2 (Second): field `endpoint`: unknown endpoint `backlinks/al`; did you mean `backlinks/all`?")
        .stderr_has("step 3 (domain/keywords #3): field `expected_rows`");
    // the fifth: step 3 has no source and the workflow gives none
    r.stderr_has(
        "step 3 (domain/keywords #3): field `source`: domain/keywords needs a regional database",
    );
}

#[test]
fn problems_in_several_files_are_all_reported() {
    let s = Scratch::new();
    let a = s.file("a.yaml", "steps: [{endpoint: nope}]");
    let b = s.file("b.yaml", "steps: [{endpoint: backlinks/summary, batch: 0}]");
    run(&["plan", &a, &b])
        .code(2)
        .stderr_has("a.yaml")
        .stderr_has("b.yaml");
}

#[test]
fn overflow_is_a_clear_error() {
    invalid(
        "steps: [{name: Huge, endpoint: backlinks/summary, targets: \"18446744073709551615\"}]",
        &["step 1 (Huge): the units overflow the largest count"],
    );
}

#[test]
fn missing_workflow_file_and_bad_flags() {
    run(&["plan", "no/such.yaml"])
        .code(2)
        .stderr_has("cannot read the workflow file no/such.yaml: no such file [W001]");
    run(&["plan", "workflows/docs-example.yaml", "--reserve", "lots"])
        .code(2)
        .stderr_has("--reserve: \"lots\" is not a count");
    run(&["plan", "workflows/docs-example.yaml", "--units-left=-5"])
        .code(2)
        .stderr_has("\"-5\" is negative");
    run(&["plan"]).code(2).stderr_has("WORKFLOW");
}

#[test]
fn bad_pricing_file_is_exit_2() {
    let s = Scratch::new();
    let pricing =
        std::fs::read_to_string(crate::support::root().join("pricing/seranking.yaml")).unwrap();
    let broken = pricing.replacen(
        "    units: 100\n    per: record\n    record: target\n    max_batch: 100",
        "    units: -100\n    per: record\n    record: target\n    max_batch: 100",
        1,
    );
    assert_ne!(broken, pricing);
    let file = s.file("p.yaml", &broken);
    run(&["plan", "workflows/docs-example.yaml", "--pricing", &file])
        .code(2)
        .stderr_has("endpoint `backlinks/summary`: field `units`: -100 is negative");
    run(&["prices", "--pricing", "no/such/pricing.yaml"])
        .code(2)
        .stderr_has("cannot read the pricing file no/such/pricing.yaml");
}

// ---- prices ------------------------------------------------------------------------------

#[test]
fn prices_lists_endpoints_and_tiers() {
    run(&["prices"])
        .code(0)
        .stdout_has("backlinks/summary")
        .stdout_has("domain/keywords")
        .stdout_has("100/1,000 paged")
        .stdout_has("$99.99")
        .stdout_has("enterprise")
        .stdout_has("10 requests/second");
    let json = run(&["prices", "--format", "json"]).code(0).json();
    // 55 entries before #17, + 13: SERP html and locations, site-audit/audits and its 7 reads,
    // the 2 rechecks, domain/overview/worldwide/url.
    assert_eq!(json["endpoints"].as_array().unwrap().len(), 68);
    assert_eq!(json["overage"]["tiers"][0]["plan"], "99.99");
    let csv = run(&["prices", "--format", "csv"]);
    assert_eq!(
        csv.code(0).stdout.lines().count(),
        69,
        "header + 68 endpoints"
    );
}

/// Every format shows where each price comes from: evidence, ref, notes and disputes.
#[test]
fn prices_show_evidence_and_notes_in_every_format() {
    run(&["prices"])
        .code(0)
        .stdout_has("evidence")
        .stdout_has("measured, disputed")
        .stdout_has("notes:")
        .stdout_has("backlinks/authority: disputed: 1 unit per target (table: vendor doc (Getting started), Cost per Record table); the catalogue uses 15 units, which forecasts more")
        .stdout_has("units unknown: no source publishes the price")
        .stdout_has("--pricing-overlay FILE");
    let json = run(&["prices", "--format", "json"]).code(0).json();
    let endpoints = json["endpoints"].as_array().unwrap();
    for e in endpoints {
        assert!(e["evidence"].is_string() && e["ref"].is_string(), "{e}");
    }
    let authority = endpoints
        .iter()
        .find(|e| e["name"] == "backlinks/authority")
        .unwrap();
    assert_eq!(authority["units"], 15);
    assert_eq!(authority["evidence"], "measured");
    assert_eq!(authority["disputes"][0]["evidence"], "table");
    assert_eq!(authority["disputes"][0]["figure"], "1 unit per target");
    let pages = endpoints
        .iter()
        .find(|e| e["name"] == "domain/pages")
        .unwrap();
    assert_eq!(pages["units"], "unknown");
    assert_eq!(json["source_aliases"]["gb"], "uk");
    let csv = run(&["prices", "--format", "csv"]).code(0).stdout.clone();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",evidence,ref,note,disputes"),
        "{csv}"
    );
    assert!(
        csv.contains("backlinks/authority,GET POST,record,15,target,100,,,false,false,measured,"),
        "{csv}"
    );
    let site_audit = endpoints
        .iter()
        .find(|e| e["name"] == "site-audit/audits")
        .unwrap();
    assert_eq!(
        site_audit["methods"],
        serde_json::json!(["GET", "PATCH", "DELETE"])
    );
    assert_eq!(site_audit["evidence"], "assumed");
    assert!(
        csv.contains("site-audit/audits,GET PATCH DELETE,request,0,"),
        "{csv}"
    );
    run(&["prices"])
        .code(0)
        .stdout_has("│ methods ")
        .stdout_has("site-audit/audits/status: reads an audit already paid for: free (assumed)");
    run(&["prices", "--format", "markdown"])
        .code(0)
        .stdout_has("| evidence | ref |")
        .stdout_has("- backlinks/authority: disputed: 1 unit per target");
    // an overlay shows in the origin and in JSON.
    let json = run(&[
        "prices",
        "--pricing-overlay",
        "pricing/docs-example-1032.yaml",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["overlays"][0], "pricing/docs-example-1032.yaml");
}

#[test]
fn a_reader_that_stops_early_keeps_the_verdict() {
    // 3,000 steps print far more than a pipe buffers, so the writes hit a closed pipe.
    let s = Scratch::new();
    let mut yaml = String::from("steps:\n");
    for i in 0..3000 {
        yaml.push_str(&format!(
            "  - {{name: Step {i}, endpoint: backlinks/count}}\n"
        ));
    }
    let wf = s.file("long.yaml", &yaml);
    // 3,000 × 100 = 300,000 units against 1 left: over budget, exit 1, even though nobody reads.
    let mut child = crate::support::budget()
        .args(["check", &wf, "--units-left", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn budget");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("error"),
        "a closed pipe is not reported: {stderr}"
    );
}

#[test]
fn output_that_cannot_be_written_is_exit_4_not_over_budget() {
    for args in [&["completions", "bash"][..], &["schema"], &["prices"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let r: crate::support::Run = crate::support::budget()
            .args(args)
            .stdout(full)
            .output()
            .expect("run")
            .into();
        r.code(4).stderr_has("cannot write output");
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    // The plan fits (26,000 of 1,000,000), but /dev/full refuses every write.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let r: crate::support::Run = crate::support::budget()
        .args(["check", "workflows/docs-example.yaml", "--units-left", "1M"])
        .stdout(file)
        .output()
        .expect("run")
        .into();
    r.code(4)
        .stderr_has("error: cannot write output: No space left on device");
}

#[test]
fn a_broken_key_does_not_stop_a_plan_that_makes_no_call() {
    let r: crate::support::Run = crate::support::budget()
        .args(["plan", "workflows/docs-example.yaml", "--offline"])
        .env("SERANKING_API_KEY", "")
        .output()
        .expect("run")
        .into();
    r.code(0)
        .stderr_has("warning: the API key in SERANKING_API_KEY is empty");
    run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--units-left",
        "30000",
        "--api-key-file",
        "/no/such/key",
    ])
    .code(0)
    .stderr_has("reservations are kept under the offline account")
    .stdout_has("fits: 26,000 of 30,000 usable units");
}

#[test]
fn more_input_problems() {
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: [a.com, \" \"]}]",
        &["field `targets`: target #2 is empty"],
    );
    invalid(
        "steps: [{endpoint: backlinks/summary, targets: [a.com, 5]}]",
        &["every target in the list must be text"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, sources: [ww, worldwide]}]",
        &["`ww` and `worldwide` are the same regional database (ww); each source runs the step once, so keep one [W064]"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, sources: [uk, gb]}]",
        &["`uk` and `gb` are the same regional database (uk)"],
    );
    invalid(
        "steps: [{endpoint: domain/keywords, sources: [gb, GB]}]",
        &["`uk` is listed twice; each source runs the step once [W044]"],
    );
    invalid(
        "steps: [{endpoint: backlinks/count, targets: 99999999999999999999}]",
        &["99999999999999999999 is too large for a count (the maximum is 18446744073709551615)"],
    );
    invalid(
        "steps: [{endpoint: backlinks/count, targets: \"1,5k\"}]",
        &["`,` separates groups of three digits"],
    );
    let s = Scratch::new();
    std::fs::create_dir(s.path().join("adir")).unwrap();
    let wf = s.file(
        "d.yaml",
        "steps: [{endpoint: backlinks/summary, targets: {file: adir}}]",
    );
    run(&["plan", &wf])
        .code(2)
        .stderr_has("adir is a directory, not a regular file; give the path of a file [W052]");
    s.file("long.txt", &format!("a.com\n{}\n", "x".repeat(5000)));
    let wf = s.file(
        "l.yaml",
        "steps: [{endpoint: backlinks/summary, targets: {file: long.txt}}]",
    );
    run(&["plan", &wf])
        .code(2)
        .stderr_has("line 2 is longer than 4096 bytes");
    std::fs::write(
        s.path().join("latin1.yaml"),
        b"name: caf\xe9\nsteps: [{endpoint: backlinks/count}]\n",
    )
    .unwrap();
    let latin1 = s.path().join("latin1.yaml").display().to_string();
    run(&["plan", &latin1])
        .code(2)
        .stderr_has("the file is not UTF-8 text");
    let dir = s.path().join("adir").display().to_string();
    run(&["plan", &dir])
        .code(2)
        .stderr_has("is a directory, not a regular file; give the path of a file [W001]");
    // 1e3 is a whole number: 1000 × 100 units
    let wf = s.file(
        "e.yaml",
        "steps: [{endpoint: backlinks/count, targets: 1e3}]",
    );
    assert_eq!(
        run(&["plan", &wf, "--format", "json"]).code(0).json()["total"]["units"],
        100_000
    );
}

#[test]
fn workflows_naming_different_accounts_are_warned_about() {
    let s = Scratch::new();
    let a = s.file(
        "a.yaml",
        "name: First\naccount: {tier: 1M, overage: plan}\nsteps: [{endpoint: backlinks/count}]",
    );
    let b = s.file(
        "b.yaml",
        "name: Second\naccount: {tier: 5M}\nsteps: [{endpoint: backlinks/count}]",
    );
    // 100 + 100 units against 50 left: 150 overage units priced at First's 1M plan rate,
    // 150 × 99.99 / 1e6 = 0.0149985 → $0.01
    let r = run(&["plan", &a, &b, "--units-left", "50", "--format", "json"]);
    r.stderr_has("warning: First and Second name different accounts; the overage is priced at First's (1M tier)");
    let json = r.code(1).json();
    assert_eq!(json["overage"]["tier"], "1M");
    assert_eq!(json["overage"]["usd"], "0.01");
}

/// An endpoint whose price nobody publishes cannot be planned (exit 2, naming the endpoint and
/// the overlay flag); an overlay of a few lines sets it, or adds a newly published endpoint.
#[test]
fn unknown_prices_and_pricing_overlays() {
    let s = Scratch::new();
    let wf = s.file(
        "pages.yaml",
        "source: us\nsteps:\n  - name: Pages\n    endpoint: domain/pages\n    targets: 3\n  - name: New\n    endpoint: keywords/new\n",
    );
    run(&["plan", &wf])
        .code(2)
        .stderr_has("unknown endpoint `keywords/new`");
    let wf = s.file(
        "pages.yaml",
        "source: us\nsteps:\n  - name: Pages\n    endpoint: domain/pages\n    targets: 3\n",
    );
    run(&["plan", &wf])
        .code(2)
        .stderr_has("step 1 (Pages): field `endpoint`: the price of domain/pages is unknown (no source publishes it)")
        .stderr_has("set it in a pricing overlay, --pricing-overlay FILE")
        .stderr_has("[W057]");
    let overlay = s.file(
        "contract.yaml",
        "endpoints:\n  domain/pages: {units: 100, evidence: docs, ref: \"our contract\"}\n  keywords/new:\n    units: 5\n    per: request\n    record: target\n    max_batch: 1\n    paged: false\n    source: true\n    evidence: docs\n    ref: release notes\n",
    );
    // domain/pages, 100 per request: 3 targets × 1 page of the default 100 rows = 300.
    let json = run(&[
        "plan",
        &wf,
        "--pricing-overlay",
        &overlay,
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["total"]["units"], 300);
    assert_eq!(json["workflows"][0]["steps"][0]["evidence"], "docs");
    let new = s.file(
        "new.yaml",
        "source: us\nsteps:\n  - endpoint: keywords/new\n    targets: 4\n",
    );
    // 4 targets, 1 per request × 5 = 20.
    let json = run(&[
        "plan",
        &new,
        "--pricing-overlay",
        &overlay,
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["total"]["units"], 20);
    let bad = s.file(
        "bad.yaml",
        "endpoints:\n  backlinks/summary: {units: 80, evidence: docs, ref: a}\n  /v1/backlinks/summary/: {units: 90, evidence: docs, ref: b}\n",
    );
    run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--pricing-overlay",
        &bad,
    ])
    .code(2)
    .stderr_has("bad.yaml: invalid pricing file")
    .stderr_has("`backlinks/summary` and `/v1/backlinks/summary/` name the same endpoint");
    run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--pricing-overlay",
        "no/such/overlay.yaml",
    ])
    .code(2)
    .stderr_has("cannot read the pricing overlay no/such/overlay.yaml: no such file");
    // A problem the overlay brings into the catalogue: the heading names the overlay, and each
    // problem is a line of its own (before: one line with literal `\n`, naming only the
    // embedded pricing).
    let half = s.file(
        "half.yaml",
        "endpoints: {backlinks/summary: {units: 0.5}}\n",
    );
    let out = run(&[
        "plan",
        "workflows/docs-example.yaml",
        "--offline",
        "--pricing-overlay",
        &half,
    ]);
    out.code(2)
        .stderr_has("with overlay ")
        .stderr_has(
            "half.yaml: invalid pricing file:\n  - endpoint `backlinks/summary` (from overlay ",
        )
        .stderr_has("field `units`: 0.5 is not a whole number\n  - ");
    assert!(!out.stderr.contains("\\n"), "{}", out.stderr);
}

/// Steps priced on assumed or disputed evidence are marked (table footnote, JSON `evidence`), and
/// `--strict-prices` fails a verdict that relies on one.
#[test]
fn uncertain_prices_are_marked_and_strict_prices_fails() {
    let s = Scratch::new();
    let wf = s.file(
        "authority.yaml",
        "steps:\n  - name: Authority\n    endpoint: backlinks/authority\n    targets: 10\n  - name: Summaries\n    endpoint: backlinks/summary\n    targets: 10\n",
    );
    // authority: 10 targets × 15 (measured; the table says 1) = 150; summaries 10 × 100 = 1,000.
    run(&["plan", &wf])
        .code(0)
        .stdout_has("backlinks/authority †")
        .stdout_has("† backlinks/authority: 15 units per record, measured (third-party live measurement")
        .stdout_has("; disputed: 1 unit per target (table: vendor doc (Getting started), Cost per Record table), the larger forecast is used")
        .stdout_has("1,150");
    let json = run(&["plan", &wf, "--format", "json"]).code(0).json();
    let steps = &json["workflows"][0]["steps"];
    assert_eq!(steps[0]["evidence"], "measured");
    assert_eq!(steps[0]["disputed"], true);
    assert_eq!(steps[0]["units"], 150);
    assert_eq!(steps[1]["evidence"], "table");
    assert_eq!(steps[1]["disputed"], false);
    run(&["plan", &wf, "--format", "markdown"])
        .code(0)
        .stdout_has("| `backlinks/authority` † |")
        .stdout_has("- † backlinks/authority: 15 units per record, measured");
    // Fits 10,000 — but on a disputed price: exit 1 with --strict-prices, naming the step.
    run(&["check", &wf, "--units-left", "10000", "--strict-prices"])
        .code(1)
        .stderr_has("--strict-prices: the verdict relies on prices that are assumed or disputed:")
        .stderr_has("authority: step 1 (Authority): backlinks/authority (measured, disputed)")
        .stderr_has("set them with evidence in a pricing overlay (--pricing-overlay FILE)");
    run(&["check", &wf, "--units-left", "10000"]).code(0);
    run(&[
        "gate",
        &wf,
        "--units-left",
        "10000",
        "--strict-prices",
        "--",
        "true",
    ])
    .code(1)
    .stderr_has("budget gate: not running true");
    // Only table prices: strict passes (26,000 of 30,000).
    run(&[
        "check",
        "workflows/docs-example.yaml",
        "--units-left",
        "30000",
        "--strict-prices",
    ])
    .code(0);
    // An overlay that states the price with evidence clears the mark.
    let overlay = s.file(
        "measured.yaml",
        "endpoints:\n  backlinks/authority: {units: 15, evidence: measured, ref: \"our own measurement, 2026-11\"}\n",
    );
    run(&[
        "check",
        &wf,
        "--units-left",
        "10000",
        "--strict-prices",
        "--pricing-overlay",
        &overlay,
    ])
    .code(0);
}

/// The first case: `{endpoint: backlinks/all, targets: 10, limit: 5000}` asks for 5,000
/// rows per request, so the job can be billed 10 × 5,000 = 50,000 (not 10 × the default 100).
#[test]
fn rows_a_step_does_not_bound_are_bounded_by_its_limit() {
    let s = Scratch::new();
    let wf = s.file(
        "all.yaml",
        "steps:\n  - endpoint: backlinks/all\n    targets: 10\n    limit: 5000\n",
    );
    let json = run(&["plan", &wf, "--format", "json"]).code(0).json();
    assert_eq!(json["total"]["units"], 50_000);
    assert_eq!(json["workflows"][0]["steps"][0]["records"], 50_000);
}

#[test]
fn date_range_problems() {
    invalid(
        "steps: [{endpoint: backlinks/all, date_from: 2026-01-01, date_to: 2026-02-01}]",
        &[
            "field `date_from`: backlinks/all takes no date range; remove `date_from` [W058]",
            "field `date_to`: backlinks/all takes no date range; remove `date_to` [W058]",
        ],
    );
    invalid(
        "steps: [{endpoint: backlinks/history/count, date_from: 2026-10-01, date_to: 2026-10-31, granularity: by_week}]",
        &["backlinks/history/count returns a row per day whatever the granularity; remove `granularity` [W063]"],
    );
    invalid(
        "steps: [{endpoint: backlinks/authority/page/history, date_from: \"2026-1-01\", date_to: 2026-10-31}]",
        &["field `date_from`: \"2026-1-01\" is not a date; write it like 2026-10-01 [W059]"],
    );
    invalid(
        "steps: [{endpoint: backlinks/authority/page/history, date_from: 2026-01-01}]",
        &["field `date_to`: a date range needs both ends: add `date_to`, or remove both for the endpoint's default range [W060]"],
    );
    invalid(
        "steps: [{endpoint: backlinks/history/count, date_from: 2026-10-31, date_to: 2026-10-01}]",
        &["the range ends (2026-10-01) before it starts (2026-10-31); set date_from on or before date_to [W061]"],
    );
    invalid(
        "steps: [{endpoint: backlinks/authority/page/history, granularity: hourly}]",
        &["field `granularity`: \"hourly\" is not a granularity; use by_day, by_week or by_month [W062]"],
    );
    invalid(
        "account: {tier: 1M, overage: sometimes}\nsteps: [{endpoint: backlinks/count}]",
        &["field `account.overage`: unknown overage `sometimes`; use off (the default), plan or addon"],
    );
    // a valid range: 3 targets × Jan..Oct by month = 30 periods × 1 unit.
    let s = Scratch::new();
    let wf = s.file(
        "history.yaml",
        "steps:\n  - endpoint: backlinks/authority/page/history\n    targets: 3\n    date_from: 2026-01-01\n    date_to: 2026-10-31\n    granularity: by_month\n",
    );
    let json = run(&["plan", &wf, "--format", "json"]).code(0).json();
    assert_eq!(json["total"]["units"], 30);
}

/// Overage is off unless declared: beyond the balance the plan is over budget with no dollar
/// figure and says where the job stops; `overage: plan` prices it as before.
#[test]
fn beyond_the_balance_the_job_stops_unless_overage_is_on() {
    let s = Scratch::new();
    // summaries: 250 targets in requests of 100, 100, 50 → 10,000, 10,000, 5,000 units;
    // export: 1 × 1,000. Total 26,000 against 12,000 left: after 10,000 the second summaries
    // request (10,000 more) cannot be paid → step 1, request 2 of 3.
    let body = "steps:\n  - {name: Summaries, endpoint: backlinks/summary, targets: 250}\n  - {endpoint: backlinks/export}\n";
    let off = s.file(
        "off.yaml",
        &format!("name: Audit\naccount: {{tier: 1M}}\n{body}"),
    );
    let json = run(&["plan", &off, "--units-left", "12000", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(json["verdict"], "over_budget");
    assert!(json["overage"].is_null(), "{}", json["overage"]);
    assert_eq!(json["stops_at"]["workflow"], "Audit");
    assert_eq!(json["stops_at"]["step"], 1);
    assert_eq!(json["stops_at"]["step_name"], "Summaries");
    assert_eq!(json["stops_at"]["request"], 2);
    assert_eq!(json["stops_at"]["requests"], 3);
    let r = run(&["plan", &off, "--units-left", "12000"]);
    r.code(1)
        .stdout_has("over budget: 26,000 units planned, 12,000 usable (over by 14,000)")
        .stdout_has("the job would stop at Audit, step 1 (Summaries), request 2 of 3: the balance runs out there and overage is off");
    assert!(!r.stdout.contains('$'), "no dollar figure: {}", r.stdout);
    // 24,000 left: the first two requests pay 20,000; the third would make 25,000 > 24,000:
    // step 1, request 3 of 3.
    let json = run(&["plan", &off, "--units-left", "24000", "--format", "json"]).json();
    assert_eq!(json["stops_at"]["request"], 3);
    // 25,500 left: all summaries (25,000); the export (1,000) does not fit → step 2, request 1.
    let json = run(&["plan", &off, "--units-left", "25500", "--format", "json"]).json();
    assert_eq!(
        (
            json["stops_at"]["step"].clone(),
            json["stops_at"]["request"].clone()
        ),
        (2.into(), 1.into())
    );
    // no account at all: the vendor's default, off.
    let none = s.file("none.yaml", body);
    let json = run(&["plan", &none, "--units-left", "12000", "--format", "json"]).json();
    assert_eq!(json["stops_at"]["request"], 2);
    // overage: plan → priced: 26,000 − 12,000 = 14,000 × $99.99 / 1M = 1.39986 → $1.40.
    let on = s.file(
        "on.yaml",
        &format!("account: {{tier: 1M, overage: plan}}\n{body}"),
    );
    let json = run(&["plan", &on, "--units-left", "12000", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(json["overage"]["usd"], "1.40");
    assert!(json["stops_at"].is_null());
    // it fits: neither
    let json = run(&["plan", &off, "--units-left", "26000", "--format", "json"])
        .code(0)
        .json();
    assert!(json["stops_at"].is_null() && json["overage"].is_null());
}

#[test]
fn pricing_files_that_are_not_text_are_exit_2() {
    let s = Scratch::new();
    std::fs::write(s.path().join("latin1.yaml"), b"endpoints:\n  caf\xe9: {}\n").unwrap();
    let latin1 = s.path().join("latin1.yaml").display().to_string();
    run(&["prices", "--pricing-overlay", &latin1])
        .code(2)
        .stderr_has("latin1.yaml: the file is not UTF-8 text");
    // a UTF-8 byte order mark (as Windows editors write) is fine.
    std::fs::write(
        s.path().join("bom.yaml"),
        b"\xEF\xBB\xBFendpoints:\n  backlinks/summary: {units: 80, evidence: docs, ref: contract}\n",
    )
    .unwrap();
    let bom = s.path().join("bom.yaml").display().to_string();
    let json = run(&["prices", "--pricing-overlay", &bom, "--format", "json"])
        .code(0)
        .json();
    let summary = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "backlinks/summary")
        .unwrap()
        .clone();
    assert_eq!(summary["units"], 80);
}
