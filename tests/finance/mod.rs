//! `budget overage`, `budget forecast` and the CSV outputs, end to end. Every figure is worked out
//! by hand in the comment next to it (rates from pricing/seranking.yaml).

use crate::support::{run, Scratch};

// ---------------------------------------------------------------------------------------------
// overage

/// Runs `budget overage ARGS --format json` and checks (units, usd_per_million, usd).
#[track_caller]
fn overage(args: &[&str], units: u64, rate: &str, usd: &str) -> serde_json::Value {
    let mut all = vec!["overage"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let json = run(&all).code(0).json();
    assert_eq!(json["units"], units, "units of {args:?}");
    assert_eq!(json["usd_per_million"], rate, "rate of {args:?}");
    assert_eq!(json["usd"], usd, "usd of {args:?}");
    json
}

#[test]
fn overage_json_has_the_issue_keys() {
    // 1M tier, 1,500,000 used: 500,000 over × $99.99 / 1M = 49.995 -> $50.00 (half away from zero)
    let json = overage(
        &["--tier", "1M", "--usage", "1500000"],
        500_000,
        "99.99",
        "50.00",
    );
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "tier",
            "billing",
            "rate",
            "usage",
            "included",
            "units",
            "usd_per_million",
            "usd"
        ]
    );
    assert_eq!(json["tier"], "1M");
    assert_eq!(json["billing"], "monthly"); // default
    assert_eq!(json["rate"], "plan"); // default
    assert_eq!(json["usage"], 1_500_000);
    assert_eq!(json["included"], 1_000_000);
}

#[test]
fn overage_below_at_and_above_the_included_credits() {
    // 1M tier includes 1,000,000 credits
    overage(&["--tier", "1M", "--usage", "999999"], 0, "99.99", "0.00"); // below
    overage(&["--tier", "1M", "--usage", "1M"], 0, "99.99", "0.00"); // at
    overage(&["--tier", "1M", "--usage", "1000001"], 1, "99.99", "0.00"); // 0.00009999 -> 0.00
    overage(
        &["--tier", "1M", "--usage", "1005001"],
        5_001,
        "99.99",
        "0.50",
    ); // 0.50004999 -> 0.50
       // 5M tier: 5,000,000 included; 7,250,000 used -> 2,250,000 × 30.00 / 1M = 67.50
    overage(
        &["--tier", "5M", "--usage", "7.25M"],
        2_250_000,
        "30.00",
        "67.50",
    );
    overage(&["--tier", "5M", "--usage", "5M"], 0, "30.00", "0.00");
    // 500M tier: 600M used -> 100,000,000 × 4.20 / 1M = 420.00
    overage(
        &["--tier", "500M", "--usage", "600M"],
        100_000_000,
        "4.20",
        "420.00",
    );
}

#[test]
fn overage_yearly_vs_monthly_and_plan_vs_addon() {
    // 3M tier, 4,250,000 used -> 1,250,000 over
    // plan monthly  46.67 × 1.25 = 58.3375 -> 58.34
    // plan yearly   37.33 × 1.25 = 46.6625 -> 46.66
    // addon monthly 40.00 × 1.25 = 50.00
    // addon yearly  32.00 × 1.25 = 40.00
    let usage = ["--tier", "3M", "--usage", "4250000"];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { usage.iter().chain(extra).copied().collect() };
    overage(&with(&[]), 1_250_000, "46.67", "58.34");
    let json = overage(&with(&["--billing", "yearly"]), 1_250_000, "37.33", "46.66");
    assert_eq!(json["billing"], "yearly");
    let json = overage(&with(&["--rate", "addon"]), 1_250_000, "40.00", "50.00");
    assert_eq!(json["rate"], "addon");
    overage(
        &with(&["--billing", "yearly", "--rate", "addon"]),
        1_250_000,
        "32.00",
        "40.00",
    );
}

#[test]
fn overage_from_units_directly() {
    // --units is the overage itself: 20,000 × 99.99 / 1M = 1.9998 -> 2.00; usage is null
    let json = overage(&["--tier", "1M", "--units", "20k"], 20_000, "99.99", "2.00");
    assert!(json["usage"].is_null());
    assert_eq!(json["included"], 1_000_000);
    // a rate override on a table tier: 20,000 × 12.5 / 1M = 0.25
    overage(
        &[
            "--tier",
            "1M",
            "--units",
            "20k",
            "--usd-per-million",
            "12.5",
        ],
        20_000,
        "12.50",
        "0.25",
    );
}

#[test]
fn overage_enterprise() {
    // 2,500,000 units × $3.10 / 1M = 7.75; included unknown -> null
    let json = overage(
        &[
            "--tier",
            "enterprise",
            "--units",
            "2.5M",
            "--usd-per-million",
            "3.10",
        ],
        2_500_000,
        "3.10",
        "7.75",
    );
    assert!(json["included"].is_null());
    // with a usage and the contract's credits: 60M − 50M = 10,000,000 × 3.10 / 1M = 31.00
    overage(
        &[
            "--tier",
            "enterprise",
            "--usage",
            "60M",
            "--included",
            "50M",
            "--usd-per-million",
            "3.10",
        ],
        10_000_000,
        "3.10",
        "31.00",
    );
    run(&["overage", "--tier", "enterprise", "--units", "1000"])
        .code(2)
        .stderr_has("the enterprise tier is priced by contract: pass --usd-per-million");
    run(&[
        "overage",
        "--tier",
        "Enterprise",
        "--usage",
        "60M",
        "--usd-per-million",
        "3",
    ])
    .code(2)
    .stderr_has("pass --included N with --usage");
}

#[test]
fn overage_input_errors_exit_2() {
    run(&["overage", "--tier", "7M", "--units", "1"])
        .code(2)
        .stderr_has("unknown tier `7M`; use one of: 1M, 2M, 3M, 5M, 10M, 20M, 30M, 50M, 100M, 200M, 300M, 500M, enterprise");
    run(&["overage", "--tier", "7M", "--usage", "1", "--all-tiers"])
        .code(2)
        .stderr_has("unknown tier `7M`");
    run(&["overage", "--tier", "1M"])
        .code(2)
        .stderr_has("--usage <N>|--units <N>");
    run(&["overage", "--tier", "1M", "--usage", "1", "--units", "1"])
        .code(2)
        .stderr_has("cannot be used with");
    run(&["overage", "--usage", "1"])
        .code(2)
        .stderr_has("--tier <TIER>");
    run(&[
        "overage",
        "--tier",
        "1M",
        "--units",
        "1",
        "--usd-per-million=-3",
    ])
    .code(2)
    .stderr_has("is negative");
    run(&["overage", "--tier", "1M", "--units", "lots"])
        .code(2)
        .stderr_has("--units");
    run(&[
        "overage",
        "--tier",
        "1M",
        "--units",
        "1",
        "--billing",
        "weekly",
    ])
    .code(2)
    .stderr_has("possible values: monthly, yearly");
}

#[test]
fn overage_csv_is_one_header_and_one_plain_row() {
    // 1,500,000 used on 1M yearly add-on: 500,000 × 39.99 / 1M = 19.995 -> 20.00
    let out = run(&[
        "overage",
        "--tier",
        "1M",
        "--billing",
        "yearly",
        "--rate",
        "addon",
        "--usage",
        "1.5M",
        "--format",
        "csv",
    ]);
    out.code(0);
    assert_eq!(
        out.stdout,
        "tier,billing,rate,usage,included,units,usd_per_million,usd\n1M,yearly,addon,1500000,1000000,500000,39.99,20.00\n"
    );
}

#[test]
fn overage_table_for_people() {
    run(&["overage", "--tier", "1M", "--usage", "1.5M"])
        .code(0)
        .stdout_has("1,500,000")
        .stdout_has("500,000")
        .stdout_has("$50.00");
}

/// Dollars for people are grouped by thousands like unit counts; CSV and JSON keep the plain
/// decimal a program reads.
#[test]
fn large_dollar_figures_are_grouped_for_people_and_plain_for_programs() {
    // 124,456,789 used on 1M monthly plan: 123,456,789 over × 99.99 / 1,000,000
    // = 12,344.4443... -> 12,344.44; add-on 49.99: 6,171.6048... -> 6,171.60.
    let args = ["overage", "--tier", "1M", "--usage", "124456789"];
    let table = run(&args);
    table
        .code(0)
        .stdout_has("123,456,789")
        .stdout_has("$12,344.44")
        .stdout_has("$99.99");
    let markdown = run(&[&args[..], &["--format", "markdown"]].concat());
    markdown.code(0).stdout_has("$12,344.44");
    let json = run(&[&args[..], &["--format", "json"]].concat())
        .code(0)
        .json();
    assert_eq!(json["usd"], "12344.44");
    let csv = run(&[&args[..], &["--format", "csv"]].concat());
    csv.code(0).stdout_has(",12344.44\n");
    let all = run(&["overage", "--all-tiers", "--usage", "124456789"]);
    all.code(0).stdout_has("$12,344.44").stdout_has("$6,171.60");
}

#[test]
fn overage_all_tiers() {
    // usage 2,500,000:
    // 1M: 1,500,000 over; 1.5 × 99.99 = 149.985 -> 149.99, × 79.99 -> 119.99, × 49.99 -> 74.99, × 39.99 -> 59.99
    // 2M:   500,000 over; 0.5 × 60 = 30.00, × 48 = 24.00, × 45 = 22.50, × 36 = 18.00
    // 3M and up: nothing over
    let json = run(&[
        "overage",
        "--all-tiers",
        "--usage",
        "2.5M",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["usage"], 2_500_000);
    let tiers = json["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 12);
    assert_eq!(tiers[0]["tier"], "1M");
    assert_eq!(tiers[0]["included"], 1_000_000);
    assert_eq!(tiers[0]["units"], 1_500_000);
    assert_eq!(
        tiers[0]["usd"],
        serde_json::json!({"plan": "149.99", "plan_yearly": "119.99", "addon": "74.99", "addon_yearly": "59.99"})
    );
    assert_eq!(tiers[0]["usd_per_million"]["plan"], "99.99");
    assert_eq!(tiers[1]["units"], 500_000);
    assert_eq!(
        tiers[1]["usd"],
        serde_json::json!({"plan": "30.00", "plan_yearly": "24.00", "addon": "22.50", "addon_yearly": "18.00"})
    );
    assert_eq!(tiers[2]["tier"], "3M");
    assert_eq!(tiers[2]["units"], 0);
    assert_eq!(tiers[11]["tier"], "500M");
    assert_eq!(tiers[11]["usd"]["plan"], "0.00");

    let csv = run(&[
        "overage",
        "--all-tiers",
        "--usage",
        "2.5M",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = csv.code(0).stdout.lines().collect();
    assert_eq!(lines.len(), 13); // header + 12 tiers
    assert_eq!(
        lines[0],
        "tier,included,units,usd_plan,usd_plan_yearly,usd_addon,usd_addon_yearly,selected"
    );
    assert_eq!(
        lines[1],
        "1M,1000000,1500000,149.99,119.99,74.99,59.99,false"
    );
    assert_eq!(lines[2], "2M,2000000,500000,30.00,24.00,22.50,18.00,false");

    run(&["overage", "--all-tiers", "--usage", "2.5M", "--tier", "2M"])
        .code(0)
        .stdout_has("2M *")
        .stdout_has("no overage from the 3M tier up");
}

/// Invariant: `--tier` with `--all-tiers` marks the user's row in every format, not only in
/// the tables: `"selected": true` in JSON, a `selected` column in CSV.
#[test]
fn the_selected_tier_is_marked_in_every_format() {
    let args = ["overage", "--all-tiers", "--usage", "2.5M", "--tier", "2m"];
    let json = run(&[&args[..], &["--format", "json"]].concat())
        .code(0)
        .json();
    let selected: Vec<bool> = json["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["selected"].as_bool().unwrap())
        .collect();
    // 12 tiers, the second (2M) selected; the tier name is matched without regard to case.
    let mut expected = vec![false; 12];
    expected[1] = true;
    assert_eq!(selected, expected);
    let csv = run(&[&args[..], &["--format", "csv"]].concat());
    let lines: Vec<&str> = csv.code(0).stdout.lines().collect();
    assert_eq!(lines[2], "2M,2000000,500000,30.00,24.00,22.50,18.00,true");
    assert!(lines[1].ends_with(",false") && lines[3].ends_with(",false"));
    // Markdown: the footnote is text, not a list item.
    run(&[&args[..], &["--format", "markdown"]].concat())
        .code(0)
        .stdout_has("| 2M \\* | 2,000,000 |")
        .stdout_has("\n\\* your tier\n");
    // 600M is above every tier's credits
    run(&["overage", "--all-tiers", "--usage", "600M"])
        .code(0)
        .stdout_has("every tier pays overage");
}

// ---------------------------------------------------------------------------------------------
// forecast

/// A workflow of one `backlinks/summary` step: `targets` × 100 units a run.
fn workflow(
    scratch: &Scratch,
    name: &str,
    schedule: Option<&str>,
    targets: u64,
    account: bool,
) -> String {
    let mut text = format!("name: {name}\n");
    if let Some(schedule) = schedule {
        text.push_str(&format!("schedule: {schedule}\n"));
    }
    if account {
        text.push_str("account: {tier: 1M, billing: monthly, overage: plan}\n");
    }
    text.push_str(&format!(
        "steps:\n  - endpoint: backlinks/summary\n    targets: {targets}\n"
    ));
    scratch.file(&format!("{name}.yaml"), &text)
}

const NOW: &str = "2026-11-26T00:00:00Z";
const END: &str = "2026-12-26T00:00:00Z";

#[test]
fn forecast_the_issue_example() {
    // daily, 10 targets × 100 = 1,000 units a run, 10,000 left, 26 Nov .. 26 Dec:
    // 30 runs (26..30 Nov = 5, 1..25 Dec = 25) = 30,000 units; runs on 26 Nov .. 5 Dec use exactly
    // 10,000, the run on 6 Dec cannot be paid; overage 30,000 − 10,000 = 20,000 units
    // × $99.99 / 1M = 1.9998 -> $2.00. The balance runs out before the period ends: exit 1.
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let json = run(&[
        "forecast",
        &wf,
        "--units-left",
        "10000",
        "--now",
        NOW,
        "--period-end",
        END,
        "--format",
        "json",
    ])
    .code(1)
    .json();
    let w = &json["workflows"][0];
    assert_eq!(w["schedule"], "daily");
    assert_eq!(w["runs"], 30);
    assert_eq!(w["units_per_run"], 1000);
    assert_eq!(w["units"], 30_000);
    assert_eq!(w["exhausted_on"], "2026-12-06");
    assert_eq!(w["overage_units"], 20_000);
    assert_eq!(w["overage_usd"], "2.00");
    assert_eq!(w["first_run"], "2026-11-26T00:00:00Z");
    assert_eq!(w["last_run"], "2026-12-25T00:00:00Z");
    let t = &json["total"];
    assert_eq!(t["runs"], 30);
    assert_eq!(t["units"], 30_000);
    assert_eq!(t["exhausted_on"], "2026-12-06");
    assert_eq!(t["overage_units"], 20_000);
    assert_eq!(t["overage_usd"], "2.00");
    assert_eq!(json["verdict"], "runs_out");
    assert_eq!(json["now"], NOW);
    assert_eq!(json["period_end"], END);
    assert_eq!(json["balance"]["units_left"], 10_000);
    assert_eq!(json["account"]["tier"], "1M");
    assert_eq!(json["account"]["usd_per_million"], "99.99");

    run(&[
        "forecast",
        &wf,
        "--units-left",
        "10k",
        "--now",
        NOW,
        "--period-end",
        END,
    ])
    .code(1)
    .stdout_has("runs out on 2026-12-06")
    .stdout_has("20,000 overage units cost $2.00 at the 1M monthly plan rate");
}

#[test]
fn forecast_lasts_exits_0() {
    // same workflow, 30,000 left = exactly 30 runs × 1,000: every run is paid
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let json = run(&[
        "forecast",
        &wf,
        "--units-left",
        "30000",
        "--now",
        NOW,
        "--period-end",
        END,
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert!(json["total"]["exhausted_on"].is_null());
    assert_eq!(json["total"]["overage_units"], 0);
    assert_eq!(json["total"]["overage_usd"], "0.00");
    assert_eq!(json["verdict"], "lasts");
}

/// Runs a 1,000-unit workflow on `schedule` from `now` to `end` with a large balance; returns
/// (runs, units, first_run, last_run).
#[track_caller]
fn schedule_runs(schedule: Option<&str>, now: &str, end: &str) -> (u64, u64, String, String) {
    let s = Scratch::new();
    let wf = workflow(&s, "w", schedule, 10, false);
    let json = run(&[
        "forecast",
        &wf,
        "--units-left",
        "1M",
        "--now",
        now,
        "--period-end",
        end,
        "--format",
        "json",
    ])
    .code(0)
    .json();
    let w = &json["workflows"][0];
    (
        w["runs"].as_u64().unwrap(),
        w["units"].as_u64().unwrap(),
        w["first_run"].as_str().unwrap_or("").to_string(),
        w["last_run"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn forecast_each_schedule() {
    // once: 1 run at now
    assert_eq!(
        schedule_runs(Some("once"), NOW, END),
        (1, 1_000, NOW.into(), NOW.into())
    );
    // no schedule = once
    assert_eq!(
        schedule_runs(None, NOW, END),
        (1, 1_000, NOW.into(), NOW.into())
    );
    // weekly from 26 Nov: 26 Nov, 3, 10, 17, 24 Dec = 5 runs (31 Dec is past the end)
    assert_eq!(
        schedule_runs(Some("weekly"), NOW, END),
        (5, 5_000, NOW.into(), "2026-12-24T00:00:00Z".into())
    );
    // every 10 days: 26 Nov, 6 Dec, 16 Dec = 3 runs (26 Dec is the end, not counted)
    assert_eq!(
        schedule_runs(Some("every 10 days"), NOW, END),
        (3, 3_000, NOW.into(), "2026-12-16T00:00:00Z".into())
    );
    // monthly over a year from 31 Jan 2027 10:00: 31 Jan, 28 Feb, 31 Mar, 30 Apr, 31 May, 30 Jun,
    // 31 Jul, 31 Aug, 30 Sep, 31 Oct, 30 Nov, 31 Dec = 12 runs (31 Jan 2028 is the end)
    assert_eq!(
        schedule_runs(
            Some("monthly"),
            "2027-01-31 10:00:00",
            "2028-01-31 10:00:00"
        ),
        (
            12,
            12_000,
            "2027-01-31T10:00:00Z".into(),
            "2027-12-31T10:00:00Z".into()
        )
    );
    // daily, with the date-only and space forms: 26 Nov 12:00 .. 1 Dec 00:00 -> 26, 27, 28, 29, 30 Nov
    assert_eq!(
        schedule_runs(Some("daily"), "2026-11-26 12:00:00", "2026-12-01"),
        (
            5,
            5_000,
            "2026-11-26T12:00:00Z".into(),
            "2026-11-30T12:00:00Z".into()
        )
    );
}

#[test]
fn forecast_several_workflows_and_notes() {
    // A daily 1,000 and B (no schedule, once) 26,000... here B = 5 targets × 100 = 500 units once.
    // 26 Nov .. 1 Dec: A 5 runs = 5,000; B 1 run = 500; total 5,500; 5,200 left:
    // A26 1,000 | B26 1,500 | A27 2,500 | A28 3,500 | A29 4,500 | A30 5,500 > 5,200
    // -> exhausted on 30 Nov. No account -> overage off (the default): no cost, the jobs stop
    // on 30 Nov; A's run that day is one request of 1,000 against 700 left, rejected whole
    // (nothing billed): 1,000 units fail.
    let s = Scratch::new();
    let a = workflow(&s, "A", Some("daily"), 10, false);
    let b = workflow(&s, "B", None, 5, false);
    let out = run(&[
        "forecast",
        &a,
        &b,
        "--units-left",
        "5200",
        "--now",
        NOW,
        "--period-end",
        "2026-12-01",
        "--format",
        "json",
    ]);
    let json = out.code(1).json();
    assert_eq!(json["total"]["runs"], 6);
    assert_eq!(json["total"]["units"], 5_500);
    assert_eq!(json["total"]["exhausted_on"], "2026-11-30");
    assert_eq!(json["total"]["overage_units"], 1000);
    assert!(json["total"]["overage_usd"].is_null());
    assert!(json["account"].is_null());
    assert_eq!(json["workflows"][0]["overage_units"], 1000);
    assert_eq!(json["workflows"][1]["overage_units"], 0);
    assert!(json["workflows"][1]["exhausted_on"].is_null());
    let notes = json["notes"].to_string();
    assert!(
        notes.contains("B has no schedule: projected as one run (once)"),
        "{notes}"
    );
    assert_eq!(json["total"]["stops_on"], "2026-11-30");
}

#[test]
fn forecast_without_a_balance_exits_0() {
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let json = run(&[
        "forecast",
        &wf,
        "--now",
        NOW,
        "--period-end",
        END,
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert_eq!(json["total"]["units"], 30_000);
    assert!(json["balance"].is_null());
    assert!(json["total"]["overage_units"].is_null());
    assert_eq!(json["verdict"], "unknown");
    run(&["forecast", &wf, "--now", NOW, "--period-end", END])
        .code(0)
        .stdout_has("balance unknown: 30,000 units projected");
}

#[test]
fn forecast_input_errors_exit_2() {
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    run(&["forecast", &wf, "--units-left", "10k", "--now", NOW])
        .code(2)
        .stderr_has("period end unknown: pass --period-end or set SERANKING_API_KEY");
    run(&["forecast", &wf, "--now", NOW, "--period-end", NOW])
        .code(2)
        .stderr_has("period end 2026-11-26T00:00:00Z is not after now 2026-11-26T00:00:00Z");
    run(&[
        "forecast",
        &wf,
        "--now",
        "next tuesday",
        "--period-end",
        END,
    ])
    .code(2)
    .stderr_has("is not a date-time; write it as 2026-11-26T00:00:00Z");
    run(&["forecast", &wf, "--now", NOW, "--period-end", "2040-01-01"])
        .code(2)
        .stderr_has("a forecast covers at most 3660 days");
    run(&[
        "forecast",
        "no-such.yaml",
        "--now",
        NOW,
        "--period-end",
        END,
    ])
    .code(2)
    .stderr_has("cannot read the workflow file no-such.yaml: no such file [W001]");
    let bad = s.file(
        "bad.yaml",
        "schedule: hourly\nsteps:\n  - endpoint: backlinks/summary\n",
    );
    run(&["forecast", &bad, "--now", NOW, "--period-end", END])
        .code(2)
        .stderr_has("is not a schedule; use once, daily, weekly, monthly or \"every N days\"");
    let chart = s.path().join("no-such-dir").join("c.svg");
    run(&[
        "forecast",
        &wf,
        "--now",
        NOW,
        "--period-end",
        END,
        "--chart",
        chart.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("cannot write chart")
    .stderr_has("no such file");
}

#[test]
fn forecast_markdown() {
    // the issue example as a pull-request comment
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    run(&[
        "forecast",
        &wf,
        "--units-left",
        "10000",
        "--now",
        NOW,
        "--period-end",
        END,
        "--format",
        "markdown",
    ])
    .code(1)
    .stdout_has("| daily | daily | 30 | 1,000 | 30,000 | 2026-12-06 | 20,000 | $2.00 |")
    .stdout_has("- runs out on 2026-12-06");
}

#[test]
fn forecast_csv() {
    // the issue example as a spreadsheet row: plain numbers, money as a decimal
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let out = run(&[
        "forecast",
        &wf,
        "--units-left",
        "10000",
        "--now",
        NOW,
        "--period-end",
        END,
        "--format",
        "csv",
    ]);
    out.code(1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "workflow,path,schedule,runs,units_per_run,units,first_run,exhausted_on,overage_units,overage_usd",
            &format!("daily,{wf},daily,30,1000,30000,2026-11-26T00:00:00Z,2026-12-06,20000,2.00"),
        ]
    );
}

#[test]
fn forecast_chart_is_svg_with_the_series() {
    // issue example: 30 days -> the projected polyline has 31 points (0 at the start, then one a day)
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let chart = s.path().join("burn.svg");
    let chart = chart.to_str().unwrap();
    run(&[
        "forecast",
        &wf,
        "--units-left",
        "10000",
        "--now",
        NOW,
        "--period-end",
        END,
        "--chart",
        chart,
    ])
    .code(1);
    let text = std::fs::read_to_string(chart).expect("chart written");
    let doc = roxmltree::Document::parse(&text).expect("chart is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let points: Vec<usize> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .collect();
    assert_eq!(points.iter().filter(|&&n| n == 31).count(), 1, "{points:?}");
    let texts: String = doc.descendants().filter_map(|n| n.text()).collect();
    for label in [
        "projected units",
        "units_left 10,000",
        "exhausted on 2026-12-06",
        "period end 2026-12-26",
        "date (UTC)",
    ] {
        assert!(texts.contains(label), "chart lacks {label:?}");
    }
}

#[test]
fn shipped_finance_workflow() {
    // workflows/finance-daily-report.yaml: 40 summaries × 100 + 2 × 500 anchor rows × 1 = 5,000 a run;
    // 30 runs = 150,000; 100,000 left -> runs 1..20 (26 Nov .. 15 Dec) use 100,000, run 21 on 16 Dec
    // cannot be paid; overage 50,000 × 99.99 / 1M = 4.9995 -> $5.00
    let json = run(&[
        "forecast",
        "workflows/finance-daily-report.yaml",
        "--units-left",
        "100k",
        "--now",
        "2026-11-26",
        "--period-end",
        "2026-12-26",
        "--format",
        "json",
    ])
    .code(1)
    .json();
    assert_eq!(json["total"]["units"], 150_000);
    assert_eq!(json["total"]["exhausted_on"], "2026-12-16");
    assert_eq!(json["total"]["overage_usd"], "5.00");
}

// ---------------------------------------------------------------------------------------------
// plan CSV

#[test]
fn plan_csv_is_a_header_and_one_plain_row_per_step() {
    // docs example: summaries 3 requests, 250 records, 25,000 units; export 1, 1, 1,000; status 2 requests, 2 records (one per poll), 0 units
    let out = run(&["plan", "workflows/docs-example.yaml", "--format", "csv"]);
    let lines: Vec<&str> = out.code(0).stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "workflow,path,step,name,endpoint,per,unit_cost,targets,sources,repeat,requests,records,units,units_expected"
    );
    assert_eq!(
        lines[1],
        "Docs example,workflows/docs-example.yaml,1,Summaries for 250 domains,backlinks/summary,record,100,250,1,1,3,250,25000,25000"
    );
    assert!(
        lines[2].ends_with(",backlinks/export,record,1000,1,1,1,1,1,1000,1000"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].ends_with(",backlinks/export/status,record,0,1,1,1,2,2,0,0"),
        "{}",
        lines[3]
    );
}

#[test]
fn overage_all_tiers_from_units() {
    // 500,000 overage units on every tier: 1M plan 0.5 × 99.99 = 49.995 -> 50.00;
    // 500M addon yearly 0.5 × 3.36 = 1.68
    let json = run(&[
        "overage",
        "--all-tiers",
        "--units",
        "500k",
        "--format",
        "json",
    ])
    .code(0)
    .json();
    assert!(json["usage"].is_null());
    assert_eq!(json["units"], 500_000);
    let tiers = json["tiers"].as_array().unwrap();
    assert!(tiers.iter().all(|t| t["units"] == 500_000));
    assert_eq!(tiers[0]["usd"]["plan"], "50.00");
    assert_eq!(tiers[11]["usd"]["addon_yearly"], "1.68");
}

#[test]
fn overflow_errors_exit_2() {
    // 18,446,744,073,709,551,615 units × $10,000,000,000 per 1M: the product units × rate
    // ≈ 1.8 × 10^19 × 10^10 = 1.8 × 10^29 exceeds a decimal's range (about 7.9 × 10^28)
    run(&[
        "overage",
        "--tier",
        "1M",
        "--units",
        "18446744073709551615",
        "--usd-per-million",
        "10000000000",
    ])
    .code(2)
    .stderr_has("is too large to compute");
    // 10^15 targets × 100 = 10^17 units a run; 200 daily runs = 2 × 10^19 > u64::MAX (≈ 1.8 × 10^19)
    let s = Scratch::new();
    let wf = workflow(&s, "huge", Some("daily"), 1_000_000_000_000_000, false);
    run(&["forecast", &wf, "--now", NOW, "--period-end", "2027-06-14"])
        .code(2)
        .stderr_has("the projected units overflow the largest count");
}

#[test]
fn forecast_reads_units_left_and_period_end_from_the_live_subscription() {
    use crate::support::simulator::{Simulator, KEY};
    // The simulator's subscription: 10,000 units left, expiring 2026-12-26 00:00:00.
    // daily, 1,000 units a run from 26 Nov: the same figures as the issue example —
    // 30 runs, exhausted on 2026-12-06, 20,000 overage units, $2.00.
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 10_000;
        s.expiration_date = "2026-12-26 00:00:00".into();
    });
    let s = Scratch::new();
    let wf = workflow(&s, "daily", Some("daily"), 10, true);
    let r: crate::support::Run = crate::support::budget()
        .env("SERANKING_API_KEY", KEY)
        .env("SERANKING_API_URL", sim.url())
        .args(["forecast", &wf, "--now", NOW, "--format", "json"])
        .output()
        .expect("run budget")
        .into();
    let json = r.code(1).json();
    assert_eq!(json["period_end"], END);
    assert_eq!(json["period_end_source"], "live");
    assert_eq!(json["balance"]["source"], "live");
    assert_eq!(json["total"]["exhausted_on"], "2026-12-06");
    assert_eq!(json["total"]["overage_usd"], "2.00");
    assert_eq!(sim.requests(), 1);
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
}

#[test]
fn overage_flags_that_would_be_ignored_are_refused() {
    // --all-tiers prices every tier at all four rates: a single rate, billing, rate override or
    // included credits would be silently ignored, so they are refused (exit 2).
    for flag in [
        ["--rate", "addon"],
        ["--billing", "yearly"],
        ["--usd-per-million", "5"],
        ["--included", "7"],
    ] {
        let mut args = vec!["overage", "--all-tiers", "--usage", "2M"];
        args.extend(flag);
        run(&args).code(2).stderr_has("cannot be used with");
    }
    // --units is the overage itself: included credits and a usage have no meaning beside it.
    run(&[
        "overage",
        "--tier",
        "1M",
        "--units",
        "5M",
        "--included",
        "7",
    ])
    .code(2)
    .stderr_has("cannot be used with");
    run(&["overage", "--tier", "1M", "--units", "5M", "--usage", "7"])
        .code(2)
        .stderr_has("cannot be used with");
}

/// Overage off (an account without `overage:`, the vendor's default): the forecast says the jobs
/// stop on the exhaustion date instead of pricing overage.
#[test]
fn forecast_with_overage_off_says_the_jobs_stop() {
    // daily, 10 targets × 100 = 1,000 units a run, 10,000 left, 26 Nov .. 26 Dec: runs 1..10 use
    // 10,000; the run of 6 Dec cannot be paid. 30 runs × 1,000 − 10,000 = 20,000 units unpaid.
    let s = Scratch::new();
    let wf = s.file(
        "off.yaml",
        "name: Off\nschedule: daily\naccount: {tier: 1M}\nsteps:\n  - endpoint: backlinks/summary\n    targets: 10\n",
    );
    let args = [
        "forecast",
        wf.as_str(),
        "--units-left",
        "10000",
        "--now",
        NOW,
        "--period-end",
        END,
    ];
    let r = run(&args);
    r.code(1).stdout_has(
        "runs out on 2026-12-06: 30,000 units projected, 10,000 available; overage is off, so the jobs stop on 2026-12-06: 20,000 units of their runs would fail with \"Insufficient funds\"",
    );
    assert!(!r.stdout.contains("cost $"), "{}", r.stdout);
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = run(&json_args).code(1).json();
    assert_eq!(json["total"]["stops_on"], "2026-12-06");
    assert!(json["total"]["overage_usd"].is_null());
    assert!(json["account"].is_null());
}

/// Invariant (overage off): the API rejects a request the balance cannot pay whole and bills
/// nothing for it; the job stops there, and a later, smaller run may still fit. Before, the
/// forecast paid part of the rejected request and counted every later run as failing.
#[test]
fn forecast_without_overage_stops_at_the_request_the_balance_cannot_pay() {
    let s = Scratch::new();
    // A: once, 10 targets in one request: 10 × 100 = 1,000 units. B: daily, 1 target: 100.
    let a = s.file(
        "a.yaml",
        "name: A\nschedule: once\nsteps:\n  - {name: big, endpoint: backlinks/summary, targets: 10}\n",
    );
    let b = s.file(
        "b.yaml",
        "name: B\nschedule: daily\nsteps:\n  - {name: small, endpoint: backlinks/summary, targets: 1}\n",
    );
    let mut args = vec![
        "forecast",
        a.as_str(),
        b.as_str(),
        "--units-left",
        "500",
        "--now",
        "2026-12-01",
        "--period-end",
        "2026-12-04",
        "--format",
        "json",
    ];
    // 500 left: A's one request of 1,000 is rejected, nothing billed; B's three runs of 100
    // (1, 2, 3 Dec) are 300 ≤ 500, all paid. Failing: A's 1,000 only.
    let json = run(&args).code(1).json();
    assert_eq!(json["total"]["overage_units"], 1000);
    assert_eq!(json["total"]["stops_on"], "2026-12-01");
    assert_eq!(json["workflows"][0]["overage_units"], 1000);
    assert_eq!(json["workflows"][1]["overage_units"], 0);
    assert!(json["workflows"][1]["exhausted_on"].is_null());
    // A run of three requests: 300 targets in batches of 100 = 3 × 10,000 units, daily, 3 runs,
    // 25,000 left. Run 1 pays two requests (20,000; 5,000 left) and fails its third (10,000);
    // runs 2 and 3 fail at their first request (30,000 each). 10,000 + 2 × 30,000 = 70,000.
    let c = s.file(
        "c.yaml",
        "name: C\nschedule: daily\nsteps:\n  - {name: pages, endpoint: backlinks/summary, targets: 300}\n",
    );
    args[1] = c.as_str();
    args.remove(2);
    args[3] = "25000";
    let json = run(&args).code(1).json();
    assert_eq!(json["total"]["overage_units"], 70_000);
    assert_eq!(json["workflows"][0]["exhausted_on"], "2026-12-01");
}
