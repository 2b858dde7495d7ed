//! The page by hand: its accessibility and self-containment rules, and the verdict it leads
//! with. (Hostile names: `report/tests.rs`; the figures against the JSON: `tests/report.rs`.)

use std::path::{Path, PathBuf};

use super::*;
use crate::estimate::{self, Assessment, Balance, Totals};
use crate::finance::{parse_datetime, project, Projection, ScheduledWorkflow};
use crate::pricing::Pricing;

/// The docs example (26,000 units in 6 requests) against `units_left`, as `plan` computes it.
struct Planned {
    pricing: Pricing,
    workflows: Vec<WorkflowEstimate>,
    total: Totals,
    assessment: Assessment,
}

fn planned(units_left: Option<u64>) -> Planned {
    let pricing = Pricing::embedded().expect("embedded pricing");
    let text = include_str!("../../../workflows/docs-example.yaml");
    let loaded =
        crate::workflow::parse(text, Path::new("docs-example.yaml"), &pricing).expect("workflow");
    let workflows =
        vec![estimate::workflow(&loaded.workflow, pricing.requests_per_second).expect("estimate")];
    let total = estimate::totals(&workflows).expect("totals");
    let assessment = estimate::assess(
        &[loaded.workflow],
        &workflows,
        &total,
        units_left.map(Balance::from_flag),
        None,
        &pricing,
    );
    Planned {
        pricing,
        workflows,
        total,
        assessment,
    }
}

impl Planned {
    fn report(&self) -> PlanReport<'_> {
        PlanReport {
            pricing: &self.pricing,
            workflows: &self.workflows,
            total: &self.total,
            assessment: &self.assessment,
            offline: true,
            strict_failed: false,
        }
    }
}

/// 26,000 units a day from 2026-11-26 to 2026-11-29: 3 days.
fn projection(spendable: Option<u64>) -> Projection {
    project(
        &[ScheduledWorkflow {
            run: None,
            name: "Docs example".into(),
            schedule: Some(crate::workflow::Schedule::Daily),
            units_per_run: 26_000,
        }],
        parse_datetime("2026-11-26").expect("now"),
        parse_datetime("2026-11-29").expect("end"),
        spendable,
    )
    .expect("projection")
}

fn render(plan: &PlanReport, forecast: Option<&ForecastReport>) -> String {
    let page = HtmlReport {
        plan,
        forecast,
        tiers: None,
        account: None,
        reconciliation: None,
        generated: parse_datetime("2026-11-26").expect("now"),
    };
    let mut out = Vec::new();
    html_report(&mut out, &page).expect("render");
    String::from_utf8(out).expect("UTF-8")
}

fn forecast_view<'a>(
    projection: &'a Projection,
    balance: Option<&'a Balance>,
    paths: &'a [PathBuf],
) -> ForecastReport<'a> {
    ForecastReport {
        projection,
        paths,
        balance,
        period_end_source: BalanceSource::Flag,
        cost: None,
        overage_off: true,
        pools: None,
        notes: &[],
        offline: true,
    }
}

fn document(page: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, options)
        .unwrap_or_else(|e| panic!("not well-formed: {e}\n{page}"))
}

fn text_of(node: roxmltree::Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

#[test]
fn every_table_has_a_caption_and_headers_and_the_chart_a_text_alternative() {
    let p = planned(Some(60_000));
    let projection = projection(Some(60_000));
    let balance = Balance::from_flag(60_000);
    let paths = vec![PathBuf::from("docs-example.yaml")];
    let forecast = forecast_view(&projection, Some(&balance), &paths);
    let page = render(&p.report(), Some(&forecast));
    let doc = document(&page);
    let root = doc.root_element();
    assert_eq!(root.attribute("lang"), Some("en"));
    let tables: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("table"))
        .collect();
    // balance, steps, forecast, burn-up figures, overage account (no account: absent)
    let ids: Vec<&str> = tables.iter().filter_map(|t| t.attribute("id")).collect();
    assert_eq!(
        ids,
        ["balance", "plan-steps-1", "forecast", "burnup-figures"]
    );
    for table in &tables {
        let caption = table.first_element_child().expect("a first child");
        assert!(
            caption.has_tag_name("caption"),
            "{:?}",
            table.attribute("id")
        );
        assert!(!text_of(caption).trim().is_empty());
        // Every header cell says what it heads; every row has a header.
        for th in table.descendants().filter(|n| n.has_tag_name("th")) {
            assert!(
                matches!(th.attribute("scope"), Some("col" | "row")),
                "a <th> without scope in {:?}",
                table.attribute("id")
            );
        }
        for row in table
            .descendants()
            .filter(|n| n.has_tag_name("tr"))
            .filter(|r| r.parent().is_some_and(|p| !p.has_tag_name("thead")))
        {
            assert!(
                row.children().any(|c| c.has_tag_name("th")),
                "a row without a header in {:?}",
                table.attribute("id")
            );
        }
    }
    let svg = doc
        .descendants()
        .find(|n| n.has_tag_name("svg") && n.attribute("role") == Some("img"))
        .expect("the chart");
    assert_eq!(
        svg.attribute("aria-labelledby"),
        Some("burnup-title burnup-desc")
    );
    let title = svg.first_element_child().expect("title");
    assert!(title.has_tag_name("title"));
    assert_eq!(
        text_of(title),
        "Burn-up chart: projected units against the units left, 2026-11-26 to 2026-11-29 00:00"
    );
    // 26,000 a day, 60,000 left: days 1 and 2 are paid (52,000), the third run is not.
    let desc = svg
        .children()
        .find(|n| n.has_tag_name("desc"))
        .expect("desc");
    assert_eq!(
        text_of(desc),
        "Projected units rise from 0 at the start of 2026-11-26 to 78,000 by the end of 2026-11-28. The units left, 60,000, are used up on 2026-11-28. The period ends at 2026-11-29 00:00. The table after the chart lists the figures of every day."
    );
    // The chart's table: one row per day, cumulative units.
    let figures: Vec<String> = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("burnup-figures"))
        .expect("figures")
        .descendants()
        .filter(|n| n.has_tag_name("tbody"))
        .flat_map(|b| b.children().filter(|r| r.has_tag_name("tr")))
        .map(|r| text_of(r))
        .collect();
    assert_eq!(
        figures,
        [
            "12026-11-2626,000",
            "22026-11-2752,000",
            "32026-11-2878,000"
        ]
    );
    // The other decorations are hidden from assistive technology.
    for svg in doc
        .descendants()
        .filter(|n| n.has_tag_name("svg") && n.attribute("role").is_none())
    {
        assert_eq!(svg.attribute("aria-hidden"), Some("true"));
    }
}

#[test]
fn the_page_loads_nothing_and_runs_nothing() {
    let p = planned(None);
    let page = render(&p.report(), None);
    let doc = document(&page);
    let csp = doc
        .descendants()
        .find(|n| n.attribute("http-equiv") == Some("Content-Security-Policy"))
        .expect("a CSP");
    assert_eq!(
        csp.attribute("content"),
        Some("default-src 'none'; style-src 'unsafe-inline'")
    );
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed", "base", "form"].contains(&name),
            "<{name}>"
        );
        for attribute in node.attributes() {
            assert!(
                !attribute.name().starts_with("on"),
                "an event handler {}",
                attribute.name()
            );
            if ["href", "src", "xlink:href"].contains(&attribute.name()) {
                assert!(attribute.value().starts_with('#'), "{}", attribute.value());
            }
        }
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("url("));
}

/// (plan's balance, forecast's spendable) -> the headline and its class.
#[test]
fn the_headline_is_the_worst_verdict() {
    #[track_caller]
    fn headline(page: &str, class: &str, words: &str) {
        let doc = document(page);
        let div = doc
            .descendants()
            .find(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.starts_with("verdict "))
            })
            .expect("verdict");
        assert_eq!(
            div.attribute("class"),
            Some(format!("verdict {class}").as_str())
        );
        let p = div.first_element_child().expect("headline");
        assert_eq!(text_of(p), words);
    }
    let paths = vec![PathBuf::from("docs-example.yaml")];
    // No balance: unknown.
    let p = planned(None);
    headline(&render(&p.report(), None), "unknown", "Balance unknown");
    // 26,000 of 30,000: fits; three daily runs (78,000) against 30,000 run out.
    let p = planned(Some(30_000));
    headline(&render(&p.report(), None), "good", "Fits");
    let projection = projection(Some(30_000));
    let balance = Balance::from_flag(30_000);
    let forecast = forecast_view(&projection, Some(&balance), &paths);
    headline(
        &render(&p.report(), Some(&forecast)),
        "bad",
        "The balance runs out before the period ends",
    );
    // 26,000 above 20,000: over budget, whatever the forecast says.
    let p = planned(Some(20_000));
    headline(&render(&p.report(), Some(&forecast)), "bad", "Over budget");
    // 26,000 of 100,000, and 78,000 last: fits.
    let p = planned(Some(100_000));
    let projection = super::tests::projection(Some(100_000));
    let balance = Balance::from_flag(100_000);
    let forecast = forecast_view(&projection, Some(&balance), &paths);
    let page = render(&p.report(), Some(&forecast));
    headline(&page, "good", "Fits");
    assert!(page.contains("data-plan=\"fits\" data-forecast=\"lasts\""));
}

#[test]
fn bands_scale_to_the_largest_step() {
    // worst 200 of a largest 400: 1 + 98 × 0.5 = 50 px outlined; expected 100: 1 + 24.5 − 1 = 24.5.
    let bar = band(200, 100, 400);
    assert!(
        bar.contains("class=\"worst\" x=\"0.5\" y=\"0.5\" width=\"50.0\""),
        "{bar}"
    );
    assert!(
        bar.contains("class=\"expected\" x=\"1\" y=\"1\" width=\"24.5\""),
        "{bar}"
    );
    // Nothing planned: a bar of 1 px and no fill, never a division by zero.
    let bar = band(0, 0, 0);
    assert!(
        bar.contains("width=\"1.0\"") && bar.contains("width=\"0.0\""),
        "{bar}"
    );
    assert_eq!(unit_cost(1_000, Per::Record), "1,000 per record");
    assert_eq!(unit_cost(100, Per::Request), "100 per request");
}
