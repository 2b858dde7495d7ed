//! `budget report`: the HTML page, through the real binary. Its figures are compared with what
//! `plan`, `forecast`, `overage --all-tiers` and `reconcile` print as JSON for the same inputs
//! (the page promises the same numbers), names a pull request controls stay text, and the file
//! is written whole or not at all. The page in a real browser: `tests/browser.rs`.

use serde_json::Value;

use crate::support::html::{self, plain, Table};
use crate::support::simulator::{Simulator, KEY};
use crate::support::{budget, run, Run, Scratch};

/// The bundled workflows, as the README's screenshot (docs/report.png) shows them.
pub const BUNDLED: [&str; 5] = [
    "workflows/backlink-audit.yaml",
    "workflows/competitor-monitoring.yaml",
    "workflows/docs-example.yaml",
    "workflows/finance-daily-report.yaml",
    "workflows/keyword-research.yaml",
];

/// `--units-left 400k` from 2026-11-26 to 2026-12-26, offline: the page's inputs and the JSON's.
pub const PERIOD: [&str; 7] = [
    "--units-left",
    "400k",
    "--now",
    "2026-11-26",
    "--period-end",
    "2026-12-26",
    "--offline",
];

/// Runs `budget report ARGS --output DIR/report.html`; the run and the page.
pub fn report(scratch: &Scratch, args: &[&str]) -> (Run, String) {
    let page = scratch.path().join("report.html");
    let run: Run = budget()
        .arg("report")
        .args(args)
        .arg("--output")
        .arg(&page)
        .output()
        .expect("run budget report")
        .into();
    let html = std::fs::read_to_string(&page).unwrap_or_default();
    (run, html)
}

fn json(args: &[&str], code: i32) -> Value {
    let r = run(args);
    r.code(code);
    r.json()
}

#[track_caller]
fn table<'a>(tables: &'a std::collections::BTreeMap<String, Table>, id: &str) -> &'a Table {
    tables
        .get(id)
        .unwrap_or_else(|| panic!("no table {id:?}; tables: {:?}", tables.keys()))
}

/// A JSON count as the page writes it, without separators.
fn count(value: &Value) -> String {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{value} is not a count"))
        .to_string()
}

/// A JSON date or count that may be null: the page shows `—` for null.
fn or_dash(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => count(other),
    }
}

/// Compares the page's plan, balance and verdict with `plan --format json`.
#[track_caller]
pub fn same_plan(page: &str, plan: &Value) {
    let tables = html::tables(page);
    let workflows = plan["workflows"].as_array().expect("workflows");
    for (i, w) in workflows.iter().enumerate() {
        let t = table(&tables, &format!("plan-steps-{}", i + 1));
        let steps = w["steps"].as_array().expect("steps");
        assert_eq!(t.body.len(), steps.len(), "steps of {}", w["name"]);
        for (row, s) in t.body.iter().zip(steps) {
            assert_eq!(t.cell(row, "step"), s["name"].as_str().unwrap());
            let endpoint = format!(
                "{} {} per {}",
                s["endpoint"].as_str().unwrap(),
                count(&s["unit_cost"])
                    .parse::<u64>()
                    .map(thousands)
                    .unwrap(),
                s["per"].as_str().unwrap()
            );
            assert_eq!(t.cell(row, "endpoint and unit cost"), endpoint);
            // The evidence and its mark: `docs, disputed †`, `assumed †`, `table`.
            let evidence = s["evidence"].as_str().unwrap();
            let shown = match (s["disputed"] == true, evidence == "assumed") {
                (true, _) => format!("{evidence}, disputed †"),
                (false, true) => format!("{evidence} †"),
                (false, false) => evidence.to_string(),
            };
            assert_eq!(t.cell(row, "price evidence"), shown);
            for (column, field) in [
                ("targets", "targets"),
                ("requests", "requests"),
                ("records", "records"),
                ("worst units", "units"),
                ("expected units", "units_expected"),
            ] {
                assert_eq!(
                    plain(t.cell(row, column)),
                    count(&s[field]),
                    "{column} of step {} of {}",
                    s["name"],
                    w["name"]
                );
            }
        }
        let total = &t.foot[0];
        for (column, field) in [
            ("requests", "requests"),
            ("records", "records"),
            ("worst units", "units"),
            ("expected units", "units_expected"),
        ] {
            assert_eq!(plain(t.cell(total, column)), count(&w[field]), "{column}");
        }
    }
    if workflows.len() > 1 {
        let t = table(&tables, "plan-workflows");
        for (row, w) in t.body.iter().zip(workflows) {
            assert_eq!(t.cell(row, "workflow"), w["name"].as_str().unwrap());
            assert_eq!(t.cell(row, "file"), w["path"].as_str().unwrap());
            assert_eq!(plain(t.cell(row, "worst units")), count(&w["units"]));
            assert_eq!(
                plain(t.cell(row, "expected units")),
                count(&w["units_expected"])
            );
            assert_eq!(plain(t.cell(row, "requests")), count(&w["requests"]));
            assert_eq!(plain(t.cell(row, "max_units")), or_dash(&w["max_units"]));
        }
        let total = &t.foot[0];
        for (column, field) in [
            ("requests", "requests"),
            ("records", "records"),
            ("worst units", "units"),
            ("expected units", "units_expected"),
        ] {
            assert_eq!(
                plain(t.cell(total, column)),
                count(&plan["total"][field]),
                "{column}"
            );
        }
    }
    let b = &plan["balance"];
    if b.is_object() {
        let t = table(&tables, "balance");
        for (label, field) in [
            ("units left", "units_left"),
            ("reserve (kept untouched)", "reserve"),
            ("reserved by running jobs", "reserved"),
            ("usable by this plan", "usable"),
        ] {
            assert_eq!(plain(&t.row(label)[1]), count(&b[field]), "{label}");
        }
    }
    assert_eq!(
        html::attribute(page, "verdict", "data-plan").as_deref(),
        plan["verdict"].as_str()
    );
}

/// Compares the page's forecast, chart and overage with `forecast --format json` and
/// `overage --all-tiers --format json`.
#[track_caller]
pub fn same_forecast(page: &str, forecast: &Value, tiers: Option<&Value>) {
    let tables = html::tables(page);
    let t = table(&tables, "forecast");
    let workflows = forecast["workflows"].as_array().expect("workflows");
    assert_eq!(t.body.len(), workflows.len());
    for (row, w) in t.body.iter().zip(workflows) {
        assert_eq!(t.cell(row, "workflow"), w["name"].as_str().unwrap());
        assert_eq!(t.cell(row, "schedule"), w["schedule"].as_str().unwrap());
        for (column, field) in [
            ("runs", "runs"),
            ("units/run", "units_per_run"),
            ("projected units", "units"),
            ("first run", "first_run"),
            ("exhausted on", "exhausted_on"),
            ("overage units", "overage_units"),
            ("overage cost", "overage_usd"),
        ] {
            assert_eq!(
                plain(t.cell(row, column)),
                or_dash(&w[field]),
                "{column} of {}",
                w["name"]
            );
        }
    }
    let total = &t.foot[0];
    for (column, field) in [
        ("runs", "runs"),
        ("projected units", "units"),
        ("exhausted on", "exhausted_on"),
        ("overage units", "overage_units"),
        ("overage cost", "overage_usd"),
    ] {
        assert_eq!(
            plain(t.cell(total, column)),
            or_dash(&forecast["total"][field]),
            "total {column}"
        );
    }
    // The chart and its table: one point per day boundary, ending at the projected total.
    let figures = table(&tables, "burnup-figures");
    let last = figures.body.last().expect("a day");
    assert_eq!(
        plain(figures.cell(last, "projected units")),
        count(&forecast["total"]["units"])
    );
    let points = html::tags(page, "polyline")
        .iter()
        .find_map(|attributes| {
            attributes
                .iter()
                .find(|(k, _)| k == "points")
                .map(|(_, v)| v.split_whitespace().count())
        })
        .expect("the burn-up line");
    assert_eq!(points, figures.body.len() + 1);
    // The line is drawn to scale: each point's height above the axis, relative to the last
    // point's, is its figure relative to the last figure; the points are a day apart.
    let points = html::tags(page, "polyline")
        .into_iter()
        .find_map(|attributes| {
            attributes
                .into_iter()
                .find(|(k, _)| k == "points")
                .map(|(_, v)| v)
        })
        .expect("the burn-up line");
    let xy: Vec<(f64, f64)> = points
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    let units: Vec<f64> = std::iter::once(0.0)
        .chain(figures.body.iter().map(|r| {
            plain(figures.cell(r, "projected units"))
                .parse::<f64>()
                .unwrap()
        }))
        .collect();
    let (x0, y0) = xy[0];
    let (x_last, y_last) = xy[xy.len() - 1];
    let last = units[units.len() - 1];
    let step = (x_last - x0) / (xy.len() - 1) as f64;
    for (i, ((x, y), u)) in xy.iter().zip(&units).enumerate() {
        assert!((x - (x0 + step * i as f64)).abs() < 0.2, "point {i} x {x}");
        let drawn = (y0 - y) / (y0 - y_last);
        assert!(
            (drawn - u / last).abs() < 0.005,
            "point {i}: {drawn} drawn, {} figured",
            u / last
        );
    }
    if let Some(spendable) = forecast["balance"]["spendable"].as_u64() {
        let balance_y: f64 = html::tags(page, "line")
            .into_iter()
            .find(|a| a.iter().any(|(k, v)| k == "class" && v == "balance"))
            .and_then(|a| a.into_iter().find(|(k, _)| k == "y1"))
            .expect("the units-left line")
            .1
            .parse()
            .unwrap();
        let drawn = (y0 - balance_y) / (y0 - y_last);
        assert!(
            (drawn - spendable as f64 / last).abs() < 0.005,
            "units-left line at {drawn}"
        );
        let legend = html::texts(page, "li");
        let line = format!("units left: {}", thousands(spendable));
        assert!(legend.contains(&line), "no {line:?} in {legend:?}");
    }
    assert_eq!(
        html::attribute(page, "verdict", "data-forecast").as_deref(),
        forecast["verdict"].as_str()
    );
    if let Some(account) = forecast["account"].as_object() {
        let t = table(&tables, "overage-account");
        assert_eq!(t.row("tier")[1], account["tier"].as_str().unwrap());
        assert_eq!(
            plain(&t.row("USD per 1M units")[1]),
            account["usd_per_million"].as_str().unwrap()
        );
        assert_eq!(
            plain(&t.row("this period: projected overage cost")[1]),
            forecast["total"]["overage_usd"].as_str().unwrap()
        );
    }
    if let Some(tiers) = tiers {
        let t = table(&tables, "overage-tiers");
        let expected = tiers["tiers"].as_array().expect("tiers");
        assert_eq!(t.body.len(), expected.len());
        for (row, q) in t.body.iter().zip(expected) {
            let tier = q["tier"].as_str().unwrap();
            let shown = match q["selected"].as_bool() {
                Some(true) => format!("{tier} (your tier)"),
                _ => tier.to_string(),
            };
            assert_eq!(t.cell(row, "tier"), shown);
            assert_eq!(plain(t.cell(row, "included")), count(&q["included"]));
            assert_eq!(plain(t.cell(row, "overage units")), count(&q["units"]));
            for (column, rate) in [
                ("plan", "plan"),
                ("plan yearly", "plan_yearly"),
                ("addon", "addon"),
                ("addon yearly", "addon_yearly"),
            ] {
                assert_eq!(
                    plain(t.cell(row, column)),
                    q["usd"][rate].as_str().unwrap(),
                    "{tier} {rate}"
                );
            }
        }
    }
}

/// `1234567` as `1,234,567`, independently of the code under test.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The JSON of plan, forecast and overage --all-tiers for the bundled workflows over PERIOD.
pub fn bundled_json() -> (Value, Value, Value) {
    let mut args = vec!["plan"];
    args.extend(BUNDLED);
    args.extend(["--units-left", "400k", "--offline", "--format", "json"]);
    let plan = json(&args, 0);
    let mut args = vec!["forecast"];
    args.extend(BUNDLED);
    args.extend(PERIOD);
    args.extend(["--format", "json"]);
    let forecast = json(&args, 1);
    let units = count(&forecast["total"]["overage_units"]);
    let tier = forecast["account"]["tier"].as_str().expect("an account");
    let tiers = json(
        &[
            "overage",
            "--all-tiers",
            "--units",
            &units,
            "--tier",
            tier,
            "--format",
            "json",
        ],
        0,
    );
    (plan, forecast, tiers)
}

#[test]
fn the_page_has_the_figures_of_plan_forecast_and_overage_json() {
    let s = Scratch::new();
    let mut args: Vec<&str> = BUNDLED.to_vec();
    args.extend(PERIOD);
    let (r, page) = report(&s, &args);
    // The plan fits 400,000 (less the audit's 5% reserve) but the daily runs exhaust it: 1.
    r.code(1)
        .stderr_has("report.html: the balance runs out before the period ends");
    let (plan, forecast, tiers) = bundled_json();
    assert_eq!(plan["verdict"], "fits");
    assert_eq!(forecast["verdict"], "runs_out");
    same_plan(&page, &plan);
    same_forecast(&page, &forecast, Some(&tiers));
}

/// The finance example by hand (docs/finance.md): 40 summaries × 100 + 2 × 500 anchor rows
/// × 1 = 5,000 units a run, daily from 2026-11-26 to 2026-12-26: 30 runs, 150,000 units. With
/// 100,000 units left the 20th run (2026-12-15) spends the last of them (20 × 5,000 = 100,000)
/// and the 21st, on 2026-12-16, cannot be paid: 10 runs × 5,000 = 50,000 overage units at the 1M
/// monthly plan rate of $99.99 per 1M = $4.9995, $5.00.
#[test]
fn the_finance_example_by_hand() {
    let s = Scratch::new();
    let (r, page) = report(
        &s,
        &[
            "workflows/finance-daily-report.yaml",
            "--units-left",
            "100k",
            "--now",
            "2026-11-26",
            "--period-end",
            "2026-12-26",
        ],
    );
    r.code(1);
    let tables = html::tables(&page);
    let f = table(&tables, "forecast");
    let row = f.row("Daily competitor report");
    assert_eq!(f.cell(row, "runs"), "30");
    assert_eq!(f.cell(row, "units/run"), "5,000");
    assert_eq!(f.cell(row, "projected units"), "150,000");
    assert_eq!(f.cell(row, "exhausted on"), "2026-12-16");
    assert_eq!(f.cell(row, "overage units"), "50,000");
    assert_eq!(f.cell(row, "overage cost"), "$5.00");
    let figures = table(&tables, "burnup-figures");
    assert_eq!(figures.body.len(), 30);
    assert_eq!(figures.body[19], ["20", "2026-12-15", "100,000"]);
    assert_eq!(figures.body[20], ["21", "2026-12-16", "105,000"]);
    // The plan itself fits: one run, 5,000 of 100,000.
    let steps = table(&tables, "plan-steps-1");
    assert_eq!(steps.cell(&steps.foot[0], "worst units"), "5,000");
    assert_eq!(
        html::texts(&page, "li")[0],
        "Plan: fits: 5,000 of 100,000 usable units (95,000 to spare)"
    );
    // No workflow there names another tier: the account's is marked.
    let t = table(&tables, "overage-tiers");
    assert_eq!(t.body[0][0], "1M (your tier)");
    // 50,000 units at the 1M plan rate $99.99 per 1M: $5.00 (as above).
    assert_eq!(t.cell(&t.body[0], "plan"), "$5.00");
    assert_eq!(
        html::attribute(&page, "burnup", "id").as_deref(),
        Some("burnup")
    );
}

/// Audit, by hand (docs/workflows.md "The arithmetic"; as tests/reconcile.rs): 1 Summaries: 3 targets in 1
/// request × 100 = 300; 2 Backlinks: 2 targets × 100 rows = 200 (expected 2 × 50 = 100);
/// 3 Keywords: 1 target × 2 pages × 100 = 200. Total 5 requests, 700 units, 600 expected.
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

/// A journal line as a guard writes it (the fields reconcile reads).
fn line(workflow: &str, step: &str, endpoint: &str, units: u64, outcome: &str) -> String {
    format!(
        r#"{{"time":"2026-11-26T07:00:00.000Z","method":"GET","endpoint":"{endpoint}","targets":1,"status":200,"units_reserved":{units},"units_charged":{units},"latency_ms":1.0,"attempts":1,"outcome":"{outcome}","workflow":"{workflow}","step":"{step}"}}"#
    )
}

/// Compares the page's reconcile table with `reconcile --format json`.
#[track_caller]
fn same_reconciliation(page: &str, reconciled: &Value) {
    let tables = html::tables(page);
    let t = table(&tables, "reconcile");
    let ratio = |v: &Value| match v.as_f64() {
        Some(r) => format!("{r:.1}"),
        None => "—".into(),
    };
    let figures = |row: &[String], planned: Option<&Value>, actual: &Value, j: &Value| {
        if let Some(p) = planned {
            assert_eq!(
                plain(t.cell(row, "planned requests")),
                count(&p["requests"])
            );
            assert_eq!(plain(t.cell(row, "worst")), count(&p["units"]));
            assert_eq!(plain(t.cell(row, "expected")), count(&p["units_expected"]));
        }
        assert_eq!(plain(t.cell(row, "requests")), count(&actual["requests"]));
        assert_eq!(plain(t.cell(row, "charged")), count(&actual["units"]));
        assert_eq!(plain(t.cell(row, "% of worst")), ratio(&j["worst_ratio"]));
        assert_eq!(
            plain(t.cell(row, "% of expected")),
            ratio(&j["expected_ratio"])
        );
        let verdict = if j["exceeded"] == true { "over" } else { "" };
        assert_eq!(t.cell(row, "verdict"), verdict);
    };
    let steps = reconciled["steps"].as_array().expect("steps");
    let unplanned = reconciled["unplanned"].as_array().expect("unplanned");
    assert_eq!(t.body.len(), steps.len() + unplanned.len());
    for (row, s) in t.body.iter().zip(steps) {
        assert_eq!(t.cell(row, "step"), s["step"].as_str().unwrap());
        assert_eq!(t.cell(row, "#"), count(&s["number"]));
        figures(row, Some(&s["planned"]), &s["actual"], s);
    }
    for (row, u) in t.body[steps.len()..].iter().zip(unplanned) {
        assert_eq!(t.cell(row, "endpoint"), u["endpoint"].as_str().unwrap());
        figures(row, None, &u["actual"], u);
    }
    let total = &reconciled["total"];
    figures(&t.foot[0], Some(&total["planned"]), &total["actual"], total);
}

#[test]
fn the_journals_against_a_saved_plan_or_the_pages_own_give_reconciles_figures() {
    let s = Scratch::new();
    let wf = s.file("audit.yaml", AUDIT);
    let planned = run(&["plan", &wf, "--format", "json"]);
    let plan = s.file("plan.json", &planned.code(0).stdout);
    // Backlinks charged 2 × 150 = 300 units above its worst case of 200 (150.0%); an unplanned
    // export charged 1,000. Total 300 + 300 + 1,000 = 1,600 of 700 (228.6%).
    let journal = s.file(
        "calls.jsonl",
        &[
            line("Audit", "Summaries", "backlinks/summary", 300, "charged"),
            line("Audit", "Backlinks", "backlinks/all", 150, "charged"),
            line("Audit", "Backlinks", "backlinks/all", 150, "charged"),
            line("Audit", "Export", "backlinks/export", 1000, "charged"),
        ]
        .join("\n"),
    );
    let reconciled = json(&["reconcile", &plan, &journal, "--format", "json"], 1);
    assert_eq!(reconciled["total"]["actual"]["units"], 1600);
    for with_plan in [true, false] {
        let mut args = vec![wf.as_str(), "--units-left", "10k", "--offline"];
        args.extend(["--journal", &journal]);
        if with_plan {
            args.extend(["--plan", &plan]);
        }
        let (r, page) = report(&s, &args);
        // The plan fits (700 of 10,000) but the forecast was exceeded: 1.
        r.code(1)
            .stderr_has("a step charged more than its forecast");
        same_reconciliation(&page, &reconciled);
        let items = html::texts(&page, "li");
        assert!(
            items.contains(&"Journals: forecast exceeded: step 2 (Backlinks) of Audit: 300 units charged, above its worst case of 200 (150.0%)".to_string()),
            "{items:?}"
        );
        let intro = match with_plan {
            true => format!("The saved plan {plan} against"),
            false => "The plan above against".to_string(),
        };
        assert!(
            html::texts(&page, "p")
                .iter()
                .any(|p| p.starts_with(&intro)),
            "no {intro:?}"
        );
        // Without a period end there is no forecast, and the page says why.
        assert!(page.contains("No forecast: the period end is unknown and --offline reads no subscription; pass --period-end."));
    }
}

/// A workflow whose names try to become markup: a script, a cell break, an attribute break,
/// a comment; a file name with `<`, `&` and quotes; a journal tag that tries an image.
#[test]
fn hostile_names_stay_text() {
    let s = Scratch::new();
    let wf = s.file(
        "a<b>&\"c'.yaml",
        "name: \"<script>alert(1)</script>\"
schedule: daily
steps:
  - name: \"</td><td>forged</td></tr><tr><td>\"
    endpoint: backlinks/summary
    targets: 2
  - name: \"\\\" onmouseover=\\\"alert(1)\\\" ' <!-- hidden\"
    endpoint: backlinks/summary
    targets: 1
",
    );
    let journal = s.file(
        "calls.jsonl",
        &line(
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)> <!--",
            "backlinks/summary",
            100,
            "charged",
        ),
    );
    let (r, page) = report(
        &s,
        &[
            &wf,
            "--units-left",
            "1000",
            "--now",
            "2026-11-26",
            "--period-end",
            "2026-11-28",
            "--journal",
            &journal,
        ],
    );
    // 300 units a day for 2 days = 600 of 1,000: fits and lasts; but the call tagged with a
    // step the plan lacks charged 100 units nobody planned: 1.
    r.code(1);
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&page, options).expect("well-formed");
    for node in doc.descendants() {
        assert!(!node.is_comment(), "a comment: {node:?}");
        assert!(
            !["script", "img"].contains(&node.tag_name().name()),
            "<{}>",
            node.tag_name().name()
        );
        assert!(
            node.attributes().all(|a| !a.name().starts_with("on")),
            "an event handler on {node:?}"
        );
    }
    let tables = html::tables(&page);
    let steps = table(&tables, "plan-steps-1");
    assert_eq!(steps.body.len(), 2, "{steps:#?}");
    assert_eq!(steps.body[0][1], "</td><td>forged</td></tr><tr><td>");
    assert_eq!(
        steps.body[1][1],
        "\" onmouseover=\"alert(1)\" ' <!-- hidden"
    );
    assert_eq!(html::texts(&page, "h3"), ["<script>alert(1)</script>"]);
    let file = steps.caption.clone();
    assert_eq!(file, "Steps of <script>alert(1)</script>");
    assert!(
        html::texts(&page, "code")
            .iter()
            .any(|c| c.ends_with("a<b>&\"c'.yaml")),
        "the file name"
    );
    let unplanned = table(&tables, "reconcile");
    assert!(
        unplanned.body.iter().any(|row| row.iter().any(
            |c| c == "unplanned: step \"<img src=x onerror=alert(1)> <!--\" is not in the plan"
        )),
        "{unplanned:#?}"
    );
}

#[test]
fn the_file_is_replaced_whole_and_nothing_else_is_left() {
    let s = Scratch::new();
    let page = s.file("report.html", "an old page");
    let (r, html) = report(&s, &["workflows/docs-example.yaml", "--offline"]);
    // No balance, no period end: written, exit 0, and the page says what is missing.
    r.code(0).stderr_has("report.html: balance unknown");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("No balance is known: --offline reads none"));
    let names: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.html"], "a temporary file was left behind");
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .ends_with("</html>\n"));
    // -q: nothing on stderr.
    let r: Run = budget()
        .args([
            "report",
            "workflows/docs-example.yaml",
            "--offline",
            "-q",
            "-o",
        ])
        .arg(&page)
        .output()
        .unwrap()
        .into();
    r.code(0);
    assert_eq!(r.stderr, "");
}

#[test]
fn a_page_that_cannot_be_written_is_exit_4_and_bad_flags_exit_2() {
    let s = Scratch::new();
    let missing = s.path().join("no/such/dir/report.html");
    let r: Run = budget()
        .args([
            "report",
            "workflows/docs-example.yaml",
            "--offline",
            "--output",
        ])
        .arg(&missing)
        .output()
        .unwrap()
        .into();
    r.code(4)
        .stderr_has("error: cannot write output: ")
        .stderr_has("no/such/dir/report.html: no such file");
    // A directory in the way: the rename fails, the temporary file goes.
    let dir = s.path().join("taken.html");
    std::fs::create_dir(&dir).unwrap();
    let r: Run = budget()
        .args([
            "report",
            "workflows/docs-example.yaml",
            "--offline",
            "--output",
        ])
        .arg(&dir)
        .output()
        .unwrap()
        .into();
    r.code(4)
        .stderr_has("error: cannot write output: ")
        .stderr_has("taken.html: it is a directory");
    assert_eq!(std::fs::read_dir(s.path()).unwrap().count(), 1);
    run(&["report", "workflows/docs-example.yaml", "--offline"])
        .code(2)
        .stderr_has("--output <FILE.html>");
    run(&[
        "report",
        "workflows/docs-example.yaml",
        "--plan",
        "plan.json",
        "-o",
        "x.html",
    ])
    .code(2)
    .stderr_has("--journal <FILE>");
    run(&[
        "report",
        "workflows/docs-example.yaml",
        "--format",
        "json",
        "-o",
        "x.html",
    ])
    .code(2)
    .stderr_has("unexpected argument '--format'");
    run(&[
        "report",
        "workflows/docs-example.yaml",
        "--offline",
        "-o",
        "..",
    ])
    .code(2)
    .stderr_has("--output ..: not a file name; give the HTML file to write");
    // Bad input is refused before anything is written.
    let bad = s.file("bad.yaml", "steps:\n  - endpoint: backlinks/al\n");
    let out = s.path().join("bad.html");
    let r: Run = budget()
        .args(["report", &bad, "--offline", "-o"])
        .arg(&out)
        .output()
        .unwrap()
        .into();
    r.code(2).stderr_has("unknown endpoint `backlinks/al`");
    assert!(!out.exists());
    let r: Run = budget()
        .args([
            "report",
            "workflows/docs-example.yaml",
            "--offline",
            "--period-end",
            "2026-11-26",
            "--now",
            "2026-11-27",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap()
        .into();
    r.code(2)
        .stderr_has("period end 2026-11-26T00:00:00Z is not after now 2026-11-27T00:00:00Z");
    assert!(!out.exists());
}

/// With a key and no flags, the balance (both pools) and the period end are the live
/// account's: one read of the API for both.
#[test]
fn the_live_balance_its_pools_and_period_end() {
    let sim = Simulator::start();
    sim.set(|state| {
        state.units_left = 50_000;
        state.units_limit = 100_000;
        state.wallet_left = 20_000;
        state.expiration_date = "2026-12-26 00:00:00".into();
    });
    let s = Scratch::new();
    let page = s.path().join("live.html");
    let r: Run = budget()
        .env("SERANKING_API_KEY", KEY)
        .env("SERANKING_API_URL", sim.url())
        .env("NO_PROXY", "127.0.0.1")
        .args(["report", "workflows/finance-daily-report.yaml"])
        .args(["--now", "2026-11-26", "-o"])
        .arg(&page)
        .output()
        .unwrap()
        .into();
    // 50,000 + 20,000 = 70,000 units; 5,000 a day for 30 days = 150,000: 14 runs are paid
    // (70,000), the 15th (2026-12-10) is the first the balance cannot pay.
    r.code(1);
    assert_eq!(sim.requests(), 1, "one read of the API");
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(!page.contains(KEY));
    let tables = html::tables(&page);
    let b = table(&tables, "balance");
    assert_eq!(b.row("source")[1], "the live API");
    assert_eq!(b.row("units left")[1], "70,000");
    assert_eq!(
        b.row("of which the subscription (expires at the period end)")[1],
        "50,000"
    );
    assert_eq!(b.row("of which the wallet (never expires)")[1], "20,000");
    assert_eq!(b.row("expires")[1], "2026-12-26T00:00:00Z");
    let f = table(&tables, "forecast");
    assert_eq!(f.cell(&f.foot[0], "exhausted on"), "2026-12-10");
    let paragraphs = html::texts(&page, "p");
    assert!(
        paragraphs.iter().any(|p| p.starts_with(
            "From 2026-11-26T00:00:00Z to 2026-12-26T00:00:00Z (period end from the subscription's expiry)"
        )),
        "{paragraphs:?}"
    );
    // The subscription is spent first (50,000 by the end of 2026-12-05, day 10); the wallet
    // pays from day 11, 2026-12-06 (55,000 > 50,000), all of its 20,000.
    let items = html::texts(&page, "li");
    assert!(
        items.contains(&"subscription credits (spent first, they expire at the period end): 50,000 of 50,000 spent, 0 expire unused; the wallet pays from 2026-12-06: 20,000 of its 20,000".to_string()),
        "{items:?}"
    );
}

/// Overage off (no account): a plan beyond the balance says where the job stops, in the
/// verdict and under its workflow, and prices nothing.
#[test]
fn where_the_job_stops_when_overage_is_off() {
    let s = Scratch::new();
    let (r, page) = report(
        &s,
        &[
            "workflows/docs-example.yaml",
            "--units-left",
            "15k",
            "--offline",
        ],
    );
    r.code(1).stderr_has("report.html: over budget");
    let plan = json(
        &[
            "plan",
            "workflows/docs-example.yaml",
            "--units-left",
            "15k",
            "--offline",
            "--format",
            "json",
        ],
        1,
    );
    same_plan(&page, &plan);
    // Summaries: 250 targets, 100 a request: 10,000 + 10,000 + 5,000 units. 15,000 pays the
    // first request; the second needs 10,000 with 5,000 left: request 2 of 3.
    assert_eq!(plan["stops_at"]["step"], 1);
    assert_eq!(plan["stops_at"]["request"], 2);
    let stop = html::texts(&page, "p")
        .into_iter()
        .find(|p| p.starts_with("Stops at step 1: "))
        .expect("the stop under the workflow");
    assert!(
        stop.contains("the job would stop at Docs example, step 1 (Summaries for 250 domains), request 2 of 3"),
        "{stop}"
    );
    assert!(html::texts(&page, "p")
        .iter()
        .any(|p| p.starts_with("No workflow names an account, so overage is off")));
    assert!(!html::tables(&page).contains_key("overage-account"));
}

/// `--strict-prices` as `plan` has it: keyword research fits 1M, but its `keywords/export` step
/// rests on a disputed price, so the page says the fit is refused and the plan's verdict is the
/// JSON's `over_budget`.
#[test]
fn strict_prices_refuse_a_fit_on_a_disputed_price() {
    let s = Scratch::new();
    let args = [
        "workflows/keyword-research.yaml",
        "--units-left",
        "1M",
        "--offline",
        "--strict-prices",
    ];
    let (r, page) = report(&s, &args);
    r.code(1)
        .stderr_has("the plan fits only on prices that are assumed or disputed");
    let mut plan_args = vec!["plan"];
    plan_args.extend(args);
    plan_args.extend(["--format", "json"]);
    let plan = json(&plan_args, 1);
    assert_eq!(plan["failed_by"][0], "strict_prices");
    same_plan(&page, &plan);
    let items = html::texts(&page, "li");
    assert!(
        items.iter().any(|i| i.starts_with("Plan: Launch keyword research: step 4 (Seed keyword metrics): keywords/export (table, disputed)")),
        "{items:?}"
    );
}

/// The tests' HTML reader reads the tool's markup and a browser's alike.
mod reader {
    use crate::support::html::{plain, tables};

    #[test]
    fn reads_written_and_dumped_markup_alike() {
        let written = r#"<table id="t"><caption>Steps of <b>A</b></caption><thead><tr><th scope="col">step</th><th>units</th></tr></thead>
<tbody><tr><th scope="row">x &lt;y&gt; &#35;1</th><td class="num">1,000</td></tr></tbody>
<tfoot><tr><th>total</th><td>1,000</td></tr></tfoot></table>"#;
        let dumped = "<table id=\"t\"><caption>Steps of <b>A</b></caption><thead><tr><th scope=\"col\">step</th><th>units</th></tr></thead><tbody><tr><th scope=\"row\">x &lt;y&gt; #1</th><td class=\"num\">1,000</td></tr></tbody><tfoot><tr><th>total</th><td>1,000</td></tr></tfoot></table>";
        let a = tables(written);
        assert_eq!(a, tables(dumped));
        let t = &a["t"];
        assert_eq!(t.caption, "Steps of A");
        assert_eq!(t.body, vec![vec!["x <y> #1".to_string(), "1,000".into()]]);
        assert_eq!(t.cell(t.row("total"), "units"), "1,000");
        assert_eq!(plain("$1,234.50"), "1234.50");
    }
}
