//! `budget report`: one self-contained HTML page for people who would rather not read a
//! terminal — the verdict, the balance, every workflow's steps with their worst and expected
//! bands, the billing-period forecast with its burn-up chart, overage at the account's tier and
//! at every tier, and (given journals) forecast against actual.
//!
//! What the page promises, and how:
//! - **The same numbers as the JSON.** It is rendered from the very structs `plan --format json`,
//!   `forecast --format json`, `overage --all-tiers` and `reconcile` render ([`PlanReport`],
//!   [`ForecastReport`], [`TierQuote`], [`Reconciliation`]), with the same wording functions
//!   for verdicts; it computes nothing of its own (integration tests compare every figure).
//! - **Self-contained.** No script, no font, no image, no style sheet from anywhere: the CSS is
//!   inline, the chart inline SVG, and a Content-Security-Policy of `default-src 'none'` makes
//!   the browser refuse any request and any script, should one ever slip in.
//! - **Safe names.** Every string a user controls (workflow, step and file names, endpoints,
//!   tags, notes that quote them) goes through [`safe::html`] right where it is written (the
//!   rule of `report/mod.rs`), so a name can never open an element, an attribute or a comment.
//! - **Readable by everyone.** Tables have captions and `<th scope>` headers; the chart is an
//!   image with a `<title>`, a `<desc>` and a table of the same figures; colours meet WCAG 2.2 AA
//!   in the light and the dark theme (`style.rs` tests every pair); verdicts are words, never
//!   colour alone; it prints in the light theme with tables kept whole.
//! - **Well-formed.** The markup is also well-formed XML (void elements closed, only numeric
//!   character references), so tests can read it with an XML parser.
//!
//! It writes to a `&mut dyn Write` like every report; the command writes the file.

mod burnup;
mod dashboard;
mod style;

pub use dashboard::{dashboard, dashboard_page};

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::NaiveDateTime;

use super::overage::dollars;
use super::{duration, safe, thousands, ForecastReport, PlanReport};
use crate::estimate::{BalanceSource, Verdict, WorkflowEstimate};
use crate::finance::{rfc3339, TierQuote};
use crate::pricing::Per;
use crate::reconcile::Reconciliation;
use crate::workflow::Account;

/// The across-tiers table: the forecast's overage units priced at every tier and rate.
pub struct TierTable<'a> {
    /// The overage units priced (`budget overage --all-tiers --units N`).
    pub units: u64,
    pub tiers: &'a [TierQuote],
    /// The account's tier, marked in the table.
    pub selected: Option<&'a str>,
}

/// The journals reconciled, and against which plan.
pub struct ReconcileView<'a> {
    pub result: &'a Reconciliation,
    /// A saved plan file (`--plan`); else the plan this page shows.
    pub saved_plan: bool,
}

/// Everything the page shows.
pub struct HtmlReport<'a> {
    pub plan: &'a PlanReport<'a>,
    /// `None` when the period end is unknown (no `--period-end`, no live expiry).
    pub forecast: Option<&'a ForecastReport<'a>>,
    pub tiers: Option<TierTable<'a>>,
    /// The account that prices overage (the first workflow naming one), overage on or off.
    pub account: Option<&'a Account>,
    pub reconciliation: Option<ReconcileView<'a>>,
    /// When the page was made (the forecast's `now`).
    pub generated: NaiveDateTime,
}

/// How the page sums up, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    OverBudget,
    StrictPrices,
    RunsOut,
    ForecastExceeded,
    Fits,
    Unknown,
}

impl Overall {
    fn of(report: &HtmlReport) -> Overall {
        let runs_out = report
            .forecast
            .is_some_and(|f| f.balance.is_some() && f.projection.runs_out());
        let exceeded = report
            .reconciliation
            .as_ref()
            .is_some_and(|r| !r.result.forecast_held());
        match report.plan.assessment.verdict {
            Verdict::OverBudget => Overall::OverBudget,
            _ if report.plan.strict_failed => Overall::StrictPrices,
            _ if runs_out => Overall::RunsOut,
            _ if exceeded => Overall::ForecastExceeded,
            Verdict::Fits => Overall::Fits,
            Verdict::Unknown => Overall::Unknown,
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Overall::OverBudget => ("bad", "Over budget"),
            Overall::StrictPrices => (
                "bad",
                "The plan fits only on prices that are assumed or disputed",
            ),
            Overall::RunsOut => ("bad", "The balance runs out before the period ends"),
            Overall::ForecastExceeded => ("bad", "A step charged more than its forecast"),
            Overall::Fits => ("good", "Fits"),
            Overall::Unknown => ("unknown", "Balance unknown"),
        }
    }
}

/// Writes the page.
pub fn html_report(out: &mut dyn Write, report: &HtmlReport) -> io::Result<()> {
    let mut page = String::with_capacity(64 * 1024);
    head(&mut page, report);
    verdict(&mut page, report);
    balance(&mut page, report);
    plan(&mut page, report.plan);
    forecast(&mut page, report);
    overage(&mut page, report);
    if let Some(r) = &report.reconciliation {
        reconcile(&mut page, r);
    }
    let _ = write!(
        page,
        "</main>\n<footer>\n<p>The figures are those of <code>budget plan --format json</code>, <code>budget forecast --format json</code>, <code>budget overage --all-tiers</code> and <code>budget reconcile</code> for the same inputs. Units are the API's; money is USD, exact until rounded half away from zero to cents.</p>\n<p>Made by budget {} at {}. This page loads nothing and runs no script.</p>\n</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        rfc3339(report.generated)
    );
    out.write_all(page.as_bytes())
}

/// What `budget report` says on stderr once the page is written: where, and the verdict.
pub fn html_written(path: &str, report: &HtmlReport) -> Vec<String> {
    let (_, word) = Overall::of(report).words();
    vec![format!("wrote {path}: {}", word.to_lowercase())]
}

/// User text for the page.
fn e(text: &str) -> String {
    safe::html(text)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn head(page: &mut String, report: &HtmlReport) {
    let names: Vec<String> = report.plan.workflows.iter().map(|w| e(&w.name)).collect();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<meta name=\"color-scheme\" content=\"light dark\"/>\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>\n<meta name=\"generator\" content=\"budget {}\"/>\n<title>Budget report: {}</title>\n<style>\n{}</style>\n</head>\n<body>\n<header>\n<h1>API unit budget</h1>\n<p class=\"meta\">{}: {} · pricing {} (effective {}) · made {}</p>\n</header>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        names.join(", "),
        style::css(),
        if names.len() == 1 { "Workflow" } else { "Workflows" },
        names.join(", "),
        e(&report.plan.pricing.name),
        report.plan.pricing.effective,
        rfc3339(report.generated),
    );
}

fn verdict(page: &mut String, report: &HtmlReport) {
    let overall = Overall::of(report);
    let (class, word) = overall.words();
    // As the plan's JSON says it: a fit `--strict-prices` refuses is `over_budget`.
    let plan_verdict = match report.plan.assessment.verdict {
        _ if report.plan.strict_failed => "over_budget",
        Verdict::Fits => "fits",
        Verdict::OverBudget => "over_budget",
        Verdict::Unknown => "unknown",
    };
    let forecast_verdict = report.forecast.map(super::forecast::verdict);
    let _ = write!(
        page,
        "<section id=\"verdict\" aria-labelledby=\"verdict-h\" data-plan=\"{plan_verdict}\" data-forecast=\"{}\">\n<h2 id=\"verdict-h\">Verdict</h2>\n<div class=\"verdict {class}\">\n<p>{word}</p>\n<ul>\n",
        forecast_verdict.unwrap_or("none")
    );
    let mut lines: Vec<(&str, String)> = super::plan::verdict_lines(report.plan)
        .into_iter()
        .map(|line| ("Plan", line))
        .collect();
    if report.plan.strict_failed {
        lines.extend(
            super::plan::strict_prices_lines(report.plan)
                .into_iter()
                .map(|line| ("Plan", line.trim().to_string())),
        );
    }
    if let Some(f) = report.forecast {
        lines.push(("Billing period", super::forecast::verdict_line(f)));
    }
    if let Some(r) = &report.reconciliation {
        lines.extend(
            super::reconcile::reconcile_lines(r.result)
                .into_iter()
                .map(|line| ("Journals", line)),
        );
    }
    for (what, line) in lines {
        let _ = writeln!(page, "<li><strong>{what}:</strong> {}</li>", e(&line));
    }
    page.push_str("</ul>\n</div>\n</section>\n");
}

/// A cell of a table: already safe HTML.
enum C {
    /// A row header (`<th scope="row">`).
    H(String),
    /// Text.
    T(String),
    /// A figure, right-aligned.
    N(String),
    /// A cell with a class of its own.
    K(&'static str, String),
}

fn cells(page: &mut String, row: &[C]) {
    page.push_str("<tr>");
    for cell in row {
        let _ = match cell {
            C::H(text) => write!(page, "<th scope=\"row\">{text}</th>"),
            C::T(text) => write!(page, "<td>{text}</td>"),
            C::N(text) => write!(page, "<td class=\"num\">{text}</td>"),
            C::K(class, text) => write!(page, "<td class=\"{class}\">{text}</td>"),
        };
    }
    page.push_str("</tr>\n");
}

/// A table with a caption, column headers (`true`: a numeric column; none: a table of named
/// figures, whose rows start with their header), a body and a foot.
fn table(
    page: &mut String,
    id: &str,
    caption: &str,
    header: &[(&str, bool)],
    body: &[Vec<C>],
    foot: &[Vec<C>],
) {
    let _ = writeln!(
        page,
        "<div class=\"scroll\">\n<table id=\"{id}\">\n<caption>{caption}</caption>"
    );
    // A table of named figures has row headers only.
    if !header.is_empty() {
        page.push_str("<thead><tr>");
        for (name, numeric) in header {
            let class = if *numeric { " class=\"num\"" } else { "" };
            let _ = write!(page, "<th scope=\"col\"{class}>{name}</th>");
        }
        page.push_str("</tr></thead>\n");
    }
    page.push_str("<tbody>\n");
    for row in body {
        cells(page, row);
    }
    page.push_str("</tbody>\n");
    if !foot.is_empty() {
        page.push_str("<tfoot>\n");
        for row in foot {
            cells(page, row);
        }
        page.push_str("</tfoot>\n");
    }
    page.push_str("</table>\n</div>\n");
}

fn balance(page: &mut String, report: &HtmlReport) {
    page.push_str("<section id=\"balance-section\" aria-labelledby=\"balance-h\">\n<h2 id=\"balance-h\">Balance</h2>\n");
    let Some(b) = &report.plan.assessment.balance else {
        let why = if report.plan.offline {
            "No balance is known: --offline reads none; pass --units-left N to compare the plan with one."
        } else {
            "No balance is known: pass --units-left N or set SERANKING_API_KEY to compare the plan with one."
        };
        let _ = writeln!(page, "<p class=\"note\">{why}</p>\n</section>");
        return;
    };
    let source = match b.source {
        BalanceSource::Live => "the live API",
        BalanceSource::Flag => "--units-left",
    };
    let mut rows = vec![vec![C::H("source".into()), C::T(source.into())]];
    if let Some(status) = &b.status {
        rows.push(vec![C::H("status".into()), C::T(e(status))]);
    }
    rows.push(vec![
        C::H("units left".into()),
        C::N(thousands(b.units_left)),
    ]);
    if let Some(pools) = &b.pools {
        rows.push(vec![
            C::H("of which the subscription (expires at the period end)".into()),
            C::N(thousands(pools.subscription)),
        ]);
        rows.push(vec![
            C::H("of which the wallet (never expires)".into()),
            C::N(
                pools
                    .wallet
                    .map(thousands)
                    .unwrap_or_else(|| "not reported".into()),
            ),
        ]);
    }
    if let Some(limit) = b.units_limit {
        rows.push(vec![C::H("units limit".into()), C::N(thousands(limit))]);
    }
    rows.push(vec![
        C::H("reserve (kept untouched)".into()),
        C::N(thousands(b.reserve)),
    ]);
    rows.push(vec![
        C::H("reserved by running jobs".into()),
        C::N(thousands(b.reserved)),
    ]);
    if let Some(expires) = b.expires {
        rows.push(vec![C::H("expires".into()), C::T(rfc3339(expires))]);
    }
    let foot = vec![vec![
        C::H("usable by this plan".into()),
        C::N(thousands(b.usable)),
    ]];
    table(
        page,
        "balance",
        "The balance the plan is compared with, in units",
        &[],
        &rows,
        &foot,
    );
    page.push_str("<p class=\"note\">Usable = units left − reserve − units reserved by running jobs (gates and guards of the same account).</p>\n</section>\n");
}

/// `100 per record`, `1 per request`.
fn unit_cost(cost: u64, per: Per) -> String {
    let per = match per {
        Per::Record => "record",
        Per::Request => "request",
    };
    format!("{} per {per}", thousands(cost))
}

/// A step's band as a bar: the worst case outlined, the expected part filled, both scaled to the
/// workflow's largest worst case. Decoration: the figures are in the cells beside it.
fn band(units: u64, expected: u64, largest: u64) -> String {
    let scale = |v: u64| 1.0 + 98.0 * v as f64 / largest.max(1) as f64;
    format!(
        "<svg class=\"band\" viewBox=\"0 0 100 12\" width=\"80\" height=\"10\" aria-hidden=\"true\" focusable=\"false\"><rect class=\"worst\" x=\"0.5\" y=\"0.5\" width=\"{:.1}\" height=\"11\"/><rect class=\"expected\" x=\"1\" y=\"1\" width=\"{:.1}\" height=\"10\"/></svg>",
        scale(units),
        (scale(expected) - 1.0).max(0.0)
    )
}

/// Where a step's price comes from: `table`, `docs`, `measured` or `assumed`, `disputed` when
/// sources disagree, and the plan's mark when either makes it uncertain.
fn evidence(s: &crate::estimate::StepEstimate) -> String {
    let mut text = s.evidence.as_str().to_string();
    if s.disputed {
        text.push_str(", disputed");
    }
    if s.uncertain() {
        text.push(' ');
        text.push_str(super::plan::EVIDENCE_MARK);
    }
    text
}

fn plan(page: &mut String, report: &PlanReport) {
    page.push_str("<section id=\"plan\" aria-labelledby=\"plan-h\">\n<h2 id=\"plan-h\">Plan: what each workflow costs</h2>\n");
    page.push_str("<p class=\"note\">Worst: every row and page the steps may return; expected: the rows the workflow expects (<code>expected_rows</code>, or a usage profile). The bar shows the expected part (filled) of the worst case (outlined).</p>\n");
    if report.workflows.len() > 1 {
        let body: Vec<Vec<C>> = report
            .workflows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                vec![
                    C::H(format!(
                        "<a href=\"#workflow-{}\">{}</a>",
                        i + 1,
                        e(&w.name)
                    )),
                    C::K("endpoint", e(&w.path.display().to_string())),
                    C::N(thousands(w.requests)),
                    C::N(thousands(w.records)),
                    C::N(thousands(w.units)),
                    C::N(thousands(w.units_expected)),
                    C::N(duration(w.duration_seconds)),
                    C::N(w.max_units.map(thousands).unwrap_or_else(|| "—".into())),
                ]
            })
            .collect();
        let t = report.total;
        let foot = vec![vec![
            C::H("total".into()),
            C::T(String::new()),
            C::N(thousands(t.requests)),
            C::N(thousands(t.records)),
            C::N(thousands(t.units)),
            C::N(thousands(t.units_expected)),
            C::N(duration(t.duration_seconds)),
            C::T(String::new()),
        ]];
        table(
            page,
            "plan-workflows",
            "Workflows planned together",
            &[
                ("workflow", false),
                ("file", false),
                ("requests", true),
                ("records", true),
                ("worst units", true),
                ("expected units", true),
                ("duration", true),
                ("max_units", true),
            ],
            &body,
            &foot,
        );
    }
    for (i, w) in report.workflows.iter().enumerate() {
        workflow(page, i + 1, w, report);
    }
    page.push_str("</section>\n");
}

fn workflow(page: &mut String, number: usize, w: &WorkflowEstimate, report: &PlanReport) {
    let _ = writeln!(
        page,
        "<h3 id=\"workflow-{number}\">{}</h3>\n<p class=\"meta\">File <code>{}</code> · {} · about {} at {} requests/second{}</p>",
        e(&w.name),
        e(&w.path.display().to_string()),
        plural(w.requests, "request", "requests"),
        duration(w.duration_seconds),
        w.rps,
        match w.max_units {
            Some(max) => format!(" · budget.max_units {}", thousands(max)),
            None => String::new(),
        }
    );
    let largest = w.steps.iter().map(|s| s.units).max().unwrap_or(0);
    let body: Vec<Vec<C>> = w
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let expected = match s.expected_from {
                Some(_) => format!("{} *", thousands(s.units_expected)),
                None => thousands(s.units_expected),
            };
            vec![
                C::N((i + 1).to_string()),
                C::H(e(&s.name)),
                C::K(
                    "endpoint",
                    format!(
                        "<code>{}</code><br/><span class=\"cost\">{}</span>",
                        e(&s.endpoint),
                        unit_cost(s.unit_cost, s.per)
                    ),
                ),
                C::T(evidence(s)),
                C::N(thousands(s.targets)),
                C::N(thousands(s.requests)),
                C::N(thousands(s.records)),
                C::N(thousands(s.units)),
                C::N(expected),
                C::T(band(s.units, s.units_expected, largest)),
            ]
        })
        .collect();
    let foot = vec![vec![
        C::T(String::new()),
        C::H("total".into()),
        C::T(String::new()),
        C::T(String::new()),
        C::T(String::new()),
        C::N(thousands(w.requests)),
        C::N(thousands(w.records)),
        C::N(thousands(w.units)),
        C::N(thousands(w.units_expected)),
        C::T(band(w.units, w.units_expected, w.units.max(largest))),
    ]];
    table(
        page,
        &format!("plan-steps-{number}"),
        &format!("Steps of {}", e(&w.name)),
        &[
            ("#", true),
            ("step", false),
            ("endpoint and unit cost", false),
            ("price evidence", false),
            ("targets", true),
            ("requests", true),
            ("records", true),
            ("worst units", true),
            ("expected units", true),
            ("band", false),
        ],
        &body,
        &foot,
    );
    if w.steps.iter().any(|s| s.expected_from.is_some()) {
        page.push_str("<p class=\"note\">* expected from the usage profile (--profile): p90 rows per target seen by the guard.</p>\n");
    }
    let notes = super::plan::evidence_notes(report.pricing, w);
    if !notes.is_empty() {
        page.push_str("<ul class=\"note\">\n");
        for line in notes {
            let _ = writeln!(page, "<li>{}</li>", e(&line));
        }
        page.push_str("</ul>\n");
    }
    // Where the job stops, under the workflow it stops in (names can repeat: the first).
    if let Some(stop) = &report.assessment.stops_at {
        let first = report
            .workflows
            .iter()
            .position(|x| x.name == stop.workflow);
        if first == Some(number - 1) {
            let _ = writeln!(
                page,
                "<p class=\"over\">Stops at step {}: {}</p>",
                stop.step,
                e(&super::plan::stops_at_line(stop))
            );
        }
    }
}

fn dash() -> String {
    "—".into()
}

fn forecast(page: &mut String, report: &HtmlReport) {
    page.push_str("<section id=\"forecast-section\" aria-labelledby=\"forecast-h\">\n<h2 id=\"forecast-h\">Billing-period forecast</h2>\n");
    let Some(f) = report.forecast else {
        let why = if report.plan.offline {
            "No forecast: the period end is unknown and --offline reads no subscription; pass --period-end."
        } else {
            "No forecast: the period end is unknown; pass --period-end, or set SERANKING_API_KEY to take the subscription's expiry."
        };
        let _ = writeln!(page, "<p class=\"note\">{why}</p>\n</section>");
        return;
    };
    let p = f.projection;
    let from = match f.period_end_source {
        BalanceSource::Live => "the subscription's expiry",
        BalanceSource::Flag => "--period-end",
    };
    let _ = writeln!(
        page,
        "<p>From {} to {} (period end from {from}). Each workflow runs on its <code>schedule</code>; its worst case is spent every run, and all runs draw on one balance in time order.</p>",
        rfc3339(p.now),
        rfc3339(p.period_end)
    );
    let cost = f.cost;
    let body: Vec<Vec<C>> = p
        .workflows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            vec![
                C::H(e(&w.name)),
                C::T(e(&w.schedule.to_string())),
                C::N(thousands(w.runs)),
                C::N(thousands(w.units_per_run)),
                C::N(thousands(w.units)),
                C::N(w.first_run.map(rfc3339).unwrap_or_else(dash)),
                C::N(w.exhausted_on.map(|d| d.to_string()).unwrap_or_else(dash)),
                C::N(w.overage_units.map(thousands).unwrap_or_else(dash)),
                C::N(
                    cost.and_then(|c| c.workflows.get(i))
                        .map(|usd| dollars(*usd))
                        .unwrap_or_else(dash),
                ),
            ]
        })
        .collect();
    let foot = vec![vec![
        C::H("total".into()),
        C::T(String::new()),
        C::N(thousands(p.total.runs)),
        C::T(String::new()),
        C::N(thousands(p.total.units)),
        C::T(String::new()),
        C::N(
            p.total
                .exhausted_on
                .map(|d| d.to_string())
                .unwrap_or_else(dash),
        ),
        C::N(p.total.overage_units.map(thousands).unwrap_or_else(dash)),
        C::N(cost.map(|c| dollars(c.total)).unwrap_or_else(dash)),
    ]];
    table(
        page,
        "forecast",
        "Runs and units to the end of the period, per workflow",
        &[
            ("workflow", false),
            ("schedule", false),
            ("runs", true),
            ("units/run", true),
            ("projected units", true),
            ("first run", true),
            ("exhausted on", true),
            ("overage units", true),
            ("overage cost", true),
        ],
        &body,
        &foot,
    );
    page.push_str("<ul class=\"note\">\n");
    for line in super::forecast::summary_lines(f) {
        let _ = writeln!(page, "<li>{}</li>", e(&line));
    }
    page.push_str("</ul>\n");
    burnup::chart(page, p);
    let body: Vec<Vec<C>> = p
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            vec![
                C::N((i + 1).to_string()),
                C::H(d.date.to_string()),
                C::N(thousands(d.units)),
            ]
        })
        .collect();
    let caption = match p.spendable {
        Some(s) => format!(
            "The chart's figures: projected units by the end of each day (units left: {})",
            thousands(s)
        ),
        None => "The chart's figures: projected units by the end of each day".into(),
    };
    page.push_str("<div class=\"tall\">\n");
    table(
        page,
        "burnup-figures",
        &caption,
        &[("day", true), ("date", false), ("projected units", true)],
        &body,
        &[],
    );
    page.push_str("</div>\n</section>\n");
}

fn overage(page: &mut String, report: &HtmlReport) {
    page.push_str("<section id=\"overage-section\" aria-labelledby=\"overage-h\">\n<h2 id=\"overage-h\">Overage</h2>\n");
    let plan_overage = &report.plan.assessment.overage;
    let forecast_cost = report.forecast.and_then(|f| f.cost);
    let overage_on = report.account.and_then(|a| a.overage);
    match report.account {
        None => page.push_str("<p class=\"note\">No workflow names an account, so overage is off (the vendor's default): beyond the balance the API refuses calls with \u{201c}Insufficient funds\u{201d} and the jobs stop; nothing is billed beyond the credits. If Support enabled overage, add <code>account: {tier: 1M, overage: plan}</code> (your tier) to a workflow to price it.</p>\n"),
        Some(account) => {
            let mut rows = vec![
                vec![C::H("tier".into()), C::T(e(&account.tier))],
                vec![C::H("billing".into()), C::T(account.billing.as_str().into())],
                vec![
                    C::H("overage".into()),
                    C::T(match overage_on {
                        Some(rate) => format!("on, at the {} rate", rate.as_str()),
                        None => "off: the jobs stop where the balance runs out".into(),
                    }),
                ],
            ];
            let usd_per_million = plan_overage
                .as_ref()
                .map(|o| o.usd_per_million)
                .or(forecast_cost.map(|c| c.usd_per_million));
            if let Some(rate) = usd_per_million {
                rows.push(vec![
                    C::H("USD per 1M units".into()),
                    C::N(dollars(rate)),
                ]);
            }
            if let Some(o) = plan_overage {
                rows.push(vec![
                    C::H("this plan: units beyond units left".into()),
                    C::N(thousands(o.units)),
                ]);
                rows.push(vec![
                    C::H("this plan: overage cost".into()),
                    C::N(dollars(o.usd)),
                ]);
            }
            if let Some(f) = report.forecast.filter(|f| f.balance.is_some()) {
                let label = match overage_on {
                    Some(_) => "this period: projected overage units",
                    None => "this period: units the jobs cannot run",
                };
                rows.push(vec![
                    C::H(label.into()),
                    C::N(
                        f.projection
                            .total
                            .overage_units
                            .map(thousands)
                            .unwrap_or_else(dash),
                    ),
                ]);
                if let Some(c) = forecast_cost {
                    rows.push(vec![
                        C::H("this period: projected overage cost".into()),
                        C::N(dollars(c.total)),
                    ]);
                }
            }
            table(
                page,
                "overage-account",
                "The account's tier (the first workflow that names an account)",
                &[],
                &rows,
                &[],
            );
        }
    }
    match &report.tiers {
        Some(t) => {
            let body: Vec<Vec<C>> = t
                .tiers
                .iter()
                .map(|q| {
                    let mine = t.selected.is_some_and(|s| s.eq_ignore_ascii_case(&q.tier));
                    let mut row = vec![
                        C::H(match mine {
                            true => format!("{} (your tier)", e(&q.tier)),
                            false => e(&q.tier),
                        }),
                        C::N(thousands(q.included)),
                        C::N(thousands(q.units)),
                    ];
                    row.extend(q.rates.iter().map(|r| C::N(dollars(r.usd))));
                    row
                })
                .collect();
            let what = match overage_on {
                Some(_) => format!(
                    "The projected overage of {} units at every tier and rate",
                    thousands(t.units)
                ),
                None => format!(
                    "Were overage on: the {} units beyond the balance at every tier and rate",
                    thousands(t.units)
                ),
            };
            table(
                page,
                "overage-tiers",
                &format!(
                    "{what} (<code>budget overage --all-tiers --units {}</code>; enterprise: by contract)",
                    t.units
                ),
                &[
                    ("tier", false),
                    ("included", true),
                    ("overage units", true),
                    ("plan", true),
                    ("plan yearly", true),
                    ("addon", true),
                    ("addon yearly", true),
                ],
                &body,
                &[],
            );
        }
        None => {
            let why = match report.forecast {
                None => "The all-tier table prices the forecast's units beyond the balance: it needs a forecast (--period-end).",
                Some(f) if f.balance.is_none() => "The all-tier table prices the forecast's units beyond the balance: it needs a balance (--units-left, or a key).",
                Some(_) => "Nothing is projected beyond the balance this period: nothing to price at other tiers.",
            };
            let _ = writeln!(page, "<p class=\"note\">{why}</p>");
        }
    }
    page.push_str("</section>\n");
}

fn reconcile(page: &mut String, view: &ReconcileView) {
    let r = view.result;
    page.push_str("<section id=\"reconcile-section\" aria-labelledby=\"reconcile-h\">\n<h2 id=\"reconcile-h\">Forecast against actual</h2>\n");
    let journals: Vec<String> = r
        .journals
        .iter()
        .map(|j| format!("<code>{}</code>", e(&j.display().to_string())))
        .collect();
    let plan = match view.saved_plan {
        true => format!(
            "The saved plan <code>{}</code>",
            e(&r.plan.display().to_string())
        ),
        false => "The plan above".into(),
    };
    let _ = writeln!(
        page,
        "<p>{plan} against the guard's journal{} {}: {}. Charged units are what the guard charged; a step exceeded its forecast when it charged more than its worst case.</p>",
        if journals.len() == 1 { "" } else { "s" },
        journals.join(", "),
        plural(r.calls, "call", "calls")
    );
    let (header, rows) = super::reconcile::rows(r, safe::html, safe::html);
    let first_number = header
        .iter()
        .position(|h| h == "planned requests")
        .unwrap_or(0);
    let step_column = header.iter().position(|h| h == "step").unwrap_or(0);
    let columns: Vec<(&str, bool)> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = if h.is_empty() { "verdict" } else { h.as_str() };
            (name, i >= first_number && !h.is_empty())
        })
        .collect();
    let dress = |row: Vec<String>| -> Vec<C> {
        row.into_iter()
            .enumerate()
            .map(|(i, cell)| match i {
                i if i == step_column => C::H(cell),
                i if i + 1 == columns.len() => match cell.is_empty() {
                    true => C::T(cell),
                    false => C::K("over", cell),
                },
                i if columns.get(i).is_some_and(|c| c.1) => C::N(cell),
                i if i == step_column + 1 => C::K("endpoint", cell),
                _ => C::T(cell),
            })
            .collect()
    };
    let mut body: Vec<Vec<C>> = rows.into_iter().map(dress).collect();
    let foot = body.pop().map(|row| vec![row]).unwrap_or_default();
    table(
        page,
        "reconcile",
        "Planned (worst and expected) against charged, per step",
        &columns,
        &body,
        &foot,
    );
    page.push_str("</section>\n");
}

#[cfg(test)]
mod tests;
