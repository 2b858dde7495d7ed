use super::*;

fn histogram(values: &[u64]) -> Histogram {
    let mut h = Histogram::default();
    for &v in values {
        h.add(v).expect("add");
    }
    h
}

#[track_caller]
fn summary(values: &[u64], count: u64, p50: u64, p90: u64, max: u64) {
    let h = histogram(values);
    assert_eq!(
        (h.count(), h.percentile(50), h.percentile(90), h.max()),
        (count, Some(p50), Some(p90), Some(max)),
        "{values:?}"
    );
}

#[test]
fn nearest_rank_percentiles_by_hand() {
    // 40, 40, 100: p50 is rank ceil(0.5 × 3) = 2 → 40; p90 rank ceil(0.9 × 3) = 3 → 100.
    summary(&[100, 40, 40], 3, 40, 100, 100);
    // 1..10: p50 rank 5 → 5, p90 rank 9 → 9.
    summary(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 10, 5, 9, 10);
    // One observation is every percentile.
    summary(&[7], 1, 7, 7, 7);
    // 0 rows is an observation too.
    summary(&[0, 0, 5], 3, 0, 5, 5);
    let empty = Histogram::default();
    assert_eq!(
        (empty.count(), empty.percentile(90), empty.max()),
        (0, None, None)
    );
}

#[track_caller]
fn rounds(value: u64, expected: u64) {
    assert_eq!(round_up(value), expected, "{value}");
}

#[test]
fn rounding_up_to_two_significant_digits() {
    rounds(0, 0);
    rounds(99, 99);
    rounds(100, 100);
    rounds(101, 110);
    rounds(1234, 1300);
    rounds(999_999, 1_000_000);
    // 18446744073709551615 would round to 19 × 10^18, beyond u64: kept as is.
    rounds(u64::MAX, u64::MAX);
}

#[test]
fn beyond_a_thousand_distinct_values_the_histogram_rounds_up() {
    // 1000..=2000 is 1001 distinct values: one too many. Rounded up to two digits: 1000 once,
    // then 1001..1100 → 1100, …, 1901..2000 → 2000, 100 each.
    let h = histogram(&(1000..=2000).collect::<Vec<_>>());
    assert!(h.rounded());
    assert_eq!(h.counts().len(), 11);
    assert_eq!(h.counts()[&1000], 1);
    assert_eq!(h.counts()[&1100], 100);
    assert_eq!(h.count(), 1001);
    // p50: rank 501 = 1 + 5 × 100 → 1500; p90: rank ceil(900.9) = 901 → 1900 (both as exact).
    assert_eq!(h.percentile(50), Some(1500));
    assert_eq!(h.percentile(90), Some(1900));
    // Merging an exact histogram into a rounded one rounds its values: 1450 → 1500.
    let mut merged = h.clone();
    merged.merge(&histogram(&[1450])).expect("merge");
    assert_eq!(merged.counts()[&1500], 101);
    // And a rounded one into an exact one rounds the exact one first.
    let mut exact = histogram(&[1450]);
    exact.merge(&h).expect("merge");
    assert_eq!(exact, merged);
}

fn call(endpoint: &str, rows: Option<u64>) -> Call {
    Call {
        endpoint: endpoint.into(),
        units_charged: 0,
        outcome: "charged".into(),
        overrun: None,
        targets: Some(1),
        workflow: None,
        step: None,
        source: None,
        rows,
        target_hash: None,
        continues: false,
    }
}

fn page(hash: &str, continues: bool, rows: u64) -> Call {
    Call {
        source: Some("us".into()),
        target_hash: Some(hash.into()),
        continues,
        ..call("domain/keywords", Some(rows))
    }
}

fn read(digest: &str) -> JournalRead {
    JournalRead {
        path: format!("{digest}.jsonl").into(),
        calls: 1,
        digest: digest.into(),
        warnings: Vec::new(),
    }
}

fn key(endpoint: &str, source: Option<&str>) -> UsageKey {
    (endpoint.to_string(), source.map(str::to_string))
}

#[test]
fn observations_from_calls() {
    let pricing = Pricing::embedded().expect("pricing");
    let mut b = ProfileBuilder::new(&pricing);
    let mut refused = call("backlinks/all", Some(100));
    refused.outcome = "over_budget".into();
    for c in [
        // backlinks/all does not page: one observation per call that shows its rows.
        call("backlinks/all", Some(40)),
        call("backlinks/all", Some(100)),
        refused,
        call("backlinks/all", None),
        // A target endpoint has no rows to observe.
        call("backlinks/summary", Some(3)),
        // domain/keywords pages: h1 over three pages (100 + 100 + 20 = 220 rows), h2 in one (30),
        // h3's first page was not seen (not observed).
        page("h1", false, 100),
        page("h2", false, 30),
        page("h1", true, 100),
        page("h3", true, 50),
        page("h1", true, 20),
    ] {
        b.add(&c).expect("add");
    }
    b.end_journal(&read("d1"));
    // The next journal fetches h1 again from its first page: a new listing (5 rows, 1 page);
    // the one before is the first journal's.
    b.add(&page("h1", false, 5)).expect("add");
    b.end_journal(&read("d2"));
    let observed = b.finish().expect("finish");
    assert_eq!(observed.len(), 2);
    let first = &observed[0].profile;
    assert_eq!(first.journals, ["d1"]);
    let all = &first.usage[&key("backlinks/all", None)];
    assert_eq!(
        all.rows_per_target.counts(),
        &BTreeMap::from([(40, 1), (100, 1)])
    );
    assert!(all.pages_per_target.is_empty());
    assert!(!first.usage.contains_key(&key("backlinks/summary", None)));
    let keywords = &first.usage[&key("domain/keywords", Some("us"))];
    assert_eq!(
        keywords.rows_per_target.counts(),
        &BTreeMap::from([(30, 1), (220, 1)])
    );
    assert_eq!(
        keywords.pages_per_target.counts(),
        &BTreeMap::from([(1, 1), (3, 1)])
    );
    let second = &observed[1].profile.usage[&key("domain/keywords", Some("us"))];
    assert_eq!(second.rows_per_target.counts(), &BTreeMap::from([(5, 1)]));
    assert_eq!(second.pages_per_target.counts(), &BTreeMap::from([(1, 1)]));
}

#[test]
fn a_journal_already_in_the_profile_is_not_added_again() {
    let observed = |digest: &str, rows: u64| {
        let mut profile = Profile::default();
        profile
            .usage
            .entry(key("backlinks/all", None))
            .or_default()
            .rows_per_target
            .add(rows)
            .expect("add");
        profile.journals = vec![digest.to_string()];
        Observed {
            path: format!("{digest}.jsonl").into(),
            digest: digest.into(),
            profile,
        }
    };
    let mut profile = Profile::default();
    let added = profile.add(&[observed("d1", 40)]).expect("add");
    assert_eq!(added.added, [PathBuf::from("d1.jsonl")]);
    let added = profile
        .add(&[observed("d1", 40), observed("d2", 60)])
        .expect("add");
    assert_eq!(added.skipped, [PathBuf::from("d1.jsonl")]);
    assert_eq!(added.added, [PathBuf::from("d2.jsonl")]);
    let rows = profile.rows("backlinks/all", None).expect("rows");
    assert_eq!(rows.counts(), &BTreeMap::from([(40, 1), (60, 1)]));
    assert_eq!(profile.journals, ["d1", "d2"]);
}

const PROFILE: &str = "version: 1
journals: [d1]
endpoints:
  backlinks/all:
    rows_per_target: {count: 10, p50: 50, p90: 90, max: 1000, observed: {10: 1, 20: 1, 30: 1, 40: 1, 50: 1, 60: 1, 70: 1, 80: 1, 90: 1, 1000: 1}}
  domain/keywords:
    sources:
      us:
        rows_per_target: {observed: {250: 3, 400: 1}}
        pages_per_target: {observed: {1: 3, 2: 1}}
";

#[test]
fn profiles_parse() {
    let p = parse(Path::new("p.yaml"), PROFILE).expect("profile");
    assert_eq!(p.journals, ["d1"]);
    assert_eq!(
        p.rows("backlinks/all", None).unwrap().percentile(90),
        Some(90)
    );
    // 250 ×3, 400: p90 rank ceil(3.6) = 4 → 400.
    let us = p.rows("domain/keywords", Some("us")).unwrap();
    assert_eq!(us.percentile(90), Some(400));
    // No observations for de, and none without a source: nothing.
    assert!(p.rows("domain/keywords", Some("de")).is_none());
    assert!(parse(Path::new("p.yaml"), "")
        .expect("empty")
        .usage
        .is_empty());
}

#[track_caller]
fn refused(text: &str, phrase: &str) {
    let e = parse(Path::new("p.yaml"), text).unwrap_err().to_string();
    assert!(e.contains(phrase), "{e} lacks {phrase:?}");
}

#[test]
fn bad_profiles_say_what_is_wrong() {
    refused("version: [", "usage profile p.yaml is not YAML");
    refused("version: 2", "`version` is 2; this budget reads version 1");
    refused(
        "versoin: 1",
        "`profile.versoin` is not a profile field (known: version, journals, endpoints)",
    );
    refused(
        "endpoints: {backlinks/all: {rows_per_target: {p90: 95, observed: {40: 2, 100: 1}}}}",
        "`endpoints.backlinks/all.rows_per_target.p90` is 95 but `observed` gives 100; the summary is computed from `observed`: fix or delete it",
    );
    refused(
        "endpoints: {backlinks/all: {rows_per_target: {p90: 95}}}",
        "`endpoints.backlinks/all.rows_per_target` has no `observed` values",
    );
    refused(
        "endpoints: {backlinks/all: {rows_per_target: {observed: {40: 0, x: 1}}}}",
        "`40: 0` is not a value and the number of times it was seen (1 or more)",
    );
    refused(
        "endpoints: {backlinks/all: {rows: {}}}",
        "`endpoints.backlinks/all.rows` is not a profile field",
    );
    refused(
        "endpoints: {domain/keywords: {sources: {us: {rows: 1}}}}",
        "`endpoints.domain/keywords.sources.us.rows` is not a profile field",
    );
    refused("endpoints: [1]", "`endpoints` is not a mapping");
}

fn workflow(steps: Vec<crate::workflow::Step>) -> Workflow {
    Workflow {
        name: "W".into(),
        path: "w.yaml".into(),
        account: None,
        max_units: None,
        reserve: None,
        rps: None,
        schedule: None,
        steps,
    }
}

fn row_step(
    endpoint: &str,
    rows: u64,
    expected: Option<u64>,
    sources: &[&str],
) -> crate::workflow::Step {
    let pricing = Pricing::embedded().expect("pricing");
    crate::workflow::Step {
        name: endpoint.into(),
        endpoint: pricing.endpoint(endpoint).expect("endpoint").clone(),
        targets: 2,
        batch: 1,
        rows: Some(rows),
        expected_rows: expected,
        limit: Some(rows.min(1000)),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        calls: None,
        repeat: 1,
        dates: None,
        granularity: crate::pricing::Granularity::ByDay,
        line: None,
    }
}

#[test]
fn a_profile_sets_the_expected_band_and_never_the_worst_case() {
    let profile = parse(Path::new("p.yaml"), PROFILE).expect("profile");
    let pricing = Pricing::embedded().expect("pricing");
    let mut summary = row_step("backlinks/all", 1, None, &[]);
    summary.endpoint = pricing
        .endpoint("backlinks/summary")
        .expect("summary")
        .clone();
    summary.rows = None;
    let mut keywords = row_step("domain/keywords", 1000, None, &["us"]);
    keywords.limit = Some(100);
    let mut workflows = vec![workflow(vec![
        row_step("backlinks/all", 500, None, &[]),    // p90 90
        row_step("backlinks/all", 50, None, &[]),     // p90 90, capped at rows 50
        row_step("backlinks/all", 500, Some(7), &[]), // states its own: untouched
        keywords,                                     // p90 400
        row_step("domain/keywords", 1000, None, &["us", "de"]), // de unobserved: untouched
        summary,                                      // a target endpoint: no rows
    ])];
    let before = crate::estimate::workflow(&workflows[0], 10).expect("estimate");
    let app = apply(&mut workflows, &profile);
    let expected: Vec<Option<u64>> = workflows[0].steps.iter().map(|s| s.expected_rows).collect();
    assert_eq!(
        expected,
        [Some(90), Some(50), Some(7), Some(400), None, None]
    );
    assert_eq!(
        app.applied
            .iter()
            .map(|a| (a.step, a.expected_rows, a.p90, a.observations))
            .collect::<Vec<_>>(),
        [(0, 90, 90, 10), (1, 50, 90, 10), (3, 400, 400, 4)]
    );
    assert_eq!(
        app.not_applied,
        [NotApplied {
            workflow: 0,
            step: 4,
            endpoint: "domain/keywords".into(),
            missing: vec!["de".into()]
        }]
    );
    let mut after = vec![crate::estimate::workflow(&workflows[0], 10).expect("estimate")];
    mark(&mut after, &app.applied);
    let after = &after[0];
    // The worst case is untouched, step by step.
    for (b, a) in before.steps.iter().zip(&after.steps) {
        assert_eq!((b.units, b.requests), (a.units, a.requests), "{}", a.name);
    }
    // Step 1: 2 targets × 90 rows × 1 unit = 180 expected (was 2 × 500 = 1,000).
    assert_eq!(
        (
            before.steps[0].units_expected,
            after.steps[0].units_expected
        ),
        (1000, 180)
    );
    // Step 4, 100 rows a page: 2 targets × ceil(400 / 100) = 4 pages × 100 units = 800
    // expected; the worst case stays 2 × 10 pages × 100 = 2,000.
    assert_eq!(after.steps[3].units, 2000);
    assert_eq!(
        (
            before.steps[3].units_expected,
            after.steps[3].units_expected
        ),
        (2000, 800)
    );
    let marked: Vec<bool> = after
        .steps
        .iter()
        .map(|s| s.expected_from.is_some())
        .collect();
    assert_eq!(marked, [true, true, false, true, false, false]);
}

#[test]
fn counts_beyond_the_largest_are_an_error() {
    let mut h = Histogram::default();
    h.add_count(5, u64::MAX).expect("first");
    let e = h.add(5).unwrap_err().to_string();
    assert!(
        e.starts_with("the usage profile's observation counts overflow the largest count"),
        "{e}"
    );
}
