//! Rendering a plan.

use std::io::{self, Write};

use super::overage::dollars;
use super::{csv_header, csv_row, duration, markdown_table, safe, table, thousands, Cell, Format};
use crate::baseline::Comparison;
use crate::estimate::{Assessment, BalanceSource, Totals, Verdict, WorkflowEstimate};
use crate::pricing::{Evidence, Pricing};

/// What a plan shows.
pub struct PlanReport<'a> {
    pub pricing: &'a Pricing,
    pub workflows: &'a [WorkflowEstimate],
    pub total: &'a Totals,
    pub assessment: &'a Assessment,
    /// The run was `--offline`: that is why no balance is known, when none is.
    pub offline: bool,
    /// `--strict-prices` failed: the verdict of "fits" rests on an assumed or disputed price.
    pub strict_failed: bool,
}

pub fn plan(out: &mut dyn Write, format: Format, report: &PlanReport) -> io::Result<()> {
    plan_compared(out, format, report, None)
}

/// A plan and, when given, its change against a saved baseline (`--compare-to`). CSV lists steps
/// only: the comparison is in the other formats.
pub fn plan_compared(
    out: &mut dyn Write,
    format: Format,
    report: &PlanReport,
    comparison: Option<&Comparison>,
) -> io::Result<()> {
    match format {
        Format::Table => {
            plan_table(out, report)?;
            if let Some(c) = comparison {
                writeln!(out)?;
                super::baseline::comparison_table(out, c)?;
            }
            Ok(())
        }
        Format::Json => {
            let mut view = plan_json_view(report);
            view.baseline = comparison.map(super::baseline::comparison_json);
            // An exceeded --max-increase exits 1 (over budget) whatever the balance says: the
            // JSON says the same.
            if comparison.is_some_and(|c| c.exceeded) {
                view.failed_by.push("max_increase");
                view.verdict = Verdict::OverBudget;
            }
            // So does a fit that --strict-prices refuses.
            if report.strict_failed {
                view.failed_by.push("strict_prices");
                view.verdict = Verdict::OverBudget;
            }
            safe::json(out, &view)
        }
        Format::Markdown => plan_markdown(out, report, comparison),
        Format::Csv => plan_csv(out, report),
    }
}

/// The JSON contract of docs/json.md (field order as documented).
#[derive(serde::Serialize)]
struct PlanJson<'a> {
    version: u32,
    pricing: PricingJson<'a>,
    workflows: &'a [WorkflowEstimate],
    total: &'a Totals,
    balance: &'a Option<crate::estimate::BalanceView>,
    verdict: Verdict,
    /// Why the verdict is `over_budget` (empty otherwise): `usable` (the total above the usable
    /// balance), `max_units` (a workflow above its `budget.max_units`), `max_increase` (the
    /// increase above `--max-increase`), `strict_prices` (a fit `--strict-prices` refuses).
    failed_by: Vec<&'static str>,
    over_by: u64,
    over_max_units: &'a [crate::estimate::OverMaxUnits],
    overage: &'a Option<crate::estimate::OverageCost>,
    /// Where the job stops when it is beyond the balance and overage is off.
    stops_at: &'a Option<crate::estimate::StopsAt>,
    /// The comparison with `--compare-to`, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<serde_json::Value>,
}

#[derive(serde::Serialize)]
struct PricingJson<'a> {
    name: &'a str,
    effective: String,
}

fn plan_json_view<'a>(report: &'a PlanReport) -> PlanJson<'a> {
    let a = report.assessment;
    PlanJson {
        version: 1,
        pricing: PricingJson {
            name: &report.pricing.name,
            effective: report.pricing.effective.to_string(),
        },
        workflows: report.workflows,
        total: report.total,
        balance: &a.balance,
        verdict: a.verdict,
        failed_by: [
            (a.over_by > 0, "usable"),
            (!a.over_max_units.is_empty(), "max_units"),
        ]
        .into_iter()
        .filter_map(|(failed, why)| failed.then_some(why))
        .collect(),
        over_by: a.over_by,
        over_max_units: &a.over_max_units,
        overage: &a.overage,
        stops_at: &a.stops_at,
        baseline: None,
    }
}

/// Columns of a workflow's step table; `expected` is dropped when it equals `units` everywhere.
const STEP_HEADER: [&str; 7] = [
    "#", "step", "endpoint", "requests", "records", "units", "expected",
];

/// How one format writes the cells of a step table.
struct Dress {
    /// A step name.
    text: fn(&str) -> String,
    /// An endpoint.
    endpoint: fn(&str) -> String,
    /// The total's label and units.
    strong: fn(&str) -> String,
}

/// The terminal's: [`table`] neutralises every cell itself.
const PLAIN: Dress = Dress {
    text: str::to_string,
    endpoint: str::to_string,
    strong: str::to_string,
};

/// Markdown's: names escaped, endpoints as code, the total in bold.
const MARKDOWN: Dress = Dress {
    text: safe::markdown,
    endpoint: safe::markdown_code,
    strong: |total| format!("**{total}**"),
};

/// One row per step and a total row, every column of [`STEP_HEADER`], dressed for the format.
fn step_rows(w: &WorkflowEstimate, dress: &Dress) -> Vec<Vec<String>> {
    let (endpoint, strong) = (dress.endpoint, dress.strong);
    let mut rows: Vec<Vec<String>> = w
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let marked = if s.uncertain() {
                format!("{} {}", endpoint(&s.endpoint), (dress.text)(EVIDENCE_MARK))
            } else {
                endpoint(&s.endpoint)
            };
            vec![
                (i + 1).to_string(),
                (dress.text)(&s.name),
                marked,
                thousands(s.requests),
                thousands(s.records),
                thousands(s.units),
                match s.expected_from {
                    Some(_) => format!("{} *", thousands(s.units_expected)),
                    None => thousands(s.units_expected),
                },
            ]
        })
        .collect();
    rows.push(vec![
        String::new(),
        strong("total"),
        String::new(),
        thousands(w.requests),
        thousands(w.records),
        strong(&thousands(w.units)),
        thousands(w.units_expected),
    ]);
    rows
}

/// Marks a step whose price is assumed or disputed; the footnote under the table says why (`*`
/// marks expected units from a usage profile).
pub(super) const EVIDENCE_MARK: &str = "†";

/// One footnote line per endpoint of `w` priced on assumed or disputed evidence.
pub(super) fn evidence_notes(pricing: &Pricing, w: &WorkflowEstimate) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut lines = Vec::new();
    for s in w.steps.iter().filter(|s| s.uncertain()) {
        if !seen.insert(s.endpoint.clone()) {
            continue;
        }
        let Some(e) = pricing.endpoint(&s.endpoint) else {
            continue;
        };
        let mut text = format!(
            "{EVIDENCE_MARK} {}: {} units per {}, {}",
            e.name,
            thousands(s.unit_cost),
            match s.per {
                crate::pricing::Per::Record => "record",
                crate::pricing::Per::Request => "request",
            },
            if e.evidence == Evidence::Assumed {
                format!("assumed ({})", e.reference)
            } else {
                format!("{} ({})", e.evidence.as_str(), e.reference)
            }
        );
        for d in &e.disputes {
            text.push_str(&format!(
                "; disputed: {} ({}: {}), the larger forecast is used",
                d.figure,
                d.evidence.as_str(),
                d.reference
            ));
        }
        lines.push(text);
    }
    lines
}

fn shows_expected(w: &WorkflowEstimate) -> bool {
    w.steps
        .iter()
        .any(|s| s.units_expected != s.units || s.expected_from.is_some())
}

/// Whether a step's expected units came from a usage profile (marked `*`).
fn from_profile(w: &WorkflowEstimate) -> bool {
    w.steps.iter().any(|s| s.expected_from.is_some())
}

/// The legend of the `*` mark.
const PROFILE_LEGEND: &str =
    "* expected from the usage profile (--profile): p90 rows per target seen by the guard";

fn plan_table(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    for w in report.workflows {
        let title = format!("{} ({})", w.name, w.path.display());
        writeln!(out, "{}", safe::terminal(&title))?;
        let mut rows = vec![STEP_HEADER.map(String::from).to_vec()];
        rows.extend(step_rows(w, &PLAIN));
        if !shows_expected(w) {
            rows.iter_mut()
                .for_each(|row| row.truncate(STEP_HEADER.len() - 1));
        }
        writeln!(out, "{}", table(rows, 3))?;
        if from_profile(w) {
            writeln!(out, "{PROFILE_LEGEND}")?;
        }
        for line in evidence_notes(report.pricing, w) {
            writeln!(out, "{}", safe::terminal(&line))?;
        }
        writeln!(
            out,
            "{} {} {} at {} requests/second",
            thousands(w.requests),
            if w.requests == 1 {
                "request takes"
            } else {
                "requests take"
            },
            duration(w.duration_seconds),
            w.rps
        )?;
        writeln!(out)?;
    }
    if report.workflows.len() > 1 {
        let t = report.total;
        write!(
            out,
            "all {} workflows: {} requests, {} units",
            report.workflows.len(),
            thousands(t.requests),
            thousands(t.units)
        )?;
        if t.units_expected != t.units {
            write!(out, " ({} expected)", thousands(t.units_expected))?;
        }
        writeln!(out, ", {}", duration(t.duration_seconds))?;
    }
    balance_and_verdict(out, report)
}

fn balance_and_verdict(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    if let Some(b) = &report.assessment.balance {
        let source = match b.source {
            BalanceSource::Live => "live",
            BalanceSource::Flag => "--units-left",
        };
        write!(
            out,
            "balance ({source}): {} units left",
            thousands(b.units_left)
        )?;
        if let Some(pools) = pools_text(b.pools.as_ref(), b.status.as_deref()) {
            write!(out, " ({})", safe::terminal(&pools))?;
        }
        if b.reserve > 0 {
            write!(out, ", reserve {}", thousands(b.reserve))?;
        }
        if b.reserved > 0 {
            write!(out, ", {} reserved by running jobs", thousands(b.reserved))?;
        }
        writeln!(out, ", {} usable", thousands(b.usable))?;
    }
    for line in verdict_lines(report) {
        writeln!(out, "{}", safe::terminal(&line))?;
    }
    Ok(())
}

/// What a live balance is made of: `subscription 10,000 + wallet 20,000`, with the subscription's
/// status when it is not active (the wallet then pays alone); `None` for `--units-left`.
pub fn pools_text(pools: Option<&crate::estimate::Pools>, status: Option<&str>) -> Option<String> {
    let pools = pools?;
    let mut text = match pools.wallet {
        Some(wallet) => format!(
            "subscription {} + wallet {}",
            thousands(pools.subscription),
            thousands(wallet)
        ),
        None => "subscription only: the API reports no wallet".to_string(),
    };
    if let Some(status) = status.filter(|s| !s.eq_ignore_ascii_case("active")) {
        text.push_str(&format!("; the subscription is {status}, the wallet pays"));
    }
    Some(text)
}

/// A few lines for `budget gate`: units per workflow, the balance and the verdict (the step
/// tables are `budget plan`'s job). Other formats are rendered in full.
pub fn plan_brief(
    out: &mut dyn Write,
    format: Format,
    report: &PlanReport,
    comparison: Option<&Comparison>,
) -> io::Result<()> {
    if format != Format::Table {
        return plan_compared(out, format, report, comparison);
    }
    for w in report.workflows {
        let line = format!(
            "{} ({}): {} units in {} request{}",
            w.name,
            w.path.display(),
            thousands(w.units),
            thousands(w.requests),
            if w.requests == 1 { "" } else { "s" }
        );
        writeln!(out, "{}", safe::terminal(&line))?;
    }
    balance_and_verdict(out, report)?;
    if let Some(c) = comparison {
        writeln!(out, "{}", safe::terminal(&super::baseline::headline(c)))?;
        if let Some(line) = super::baseline::limit_line(c) {
            writeln!(out, "{}", safe::terminal(&line))?;
        }
    }
    Ok(())
}

/// Why `--strict-prices` failed: the steps whose price is assumed or disputed.
pub fn strict_prices_lines(report: &PlanReport) -> Vec<String> {
    let mut lines = vec![
        "--strict-prices: the verdict relies on prices that are assumed or disputed:".to_string(),
    ];
    for w in report.workflows {
        for (i, s) in w.steps.iter().enumerate().filter(|(_, s)| s.uncertain()) {
            lines.push(format!(
                "  {}: step {} ({}): {} ({}{})",
                w.name,
                i + 1,
                s.name,
                s.endpoint,
                s.evidence.as_str(),
                if s.disputed { ", disputed" } else { "" }
            ));
        }
    }
    lines.push(format!(
        "confirm those prices and set them with evidence in a pricing overlay ({}), or drop --strict-prices",
        crate::pricing::OVERLAY_FLAG
    ));
    lines
}

/// A workflow above its own `budget.max_units`, in words.
pub fn max_units_line(m: &crate::estimate::OverMaxUnits) -> String {
    format!(
        "over budget: {} plans {} units, above its budget.max_units of {} (over by {})",
        m.workflow,
        thousands(m.units),
        thousands(m.max_units),
        thousands(m.units - m.max_units)
    )
}

/// The verdict in words: the first line says it all. Raw text (workflow names included): each
/// format neutralises the whole line as it writes it.
pub fn verdict_lines(report: &PlanReport) -> Vec<String> {
    let a = report.assessment;
    let units = report.total.units;
    let mut lines = Vec::new();
    match (a.verdict, &a.balance) {
        (Verdict::Fits, Some(b)) => lines.push(format!(
            "fits: {} of {} usable units ({} to spare)",
            thousands(units),
            thousands(b.usable),
            thousands(b.usable - units)
        )),
        (Verdict::OverBudget, Some(b)) if a.over_by > 0 => lines.push(format!(
            "over budget: {} units planned, {} usable (over by {})",
            thousands(units),
            thousands(b.usable),
            thousands(a.over_by)
        )),
        // Over budget within the balance: a workflow's max_units, said by the lines below.
        (Verdict::OverBudget, _) => {}
        (_, _) if report.offline => lines.push(format!(
            "balance unknown: {} units planned; --offline reads no balance: pass --units-left N to compare",
            thousands(units)
        )),
        (_, _) => lines.push(format!(
            "balance unknown: {} units planned; pass --units-left N or set SERANKING_API_KEY to compare",
            thousands(units)
        )),
    }
    lines.extend(a.over_max_units.iter().map(max_units_line));
    if let Some(o) = &a.overage {
        lines.push(format!(
            "overage: {} units beyond units_left would cost {} at the {} {} {} rate ({} per 1M)",
            thousands(o.units),
            dollars(o.usd),
            o.tier,
            o.billing.as_str(),
            o.rate.as_str(),
            dollars(o.usd_per_million)
        ));
    }
    if let Some(stop) = &a.stops_at {
        lines.push(stops_at_line(stop));
    }
    lines
}

/// Where the job stops when overage is off, in words.
pub fn stops_at_line(stop: &crate::estimate::StopsAt) -> String {
    format!(
        "the job would stop at {}, step {} ({}), request {} of {}: the balance runs out there and overage is off (the vendor's default: calls beyond the balance fail with \"Insufficient funds\"; set `account.overage: plan` or `addon` if Support enabled it)",
        stop.workflow,
        stop.step,
        stop.step_name,
        thousands(stop.request),
        thousands(stop.requests)
    )
}

/// A pull-request comment: the verdict as the heading, the balance, a summary table of the
/// workflows, each workflow's steps (folded when there are several), then the comparison.
fn plan_markdown(
    out: &mut dyn Write,
    report: &PlanReport,
    comparison: Option<&Comparison>,
) -> io::Result<()> {
    let lines = verdict_lines(report);
    let failed = report.assessment.verdict == Verdict::OverBudget
        || comparison.is_some_and(|c| c.exceeded)
        || report.strict_failed;
    let icon = match report.assessment.verdict {
        _ if failed => "❌",
        Verdict::Fits => "✅",
        Verdict::OverBudget => "❌",
        Verdict::Unknown => "❔",
    };
    writeln!(
        out,
        "### {icon} budget: {}",
        safe::markdown(lines.first().map(String::as_str).unwrap_or(""))
    )?;
    writeln!(out)?;
    let strict = if report.strict_failed {
        strict_prices_lines(report)
    } else {
        Vec::new()
    };
    for line in lines.iter().skip(1).chain(strict.iter()) {
        writeln!(out, "- {}", safe::markdown(line.trim()))?;
    }
    if lines.len() > 1 || !strict.is_empty() {
        writeln!(out)?;
    }
    if let Some(b) = &report.assessment.balance {
        let source = match b.source {
            BalanceSource::Live => "live",
            BalanceSource::Flag => "`--units-left`",
        };
        let mut left = format!("{} units left", thousands(b.units_left));
        if let Some(pools) = pools_text(b.pools.as_ref(), b.status.as_deref()) {
            left.push_str(&format!(" ({})", safe::markdown(&pools)));
        }
        let mut parts = vec![left];
        if b.reserve > 0 {
            parts.push(format!("reserve {}", thousands(b.reserve)));
        }
        if b.reserved > 0 {
            parts.push(format!(
                "{} reserved by running jobs",
                thousands(b.reserved)
            ));
        }
        parts.push(format!("**{}** usable", thousands(b.usable)));
        writeln!(out, "Balance ({source}): {}", parts.join(" · "))?;
        writeln!(out)?;
    }
    let several = report.workflows.len() > 1;
    if several {
        let mut rows: Vec<Vec<String>> = report
            .workflows
            .iter()
            .map(|w| {
                vec![
                    safe::markdown(&w.name),
                    safe::markdown_code(&w.path.display().to_string()),
                    thousands(w.requests),
                    thousands(w.units),
                    thousands(w.units_expected),
                    duration(w.duration_seconds),
                ]
            })
            .collect();
        let t = report.total;
        rows.push(vec![
            "**total**".into(),
            String::new(),
            thousands(t.requests),
            format!("**{}**", thousands(t.units)),
            thousands(t.units_expected),
            duration(t.duration_seconds),
        ]);
        markdown_table(
            out,
            &[
                "workflow", "file", "requests", "units", "expected", "duration",
            ],
            &[false, false, true, true, true, true],
            &rows,
        )?;
        writeln!(out)?;
    }
    for w in report.workflows {
        if several {
            writeln!(
                out,
                "<details><summary>{} — {} units</summary>",
                safe::html(&w.name),
                thousands(w.units)
            )?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "#### {} ({})",
                safe::markdown(&w.name),
                safe::markdown_code(&w.path.display().to_string())
            )?;
            writeln!(out)?;
        }
        let columns = if shows_expected(w) {
            STEP_HEADER.len()
        } else {
            STEP_HEADER.len() - 1
        };
        let rows = step_rows(w, &MARKDOWN);
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|mut row| {
                row.truncate(columns);
                row
            })
            .collect();
        let header = &STEP_HEADER[..columns];
        let right = &[true, false, false, true, true, true, true][..columns];
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|mut row| {
                // The expected column's profile mark, which Markdown would read as emphasis.
                if let Some(cell) = row.get_mut(6).filter(|c| c.ends_with(" *")) {
                    cell.insert(cell.len() - 1, '\\');
                }
                row
            })
            .collect();
        markdown_table(out, header, right, &rows)?;
        writeln!(out)?;
        if from_profile(w) {
            writeln!(out, "{}", PROFILE_LEGEND.replacen('*', "\\*", 1))?;
        }
        let notes = evidence_notes(report.pricing, w);
        for line in &notes {
            writeln!(out, "- {}", safe::markdown(line))?;
        }
        if !notes.is_empty() {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{} request{}, about {} at {} requests/second.",
            thousands(w.requests),
            if w.requests == 1 { "" } else { "s" },
            duration(w.duration_seconds),
            w.rps
        )?;
        writeln!(out)?;
        if several {
            writeln!(out, "</details>")?;
            writeln!(out)?;
        }
    }
    if let Some(c) = comparison {
        super::baseline::comparison_markdown(out, c)?;
    }
    Ok(())
}

fn plan_csv(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    let header = [
        "workflow",
        "path",
        "step",
        "name",
        "endpoint",
        "per",
        "unit_cost",
        "targets",
        "sources",
        "repeat",
        "requests",
        "records",
        "units",
        "units_expected",
    ];
    csv_header(out, &header)?;
    for w in report.workflows {
        for (i, s) in w.steps.iter().enumerate() {
            csv_row(
                out,
                &[
                    Cell::text(w.name.as_str()),
                    Cell::text(w.path.display().to_string()),
                    Cell::number(i + 1),
                    Cell::text(s.name.as_str()),
                    Cell::text(s.endpoint.as_str()),
                    Cell::text(match s.per {
                        crate::pricing::Per::Record => "record",
                        crate::pricing::Per::Request => "request",
                    }),
                    Cell::number(s.unit_cost),
                    Cell::number(s.targets),
                    Cell::number(s.sources),
                    Cell::number(s.repeat),
                    Cell::number(s.requests),
                    Cell::number(s.records),
                    Cell::number(s.units),
                    Cell::number(s.units_expected),
                ],
            )?;
        }
    }
    Ok(())
}
