use std::path::PathBuf;

use super::*;

fn embedded() -> Pricing {
    Pricing::embedded().expect("embedded pricing is valid")
}

#[track_caller]
fn costs(pricing: &Pricing, endpoint: &str, units: u64, per: Per) {
    let e = pricing
        .endpoint(endpoint)
        .unwrap_or_else(|| panic!("{endpoint} missing"));
    assert_eq!((e.units, e.per), (Some(units), per), "{endpoint}");
}

/// The table's figure for `endpoint`: its price with table evidence, or a dispute with table
/// evidence whose figure the catalogue exceeds (the larger forecast wins).
#[track_caller]
fn table_figure(pricing: &Pricing, endpoint: &str, units: u64, per: Per) {
    let e = pricing
        .endpoint(endpoint)
        .unwrap_or_else(|| panic!("{endpoint} missing"));
    assert_eq!(e.per, per, "{endpoint}");
    if e.evidence == Evidence::Table {
        assert_eq!(e.units, Some(units), "{endpoint}");
        return;
    }
    let recorded = e
        .disputes
        .iter()
        .any(|d| d.evidence == Evidence::Table && d.figure.starts_with(&format!("{units} unit")));
    assert!(recorded, "{endpoint}: the table's {units} is not recorded");
    assert!(
        e.units.is_some_and(|u| u > units),
        "{endpoint}: forecasts less than the table"
    );
}

/// Every row of the vendor doc's two unit tables, copied by hand.
#[test]
fn embedded_matches_the_vendor_tables() {
    let p = embedded();
    let per_record = [
        ("backlinks/export", 1000),
        ("backlinks/export/status", 0),
        ("backlinks/anchors", 1),
        ("backlinks/all", 1),
        ("backlinks/count", 100),
        ("backlinks/authority/domain", 1),
        ("backlinks/authority/domain/distribution", 1),
        ("backlinks/authority", 1),
        ("backlinks/referring-ips", 1),
        ("backlinks/referring-ips/count", 100),
        ("backlinks/metrics", 100),
        ("backlinks/history", 1),
        ("backlinks/history/count", 100),
        ("backlinks/history/cumulative", 100),
        ("backlinks/refdomains/history", 1),
        ("backlinks/refdomains/history/count", 100),
        ("backlinks/authority/page", 1),
        ("backlinks/authority/page/history", 1),
        ("backlinks/indexed-pages", 1),
        ("backlinks/raw", 1),
        ("backlinks/refdomains", 1),
        ("backlinks/refdomains/count", 100),
        ("backlinks/referring-subnets/count", 100),
        ("backlinks/summary", 100),
        ("account/subscription", 0),
    ];
    for (endpoint, units) in per_record {
        table_figure(&p, endpoint, units, Per::Record);
    }
    let per_request = [
        "domain/overview",
        "domain/overview/all",
        "domain/overview/db",
        "domain/overview/history",
        "domain/keywords",
        "domain/ads",
        "domain/competitors",
        "domain/keywords/comparison",
        "keywords/export",
    ];
    for endpoint in per_request {
        table_figure(&p, endpoint, 100, Per::Request);
    }
    assert_eq!(p.requests_per_second, 10);
}

/// The disputed and added entries, figure by figure (the facts file's "More facts" table).
#[test]
fn embedded_more_facts() {
    let p = embedded();
    // measured 15 per target beats the table's 1; the table's figure is recorded.
    costs(&p, "backlinks/authority", 15, Per::Record);
    assert_eq!(
        p.endpoint("backlinks/authority").unwrap().evidence,
        Evidence::Measured
    );
    costs(&p, "backlinks/authority/domain", 10, Per::Record);
    costs(&p, "backlinks/authority/page", 5, Per::Record);
    let export = p.endpoint("keywords/export").unwrap();
    assert_eq!((export.default_batch, export.max_batch), (5000, 10000));
    assert_eq!(
        export.targets_from,
        vec!["keywords[]".to_string(), "keywords".to_string()]
    );
    assert!(export.disputed());
    let history = p.endpoint("backlinks/authority/page/history").unwrap();
    assert_eq!(
        (history.record, history.limit, history.default_days),
        (RecordKind::Period, None, Some(365))
    );
    for name in [
        "backlinks/history/count",
        "backlinks/history/cumulative",
        "backlinks/refdomains/history/count",
    ] {
        let e = p.endpoint(name).unwrap();
        assert_eq!(
            (e.record, e.default_days),
            (RecordKind::Day, Some(2)),
            "{name}"
        );
        assert!(e.disputed(), "{name}: the per-target reading is recorded");
    }
    assert!(!p.endpoint("domain/overview").unwrap().source);
    costs(&p, "domain/overview/worldwide", 100, Per::Request);
    assert!(!p.endpoint("domain/overview/worldwide").unwrap().source);
    costs(&p, "domain/competitors", 100, Per::Request);
    costs(&p, "serp/classic/tasks", 10, Per::Record);
    assert_eq!(p.endpoint("serp/classic/tasks").unwrap().max_batch, 1000);
    costs(&p, "GET serp/classic/tasks", 0, Per::Request);
    assert_eq!(
        p.endpoint_for("get", "/v1/serp/classic/tasks")
            .unwrap()
            .name,
        "GET serp/classic/tasks"
    );
    assert_eq!(
        p.endpoint_for("POST", "serp/classic/tasks").unwrap().name,
        "serp/classic/tasks"
    );
    for (name, units) in [
        ("keywords/similar", 10),
        ("keywords/related", 10),
        ("keywords/questions", 10),
        ("keywords/longtail", 1),
    ] {
        costs(&p, name, units, Per::Record);
        assert_eq!(
            p.endpoint(name).unwrap().evidence,
            Evidence::Assumed,
            "{name}"
        );
    }
    costs(&p, "site-audit/audits/standard", 2, Per::Record);
    costs(&p, "site-audit/audits/advanced", 20, Per::Record);
    assert_eq!(
        p.endpoint("site-audit/audits/advanced").unwrap().rows_from,
        "settings.max_pages"
    );
    for name in [
        "domain/pages",
        "domain/subdomains",
        "backlinks/authority/domain/history",
        "ai-search/overview/leaderboard",
        "ai-search/prompts-by-brand",
    ] {
        assert_eq!(p.endpoint(name).unwrap().units, None, "{name} is unknown");
    }
    costs(&p, "account/credits", 0, Per::Request);
    // every entry says where its price comes from.
    for e in p.endpoints.values() {
        assert!(!e.reference.trim().is_empty(), "{} has no ref", e.name);
    }
}

#[test]
fn embedded_catalogue_facts() {
    let p = embedded();
    let summary = p.endpoint("/v1/backlinks/summary").unwrap();
    assert_eq!(
        (summary.record, summary.max_batch),
        (RecordKind::Target, 100)
    );
    let all = p.endpoint("backlinks/all").unwrap();
    assert_eq!(
        all.limit,
        Some(RowLimit {
            default: 100,
            max: 10000
        })
    );
    assert!(!all.paged);
    let raw = p.endpoint("backlinks/raw").unwrap();
    assert_eq!(
        raw.limit,
        Some(RowLimit {
            default: 10000,
            max: 100000
        })
    );
    assert!(raw.paged);
    let keywords = p.endpoint("domain/keywords").unwrap();
    assert_eq!(
        keywords.limit,
        Some(RowLimit {
            default: 100,
            max: 1000
        })
    );
    assert!(keywords.paged && keywords.source);
    assert_eq!(p.endpoint("keywords/export").unwrap().max_batch, 10000);
    assert_eq!(p.endpoint("keywords/export").unwrap().default_batch, 5000);
    assert!(!p.endpoint("backlinks/summary").unwrap().source);
}

#[test]
fn embedded_sources_are_the_vendor_list() {
    let p = embedded();
    // 209 country codes (the UK as `uk`) + `ww`; `gb` and `worldwide` are other spellings.
    assert_eq!(p.sources.len(), 210);
    for code in ["us", "uk", "gb", "de", "ww", "worldwide", "zw", "ae"] {
        assert!(p.knows_source(code), "{code}");
    }
    assert!(p.knows_source("US"));
    assert_eq!(p.source_code("GB").as_deref(), Some("uk"));
    assert_eq!(p.source_code("worldwide").as_deref(), Some("ww"));
    assert_eq!(p.source_code("uk").as_deref(), Some("uk"));
    assert_eq!(p.source_code("xx"), None);
}

#[track_caller]
fn tier(p: &Pricing, name: &str, credits: u64, rates: [&str; 4]) {
    let t = p
        .overage
        .tier(name)
        .unwrap_or_else(|| panic!("tier {name}"));
    let got = [t.plan, t.plan_yearly, t.addon, t.addon_yearly].map(|d| d.to_string());
    assert_eq!(
        (t.credits, got),
        (credits, rates.map(String::from)),
        "tier {name}"
    );
}

/// The vendor doc's overage table, copied by hand.
#[test]
fn embedded_overage_tiers() {
    let p = embedded();
    tier(&p, "1M", 1_000_000, ["99.99", "79.99", "49.99", "39.99"]);
    tier(&p, "2M", 2_000_000, ["60.00", "48.00", "45.00", "36.00"]);
    tier(&p, "3M", 3_000_000, ["46.67", "37.33", "40.00", "32.00"]);
    tier(&p, "5M", 5_000_000, ["30.00", "24.00", "30.00", "24.00"]);
    tier(&p, "10M", 10_000_000, ["20.00", "16.00", "20.00", "16.00"]);
    tier(&p, "20M", 20_000_000, ["17.45", "13.96", "17.45", "13.96"]);
    tier(&p, "30M", 30_000_000, ["14.13", "11.31", "14.13", "11.31"]);
    tier(&p, "50M", 50_000_000, ["9.98", "7.98", "9.98", "7.98"]);
    tier(&p, "100M", 100_000_000, ["8.99", "7.19", "8.99", "7.19"]);
    tier(&p, "200M", 200_000_000, ["6.00", "4.80", "6.00", "4.80"]);
    tier(&p, "300M", 300_000_000, ["5.00", "4.00", "5.00", "4.00"]);
    tier(&p, "500M", 500_000_000, ["4.20", "3.36", "4.20", "3.36"]);
    assert_eq!(p.overage.tiers.len(), 12);
    assert!(
        p.overage.tier("enterprise").is_none(),
        "enterprise is custom, not a table row"
    );
    assert_eq!(p.overage.per_units, 1_000_000);
}

const MINIMAL: &str = r#"
name: test
effective: 2026-01-01
source: hand-written
rate_limit: {requests_per_second: 10}
endpoints:
  backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, evidence: table, ref: "vendor table"}
sources: [us]
overage:
  currency: USD
  per_units: 1000000
  tiers:
    - {tier: 1M, credits: 1000000, plan: "99.99", plan_yearly: "79.99", addon: "49.99", addon_yearly: "39.99"}
"#;

#[track_caller]
fn rejected(text: &str, phrases: &[&str]) {
    let e = Pricing::parse(text, "custom.yaml").unwrap_err().to_string();
    for phrase in phrases {
        assert!(e.contains(phrase), "missing {phrase:?} in:\n{e}");
    }
    assert!(e.contains("custom.yaml"), "names the file:\n{e}");
    if !e.contains("invalid YAML") {
        assert!(
            e.starts_with("custom.yaml: invalid pricing file:\n  - "),
            "{e}"
        );
    }
}

#[test]
fn minimal_file_is_accepted() {
    let p = Pricing::parse(MINIMAL, "custom.yaml").unwrap();
    assert_eq!(p.endpoints.len(), 1);
    assert_eq!(p.origin, "custom.yaml");
}

#[test]
fn bad_pricing_files_name_endpoint_and_field() {
    rejected(
        &MINIMAL.replace("units: 100, ", ""),
        &["endpoint `backlinks/summary`", "field `units`: missing"],
    );
    rejected(
        &MINIMAL.replace("per: record", "per: call"),
        &[
            "endpoint `backlinks/summary`",
            "field `per`",
            "\"call\"",
            "record` or `request",
        ],
    );
    rejected(
        &MINIMAL.replace("units: 100", "units: -5"),
        &["field `units`", "negative"],
    );
    rejected(
        &MINIMAL.replace("plan: \"99.99\"", "plan: \"-1\""),
        &["tier `1M`", "field `plan`", "negative"],
    );
    rejected(
        &MINIMAL.replace("plan: \"99.99\"", "plan: cheap"),
        &["tier `1M`", "field `plan`", "not a number"],
    );
    rejected(
        &MINIMAL.replace("record: target", "record: row"),
        &["endpoint `backlinks/summary`", "field `limit`: missing"],
    );
    rejected(
        &MINIMAL.replace("source: false,", "source: false, colour: red,"),
        &["unknown field `colour`"],
    );
    rejected(
        &MINIMAL.replace("effective: 2026-01-01", "effective: soon"),
        &["field `effective`", "not a date"],
    );
    rejected(
        &MINIMAL.replace("evidence: table, ", ""),
        &[
            "endpoint `backlinks/summary`",
            "field `evidence`: missing; one of table, docs, measured or assumed",
        ],
    );
    rejected(
        &MINIMAL.replace("evidence: table", "evidence: rumour"),
        &["field `evidence`: \"rumour\" is not one of table, docs, measured or assumed"],
    );
    rejected(
        &MINIMAL.replace(", ref: \"vendor table\"", ""),
        &["field `ref`: missing; say where the figure comes from"],
    );
    rejected(
        &MINIMAL.replace("units: 100", "units: unknwon"),
        &["field `units`"],
    );
    rejected(
        &MINIMAL.replace("max_batch: 100, ", "max_batch: 100, default_batch: 200, "),
        &["field `default_batch`: 200 must be between 1 and max_batch 100"],
    );
    rejected(
        &MINIMAL.replace(
            "record: target, max_batch: 100",
            "record: period, max_batch: 1",
        ),
        &["field `default_days`: missing"],
    );
    rejected(
        &MINIMAL.replace(
            "record: target",
            "record: row, limit: {default: 100, max: 1000}",
        ),
        &["an endpoint billed by rows, periods or days takes one target per request"],
    );
    rejected(
        &MINIMAL.replace(
            "source: false,",
            "source: false, disputes: [{figure: less}],",
        ),
        &[
            "disputes #1: field `evidence`: missing",
            "disputes #1: field `ref`: missing",
        ],
    );
    rejected(
        &MINIMAL.replace("sources: [us]", "sources: [us]\nsource_aliases: {gb: uk}"),
        &["`gb` stands for `uk`, which is not in `sources`"],
    );
}

#[test]
fn unknown_units_and_method_keys_are_accepted() {
    let text = MINIMAL.replace(
        "sources: [us]",
        "  GET backlinks/summary: {units: 0, per: request, record: target, max_batch: 1, paged: false, source: false, evidence: assumed, ref: polls}\n  domain/pages: {units: unknown, per: request, record: target, max_batch: 1, paged: false, source: true, evidence: assumed, ref: none}\nsources: [us]",
    );
    let p = Pricing::parse(&text, "custom.yaml").unwrap();
    assert_eq!(p.endpoint("domain/pages").unwrap().units, None);
    assert_eq!(
        p.endpoint_for("GET", "/v1/backlinks/summary")
            .unwrap()
            .units,
        Some(0)
    );
    assert_eq!(
        p.endpoint_for("POST", "/v1/backlinks/summary")
            .unwrap()
            .units,
        Some(100)
    );
    assert!(p.endpoint("domain/pages").unwrap().uncertain());
}

/// Invariant: one pricing file never names an endpoint twice (an alias silently overriding an
/// entry priced 250 targets at 250 units instead of 25,000).
#[test]
fn aliases_and_duplicate_tiers_are_errors() {
    let text = MINIMAL.replace(
        "sources: [us]",
        "  /v1/backlinks/summary/: {units: 1, per: request, record: target, max_batch: 100, paged: false, source: false, evidence: assumed, ref: x}\nsources: [us]",
    );
    rejected(
        &text,
        &["`backlinks/summary` and `/v1/backlinks/summary/` name the same endpoint (backlinks/summary); keep one of them"],
    );
    let text = MINIMAL.replace(
        "  enterprise",
        "",
    ) + "    - {tier: 1m, credits: 1, plan: \"1\", plan_yearly: \"1\", addon: \"1\", addon_yearly: \"1\"}\n";
    rejected(&text, &["tier `1m` is listed more than once; keep one"]);
}

#[test]
fn several_problems_are_reported_together() {
    let text = MINIMAL
        .replace("per: record", "per: call")
        .replace("plan: \"99.99\"", "plan: x");
    rejected(&text, &["field `per`", "field `plan`"]);
}

#[test]
fn pricing_syntax_error_has_a_location() {
    rejected("name: [unclosed", &["invalid YAML at line 2, column 1"]);
}

#[test]
fn missing_pricing_file() {
    let e = Pricing::load(Some(Path::new("/no/such/pricing.yaml")), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot read the pricing file /no/such/pricing.yaml: no such file"
    );
    let e = Pricing::load(None, &[PathBuf::from("/no/such/overlay.yaml")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot read the pricing overlay /no/such/overlay.yaml: no such file"
    );
}

/// Writes `text` to a temporary overlay file and loads the embedded pricing with it.
#[track_caller]
fn with_overlay(text: &str) -> Result<Pricing, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlay.yaml");
    std::fs::write(&path, text).unwrap();
    Pricing::load(None, &[path]).map_err(|e| e.to_string())
}

#[test]
fn an_overlay_adds_and_replaces_single_entries() {
    // a contract price: units and their evidence replace the claim; the rest is kept.
    let p = with_overlay(
        "endpoints:\n  /v1/backlinks/summary:\n    units: 80\n    evidence: docs\n    ref: our contract\n",
    )
    .unwrap();
    let summary = p.endpoint("backlinks/summary").unwrap();
    assert_eq!((summary.units, summary.max_batch), (Some(80), 100));
    assert_eq!(
        (summary.evidence, summary.reference.as_str()),
        (Evidence::Docs, "our contract")
    );
    assert!(p.origin.contains("+ overlay"), "{}", p.origin);
    // the disputes of a replaced price go with it.
    let p = with_overlay(
        "endpoints:\n  backlinks/authority: {units: 1, evidence: measured, ref: our own measurement}\n",
    )
    .unwrap();
    assert!(!p.endpoint("backlinks/authority").unwrap().disputed());
    // a field other than the price keeps the evidence.
    let p = with_overlay("endpoints:\n  keywords/export: {default_batch: 10000}\n").unwrap();
    let export = p.endpoint("keywords/export").unwrap();
    assert_eq!(
        (export.default_batch, export.evidence),
        (10000, Evidence::Table)
    );
    // a newly published endpoint.
    let p = with_overlay(
        "endpoints:\n  domain/pages: {units: 100, evidence: docs, ref: pricing page}\n  keywords/new:\n    units: 5\n    per: request\n    record: target\n    max_batch: 1\n    paged: false\n    source: true\n    evidence: docs\n    ref: release notes\n",
    )
    .unwrap();
    assert_eq!(p.endpoint("domain/pages").unwrap().units, Some(100));
    assert_eq!(p.endpoint("keywords/new").unwrap().units, Some(5));
    // a tier.
    let p = with_overlay("overage:\n  tiers:\n    - {tier: 1M, plan: \"50.00\"}\n").unwrap();
    assert_eq!(p.overage.tier("1M").unwrap().plan.to_string(), "50.00");
    assert_eq!(p.overage.tier("1M").unwrap().addon.to_string(), "49.99");
}

#[test]
fn bad_overlays_name_the_overlay() {
    let e = with_overlay("endpoints:\n  backlinks/summary: {units: 80}\n").unwrap_err();
    assert!(
        e.contains("endpoint `backlinks/summary` (from overlay "),
        "{e}"
    );
    assert!(e.contains("field `evidence`: missing"), "{e}");
    let e = with_overlay(
        "endpoints:\n  backlinks/summary: {units: 80, evidence: docs, ref: a}\n  /v1/backlinks/summary: {units: 90, evidence: docs, ref: b}\n",
    )
    .unwrap_err();
    assert!(e.contains("overlay.yaml: invalid pricing file"), "{e}");
    assert!(e.contains("name the same endpoint"), "{e}");
    let e = with_overlay(
        "overage:\n  tiers:\n    - {tier: 1M, plan: \"1\"}\n    - {tier: 1M, plan: \"2\"}\n",
    )
    .unwrap_err();
    assert!(e.contains("tier `1M` is listed more than once"), "{e}");
    let e = with_overlay("name: mine\n").unwrap_err();
    assert!(e.contains("unknown field `name`"), "{e}");
    let e = with_overlay("endpoints:\n  keywords/new: {units: 5, evidence: docs, ref: x}\n")
        .unwrap_err();
    assert!(e.contains("endpoint `keywords/new` (from overlay"), "{e}");
    assert!(e.contains("field `per`: missing"), "{e}");
}

/// The remaining catalogue checks, one message each (a key phrase; the file is named).
#[test]
fn catalogue_field_checks() {
    let entry = "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, evidence: table, ref: \"vendor table\"}";
    #[track_caller]
    fn with(entry: &str, replacement: &str, phrase: &str) {
        rejected(&MINIMAL.replace(entry, replacement), &[phrase]);
    }
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, evidence: table, ref: x, limit: {default: 1, max: 2}}",
        "field `limit`: only row endpoints (`record: row`) ask for rows; remove it",
    );
    with(
        entry,
        "backlinks/summary: {units: 1, per: record, record: period, max_batch: 1, paged: true, source: false, default_days: 2, evidence: table, ref: x}",
        "field `paged`: a period or day endpoint returns its whole date range at once; set paged to false",
    );
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, default_days: 2, evidence: table, ref: x}",
        "field `default_days`: only period and day endpoints take a date range; remove it",
    );
    with(
        entry,
        "backlinks/summary: {units: 1, per: record, record: day, max_batch: 1, paged: false, source: false, default_days: 0, evidence: table, ref: x}",
        "field `default_days`: must be at least 1",
    );
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, targets_from: target, evidence: table, ref: x}",
        "field `targets_from`: must be a list of parameter names",
    );
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, rows_from: limit, evidence: table, ref: x}",
        "field `rows_from`: only row endpoints ask for rows; remove it",
    );
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: moon, max_batch: 100, paged: false, source: false, evidence: table, ref: x}",
        "field `record`: unknown value \"moon\"; use `target`, `row`, `period` or `day`",
    );
    with(
        entry,
        "backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false, evidence: table, ref: x, disputes: nope}",
        "field `disputes`: must be a list of `{figure, evidence, ref}`",
    );
    with(
        "sources: [us]",
        "sources: [us, gb]\nsource_aliases: {gb: us}",
        "`gb` is also in `sources`; a code is either a database or another name for one",
    );
    with(
        "sources: [us]",
        "sources: [us]\nsource_aliases: [gb]",
        "field `source_aliases`: must be a mapping such as `{gb: uk}`",
    );
}

#[test]
fn overlay_shape_checks() {
    for (text, phrase) in [
        (
            "- a\n",
            "an overlay is a mapping with `endpoints:` and/or `overage: {tiers: [...]}`",
        ),
        (
            "endpoints: [a]\n",
            "field `endpoints`: must be a mapping of endpoint names to fields",
        ),
        (
            "endpoints:\n  backlinks/summary: 5\n",
            "endpoint `backlinks/summary`: must be a mapping of fields",
        ),
        (
            "overage: {tiers: [{plan: \"1\"}]}\n",
            "overage tier #1: needs `tier:`",
        ),
        (
            "overage: {tiers: 5}\n",
            "field `overage.tiers`: must be a list of tiers",
        ),
        (
            "overage: 5\n",
            "field `overage`: must be a mapping with `tiers`",
        ),
        ("endpoints: {a: [unclosed\n", "invalid YAML"),
    ] {
        let e = with_overlay(text).unwrap_err();
        assert!(e.contains(phrase), "{text:?}: {e}");
        assert!(e.contains("overlay.yaml"), "names the overlay: {e}");
    }
}

/// `methods`: parsed in any case into the canonical order, GET and POST by default, the one
/// method of a method-named entry; wrong lists are refused naming the entry and the field.
#[test]
fn methods_are_catalogue_data() {
    let text = MINIMAL.replace(
        "sources: [us]",
        "  site-audit/audits: {methods: [delete, GET, Patch], units: 0, per: request, record: target, max_batch: 1, paged: false, source: false, evidence: assumed, ref: none}\n  GET serp/classic/tasks: {units: 0, per: request, record: target, max_batch: 1, paged: false, source: false, evidence: docs, ref: polls}\n  serp/classic/tasks: {methods: [POST], units: 10, per: record, record: target, max_batch: 1000, paged: false, source: false, evidence: docs, ref: tasks}\nsources: [us]",
    );
    let p = Pricing::parse(&text, "custom.yaml").unwrap();
    assert_eq!(
        p.endpoint("site-audit/audits").unwrap().methods,
        ["GET", "PATCH", "DELETE"]
    );
    assert_eq!(
        p.endpoint("backlinks/summary").unwrap().methods,
        ["GET", "POST"]
    );
    assert_eq!(
        p.endpoint("GET serp/classic/tasks").unwrap().methods,
        ["GET"]
    );
    assert_eq!(p.methods_of("/v1/serp/classic/tasks/"), ["GET", "POST"]);
    assert_eq!(
        p.methods_of("site-audit/audits"),
        ["GET", "PATCH", "DELETE"]
    );
    assert!(p.methods_of("backlinks/nothing").is_empty());
    assert!(p.endpoint_for("DELETE", "site-audit/audits").is_some());
    assert!(p.endpoint_for("POST", "site-audit/audits").is_none());
    assert_eq!(
        p.endpoint_for("get", "serp/classic/tasks").unwrap().name,
        "GET serp/classic/tasks"
    );
    assert!(p.endpoint_for("PUT", "serp/classic/tasks").is_none());
    let with = |methods: &str| {
        MINIMAL.replace(
            "max_batch: 100,",
            &format!("max_batch: 100, methods: {methods},"),
        )
    };
    rejected(
        &with("[GET, FETCH]"),
        &[
            "endpoint `backlinks/summary`: field `methods`: \"FETCH\" is not an HTTP method",
            "GET, POST, PUT, PATCH or DELETE",
        ],
    );
    rejected(
        &with("[GET, get]"),
        &["field `methods`: GET is listed twice"],
    );
    rejected(
        &with("[]"),
        &["field `methods`: list HTTP methods such as [GET, POST]"],
    );
    rejected(&with("GET"), &["field `methods`: list HTTP methods"]);
    rejected(
        &MINIMAL.replace(
            "  backlinks/summary: {",
            "  GET backlinks/summary: {methods: [GET, POST], ",
        ),
        &["endpoint `GET backlinks/summary`: field `methods`: an entry named `GET …` prices GET calls only"],
    );
}

/// Every method and path SE Ranking's official MCP server calls (tests/data/mcp-corpus.json,
/// registered tools and unregistered ones) is in the catalogue with that method.
#[test]
fn the_catalogue_covers_the_mcp_server() {
    let p = embedded();
    let corpus: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/mcp-corpus.json")).unwrap();
    let mut seen = 0;
    for list in ["requests", "unregistered"] {
        for r in corpus[list].as_array().unwrap() {
            let (method, path) = (r["method"].as_str().unwrap(), r["path"].as_str().unwrap());
            assert!(
                p.endpoint_for(method, path).is_some(),
                "{method} {path} ({}) is not in the catalogue",
                r["case"]
            );
            seen += 1;
        }
    }
    // 96 requests of the registered tools, 3 of unregistered ones.
    assert_eq!(seen, 99);
    // The free management calls: 0, and assumed where no source says so.
    for (name, evidence) in [
        ("GET serp/classic/tasks", Evidence::Docs),
        ("serp/classic/tasks/html", Evidence::Assumed),
        ("serp/classic/locations", Evidence::Assumed),
        ("site-audit/audits", Evidence::Assumed),
        ("site-audit/audits/report", Evidence::Assumed),
        ("site-audit/audits/status", Evidence::Assumed),
        ("site-audit/audits/pages", Evidence::Assumed),
        ("site-audit/audits/issue-pages", Evidence::Assumed),
        ("site-audit/audits/issues", Evidence::Assumed),
        ("site-audit/audits/links", Evidence::Assumed),
        ("site-audit/audits/history", Evidence::Assumed),
    ] {
        let e = p.endpoint(name).unwrap();
        assert_eq!((e.units, e.evidence), (Some(0), evidence), "{name}");
    }
    // "Costs 10 credits for the 1st call" (the server's own text), recorded with its file.
    let advanced = p.endpoint("serp/classic/tasks/results_advanced").unwrap();
    assert_eq!(
        (advanced.units, advanced.evidence),
        (Some(10), Evidence::Docs)
    );
    assert!(advanced
        .reference
        .contains("serp-get-task-advanced-results.ts"));
    assert!(advanced
        .reference
        .contains("Costs 10 credits for the 1st call."));
}
