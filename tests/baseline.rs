//! `--compare-to` and `--max-increase`.

use crate::support::{run, Scratch};

const DOCS: &str = "workflows/docs-example.yaml"; // 26,000 units

/// The docs example with 370 summaries instead of 250: 37,000 + 1,000 = 38,000 units.
const GROWN: &str = "name: Docs example\nsteps:\n  - endpoint: backlinks/summary\n    targets: 370\n  - endpoint: backlinks/export\n    targets: [example.com]\n";

fn saved(s: &Scratch) -> String {
    let r = run(&["plan", DOCS, "--format", "json"]);
    r.code(0);
    s.file("old.json", &r.stdout)
}

#[test]
fn shows_the_change_per_workflow_and_in_total() {
    let s = Scratch::new();
    let old = saved(&s);
    let wf = s.file("docs.yaml", GROWN);
    // Matched by name (the path differs): 38,000 − 26,000 = +12,000; 12,000 / 26,000 = 46.15…% → 46.2%.
    run(&["plan", &wf, "--compare-to", &old])
        .code(0)
        .stdout_has("this change adds 12,000 units (+46.2%)")
        .stdout_has("+12,000");
    let json = run(&["plan", &wf, "--compare-to", &old, "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["baseline"]["total"]["change"], 12000);
    assert_eq!(json["baseline"]["total"]["percent"], "46.2");
    assert_eq!(json["baseline"]["workflows"][0]["units_before"], 26000);
    run(&["plan", &wf, "--compare-to", &old, "--format", "markdown"])
        .code(0)
        .stdout_has("**this change adds 12,000 units (+46.2%)");
}

#[test]
fn max_increase_fails_check_when_exceeded() {
    let s = Scratch::new();
    let old = saved(&s);
    let wf = s.file("docs.yaml", GROWN);
    run(&[
        "check",
        &wf,
        "--units-left",
        "1M",
        "--compare-to",
        &old,
        "--max-increase",
        "10%",
    ])
    .code(1)
    .stdout_has("over budget: the increase of +12,000 units is above --max-increase 10%");
    run(&[
        "check",
        &wf,
        "--units-left",
        "1M",
        "--compare-to",
        &old,
        "--max-increase",
        "12k",
    ])
    .code(0)
    .stdout_has("within --max-increase 12,000 units");
    run(&[
        "gate",
        &wf,
        "--units-left",
        "1M",
        "--compare-to",
        &old,
        "--max-increase",
        "5%",
        "--",
        "true",
    ])
    .code(1)
    .stderr_has("not running true");
}

#[test]
fn bad_baselines_and_flags_exit_2() {
    let s = Scratch::new();
    run(&["plan", DOCS, "--compare-to", "nope.json"])
        .code(2)
        .stderr_has("cannot read the baseline file nope.json: no such file");
    let text = s.file("text.json", "not json");
    run(&["plan", DOCS, "--compare-to", &text])
        .code(2)
        .stderr_has("is not JSON");
    let other = s.file("other.json", r#"{"version": 1, "units": 5}"#);
    run(&["plan", DOCS, "--compare-to", &other])
        .code(2)
        .stderr_has("is not a saved `budget plan --format json` result: `total.units` is missing");
    run(&["plan", DOCS, "--max-increase", "10%"])
        .code(2)
        .stderr_has("--compare-to");
    let old = saved(&s);
    run(&["plan", DOCS, "--compare-to", &old, "--max-increase", "lots"])
        .code(2)
        .stderr_has("--max-increase: \"lots\" is not a count");
}

/// A saved plan of the docs example (26,000 units) edited by `edit`.
fn edited(s: &Scratch, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json = run(&["plan", DOCS, "--format", "json"]).code(0).json();
    edit(&mut json);
    s.file(name, &json.to_string())
}

#[test]
fn baselines_that_do_not_add_up_are_refused() {
    // Invariant: a comparison is only made with a baseline whose figures are its own; the old
    // code took version 99, showed "+2599900%" beside "unchanged" for a total that disagreed with
    // its workflows, and listed a workflow saved twice as "removed" once per copy.
    let s = Scratch::new();
    let future = edited(&s, "v99.json", |j| j["version"] = 99.into());
    run(&["plan", DOCS, "--compare-to", &future])
        .code(2)
        .stderr_has("v99.json has version 99; this budget reads version 1");
    // The workflow says 26,000 and the total 1.
    let off = edited(&s, "off.json", |j| j["total"]["units"] = 1.into());
    run(&["plan", DOCS, "--compare-to", &off])
        .code(2)
        .stderr_has("off.json: its workflows add up to 26,000 units but its total says 1");
    let twice = edited(&s, "twice.json", |j| {
        let first = j["workflows"][0].clone();
        j["workflows"].as_array_mut().unwrap().push(first);
        j["total"]["units"] = 52_000.into();
    });
    run(&["plan", DOCS, "--compare-to", &twice])
        .code(2)
        .stderr_has(
        "twice.json: workflow \"workflows/docs-example.yaml\" is listed twice (entries 1 and 2)",
    );
}

#[test]
fn a_baseline_with_a_byte_order_mark_is_read() {
    // A BOM (a baseline saved by a Windows editor) is not "not JSON".
    let s = Scratch::new();
    let saved = run(&["plan", DOCS, "--format", "json"])
        .code(0)
        .stdout
        .clone();
    let old = s.path().join("bom.json");
    std::fs::write(&old, format!("\u{feff}{saved}")).unwrap();
    run(&["plan", DOCS, "--compare-to", &old.display().to_string()])
        .code(0)
        .stdout_has("unchanged");
}

/// Invariant: the JSON verdict agrees with the exit code. An exceeded `--max-increase` exits 1,
/// so the JSON says `over_budget` and `failed_by` names why — even with no balance known
/// (where the verdict used to say `unknown`).
#[test]
fn an_exceeded_max_increase_is_over_budget_in_json() {
    let s = Scratch::new();
    let old = saved(&s);
    let wf = s.file("docs.yaml", GROWN);
    // No balance: 38,000 units planned, +12,000 (46.2%) over the baseline, above 10%.
    let r = run(&[
        "plan",
        &wf,
        "--compare-to",
        &old,
        "--max-increase",
        "10%",
        "--format",
        "json",
    ]);
    let json = r.code(1).json();
    assert_eq!(json["verdict"], "over_budget");
    assert_eq!(json["failed_by"], serde_json::json!(["max_increase"]));
    assert_eq!(json["baseline"]["exceeded"], true);
    // Against 20,000 units: 38,000 − 20,000 = 18,000 over the usable balance as well.
    let json = run(&[
        "plan",
        &wf,
        "--units-left",
        "20000",
        "--compare-to",
        &old,
        "--max-increase",
        "10%",
        "--format",
        "json",
    ])
    .code(1)
    .json();
    assert_eq!(
        json["failed_by"],
        serde_json::json!(["usable", "max_increase"])
    );
    assert_eq!(json["over_by"], 18000);
    // Within the limit and the balance: fits, nothing failed.
    let json = run(&[
        "plan",
        &wf,
        "--units-left",
        "1M",
        "--compare-to",
        &old,
        "--max-increase",
        "50%",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["verdict"], "fits");
    assert_eq!(json["failed_by"], serde_json::json!([]));
}
