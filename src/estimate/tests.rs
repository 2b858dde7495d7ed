//! Figures worked out by hand from the embedded pricing (docs/workflows.md "The arithmetic").

use std::path::Path;

use super::*;
use crate::pricing::Pricing;
use crate::workflow;

fn pricing() -> Pricing {
    Pricing::embedded().unwrap()
}

#[track_caller]
fn plan(yaml: &str) -> WorkflowEstimate {
    let p = pricing();
    let loaded =
        workflow::parse(yaml, Path::new("test.yaml"), &p).unwrap_or_else(|e| panic!("{e}"));
    super::workflow(&loaded.workflow, p.requests_per_second).unwrap()
}

/// (requests, records, units, units_expected) of the only step.
#[track_caller]
fn step(yaml: &str, expected: (u64, u64, u64, u64)) {
    let f = plan(yaml);
    let s = &f.steps[0];
    assert_eq!(
        (s.requests, s.records, s.units, s.units_expected),
        expected,
        "{yaml}"
    );
}

#[test]
fn docs_example() {
    let f = plan(include_str!("../../workflows/docs-example.yaml"));
    // summary: ceil(250/100) = 3 requests, 250 records × 100 = 25000
    // export: 1 request, 1 record × 1000 = 1000; status: calls 2, 1 record × 0 = 0
    let per_step: Vec<(u64, u64)> = f.steps.iter().map(|s| (s.requests, s.units)).collect();
    assert_eq!(per_step, vec![(3, 25000), (1, 1000), (2, 0)]);
    assert_eq!((f.requests, f.units, f.units_expected), (6, 26000, 26000));
    assert_eq!(f.duration_seconds, 0.6); // 6 requests / 10 per second
}

#[test]
fn target_endpoints_batch() {
    // 250 targets in batches of 100: ceil(2.5) = 3 requests; 250 × 100 units
    step(
        "steps: [{endpoint: backlinks/summary, targets: 250}]",
        (3, 250, 25000, 25000),
    );
    // batch 7: ceil(250/7) = 36 requests; records unchanged
    step(
        "steps: [{endpoint: backlinks/summary, targets: 250, batch: 7}]",
        (36, 250, 25000, 25000),
    );
    // exactly 200: 2 requests
    step(
        "steps: [{endpoint: backlinks/metrics, targets: 200}]",
        (2, 200, 20000, 20000),
    );
    // default targets is 1
    step("steps: [{endpoint: backlinks/count}]", (1, 1, 100, 100));
}

#[test]
fn non_paged_row_endpoint() {
    // backlinks/all: 1 request per target; 4 targets × 2000 rows = 8000 records × 1 unit
    step(
        "steps: [{endpoint: backlinks/all, targets: 4, rows: 2000}]",
        (4, 8000, 8000, 8000),
    );
    // default rows = limit.default 100: 3 × 100 = 300
    step(
        "steps: [{endpoint: backlinks/anchors, targets: 3}]",
        (3, 300, 300, 300),
    );
    // expected band: 4 × 500 = 2000 expected units
    step(
        "steps: [{endpoint: backlinks/all, targets: 4, rows: 2000, expected_rows: 500}]",
        (4, 8000, 8000, 2000),
    );
}

#[test]
fn paged_row_endpoint_raw() {
    // backlinks/raw: limit defaults to min(rows, 100000); 250000 rows → ceil(250000/100000) = 3
    // requests per target; 2 targets → 6 requests; 2 × 250000 = 500000 records × 1 unit
    step(
        "steps: [{endpoint: backlinks/raw, targets: 2, rows: 250k}]",
        (6, 500_000, 500_000, 500_000),
    );
    // limit 30000: ceil(250000/30000) = 9 pages × 2 targets = 18 requests
    step(
        "steps: [{endpoint: backlinks/raw, targets: 2, rows: 250k, limit: 30k}]",
        (18, 500_000, 500_000, 500_000),
    );
    // default rows 10000 in one page
    step(
        "steps: [{endpoint: backlinks/raw}]",
        (1, 10_000, 10_000, 10_000),
    );
}

#[test]
fn per_request_paged_with_sources() {
    // domain/keywords, 3 domains, rows 3000, default limit min(3000, 1000) = 1000 → 3 pages;
    // 3 sources: 3 × 3 × 3 = 27 requests × 100 units = 2700; records 3 × 3000 × 3 = 27000
    // expected_rows 1500 → ceil(1.5) = 2 pages: 3 × 2 × 3 = 18 requests → 1800 units
    step(
        "steps: [{endpoint: domain/keywords, targets: [a.com, b.com, c.com], sources: [us, de, fr], rows: 3000, expected_rows: 1500}]",
        (27, 27000, 2700, 1800),
    );
    // a workflow-level source counts once: 1 × 1 page (default 100 rows) × 1 = 1 request
    step(
        "source: us\nsteps: [{endpoint: domain/keywords}]",
        (1, 100, 100, 100),
    );
    // expected_rows 0 still costs the first page
    step(
        "source: us\nsteps: [{endpoint: domain/keywords, rows: 500, expected_rows: 0}]",
        (1, 500, 100, 100),
    );
}

/// Invariant: rows a step does not bound are bounded by what its requests ask for — the plan of
/// 10 targets asking `limit=5000` is the 50,000 rows they can return, not 10 × the default 100.
#[test]
fn rows_default_to_the_limit_asked() {
    // 10 targets × 5,000 rows × 1 unit = 50,000
    step(
        "steps: [{endpoint: backlinks/all, targets: 10, limit: 5000}]",
        (10, 50_000, 50_000, 50_000),
    );
    // rows given win: 10 × 2,000
    step(
        "steps: [{endpoint: backlinks/all, targets: 10, rows: 2000, limit: 5000}]",
        (10, 20_000, 20_000, 20_000),
    );
    // paged: limit 1,000 and no rows → 1 page of 1,000 per target: 3 × 100 (per request)
    step(
        "source: us\nsteps: [{endpoint: domain/keywords, targets: 3, limit: 1000}]",
        (3, 3_000, 300, 300),
    );
}

#[test]
fn date_ranges_from_the_step() {
    // page authority history, 2 targets, Jan..Oct 2026 by month: 2 × 10 periods × 1 unit
    step(
        "steps: [{endpoint: backlinks/authority/page/history, targets: 2, date_from: 2026-01-01, date_to: 2026-10-31, granularity: by_month}]",
        (2, 20, 20, 20),
    );
    // history counts for October: 31 days × 100 at worst, 100 per target expected
    step(
        "steps: [{endpoint: backlinks/history/count, date_from: 2026-10-01, date_to: 2026-10-31}]",
        (1, 31, 3_100, 100),
    );
}

#[test]
fn keywords_export_batching() {
    // 25000 keywords, default batch 5000 → 5 requests × 100 units = 500 per source
    step(
        "source: us\nsteps: [{endpoint: keywords/export, targets: 25k}]",
        (5, 25000, 500, 500),
    );
    // two sources: 10 requests, 1000 units; the vendor error text's 10000 when asked:
    // ceil(25000/10000) = 3 × 2 = 6 → 600
    step(
        "steps: [{endpoint: keywords/export, targets: 25k, sources: [us, gb]}]",
        (10, 50000, 1000, 1000),
    );
    step(
        "steps: [{endpoint: keywords/export, targets: 25k, sources: [us, gb], batch: 10000}]",
        (6, 50000, 600, 600),
    );
}

#[test]
fn repeat_multiplies_the_whole_step() {
    // summary 250 targets: 3 requests, 25000 units; repeat 4 → 12 requests, 1000 records, 100000
    step(
        "steps: [{endpoint: backlinks/summary, targets: 250, repeat: 4}]",
        (12, 1000, 100_000, 100_000),
    );
    // domain/overview/db, 2 sources, repeat 3: 1 × 2 × 3 = 6 requests × 100 = 600
    step(
        "steps: [{endpoint: domain/overview/db, sources: [us, de], repeat: 3}]",
        (6, 6, 600, 600),
    );
}

#[test]
fn calls_replace_the_request_count() {
    // export/status polled 7 times: 7 requests, each billed at least one record (a poll names
    // no target, which the guard prices as one): 7 records × 0 units
    step(
        "steps: [{endpoint: backlinks/export/status, calls: 7}]",
        (7, 7, 0, 0),
    );
    // per-record endpoint: calls change requests, not records: summary 250 targets, calls 5
    // → 5 requests, 250 records × 100 = 25000
    step(
        "steps: [{endpoint: backlinks/summary, targets: 250, calls: 5}]",
        (5, 250, 25000, 25000),
    );
    // per-request endpoint: calls × sources × repeat = 4 × 2 × 1 = 8 requests × 100 = 800;
    // each request names at least one target: 8 records
    step(
        "steps: [{endpoint: domain/overview/db, sources: [us, de], calls: 4}]",
        (8, 8, 800, 800),
    );
    // export of 1 target called 3 times: each call bills its target, 3 × 1000 = 3000
    step(
        "steps: [{endpoint: backlinks/export, calls: 3}]",
        (3, 3, 3000, 3000),
    );
    // rows spread over calls: all, 2 targets × 150 rows = 300 rows over 4 calls = 75 each
    step(
        "steps: [{endpoint: backlinks/all, targets: 2, rows: 150, calls: 4}]",
        (4, 300, 300, 300),
    );
}

#[test]
fn totals_and_duration() {
    let f = plan(
        "budget: {rps: 4}\nsteps:\n  - {endpoint: backlinks/summary, targets: 250}\n  - {endpoint: backlinks/all, targets: 2, rows: 300}",
    );
    // 3 + 2 = 5 requests; 25000 + 600 = 25600 units; 5 / 4 rps = 1.25 s
    assert_eq!((f.requests, f.records, f.units), (5, 250 + 600, 25600));
    assert_eq!(f.duration_seconds, 1.25);
    let t = totals(&[f.clone(), f]).unwrap();
    assert_eq!((t.requests, t.units), (10, 51200));
    assert_eq!(t.duration_seconds, 2.5);
}

#[test]
fn overflow_names_the_step() {
    let p = pricing();
    // 18446744073709551615 targets × 100 units cannot fit in u64
    let yaml = "steps:\n  - {endpoint: backlinks/count}\n  - {name: Huge, endpoint: backlinks/summary, targets: \"18446744073709551615\"}";
    let loaded = workflow::parse(yaml, Path::new("big.yaml"), &p).unwrap();
    let e = super::workflow(&loaded.workflow, 10)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.yaml: step 2 (Huge): the units overflow"),
        "{e}"
    );
    // records overflow before units: 2^63 targets × 4 rows
    let yaml = "steps: [{endpoint: backlinks/all, targets: \"9223372036854775808\", rows: 4}]";
    let loaded = workflow::parse(yaml, Path::new("big.yaml"), &p).unwrap();
    let e = super::workflow(&loaded.workflow, 10)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("step 1 (backlinks/all #1): the records overflow"),
        "{e}"
    );
}

#[test]
fn total_overflow_is_an_error() {
    let p = pricing();
    // each step: (2^64−1)/100 rounded down = 184467440737095516 targets × 100 units fits;
    // two of them do not.
    let yaml = "steps:\n  - {endpoint: backlinks/summary, targets: \"184467440737095516\"}\n  - {endpoint: backlinks/summary, targets: \"184467440737095516\"}";
    let loaded = workflow::parse(yaml, Path::new("big.yaml"), &p).unwrap();
    let e = super::workflow(&loaded.workflow, 10)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.yaml: the workflow's total units overflow"),
        "{e}"
    );
}

/// A step on `endpoint` as the validator would resolve it, before the test changes fields.
fn raw_step(endpoint: &str, targets: u64) -> Step {
    let endpoint = pricing().endpoint(endpoint).unwrap().clone();
    Step {
        name: endpoint.name.clone(),
        targets,
        batch: endpoint.default_batch,
        rows: endpoint.limit.map(|l| l.default),
        expected_rows: None,
        limit: endpoint.limit.map(|l| l.default),
        sources: Vec::new(),
        calls: None,
        repeat: 1,
        dates: None,
        granularity: crate::pricing::Granularity::ByDay,
        line: None,
        endpoint,
    }
}

fn date(text: &str) -> chrono::NaiveDate {
    crate::pricing::range::parse_date(text).unwrap()
}

fn shapes(step: &Step) -> Vec<(Option<u64>, Option<u64>, u64, u64)> {
    Requests::of(step, Band::Worst)
        .unwrap()
        .iter()
        .map(|(s, n)| (s.rows, s.periods, s.targets, n))
        .collect()
}

#[test]
fn the_last_page_asks_only_for_the_rows_still_wanted() {
    // raw, 2 targets × 25,000 rows in pages of 10,000: per target 2 pages of 10,000, then 5,000.
    let mut step = raw_step("backlinks/raw", 2);
    step.rows = Some(25_000);
    step.limit = Some(10_000);
    assert_eq!(
        shapes(&step),
        vec![
            (Some(10_000), None, 1, 2),
            (Some(5_000), None, 1, 1),
            (Some(10_000), None, 1, 2),
            (Some(5_000), None, 1, 1),
        ]
    );
    let c = cost(&step);
    // 6 requests; 50,000 rows × 1 unit.
    assert_eq!((c.requests, c.records, c.units), (6, 50_000, 50_000));
}

#[test]
fn target_batches_carry_the_rest_last() {
    // 250 targets in batches of 100: 100, 100, 50.
    let step = raw_step("backlinks/summary", 250);
    assert_eq!(
        shapes(&step),
        vec![
            (None, None, 100, 1),
            (None, None, 100, 1),
            (None, None, 50, 1)
        ]
    );
    // keywords/export sends 5,000 keywords per request unless told: 25,000 → 5 requests.
    let c = cost(&raw_step("keywords/export", 25_000));
    assert_eq!((c.requests, c.units), (5, 500));
}

#[test]
fn period_and_day_endpoints_bill_their_range() {
    // page authority history, 3 targets, Jan..Oct 2026 by month: 3 × 10 periods × 1 unit.
    let mut step = raw_step("backlinks/authority/page/history", 3);
    step.dates = Some((date("2026-01-01"), date("2026-10-31")));
    step.granularity = crate::pricing::Granularity::ByMonth;
    let c = cost(&step);
    assert_eq!((c.requests, c.records, c.units), (3, 30, 30));
    // without dates: the assumed 365 days by day, 3 × 365 = 1,095.
    step.dates = None;
    step.granularity = crate::pricing::Granularity::ByDay;
    assert_eq!(cost(&step).units, 1_095);
    // history counts: 2 targets × 31 days of October × 100 = 6,200 at worst; billed per target
    // in the expected band: 2 × 100 = 200.
    let mut step = raw_step("backlinks/history/count", 2);
    step.dates = Some((date("2026-10-01"), date("2026-10-31")));
    let c = cost(&step);
    assert_eq!(
        (c.requests, c.records, c.units, c.units_expected),
        (2, 62, 6_200, 200)
    );
    assert!(c.disputed && c.uncertain());
    // no dates: yesterday..today, 2 days × 100 per target.
    assert_eq!(cost(&raw_step("backlinks/history/count", 1)).units, 200);
}

#[test]
fn an_unknown_price_cannot_be_planned() {
    let wf = Workflow {
        name: "w".into(),
        path: "w.yaml".into(),
        account: None,
        max_units: None,
        reserve: None,
        rps: None,
        schedule: None,
        steps: vec![
            raw_step("backlinks/summary", 1),
            raw_step("domain/pages", 1),
        ],
    };
    let e = super::workflow(&wf, 10).unwrap_err();
    let text = e.to_string();
    for phrase in [
        "w.yaml: step 2 (domain/pages): the price of domain/pages is unknown",
        "--pricing-overlay FILE",
        "endpoints: {domain/pages: {units: N, evidence: docs",
    ] {
        assert!(text.contains(phrase), "{text:?} lacks {phrase:?}");
    }
}

#[test]
fn where_spending_passes_a_budget() {
    // summary 250 targets: requests of 10,000, 10,000 and 5,000 units.
    let step = raw_step("backlinks/summary", 250);
    let e = step.endpoint.clone();
    let requests = Requests::of(&step, Band::Worst).unwrap();
    let stop = |budget| requests.stop(&e, budget).unwrap();
    // 15,000: the second request (10,000 + 10,000 > 15,000); 10,000 spent before it.
    assert_eq!(
        stop(15_000),
        Some(Stop {
            request: 2,
            spent: 10_000
        })
    );
    assert_eq!(
        stop(20_000),
        Some(Stop {
            request: 3,
            spent: 20_000
        })
    );
    assert_eq!(stop(25_000), None);
    assert_eq!(
        stop(0),
        Some(Stop {
            request: 1,
            spent: 0
        })
    );
    // repeated twice: the first run costs 25,000; 30,000 leaves 5,000 for the second run, whose
    // first request (10,000) does not fit: request 3 + 1 = 4.
    let mut twice = step.clone();
    twice.repeat = 2;
    let requests = Requests::of(&twice, Band::Worst).unwrap();
    assert_eq!(
        requests.stop(&e, 30_000).unwrap(),
        Some(Stop {
            request: 4,
            spent: 25_000
        })
    );
}

#[test]
fn requests_are_listed_lazily() {
    // a trillion targets in batches of 100: 10^10 requests, counted without listing them.
    let step = raw_step("backlinks/summary", 1_000_000_000_000);
    let requests = Requests::of(&step, Band::Worst).unwrap();
    assert_eq!(requests.count(), Ok(10_000_000_000));
    assert_eq!(
        requests.iter().next().map(|(s, n)| (s.targets, n)),
        Some((100, 1))
    );
}

fn cost(step: &Step) -> StepEstimate {
    let wf = Workflow {
        name: "w".into(),
        path: "w.yaml".into(),
        account: None,
        max_units: None,
        reserve: None,
        rps: None,
        schedule: None,
        steps: vec![step.clone()],
    };
    super::workflow(&wf, 10).unwrap().steps.remove(0)
}
