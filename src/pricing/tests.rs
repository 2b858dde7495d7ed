use super::*;

fn embedded() -> Pricing {
    Pricing::embedded().expect("embedded pricing is valid")
}

#[track_caller]
fn costs(pricing: &Pricing, endpoint: &str, units: u64, per: Per) {
    let e = pricing
        .endpoint(endpoint)
        .unwrap_or_else(|| panic!("{endpoint} missing"));
    assert_eq!((e.units, e.per), (units, per), "{endpoint}");
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
        costs(&p, endpoint, units, Per::Record);
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
        costs(&p, endpoint, 100, Per::Request);
    }
    // 25 per-record rows + 9 per-request rows, nothing else.
    assert_eq!(p.endpoints.len(), 34);
    assert_eq!(p.requests_per_second, 10);
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
    assert!(!p.endpoint("backlinks/summary").unwrap().source);
}

#[test]
fn embedded_sources_are_the_vendor_list() {
    let p = embedded();
    // 209 ISO codes + `ww` in the vendor table, plus the `worldwide` alias.
    assert_eq!(p.sources.len(), 211);
    for code in ["us", "gb", "de", "ww", "worldwide", "zw", "ae"] {
        assert!(p.knows_source(code), "{code}");
    }
    assert!(p.knows_source("US"));
    assert!(!p.knows_source("uk"), "the UK's code is gb");
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
  backlinks/summary: {units: 100, per: record, record: target, max_batch: 100, paged: false, source: false}
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
        &MINIMAL.replace("source: false}", "source: false, colour: red}"),
        &["unknown field `colour`"],
    );
    rejected(
        &MINIMAL.replace("effective: 2026-01-01", "effective: soon"),
        &["field `effective`", "not a date"],
    );
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
    let e = Pricing::load(Some(Path::new("/no/such/pricing.yaml")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot read pricing file /no/such/pricing.yaml: no such file"
    );
}
