//! Rendering a plan.

use std::io::{self, Write};

use super::{csv_row, duration, markdown_table, table, thousands};
use crate::cli::Format;
use crate::forecast::{Assessment, BalanceSource, Totals, Verdict, WorkflowForecast};
use crate::pricing::Pricing;

/// What a plan shows.
pub struct PlanReport<'a> {
    pub pricing: &'a Pricing,
    pub workflows: &'a [WorkflowForecast],
    pub total: &'a Totals,
    pub assessment: &'a Assessment,
}

pub fn plan(out: &mut dyn Write, format: Format, report: &PlanReport) -> io::Result<()> {
    match format {
        Format::Table => plan_table(out, report),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &plan_json_view(report))?;
            writeln!(out)
        }
        Format::Markdown => plan_markdown(out, report),
        Format::Csv => plan_csv(out, report),
    }
}

/// The JSON contract of DESIGN §4 (field order as documented).
#[derive(serde::Serialize)]
struct PlanJson<'a> {
    version: u32,
    pricing: PricingJson<'a>,
    workflows: &'a [WorkflowForecast],
    total: &'a Totals,
    balance: &'a Option<crate::forecast::BalanceView>,
    verdict: Verdict,
    over_by: u64,
    over_max_units: &'a [crate::forecast::OverMaxUnits],
    overage: &'a Option<crate::forecast::OverageCost>,
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
        over_by: a.over_by,
        over_max_units: &a.over_max_units,
        overage: &a.overage,
    }
}

fn shows_expected(w: &WorkflowForecast) -> bool {
    w.steps.iter().any(|s| s.units_expected != s.units)
}

fn plan_table(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    for w in report.workflows {
        writeln!(out, "{} ({})", w.name, w.path.display())?;
        let expected = shows_expected(w);
        let mut header = vec!["#", "step", "endpoint", "requests", "records", "units"];
        if expected {
            header.push("expected");
        }
        let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
        for (i, s) in w.steps.iter().enumerate() {
            let mut row = vec![
                (i + 1).to_string(),
                s.name.clone(),
                s.endpoint.clone(),
                thousands(s.requests),
                thousands(s.records),
                thousands(s.units),
            ];
            if expected {
                row.push(thousands(s.units_expected));
            }
            rows.push(row);
        }
        let mut total = vec![
            String::new(),
            "total".into(),
            String::new(),
            thousands(w.requests),
            thousands(w.records),
            thousands(w.units),
        ];
        if expected {
            total.push(thousands(w.units_expected));
        }
        rows.push(total);
        writeln!(out, "{}", table(rows, 3))?;
        writeln!(
            out,
            "{} request{} take {} at {} requests/second",
            thousands(w.requests),
            if w.requests == 1 { "" } else { "s" },
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
        if b.reserve > 0 {
            write!(out, ", reserve {}", thousands(b.reserve))?;
        }
        if b.reserved > 0 {
            write!(out, ", {} reserved by running jobs", thousands(b.reserved))?;
        }
        writeln!(out, ", {} usable", thousands(b.usable))?;
    }
    for line in verdict_lines(report) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The verdict in words: the first line says it all.
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
        (Verdict::OverBudget, _) => lines.push("over budget".to_string()),
        (_, _) => lines.push(format!(
            "balance unknown: {} units planned; pass --units-left N or set SERANKING_API_KEY to compare",
            thousands(units)
        )),
    }
    for m in &a.over_max_units {
        lines.push(format!(
            "over budget: {} plans {} units, above its budget.max_units of {} (over by {})",
            m.workflow,
            thousands(m.units),
            thousands(m.max_units),
            thousands(m.units - m.max_units)
        ));
    }
    if let Some(o) = &a.overage {
        lines.push(format!(
            "overage: {} units beyond units_left would cost ${} at the {} {} {} rate (${} per 1M)",
            thousands(o.units),
            o.usd,
            o.tier,
            o.billing.as_str(),
            o.rate.as_str(),
            o.usd_per_million
        ));
    }
    lines
}

fn plan_markdown(out: &mut dyn Write, report: &PlanReport) -> io::Result<()> {
    let lines = verdict_lines(report);
    let icon = match report.assessment.verdict {
        Verdict::Fits => "✅",
        Verdict::OverBudget => "❌",
        Verdict::Unknown => "❔",
    };
    writeln!(
        out,
        "### {icon} budget: {}",
        lines.first().map(String::as_str).unwrap_or("")
    )?;
    writeln!(out)?;
    for w in report.workflows {
        writeln!(out, "#### {} (`{}`)", w.name, w.path.display())?;
        writeln!(out)?;
        let expected = shows_expected(w);
        let mut header = vec!["#", "step", "endpoint", "requests", "records", "units"];
        let mut right = vec![true, false, false, true, true, true];
        if expected {
            header.push("expected");
            right.push(true);
        }
        let mut rows: Vec<Vec<String>> = w
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut row = vec![
                    (i + 1).to_string(),
                    s.name.clone(),
                    format!("`{}`", s.endpoint),
                    thousands(s.requests),
                    thousands(s.records),
                    thousands(s.units),
                ];
                if expected {
                    row.push(thousands(s.units_expected));
                }
                row
            })
            .collect();
        let mut total = vec![
            String::new(),
            "**total**".into(),
            String::new(),
            thousands(w.requests),
            thousands(w.records),
            format!("**{}**", thousands(w.units)),
        ];
        if expected {
            total.push(thousands(w.units_expected));
        }
        rows.push(total);
        markdown_table(out, &header, &right, &rows)?;
        writeln!(out)?;
        writeln!(
            out,
            "{} requests, about {} at {} requests/second.",
            thousands(w.requests),
            duration(w.duration_seconds),
            w.rps
        )?;
        writeln!(out)?;
    }
    for line in lines.iter().skip(1) {
        writeln!(out, "- {line}")?;
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
    csv_row(out, &header.map(String::from))?;
    for w in report.workflows {
        for (i, s) in w.steps.iter().enumerate() {
            csv_row(
                out,
                &[
                    w.name.clone(),
                    w.path.display().to_string(),
                    (i + 1).to_string(),
                    s.name.clone(),
                    s.endpoint.clone(),
                    match s.per {
                        crate::pricing::Per::Record => "record".into(),
                        crate::pricing::Per::Request => "request".into(),
                    },
                    s.unit_cost.to_string(),
                    s.targets.to_string(),
                    s.sources.to_string(),
                    s.repeat.to_string(),
                    s.requests.to_string(),
                    s.records.to_string(),
                    s.units.to_string(),
                    s.units_expected.to_string(),
                ],
            )?;
        }
    }
    Ok(())
}
