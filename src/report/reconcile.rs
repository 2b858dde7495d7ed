//! Rendering a reconciliation: a saved plan against the guard's journals (`budget reconcile`).
//!
//! Tags, step and workflow names and endpoints come from files users write (the plan, the
//! journal): they are neutralised for each format by `safe` (see the rule in `report/mod.rs`).

use std::io::{self, Write};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::reconcile::{
    Actual, EndpointRow, Figures, JournalWarning, Planned, Reconciliation, StepName, StepRow,
    Unplanned, UnplannedRow,
};

pub fn reconcile(out: &mut dyn Write, format: Format, r: &Reconciliation) -> io::Result<()> {
    match format {
        Format::Table => reconcile_table(out, r),
        Format::Json => safe::json(out, &reconcile_json(r)),
        Format::Markdown => reconcile_markdown(out, r),
        Format::Csv => reconcile_csv(out, r),
    }
}

/// Warnings about the journals read, one per line.
pub fn journal_warnings(err: &mut dyn Write, warnings: &[&JournalWarning]) {
    for warning in warnings {
        let _ = writeln!(err, "{}", safe::terminal(&format!("warning: {warning}")));
    }
}

/// A ratio as a table shows it: `92.5%`, or `—` when nothing was planned.
fn ratio(value: Option<Decimal>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v}%"))
}

/// A ratio in JSON: a number with one decimal, or null.
fn ratio_json(value: Option<Decimal>) -> Value {
    value
        .and_then(|v| v.to_string().parse::<f64>().ok())
        .map_or(Value::Null, |v| json!(v))
}

/// `1 and 3`, `1, 2 and 4`; with workflow names when the steps span several.
fn step_list(steps: &[StepName]) -> String {
    let one_workflow = steps.windows(2).all(|w| w[0].workflow == w[1].workflow);
    let names: Vec<String> = steps
        .iter()
        .map(|s| {
            if one_workflow {
                s.number.to_string()
            } else {
                format!("{} {}", s.workflow, s.number)
            }
        })
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Why a row is unplanned, in words.
fn unplanned_text(row: &UnplannedRow) -> String {
    let quoted =
        |tag: &Option<String>| tag.as_deref().map(|t| format!("{t:?}")).unwrap_or_default();
    match row.reason {
        Unplanned::UnknownWorkflow => format!(
            "unplanned: workflow {} is not in the plan",
            quoted(&row.workflow)
        ),
        Unplanned::UnknownStep => {
            format!("unplanned: step {} is not in the plan", quoted(&row.step))
        }
        Unplanned::OtherEndpoint => format!(
            "unplanned: step {} plans another endpoint",
            quoted(&row.step)
        ),
        Unplanned::NotPlanned => "unplanned: no step calls this endpoint".into(),
    }
}

/// One table row's cells after `#`, step and endpoint: planned, actual, ratios, verdict.
fn figure_cells(f: &Figures, planned: bool, overrun: bool) -> Vec<String> {
    let (p, a) = (f.planned, f.actual);
    let dash = || "—".to_string();
    let mut cells = vec![
        if planned {
            thousands(p.requests)
        } else {
            dash()
        },
        if planned { thousands(p.units) } else { dash() },
        if planned {
            thousands(p.units_expected)
        } else {
            dash()
        },
        thousands(a.requests),
        thousands(a.units),
    ];
    if overrun {
        cells.push(thousands(a.overrun_units));
    }
    cells.push(ratio(f.worst_ratio()));
    cells.push(ratio(f.expected_ratio()));
    cells.push(if f.exceeded() {
        "over".into()
    } else {
        String::new()
    });
    cells
}

const HEADER: [&str; 12] = [
    "#",
    "step",
    "endpoint",
    "planned requests",
    "worst",
    "expected",
    "requests",
    "charged",
    "overrun",
    "% of worst",
    "% of expected",
    "",
];

/// The rows of the table (and Markdown), the header first; `text` and `code` dress user text and
/// endpoints for the format. Several workflows add a workflow column; the overrun column shows
/// only when some call was charged above its hold.
pub(super) fn rows(
    r: &Reconciliation,
    text: fn(&str) -> String,
    code: fn(&str) -> String,
) -> (Vec<String>, Vec<Vec<String>>) {
    let first = r.steps.first().map(|s| &s.step.workflow);
    let several = r.steps.iter().any(|s| Some(&s.step.workflow) != first);
    let overrun = r.total.actual.overrun_units > 0;
    let mut header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    if !overrun {
        header.remove(8);
    }
    if several {
        header.insert(0, "workflow".into());
    }
    let mut rows = Vec::new();
    let mut push = |workflow: &str, first: Vec<String>, figures: Vec<String>| {
        let mut row = Vec::new();
        if several {
            row.push(text(workflow));
        }
        row.extend(first);
        row.extend(figures);
        rows.push(row);
    };
    for s in &r.steps {
        push(
            &s.step.workflow,
            vec![
                s.step.number.to_string(),
                text(&s.step.name),
                code(&s.endpoint),
            ],
            figure_cells(&s.figures, true, overrun),
        );
    }
    for e in &r.endpoints {
        push(
            e.workflow.as_deref().unwrap_or(""),
            vec![
                String::new(),
                text(&format!(
                    "steps {} together ({} untagged call{})",
                    step_list(&e.steps),
                    thousands(e.untagged_calls),
                    if e.untagged_calls == 1 { "" } else { "s" }
                )),
                code(&e.endpoint),
            ],
            figure_cells(&e.figures, true, overrun),
        );
    }
    for u in &r.unplanned {
        push(
            u.workflow.as_deref().unwrap_or(""),
            vec![String::new(), text(&unplanned_text(u)), code(&u.endpoint)],
            figure_cells(&u.figures(), false, overrun),
        );
    }
    push(
        "",
        vec![String::new(), "total".into(), String::new()],
        figure_cells(&r.total, true, overrun),
    );
    (header, rows)
}

/// The verdict: the first line says it all; one line per row that exceeded its forecast.
pub fn reconcile_lines(r: &Reconciliation) -> Vec<String> {
    let mut lines = Vec::new();
    if r.forecast_held() {
        let t = &r.total;
        let mut line = format!(
            "forecast held: {} units charged, {} of the worst case ({})",
            thousands(t.actual.units),
            ratio(t.worst_ratio()),
            thousands(t.planned.units)
        );
        if t.planned.units_expected > 0 {
            line.push_str(&format!(
                " and {} of the expected {}",
                ratio(t.expected_ratio()),
                thousands(t.planned.units_expected)
            ));
        }
        lines.push(line);
        return lines;
    }
    for s in r.steps.iter().filter(|s| s.figures.exceeded()) {
        lines.push(step_exceeded(s));
    }
    for e in r.endpoints.iter().filter(|e| e.figures.exceeded()) {
        lines.push(endpoint_exceeded(e));
    }
    for u in r.unplanned.iter().filter(|u| u.figures().exceeded()) {
        let calls = u.actual.requests.saturating_add(u.actual.other_calls);
        lines.push(format!(
            "forecast exceeded: {} call{} to {} charged {} units that no step planned ({})",
            thousands(calls),
            if calls == 1 { "" } else { "s" },
            u.endpoint,
            thousands(u.actual.units),
            unplanned_text(u).trim_start_matches("unplanned: ")
        ));
    }
    if r.total.exceeded() {
        lines.push(format!(
            "forecast exceeded: {} units charged in total, above the plan's worst case of {} ({})",
            thousands(r.total.actual.units),
            thousands(r.total.planned.units),
            ratio(r.total.worst_ratio())
        ));
    }
    lines
}

fn step_exceeded(s: &StepRow) -> String {
    format!(
        "forecast exceeded: step {} ({}) of {}: {} units charged, above its worst case of {} ({})",
        s.step.number,
        s.step.name,
        s.step.workflow,
        thousands(s.figures.actual.units),
        thousands(s.figures.planned.units),
        ratio(s.figures.worst_ratio())
    )
}

fn endpoint_exceeded(e: &EndpointRow) -> String {
    format!(
        "forecast exceeded: {}{} steps {} together ({} untagged call{}): {} units charged, above their worst case of {} ({})",
        e.endpoint,
        e.workflow.as_deref().map(|w| format!(" in {w},")).unwrap_or_else(|| ",".into()),
        step_list(&e.steps),
        thousands(e.untagged_calls),
        if e.untagged_calls == 1 { "" } else { "s" },
        thousands(e.figures.actual.units),
        thousands(e.figures.planned.units),
        ratio(e.figures.worst_ratio())
    )
}

fn heading(r: &Reconciliation) -> String {
    let journals: Vec<String> = r.journals.iter().map(|j| j.display().to_string()).collect();
    format!(
        "forecast against actual: {} and {} ({} call{})",
        r.plan.display(),
        journals.join(", "),
        thousands(r.calls),
        if r.calls == 1 { "" } else { "s" }
    )
}

fn reconcile_table(out: &mut dyn Write, r: &Reconciliation) -> io::Result<()> {
    writeln!(out, "{}", safe::terminal(&heading(r)))?;
    let (header, body) = rows(r, str::to_string, str::to_string);
    let numeric_from = header
        .iter()
        .position(|h| h == "planned requests")
        .unwrap_or(0);
    let mut all = vec![header];
    all.extend(body);
    writeln!(out, "{}", table(all, numeric_from))?;
    for line in reconcile_lines(r) {
        writeln!(out, "{}", safe::terminal(&line))?;
    }
    Ok(())
}

fn reconcile_markdown(out: &mut dyn Write, r: &Reconciliation) -> io::Result<()> {
    let lines = reconcile_lines(r);
    let icon = if r.forecast_held() { "✅" } else { "❌" };
    writeln!(
        out,
        "### {icon} budget reconcile: {}",
        safe::markdown(lines.first().map(String::as_str).unwrap_or(""))
    )?;
    writeln!(out)?;
    for line in lines.iter().skip(1) {
        writeln!(out, "- {}", safe::markdown(line))?;
    }
    if lines.len() > 1 {
        writeln!(out)?;
    }
    writeln!(out, "{}", safe::markdown(&heading(r)))?;
    writeln!(out)?;
    let (header, body) = rows(r, safe::markdown, safe::markdown_code);
    let first_number = header
        .iter()
        .position(|h| h == "planned requests")
        .unwrap_or(0);
    let right: Vec<bool> = (0..header.len()).map(|i| i >= first_number).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    markdown_table(out, &header, &right, &body)
}

fn planned_json(p: &Planned) -> Value {
    json!({"requests": p.requests, "units": p.units, "units_expected": p.units_expected})
}

fn actual_json(a: &Actual) -> Value {
    json!({"requests": a.requests, "units": a.units, "overrun_units": a.overrun_units,
           "other_calls": a.other_calls})
}

fn step_name_json(s: &StepName) -> Value {
    json!({"workflow": s.workflow, "number": s.number, "step": s.name})
}

/// The JSON contract of docs/reconcile.md.
pub fn reconcile_json(r: &Reconciliation) -> Value {
    let figures = |f: &Figures| {
        (
            planned_json(&f.planned),
            actual_json(&f.actual),
            ratio_json(f.worst_ratio()),
            ratio_json(f.expected_ratio()),
            f.exceeded(),
        )
    };
    let mut steps: Vec<Value> = r
        .steps
        .iter()
        .map(|s| {
            let (planned, actual, worst, expected, exceeded) = figures(&s.figures);
            json!({"kind": "step", "workflow": s.step.workflow, "step": s.step.name,
                   "number": s.step.number, "endpoint": s.endpoint, "planned": planned,
                   "actual": actual, "worst_ratio": worst, "expected_ratio": expected,
                   "exceeded": exceeded})
        })
        .collect();
    steps.extend(r.endpoints.iter().map(|e| {
        let (planned, actual, worst, expected, exceeded) = figures(&e.figures);
        json!({"kind": "endpoint", "workflow": e.workflow, "step": null, "number": null,
               "endpoint": e.endpoint,
               "covers": e.steps.iter().map(step_name_json).collect::<Vec<_>>(),
               "untagged_calls": e.untagged_calls, "planned": planned, "actual": actual,
               "worst_ratio": worst, "expected_ratio": expected, "exceeded": exceeded})
    }));
    let unplanned: Vec<Value> = r
        .unplanned
        .iter()
        .map(|u| {
            json!({"workflow": u.workflow, "step": u.step, "endpoint": u.endpoint,
                   "reason": u.reason, "actual": actual_json(&u.actual),
                   "exceeded": u.figures().exceeded()})
        })
        .collect();
    let (planned, actual, worst, expected, exceeded) = figures(&r.total);
    json!({
        "version": 1,
        "plan": r.plan.display().to_string(),
        "journal": r.journals.iter().map(|j| j.display().to_string()).collect::<Vec<_>>(),
        "calls": r.calls,
        "steps": steps,
        "unplanned": unplanned,
        "total": {"planned": planned, "actual": actual, "worst_ratio": worst,
                  "expected_ratio": expected, "exceeded": exceeded},
        "forecast_held": r.forecast_held(),
    })
}

fn reconcile_csv(out: &mut dyn Write, r: &Reconciliation) -> io::Result<()> {
    csv_header(
        out,
        &[
            "kind",
            "workflow",
            "number",
            "step",
            "endpoint",
            "planned_requests",
            "planned_units",
            "planned_units_expected",
            "requests",
            "units",
            "overrun_units",
            "other_calls",
            "worst_ratio",
            "expected_ratio",
            "exceeded",
        ],
    )?;
    let figures = |f: &Figures, planned: bool| -> Vec<Cell> {
        let (p, a) = (f.planned, f.actual);
        let opt = |v: u64| Cell::optional(planned.then_some(v));
        vec![
            opt(p.requests),
            opt(p.units),
            opt(p.units_expected),
            Cell::number(a.requests),
            Cell::number(a.units),
            Cell::number(a.overrun_units),
            Cell::number(a.other_calls),
            Cell::optional(f.worst_ratio()),
            Cell::optional(f.expected_ratio()),
            Cell::number(f.exceeded()),
        ]
    };
    let text = |t: &str| Cell::text(t);
    for s in &r.steps {
        let mut row = vec![
            text("step"),
            text(&s.step.workflow),
            Cell::number(s.step.number),
            text(&s.step.name),
            text(&s.endpoint),
        ];
        row.extend(figures(&s.figures, true));
        csv_row(out, &row)?;
    }
    for e in &r.endpoints {
        let mut row = vec![
            text("endpoint"),
            text(e.workflow.as_deref().unwrap_or("")),
            Cell::optional(None::<u64>),
            text(&format!("steps {}", step_list(&e.steps))),
            text(&e.endpoint),
        ];
        row.extend(figures(&e.figures, true));
        csv_row(out, &row)?;
    }
    for u in &r.unplanned {
        let mut row = vec![
            text("unplanned"),
            text(u.workflow.as_deref().unwrap_or("")),
            Cell::optional(None::<u64>),
            text(u.step.as_deref().unwrap_or("")),
            text(&u.endpoint),
        ];
        row.extend(figures(&u.figures(), false));
        csv_row(out, &row)?;
    }
    let mut row = vec![
        text("total"),
        text(""),
        Cell::optional(None::<u64>),
        text(""),
        text(""),
    ];
    row.extend(figures(&r.total, true));
    csv_row(out, &row)
}
