//! The JSON output contract (docs/json.md): the real `--format json` output of the binary, in
//! every shape it takes, validated against the schema `budget schema --output NAME` prints. The
//! schemas list every field as required and refuse unknown ones (`additionalProperties: false`),
//! so a field added, renamed or dropped in a renderer fails here until the schema and the doc
//! say so too. Also: the bundled example workflows plan together without a warning, and the
//! docs/finance.md's `budget balance` example is what the binary prints for the account it shows.

use serde_json::Value;

use crate::support::simulator::{CreditsRoute, Simulator, KEY};
use crate::support::{budget, root, run, Run, Scratch};

/// The schema `budget schema --output NAME` prints, compiled as draft 2020-12.
fn validator(output: &str) -> jsonschema::Validator {
    let printed = run(&["schema", "--output", output]).code(0).json();
    assert_eq!(
        printed["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{output}"
    );
    jsonschema::draft202012::new(&printed)
        .unwrap_or_else(|e| panic!("the {output} schema is not a valid draft 2020-12 schema: {e}"))
}

/// `value` satisfies the `output` schema; `what` names the case in a failure.
#[track_caller]
fn valid(output: &str, what: &str, value: &Value) {
    let errors: Vec<String> = validator(output)
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{output} ({what}) does not match schema/output/{output}.schema.json:\n{}\n--- output\n{value:#}",
        errors.join("\n")
    );
}

/// `budget ARGS` ends with `code` and prints JSON on stdout.
#[track_caller]
fn json(args: &[&str], code: i32) -> Value {
    run(args).code(code).json()
}

/// A run against the simulator, the key in the environment.
fn live(sim: &Simulator, args: &[&str]) -> Run {
    budget()
        .env("SERANKING_API_KEY", KEY)
        .env("SERANKING_API_URL", sim.url())
        .env("BUDGET_RETRY_BASE_MS", "1")
        .env("NO_PROXY", "127.0.0.1")
        .args(args)
        .output()
        .expect("run budget")
        .into()
}

/// The bundled example workflows as `workflows/*.yaml` expands in a shell: sorted by name.
fn bundled() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("workflows"))
        .expect("workflows/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .map(|p| {
            format!(
                "workflows/{}",
                p.file_name().expect("a name").to_string_lossy()
            )
        })
        .collect();
    files.sort();
    files
}

// ---- `budget schema --output` --------------------------------------------------------------

/// Each output schema is printed as the file under schema/output/ holds it.
#[test]
fn the_printed_schemas_are_the_files() {
    for output in [
        "plan",
        "balance",
        "overage",
        "forecast",
        "reconcile",
        "prices",
    ] {
        let file = root().join(format!("schema/output/{output}.schema.json"));
        let on_disk = std::fs::read_to_string(&file).expect("the schema file");
        let printed = run(&["schema", "--output", output]).code(0).stdout.clone();
        assert_eq!(on_disk, printed, "{}", file.display());
        // A valid schema (the validator compiles it).
        let _ = validator(output);
    }
}

/// Draft-07 exists for the workflow schema alone: asking for an output in it is refused (exit 2)
/// with what to do, never answered with the 2020-12 text under a draft-07 flag.
#[test]
fn an_output_schema_in_draft_07_is_refused() {
    let r = run(&["schema", "--output", "plan", "--draft", "7"]);
    r.code(2).stderr_has(
        "--draft 7 is for the workflow schema only (the YAML language server); the output schemas are draft 2020-12: drop --draft 7 to print the plan schema",
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // The default draft, named, is fine.
    run(&["schema", "--output", "forecast", "--draft", "2020-12"])
        .code(0)
        .stdout_has("\"$id\": \"urn:budget:output:forecast:1\"");
    run(&["schema", "--output", "gate"])
        .code(2)
        .stderr_has("invalid value 'gate' for '--output <OUTPUT>'")
        .stderr_has("[possible values: plan, balance, overage, forecast, reconcile, prices]");
}

// ---- plan, check, gate ---------------------------------------------------------------------

const DOCS: &str = "workflows/docs-example.yaml";

/// Every verdict and every optional member of the plan JSON, each checked by hand.
#[test]
fn plan_in_every_verdict() {
    // docs example, 26,000 units (README "Quick start"): 30,000 left fits with 4,000 to spare.
    let fits = json(
        &["plan", DOCS, "--units-left", "30000", "--format", "json"],
        0,
    );
    assert_eq!(
        (&fits["verdict"], &fits["balance"]["usable"]),
        (&"fits".into(), &30000.into())
    );
    valid("plan", "fits", &fits);

    // 25,000 left, overage off (no account): over by 26,000 − 25,000 = 1,000. The summaries'
    // three requests (100 + 100 + 50 targets × 100 units = 25,000) are paid, the export's one
    // request (1,000) is not: the job stops at step 2, request 1 of 1.
    let stops = json(
        &["plan", DOCS, "--units-left", "25000", "--format", "json"],
        1,
    );
    assert_eq!(stops["failed_by"], serde_json::json!(["usable"]));
    assert_eq!(stops["over_by"], 1000);
    assert_eq!(
        stops["stops_at"],
        serde_json::json!({"workflow": "Docs example", "step": 2,
                           "step_name": "Full export of one domain", "request": 1, "requests": 1})
    );
    valid("plan", "over_budget with stops_at", &stops);

    // finance daily report, 5,000 units, overage on at 1M monthly plan: 1,000 left → 4,000
    // units beyond × $99.99 / 1M = $0.39996 → "0.40".
    let overage = json(
        &[
            "plan",
            "workflows/finance-daily-report.yaml",
            "--units-left",
            "1000",
            "--format",
            "json",
        ],
        1,
    );
    assert_eq!(
        overage["overage"],
        serde_json::json!({"units": 4000, "tier": "1M", "billing": "monthly", "rate": "plan",
                           "usd_per_million": "99.99", "usd": "0.40"})
    );
    assert_eq!(overage["stops_at"], Value::Null);
    valid("plan", "over_budget with overage", &overage);

    // No balance (--offline, no --units-left): unknown.
    let unknown = json(&["plan", DOCS, "--offline", "--format", "json"], 0);
    assert_eq!(
        (&unknown["verdict"], &unknown["balance"]),
        (&"unknown".into(), &Value::Null)
    );
    valid("plan", "unknown", &unknown);
    // check: the same document, exit 3.
    let check = json(&["check", DOCS, "--offline", "--format", "json"], 3);
    assert_eq!(check["verdict"], "unknown");
    valid("plan", "check without a balance", &check);

    // A workflow above its own max_units, with no balance: 26,000 > 20,000.
    let s = Scratch::new();
    let capped = s.file(
        "capped.yaml",
        "name: Capped\nbudget: {max_units: 20k, reserve: 10%}\nsteps:\n  - {endpoint: backlinks/summary, targets: 250, batch: 100}\n  - {endpoint: backlinks/export, targets: [example.com]}\n",
    );
    let over_max = json(&["plan", &capped, "--offline", "--format", "json"], 1);
    assert_eq!(over_max["failed_by"], serde_json::json!(["max_units"]));
    assert_eq!(
        over_max["over_max_units"],
        serde_json::json!([{"workflow": "Capped", "units": 26000, "max_units": 20000}])
    );
    valid("plan", "over max_units", &over_max);

    // --strict-prices: keyword research fits 1M but its keywords/export price is disputed.
    let strict = json(
        &[
            "plan",
            "workflows/keyword-research.yaml",
            "--units-left",
            "1M",
            "--strict-prices",
            "--format",
            "json",
        ],
        1,
    );
    assert_eq!(strict["failed_by"], serde_json::json!(["strict_prices"]));
    assert_eq!(strict["verdict"], "over_budget");
    valid("plan", "--strict-prices failure", &strict);
}

/// Live balances from the simulator: both pools, and the subscription alone (no wallet).
#[test]
fn plan_with_pools_from_the_simulator() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 10_000;
        s.wallet_left = 20_000;
    });
    // 10,000 + 20,000 = 30,000 left for 26,000.
    let both = live(&sim, &["plan", DOCS, "--format", "json"]);
    let both = both.code(0).json();
    assert_eq!(
        both["balance"]["pools"],
        serde_json::json!({"subscription": 10000, "wallet": 20000})
    );
    assert_eq!(both["balance"]["source"], "live");
    valid("plan", "live, both pools", &both);

    sim.set(|s| s.credits = CreditsRoute::NotFound);
    // /subscription alone: 10,000 left, no wallet: over by 16,000, stops in step 1 (each request
    // of 100 targets costs 10,000: the second cannot be paid).
    let alone = live(&sim, &["plan", DOCS, "--format", "json"])
        .code(1)
        .json();
    assert_eq!(
        alone["balance"]["pools"],
        serde_json::json!({"subscription": 10000, "wallet": null})
    );
    assert_eq!(alone["stops_at"]["request"], 2);
    valid("plan", "live, subscription only", &alone);
}

/// `--compare-to` adds `baseline`: a workflow only in the baseline (`units: null`), a new one
/// (`units_before: null`, `percent: null`), and the total against --max-increase.
#[test]
fn plan_with_a_baseline() {
    let s = Scratch::new();
    let saved = run(&[
        "plan",
        DOCS,
        "workflows/finance-daily-report.yaml",
        "--offline",
        "--format",
        "json",
    ]);
    let baseline = s.file("baseline.json", &saved.code(0).stdout);
    // Now: docs example (26,000, as before) and competitor monitoring (1,600, new); the daily
    // report (5,000) is gone. Total 31,000 → 27,600: −3,400, −11.0% (3,400 / 31,000 =
    // 10.967…%); within --max-increase 10%.
    let compared = json(
        &[
            "plan",
            DOCS,
            "workflows/competitor-monitoring.yaml",
            "--offline",
            "--compare-to",
            &baseline,
            "--max-increase",
            "10%",
            "--format",
            "json",
        ],
        0,
    );
    let b = &compared["baseline"];
    assert_eq!(b["total"]["change"], -3400);
    assert_eq!(b["total"]["percent"], "-11.0");
    assert_eq!(
        (&b["max_increase"], &b["exceeded"]),
        (&"10%".into(), &false.into())
    );
    let workflows = b["workflows"].as_array().expect("workflows");
    assert_eq!(workflows.len(), 3);
    assert_eq!(workflows[1]["units_before"], Value::Null);
    assert_eq!(workflows[2]["units"], Value::Null);
    valid("plan", "with a baseline", &compared);

    // An increase above --max-increase 100 units: over_budget, failed_by max_increase.
    let exceeded = json(
        &[
            "plan",
            DOCS,
            "workflows/finance-daily-report.yaml",
            "workflows/competitor-monitoring.yaml",
            "--offline",
            "--compare-to",
            &baseline,
            "--max-increase",
            "100",
            "--format",
            "json",
        ],
        1,
    );
    assert_eq!(exceeded["failed_by"], serde_json::json!(["max_increase"]));
    assert_eq!(exceeded["baseline"]["max_increase"], "100");
    valid("plan", "--max-increase exceeded", &exceeded);
}

/// `--profile` marks the steps whose expected band it set (`expected_from: "profile"`).
#[test]
fn plan_with_a_profile() {
    let s = Scratch::new();
    // 2 targets × 100 rows = 200 units worst case; the journal saw 40 rows for each target.
    let wf = s.file(
        "audit.yaml",
        "name: Audit\nsteps:\n  - {name: Backlinks, endpoint: backlinks/all, targets: [a.com, b.com], rows: 100}\n",
    );
    let plan = s.file(
        "plan.json",
        &run(&["plan", &wf, "--format", "json"]).code(0).stdout,
    );
    let call = |target: &str| {
        format!(
            r#"{{"endpoint":"backlinks/all","targets":1,"units_charged":40,"outcome":"charged","workflow":"Audit","step":"Backlinks","rows":40,"target_hash":"{target}"}}"#
        )
    };
    let journal = s.file("calls.jsonl", &format!("{}\n{}\n", call("a"), call("b")));
    let profile = s.path().join("profile.yaml").display().to_string();
    run(&["reconcile", &plan, &journal, "--write-profile", &profile]).code(0);
    // Expected: 2 targets × p90 40 rows = 80.
    let profiled = json(&["plan", &wf, "--profile", &profile, "--format", "json"], 0);
    let step = &profiled["workflows"][0]["steps"][0];
    assert_eq!(
        (&step["units_expected"], &step["expected_from"]),
        (&80.into(), &"profile".into())
    );
    valid("plan", "with a profile", &profiled);
}

/// `gate --format json` writes the plan JSON to stderr (stdout is the command's), then its notes
/// as text lines: the first JSON value of stderr is the plan.
#[test]
fn gate_writes_the_plan_json_to_stderr() {
    let r = run(&[
        "gate",
        DOCS,
        "--units-left",
        "30000",
        "--format",
        "json",
        "--",
        "true",
    ]);
    r.code(0);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let mut values = serde_json::Deserializer::from_str(&r.stderr).into_iter::<Value>();
    let plan = values
        .next()
        .expect("a JSON value on stderr")
        .expect("the plan JSON");
    assert_eq!(plan["verdict"], "fits");
    valid("plan", "gate's stderr", &plan);
    let rest = &r.stderr[values.byte_offset()..];
    assert!(rest.contains("budget gate: running true"), "{rest}");
}

// ---- balance -------------------------------------------------------------------------------

#[test]
fn balance_with_both_pools_and_with_the_subscription_alone() {
    let sim = Simulator::start();
    sim.set(|s| s.wallet_left = 250_000);
    // /credits: 4,975,033 + 250,000 = 5,225,033; used 5,000,000 − 4,975,033 = 24,967 (0.50%).
    let both = live(&sim, &["balance", "--format", "json"]).code(0).json();
    assert_eq!(both["units_left"], 5_225_033);
    assert_eq!(both["used_percent"], 0.5);
    assert_eq!(both["start"], Value::Null);
    valid("balance", "both pools", &both);

    // An expired subscription kept working by the wallet: status expired, 0 + 250,000.
    sim.set(|s| s.expiration_date = "2020-01-01 00:00:00".into());
    let expired = live(&sim, &["balance", "--format", "json"]).code(0).json();
    assert_eq!(
        (
            &expired["status"],
            &expired["usable"],
            &expired["units_left"],
            &expired["days_left"]
        ),
        (&"expired".into(), &true.into(), &250_000.into(), &0.into())
    );
    valid("balance", "expired, on the wallet", &expired);

    // /subscription alone: the wallet is null and the start date known.
    sim.set(|s| {
        s.credits = CreditsRoute::NotFound;
        s.expiration_date = "2099-02-18 14:20:02".into();
    });
    let alone = live(&sim, &["balance", "--format", "json"]).code(0).json();
    assert_eq!(
        alone["pools"],
        serde_json::json!({"subscription": 4975033, "wallet": null})
    );
    assert_eq!(alone["start"], "2024-01-18T14:20:02");
    assert_eq!(alone["access"], Value::Null);
    valid("balance", "subscription only", &alone);
}

/// docs/finance.md "budget balance": the example is what `budget balance` prints for that account — the
/// simulator's default subscription (4,975,033 of 5,000,000 left) with a 250,000-credit wallet,
/// read from /v1/account/credits (which sends no start date), expiring in 17 days and a few
/// hours. The expiry's date moves with the clock, so that line is compared without it.
#[test]
fn the_documented_balance_example_is_what_the_binary_prints() {
    let readme = std::fs::read_to_string(root().join("docs/finance.md")).expect("docs/finance.md");
    let block = readme
        .split("```console\n$ budget balance\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/finance.md's budget balance example");
    let (table, json_part) = block
        .split_once("$ budget balance --format json")
        .expect("the JSON half of the example");
    let sim = Simulator::start();
    let expires = chrono::Utc::now().naive_utc() + chrono::Duration::hours(17 * 24 + 6);
    let expires_text = expires.format("%Y-%m-%d %H:%M:%S").to_string();
    sim.set(|s| {
        s.wallet_left = 250_000;
        s.expiration_date = expires_text.clone();
    });
    let printed = live(&sim, &["balance"]).code(0).stdout.clone();
    let mut shown = table.lines();
    for line in printed.lines() {
        let readme_line = shown.next().expect("the document shows as many lines");
        match line.strip_prefix("expires:     ") {
            Some(rest) => {
                assert_eq!(rest, format!("{expires_text} (17 days left)"));
                let (date, days) = readme_line
                    .strip_prefix("expires:     ")
                    .and_then(|r| r.split_once(' '))
                    .and_then(|(day, r)| {
                        r.split_once(' ')
                            .map(|(time, d)| (format!("{day} {time}"), d))
                    })
                    .expect("the document's expires line");
                assert_eq!(days, "(17 days left)");
                assert!(
                    chrono::NaiveDateTime::parse_from_str(&date, "%Y-%m-%d %H:%M:%S").is_ok(),
                    "{readme_line}"
                );
            }
            None => assert_eq!(line, readme_line),
        }
    }
    assert_eq!(
        shown.next(),
        None,
        "the document shows more lines than printed"
    );

    // The JSON, shown compact after its comment: the same figures.
    let shown_json: Value = serde_json::from_str(
        json_part
            .split_once('\n')
            .map(|(_, rest)| rest)
            .expect("JSON after the command"),
    )
    .expect("the document's JSON parses");
    let mut printed_json = live(&sim, &["balance", "--format", "json"]).code(0).json();
    assert_eq!(
        printed_json["expires"],
        expires.format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    printed_json["expires"] = shown_json["expires"].clone();
    assert_eq!(printed_json, shown_json);
    valid("balance", "the docs/finance.md example", &shown_json);
}

// ---- overage -------------------------------------------------------------------------------

#[test]
fn overage_quote_and_all_tiers() {
    // 1M tier, 1.5M used: 500,000 × $99.99 / 1M = $49.995 → "50.00" (docs/finance.md).
    let quote = json(
        &[
            "overage", "--tier", "1M", "--usage", "1.5M", "--format", "json",
        ],
        0,
    );
    assert_eq!(
        (&quote["units"], &quote["usd"]),
        (&500_000.into(), &"50.00".into())
    );
    valid("overage", "quote", &quote);

    // Enterprise by the overage units: no usage, no included credits; 2.5M × $3.10 / 1M = $7.75.
    let enterprise = json(
        &[
            "overage",
            "--tier",
            "enterprise",
            "--usd-per-million",
            "3.10",
            "--units",
            "2.5M",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(
        (
            &enterprise["usage"],
            &enterprise["included"],
            &enterprise["usd"]
        ),
        (&Value::Null, &Value::Null, &"7.75".into())
    );
    valid("overage", "enterprise quote", &enterprise);

    // Across tiers, 2.5M used, 2M marked: the 1M tier pays on 1,500,000 units.
    let tiers = json(
        &[
            "overage",
            "--all-tiers",
            "--usage",
            "2.5M",
            "--tier",
            "2M",
            "--format",
            "json",
        ],
        0,
    );
    let first = &tiers["tiers"][0];
    assert_eq!(
        (&first["tier"], &first["units"], &first["selected"]),
        (&"1M".into(), &1_500_000.into(), &false.into())
    );
    assert_eq!(tiers["tiers"][1]["selected"], true);
    valid("overage", "--all-tiers --usage", &tiers);

    let by_units = json(
        &[
            "overage",
            "--all-tiers",
            "--units",
            "100k",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(
        (&by_units["usage"], &by_units["units"]),
        (&Value::Null, &100_000.into())
    );
    valid("overage", "--all-tiers --units", &by_units);
}

// ---- forecast ------------------------------------------------------------------------------

const PERIOD: [&str; 4] = ["--now", "2026-11-26", "--period-end", "2026-12-26"];

#[test]
fn forecast_with_and_without_overage() {
    // docs/finance.md: 30 runs × 5,000 = 150,000 against 100,000: 50,000 overage units ×
    // $99.99 / 1M = $4.9995 → "5.00"; runs out on 2026-12-16.
    let mut args = vec![
        "forecast",
        "workflows/finance-daily-report.yaml",
        "--units-left",
        "100k",
        "--format",
        "json",
    ];
    args.extend(PERIOD);
    let with = json(&args, 1);
    assert_eq!(
        (
            &with["verdict"],
            &with["total"]["overage_usd"],
            &with["total"]["stops_on"]
        ),
        (&"runs_out".into(), &"5.00".into(), &Value::Null)
    );
    assert_eq!(with["account"]["tier"], "1M");
    valid("forecast", "with overage", &with);

    // The docs example names no account: overage is off, so the jobs stop. Once, 26,000 units
    // against 20,000: it runs out on its one run's day, 2026-11-26, and nothing is priced.
    let mut args = vec![
        "forecast",
        DOCS,
        "--units-left",
        "20000",
        "--format",
        "json",
    ];
    args.extend(PERIOD);
    let without = json(&args, 1);
    assert_eq!(
        (
            &without["account"],
            &without["total"]["overage_usd"],
            &without["total"]["stops_on"]
        ),
        (&Value::Null, &Value::Null, &"2026-11-26".into())
    );
    assert_eq!(without["total"]["overage_units"], 6000);
    valid("forecast", "overage off", &without);

    // No balance: unknown.
    let mut args = vec!["forecast", DOCS, "--offline", "--format", "json"];
    args.extend(PERIOD);
    let unknown = json(&args, 0);
    assert_eq!(
        (&unknown["verdict"], &unknown["balance"]),
        (&"unknown".into(), &Value::Null)
    );
    valid("forecast", "no balance", &unknown);
}

/// A live forecast: the period end from the subscription's expiry, and how the pools fare. The
/// subscription must not have expired by the real clock (`/credits` would then report it
/// expired), so the dates are set from today: the expiry 60 days ahead, `--now` 30 days before it.
#[test]
fn forecast_with_pools_from_the_simulator() {
    let today = chrono::Utc::now().date_naive();
    let expiry = today + chrono::Days::new(60);
    let now = expiry - chrono::Days::new(30);
    let sim = Simulator::start();
    sim.set(|s| {
        s.units_left = 120_000;
        s.wallet_left = 50_000;
        s.expiration_date = format!("{expiry} 00:00:00");
    });
    // 30 daily runs × 5,000 = 150,000: the subscription's 120,000 pay the first 24 (the 24th
    // spends its last units), the wallet the 25th (now + 24 days) and later: 6 × 5,000 = 30,000
    // of its 50,000. It lasts: exit 0.
    let now_text = now.to_string();
    let r = live(
        &sim,
        &[
            "forecast",
            "workflows/finance-daily-report.yaml",
            "--now",
            &now_text,
            "--format",
            "json",
        ],
    );
    let live_json = r.code(0).json();
    assert_eq!(live_json["period_end_source"], "live");
    assert_eq!(
        live_json["pools"],
        serde_json::json!({"subscription": 120000, "wallet": 50000, "subscription_spent": 120000,
                           "subscription_expiring_unused": 0, "wallet_spent": 30000,
                           "wallet_from": (now + chrono::Days::new(24)).to_string()})
    );
    valid("forecast", "live, with pools", &live_json);
}

// ---- reconcile -----------------------------------------------------------------------------

/// Two steps on backlinks/summary (an endpoint row) and one on backlinks/all, by hand:
/// 1 Summaries A: 2 targets × 100 = 200; 2 Summaries B: 1 target × 100 = 100;
/// 3 Backlinks: 1 target × 100 rows × 1 = 100. Total 400 units.
const TWO_ON_ONE: &str = "name: Audit
steps:
  - {name: Summaries A, endpoint: backlinks/summary, targets: [a.com, b.com]}
  - {name: Summaries B, endpoint: backlinks/summary, targets: [c.com]}
  - {name: Backlinks, endpoint: backlinks/all, targets: [a.com], rows: 100}
";

fn call(endpoint: &str, units: u64, outcome: &str, tags: &str) -> String {
    format!(
        r#"{{"time":"2026-11-26T07:00:00.000Z","method":"GET","endpoint":"{endpoint}","targets":1,"status":200,"units_reserved":{units},"units_charged":{units},"overrun":0,"latency_ms":1.0,"attempts":1,"outcome":"{outcome}"{tags},"epoch":"e1"}}"#
    )
}

#[test]
fn reconcile_held_and_broken() {
    let s = Scratch::new();
    let wf = s.file("audit.yaml", TWO_ON_ONE);
    let plan = run(&["plan", &wf, "--format", "json"]);
    assert_eq!(plan.code(0).json()["total"]["units"], 400);
    let plan = s.file("plan.json", &plan.stdout);
    let budget_line = r#"{"time":"2026-11-26T07:00:00.000Z","kind":"budget","epoch":"e1","account":"offline","budget":1000,"source":"flag","state":"memory","spent":0}"#;
    let tag = |step: &str| format!(r#","workflow":"Audit","step":"{step}""#);
    // Held: Summaries A 200 (tagged), one untagged summary call of 100 (the endpoint row's),
    // Backlinks 40 of 100; a free unplanned subscription read. 340 of 400 = 85.0%.
    let held = [
        budget_line.to_string(),
        call("backlinks/summary", 200, "charged", &tag("Summaries A")),
        call("backlinks/summary", 100, "charged", ""),
        call("backlinks/all", 40, "charged", &tag("Backlinks")),
        call("account/subscription", 0, "charged", ""),
    ];
    let journal = s.file("held.jsonl", &(held.join("\n") + "\n"));
    let json_held = json(&["reconcile", &plan, &journal, "--format", "json"], 0);
    assert_eq!(json_held["forecast_held"], true);
    assert_eq!(json_held["total"]["worst_ratio"], 85.0);
    let kinds: Vec<&str> = json_held["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["step", "step", "step", "endpoint"]);
    assert_eq!(json_held["unplanned"][0]["reason"], "not_planned");
    valid("reconcile", "held", &json_held);

    // Broken: Backlinks charged 150 of its 100 (overrun 50), and a tagged call to a step the
    // plan lacks charged 100 (unknown_step). 200 + 100 + 150 + 100 = 550 of 400 = 137.5%.
    let broken = [
        budget_line.to_string(),
        call("backlinks/summary", 200, "charged", &tag("Summaries A")),
        call("backlinks/summary", 100, "charged", ""),
        call("backlinks/all", 150, "charged", &tag("Backlinks"))
            .replace(r#""overrun":0"#, r#""overrun":50"#),
        call("backlinks/summary", 100, "charged", &tag("Export")),
        call("backlinks/all", 0, "over_budget", &tag("Backlinks")),
    ];
    let journal = s.file("broken.jsonl", &(broken.join("\n") + "\n"));
    let json_broken = json(&["reconcile", &plan, &journal, "--format", "json"], 1);
    assert_eq!(json_broken["forecast_held"], false);
    assert_eq!(json_broken["total"]["worst_ratio"], 137.5);
    assert_eq!(json_broken["total"]["actual"]["overrun_units"], 50);
    assert_eq!(json_broken["total"]["actual"]["other_calls"], 1);
    assert_eq!(json_broken["unplanned"][0]["reason"], "unknown_step");
    valid("reconcile", "broken", &json_broken);
}

// ---- prices --------------------------------------------------------------------------------

#[test]
fn prices_with_and_without_an_overlay() {
    let embedded = json(&["prices", "--format", "json"], 0);
    // The catalogue holds unknown prices and disputes; both must validate.
    let endpoints = embedded["endpoints"].as_array().expect("endpoints");
    assert!(endpoints.iter().any(|e| e["units"] == "unknown"));
    assert!(endpoints
        .iter()
        .any(|e| e["disputes"].as_array().is_some_and(|d| !d.is_empty())));
    valid("prices", "embedded", &embedded);
    let overlaid = json(
        &[
            "prices",
            "--pricing-overlay",
            "pricing/docs-example-1032.yaml",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(
        overlaid["overlays"],
        serde_json::json!(["pricing/docs-example-1032.yaml"])
    );
    valid("prices", "with an overlay", &overlaid);
}

// ---- the bundled examples ------------------------------------------------------------------

/// Invariant: the bundled example workflows plan together without a warning (they name one
/// account, or none), so docs/workflows.md's `budget plan workflows/*.yaml` prints nothing on stderr.
///
/// By hand (docs/workflows.md "Example workflows"): agent session 9,500 + backlink audit 324,000 +
/// competitor monitoring 1,600 + docs example 26,000 + daily report 5,000 + keyword research
/// 9,600 = 375,700 units in 47 + 67 + 16 + 6 + 3 + 96 = 235 requests. The reserve is the largest
/// budget.reserve, the audit's 5%: of 400,000 that is 20,000, leaving 380,000 usable, 4,300 to
/// spare. Of 300,000: reserve 15,000, 285,000 usable, over by 90,700; the account (1M, monthly,
/// plan: $99.99 per 1M) prices the 375,700 − 300,000 = 75,700 units beyond the balance at
/// 75,700 × 99.99 / 1,000,000 = $7.569243 → $7.57.
#[test]
fn the_bundled_examples_plan_together_without_warnings() {
    let files = bundled();
    assert_eq!(files.len(), 6, "{files:?}");
    let mut args: Vec<&str> = vec!["plan"];
    args.extend(files.iter().map(String::as_str));
    let mut fits = args.clone();
    fits.extend(["--units-left", "400k"]);
    let r = run(&fits);
    r.code(0)
        .stdout_has("all 6 workflows: 235 requests, 375,700 units")
        .stdout_has("balance (--units-left): 400,000 units left, reserve 20,000, 380,000 usable")
        .stdout_has("fits: 375,700 of 380,000 usable units (4,300 to spare)");
    assert_eq!(r.stderr, "", "planning the bundled examples together warns");

    let mut over = args.clone();
    over.extend(["--units-left", "300k", "--format", "json"]);
    let r = run(&over);
    assert_eq!(r.stderr, "", "planning the bundled examples together warns");
    let json = r.code(1).json();
    assert_eq!(json["total"]["units"], 375_700);
    assert_eq!(json["over_by"], 90_700);
    assert_eq!(
        json["overage"],
        serde_json::json!({"units": 75700, "tier": "1M", "billing": "monthly", "rate": "plan",
                           "usd_per_million": "99.99", "usd": "7.57"})
    );
    valid("plan", "the bundled examples", &json);

    // Nor does the forecast of them note differing accounts.
    let mut forecast = vec!["forecast"];
    forecast.extend(files.iter().map(String::as_str));
    forecast.extend(["--units-left", "400k", "--format", "json"]);
    forecast.extend(PERIOD);
    let r = run(&forecast);
    assert_eq!(r.stderr, "");
    let notes = r.code(1).json()["notes"].to_string();
    assert!(!notes.contains("different accounts"), "{notes}");
}
