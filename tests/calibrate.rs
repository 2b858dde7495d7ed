//! `budget calibrate` against the simulator's "mispriced, late-settling" mode: one endpoint
//! billed differently from the table, and a balance that shows a charge only a hundred
//! milliseconds later, in batches (the live meter: 20–60 s; the calibration reads the balance
//! every 0.1 s instead of 30 s, so the same wait is a few reads, and the simulator's window
//! is lifted: reads that often are not what the window is tested on).

use std::process::Output;
use std::time::Duration;

use crate::support::simulator::{Settling, Simulator, KEY};
use crate::support::{budget, run, Run, Scratch};

/// The simulator bills backlinks/authority 15 units per target (the table says 1) and settles
/// the balance 100 ms after a call, at the next 80 ms batch.
fn mispriced(units_left: u64) -> Simulator {
    let sim = Simulator::start_data(units_left);
    sim.set(|s| {
        s.rate_limit = None;
        s.data
            .catalogue
            .get_mut("backlinks/authority")
            .expect("authority in the catalogue")
            .units = 15;
        s.settling = Some(Settling::new(
            Duration::from_millis(100),
            Duration::from_millis(80),
        ));
    });
    sim
}

/// `budget calibrate ARGS` against `sim`, reading the balance every 0.1 s, with the catalogue's
/// backlinks/authority at the table's 1 unit per target (tests/data/authority-table-price.yaml;
/// the embedded catalogue keeps the measured 15), which the simulator bills 15.
fn calibrate(sim: &Simulator, args: &[&str]) -> Run {
    let output: Output = budget()
        .arg("calibrate")
        .args(args)
        .args(["--api-url", sim.url(), "--settle-interval", "0.1"])
        .args(["--pricing-overlay", "tests/data/authority-table-price.yaml"])
        .env("SERANKING_API_KEY", KEY)
        .env("BUDGET_RETRY_BASE_MS", "5")
        .output()
        .expect("run budget calibrate");
    let run = Run::from(output);
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the key was shown"
    );
    run
}

#[test]
fn calibrate_finds_the_true_price_after_the_settle_and_writes_an_overlay() {
    let sim = mispriced(1_000_000);
    let scratch = Scratch::new();
    let overlay = scratch.path().join("measured.yaml").display().to_string();
    // By the catalogue: authority 2 targets × 1 = 2, summary 2 × 100 = 200: 202 ≤ 500.
    let measured = calibrate(
        &sim,
        &[
            "backlinks/authority",
            "backlinks/summary",
            "--target",
            "a.com",
            "--target",
            "b.com",
            "--max-units",
            "500",
            "--settle-timeout",
            "10",
            "--write-overlay",
            &overlay,
            "--format",
            "json",
        ],
    );
    measured
        .code(0)
        .stderr_has("warning: the measurement is the balance's change: any other job using this API key meanwhile spoils it")
        .stderr_has("pricing overlay")
        .stderr_has("2 measured prices");
    // The simulator billed 2 × 15 = 30, then 2 × 100 = 200.
    assert_eq!(sim.charged(), 230);
    let json = measured.json();
    let authority = &json["endpoints"][0];
    assert_eq!(authority["endpoint"], "backlinks/authority");
    assert_eq!(authority["catalogue_units"], 2);
    // Read right after the call, the balance had not moved: 30 shows the settle was awaited.
    assert_eq!(authority["measured_units"], 30);
    assert_eq!(authority["measured_unit_price"], 15.0);
    assert_eq!(authority["difference"], 28);
    assert_eq!(authority["verdict"], "differs");
    // 1,000,000 − 30 = 999,970.
    assert_eq!(authority["balance_before"], 1_000_000);
    assert_eq!(authority["balance_after"], 999_970);
    let summary = &json["endpoints"][1];
    assert_eq!(summary["measured_units"], 200);
    assert_eq!(summary["verdict"], "agrees");

    let text = std::fs::read_to_string(&overlay).expect("overlay written");
    assert!(
        text.contains("endpoints:\n  backlinks/authority:\n    units: 15\n    evidence: measured\n    ref: \"budget calibrate "),
        "{text}"
    );
    assert!(
        text.contains(
            "one call with 2 targets billed 30 units, 15 per target (the catalogue said 1)"
        ),
        "{text}"
    );
    assert!(
        text.contains("  backlinks/summary:\n    units: 100\n"),
        "{text}"
    );
    let overlay_yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("overlay is YAML");
    assert_eq!(
        overlay_yaml["endpoints"]["backlinks/authority"]["units"],
        serde_yaml::Value::from(15)
    );

    // plan accepts the measured overlay on top of the table's price and prices authority at
    // 15 per target: 2 targets = 30 units (the table alone: 2), on measured evidence.
    let wf = scratch.file(
        "authority.yaml",
        "steps:\n  - endpoint: backlinks/authority\n    targets: [a.com, b.com]\n",
    );
    let table = "tests/data/authority-table-price.yaml";
    let planned = run(&["plan", &wf, "--pricing-overlay", table, "--format", "json"]);
    assert_eq!(planned.code(0).json()["total"]["units"], 2);
    let planned = run(&[
        "plan",
        &wf,
        "--pricing-overlay",
        table,
        "--pricing-overlay",
        &overlay,
        "--format",
        "json",
    ]);
    let json = planned.code(0).json();
    assert_eq!(json["total"]["units"], 30);
    assert_eq!(json["workflows"][0]["steps"][0]["evidence"], "measured");
}

#[test]
fn the_table_names_the_difference() {
    let sim = mispriced(1_000_000);
    let run = calibrate(
        &sim,
        &[
            "backlinks/authority",
            "--target",
            "a.com",
            "--max-units",
            "100",
            "--settle-timeout",
            "10",
        ],
    );
    run.code(0)
        .stdout_has("1 → 15 per target")
        .stdout_has("differs by +14")
        .stdout_has("1 of 1 endpoint measured: 15 units billed, 1 by the catalogue; 1 price differs from the catalogue")
        .stderr_has("backlinks/authority: waiting for the meter to show the call");
}

#[test]
fn a_worst_case_above_max_units_is_refused_before_any_call() {
    let sim = mispriced(1_000_000);
    // 2 targets × 100 (summary) + 2 × 1 (authority) = 202 > 100.
    let run = calibrate(
        &sim,
        &[
            "backlinks/summary",
            "backlinks/authority",
            "--target",
            "a.com",
            "--target",
            "b.com",
            "--max-units",
            "100",
        ],
    );
    run.code(1)
        .stderr_has("over budget: calibrating would cost up to 202 units by the catalogue, above --max-units 100; nothing was sent")
        .stderr_has("backlinks/summary: 2 targets: up to 200 units");
    assert_eq!(sim.requests(), 0, "nothing reached the API");
}

#[test]
fn a_worst_case_above_the_balance_is_refused() {
    let sim = mispriced(150);
    let run = calibrate(
        &sim,
        &[
            "backlinks/summary",
            "--target",
            "a.com",
            "--target",
            "b.com",
            "--max-units",
            "1000",
        ],
    );
    run.code(1)
        .stderr_has("over budget: calibrating would cost up to 200 units by the catalogue, above the 150 units left; nothing was sent");
    assert_eq!(sim.charged(), 0);
    assert_eq!(sim.requests(), 1, "one balance read, no call");
}

#[test]
fn an_endpoint_the_api_refuses_is_not_measured_exit_3() {
    let sim = mispriced(1_000_000);
    let scratch = Scratch::new();
    let overlay = scratch.path().join("o.yaml").display().to_string();
    // The simulator does not know backlinks/metrics: 404, nothing billed.
    sim.set(|s| {
        s.data.catalogue.remove("backlinks/metrics");
    });
    let run = calibrate(
        &sim,
        &[
            "backlinks/metrics",
            "--target",
            "a.com",
            "--max-units",
            "100",
            "--format",
            "json",
            "--write-overlay",
            &overlay,
        ],
    );
    run.code(3)
        .stderr_has("1 of 1 endpoint could not be measured (see above)")
        .stderr_has("no price was measured as a whole number of units: the pricing overlay")
        .stderr_has("was not written");
    let json = run.json();
    assert_eq!(json["endpoints"][0]["verdict"], "not_measured");
    assert!(!std::path::Path::new(&overlay).exists());
    assert!(
        json["endpoints"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the API refused the call (HTTP 404"),
        "{json}"
    );
}

#[test]
fn bad_input_exits_2() {
    let sim = mispriced(1_000_000);
    // The problems a line each, under the heading (before: one line with a literal `\n`).
    calibrate(&sim, &["backlinks/sumary", "--max-units", "100"])
        .code(2)
        .stderr_has("error: cannot calibrate:\n  - ")
        .stderr_has("unknown endpoint `backlinks/sumary`; did you mean backlinks/summary?");
    calibrate(
        &sim,
        &[
            "backlinks/all",
            "--target",
            "a",
            "--target",
            "b",
            "--max-units",
            "100",
        ],
    )
    .code(2)
    .stderr_has("backlinks/all takes at most 1 target per request");
    // The catalogue's `methods`: a POST-only endpoint cannot be measured by a GET.
    calibrate(&sim, &["serp/classic/tasks", "--max-units", "100"])
        .code(2)
        .stderr_has(
            "serp/classic/tasks takes POST only; calibrate makes GET calls, so it cannot measure it",
        );
    calibrate(
        &sim,
        &["backlinks/summary", "--max-units", "100", "--offline"],
    )
    .code(2)
    .stderr_has("--offline: calibrate measures the live API, which --offline forbids");
    calibrate(
        &sim,
        &[
            "backlinks/summary",
            "--max-units",
            "100",
            "--settle-timeout",
            "0",
        ],
    )
    .code(2)
    .stderr_has("--settle-timeout: 0 is not a positive number of seconds");
    run(&["calibrate", "backlinks/summary"])
        .code(2)
        .stderr_has("--max-units");
    assert_eq!(sim.requests(), 0);
}

#[test]
fn an_overlay_that_cannot_be_written_is_refused_before_any_call() {
    let sim = mispriced(1_000_000);
    let scratch = Scratch::new();
    let nowhere = scratch
        .path()
        .join("no/such/dir/o.yaml")
        .display()
        .to_string();
    let run = calibrate(
        &sim,
        &[
            "backlinks/authority",
            "--max-units",
            "100",
            "--write-overlay",
            &nowhere,
        ],
    );
    run.code(2)
        .stderr_has("--write-overlay: ")
        .stderr_has("no/such/dir is not a directory, so")
        .stderr_has("o.yaml cannot be written; nothing was sent");
    assert_eq!(sim.requests(), 0);
}
