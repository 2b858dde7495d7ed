//! Golden output (insta snapshots in `tests/snapshots/`) of the reports people read: plan,
//! prices, forecast, overage and balance, as tables, Markdown and CSV, through the real binary.
//!
//! The fixtures are small on purpose (`tests/data/golden-pricing.yaml`, `tests/data/golden/`):
//! every figure in a snapshot was checked by hand, with the arithmetic in the comment of its
//! test. A changed snapshot is a changed output: review it (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test main golden` and read the diff) before committing.

use crate::support::simulator::{Simulator, KEY};
use crate::support::{budget, run, Run};

const PRICING: &str = "tests/data/golden-pricing.yaml";
const AUDIT: &str = "tests/data/golden/audit.yaml";
const SMALL: &str = "tests/data/golden/small.yaml";
const DAILY: &str = "tests/data/golden/daily.yaml";
const WEEKLY: &str = "tests/data/golden/weekly.yaml";
const FORMATS: [&str; 3] = ["table", "markdown", "csv"];

/// `budget ARGS --pricing PRICING --format FORMAT`: the exit code, then stdout.
fn golden(args: &[&str], format: &str) -> (i32, String) {
    let mut all = args.to_vec();
    all.extend(["--pricing", PRICING, "--format", format]);
    let r = run(&all);
    assert_ne!(r.code, 2, "bad input: {}", r.stderr);
    (r.code, r.stdout)
}

/// Audit with `tests/data/golden-pricing.yaml` (5 requests/second):
/// - Summaries: 250 targets, batch 100 → ceil(250/100) = 3 requests; 250 records × 100 = 25,000 units.
/// - Backlinks: 2 targets, rows 500 (limit 500 ≤ max 10,000, not paged) → 2 requests;
///   2 × 500 = 1,000 records × 1 = 1,000 units; expected 2 × 200 = 400.
/// - Keywords: 1 target × ceil(250/100) = 3 pages × 2 sources = 6 requests × 100 = 600 units
///   (per request); records 1 × 250 × 2 = 500; expected = worst (no expected_rows).
/// - total: 3 + 2 + 6 = 11 requests, 250 + 1,000 + 500 = 1,750 records, 25,000 + 1,000 + 600 =
///   26,600 units, 25,000 + 400 + 600 = 26,000 expected; 11 / 5 = 2.2 s.
///
/// Against 30,000: fits with 30,000 − 26,600 = 3,400 to spare; against 20,000: over by 6,600,
/// and with no account (overage off) the job stops where 20,000 runs out: the summaries' requests
/// carry 100, 100 and 50 targets (10,000, 10,000, 5,000 units), so after 20,000 the third
/// request of step 1 cannot be paid: "step 1 (Summaries), request 3 of 3".
/// Keywords is priced on `docs` evidence disputed by an assumed 50 per request: marked `†`, with
/// a footnote under its table.
#[test]
fn plan_one_workflow() {
    for format in FORMATS {
        let (code, out) = golden(&["plan", AUDIT, "--units-left", "30000"], format);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("plan_fits_{format}"), out);
    }
    let (code, out) = golden(&["plan", AUDIT, "--units-left", "20000"], "markdown");
    assert_eq!(code, 1);
    insta::assert_snapshot!("plan_over_markdown", out);
}

/// Audit (above: 11 requests, 26,600 units, 26,000 expected, 2.2 s) and Small: 3 targets →
/// ceil(3/100) = 1 request, 3 records × 100 = 300 units, 1 / 5 = 0.2 s; its max_units is 200,
/// so it is over by 300 − 200 = 100. Total: 12 requests, 26,900 units, 26,000 + 300 = 26,300
/// expected, 2.4 s. The total fits 30,000, but Small's own cap makes the verdict over budget
/// (exit 1).
#[test]
fn plan_two_workflows() {
    for format in FORMATS {
        let (code, out) = golden(&["plan", AUDIT, SMALL, "--units-left", "30000"], format);
        assert_eq!(code, 1);
        insta::assert_snapshot!(format!("plan_two_{format}"), out);
    }
}

/// The pricing file's rows, checked by hand against `tests/data/golden-pricing.yaml`: endpoints
/// sorted by name; backlinks/all 1 unit per row record, batch 1, rows 100/10,000; summary 100
/// per target record, batch 100, no rows; domain/keywords 100 per request, rows 100/1,000
/// paged, the only one taking a source; 5 requests/second; sources `de us`; tiers 1M and 2M
/// with their four rates as written, and the enterprise row "custom". Evidence as written
/// (table, table, docs disputed by an assumed 50), with the dispute as a note.
#[test]
fn prices() {
    for format in FORMATS {
        let (code, out) = golden(&["prices"], format);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("prices_{format}"), out);
    }
}

/// 1M tier, usage 1.5M: 1,500,000 − 1,000,000 = 500,000 overage units × $99.99 / 1M =
/// $49.995 → $50.00 (half away from zero).
#[test]
fn overage_quote() {
    for format in FORMATS {
        let (code, out) = golden(&["overage", "--tier", "1M", "--usage", "1.5M"], format);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("overage_quote_{format}"), out);
    }
}

/// Usage 2.5M across the two tiers, 2M marked:
/// - 1M: 1,500,000 overage units × 99.99 / 79.99 / 49.99 / 39.99 per 1M = 149.985 / 119.985 /
///   74.985 / 59.985 → $149.99 / $119.99 / $74.99 / $59.99.
/// - 2M: 500,000 × 60.00 / 48.00 / 45.00 / 36.00 per 1M = $30.00 / $24.00 / $22.50 / $18.00.
#[test]
fn overage_all_tiers() {
    for format in ["table", "markdown", "csv", "json"] {
        let (code, out) = golden(
            &["overage", "--all-tiers", "--usage", "2.5M", "--tier", "2M"],
            format,
        );
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("overage_all_tiers_{format}"), out);
    }
}

/// From 2026-11-26 to 2026-12-26 (30 days), 100,000 units left:
/// - Daily report: 50 × 100 = 5,000 units a run, 30 runs (11-26 … 12-25) = 150,000 units.
/// - Weekly audit: 100 × 100 = 10,000 a run on 11-26, 12-03, 12-10, 12-17, 12-24 = 5 runs, 50,000.
/// - Paid in time order (same instant: the order given). Cumulative: 11-26: 15,000; 12-02:
///   45,000; 12-03: 60,000; 12-09: 90,000; 12-10: daily 95,000, then the weekly run reaches
///   105,000 > 100,000 → the total runs out on 2026-12-10; the weekly's first unpaid run is
///   12-10, the daily's 12-11.
/// - Overage: 200,000 − 100,000 = 100,000 units; weekly 5,000 (the rest of 12-10) + 2 × 10,000 =
///   25,000; daily 15 runs (12-11 … 12-25) × 5,000 = 75,000.
/// - Cost at Daily report's 1M monthly plan rate, $99.99 per 1M: daily 75,000 → $7.49925 →
///   $7.50; weekly 25,000 → $2.49975 → $2.50; total 100,000 → $9.999 → $10.00. Exit 1: runs out.
#[test]
fn forecast() {
    for format in FORMATS {
        let (code, out) = golden(
            &[
                "forecast",
                DAILY,
                WEEKLY,
                "--units-left",
                "100k",
                "--now",
                "2026-11-26",
                "--period-end",
                "2026-12-26",
            ],
            format,
        );
        assert_eq!(code, 1);
        insta::assert_snapshot!(format!("forecast_{format}"), out);
    }
}

/// The simulator's balance (`/v1/account/credits`): subscription 4,975,033 of 5,000,000 left →
/// 24,967 used = 0.49934% → 0.50%, wallet 0 → units_left 4,975,033 + 0; no start date (the
/// credits reply has none); expires 10 days and 1 hour from now → "10 days left" (the date itself
/// is replaced by `[expires]`, as it moves with the clock).
#[test]
fn balance() {
    let sim = Simulator::start();
    let expires =
        (chrono::Utc::now().naive_utc() + chrono::Duration::days(10) + chrono::Duration::hours(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
    sim.set(|s| s.expiration_date = expires.clone());
    for format in FORMATS {
        let r: Run = budget()
            .env("SERANKING_API_KEY", KEY)
            .env("SERANKING_API_URL", sim.url())
            .env("NO_PROXY", "127.0.0.1")
            .args(["balance", "--format", format])
            .output()
            .expect("run budget")
            .into();
        r.code(0);
        let out = r
            .stdout
            .replace(&expires, "[expires]")
            .replace(&expires.replace(' ', "T"), "[expires]");
        insta::assert_snapshot!(format!("balance_{format}"), out);
    }
}
