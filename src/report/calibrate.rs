//! What `budget calibrate` tells people: the refusal, the warning, progress while the meter
//! settles, the measured prices against the catalogue, and the pricing overlay it writes.
//!
//! Endpoint names come from the pricing file and targets from the command line: user text,
//! neutralised by `safe` for each format (see the rule in `report/mod.rs`).

use std::io::{self, Write};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::calibrate::{CalPlan, Event, Measurement, Outcome, Settings};
use crate::pricing::{Per, RecordKind};

/// What one item of an endpoint is, for "15 per target".
fn item(m: &Measurement) -> &'static str {
    match (m.call.endpoint.per, m.call.endpoint.record) {
        (Per::Request, _) => "request",
        (Per::Record, RecordKind::Target) => "target",
        (Per::Record, RecordKind::Row) => "row",
        (Per::Record, RecordKind::Period) => "period",
        (Per::Record, RecordKind::Day) => "day",
    }
}

fn seconds(d: std::time::Duration) -> String {
    super::duration(d.as_secs_f64())
}

/// The refusal when the catalogue's worst case passes `--max-units`.
pub fn calibrate_over_max(plan: &CalPlan, max_units: u64) -> Vec<String> {
    let mut lines = vec![format!(
        "over budget: calibrating would cost up to {} units by the catalogue, above --max-units {}; nothing was sent (raise --max-units, or name fewer endpoints or targets)",
        thousands(plan.worst),
        thousands(max_units)
    )];
    lines.extend(plan.calls.iter().map(|c| {
        format!(
            "  {}: {} target{}{}: up to {} units",
            c.endpoint.name,
            c.targets.len(),
            if c.targets.len() == 1 { "" } else { "s" },
            c.rows.map(|r| format!(", {r} rows")).unwrap_or_default(),
            thousands(c.worst)
        )
    }));
    lines
}

/// The refusal when the balance cannot pay the worst case.
pub fn calibrate_over_balance(plan: &CalPlan, units_left: u64) -> String {
    format!(
        "over budget: calibrating would cost up to {} units by the catalogue, above the {} units left; nothing was sent",
        thousands(plan.worst),
        thousands(units_left)
    )
}

/// What calibration is about to do, and the warning about other jobs.
pub fn calibrate_started(plan: &CalPlan, settings: &Settings) -> Vec<String> {
    vec![
        format!(
            "calibrating {} endpoint{} (up to {} units by the catalogue): the balance is read every {} until two reads agree, before and after each call (at most {} each)",
            plan.calls.len(),
            if plan.calls.len() == 1 { "" } else { "s" },
            thousands(plan.worst),
            seconds(settings.interval),
            seconds(settings.timeout)
        ),
        "warning: the measurement is the balance's change: any other job using this API key meanwhile spoils it; run calibrate when the key is idle".into(),
    ]
}

/// One line of progress.
pub fn calibrate_event(event: &Event, settings: &Settings) -> String {
    match event {
        Event::Waiting {
            endpoint,
            after_call: false,
        } => format!("{endpoint}: waiting for the balance to settle before the call"),
        Event::Waiting {
            endpoint,
            after_call: true,
        } => format!(
            "{endpoint}: waiting for the meter to show the call (the live balance settles 20–60 s late; reads every {})",
            seconds(settings.interval)
        ),
        Event::Balance {
            endpoint,
            after_call,
            units_left,
        } => format!(
            "{endpoint}: balance {} {}",
            thousands(*units_left),
            if *after_call { "after the call" } else { "before the call" }
        ),
        Event::Called {
            endpoint,
            status: Some(status),
        } => format!("{endpoint}: the API answered {status}"),
        Event::Called {
            endpoint,
            status: None,
        } => format!("{endpoint}: no reply from the API"),
    }
}

/// Why an endpoint was not measured.
fn reason(m: &Measurement) -> String {
    match &m.outcome {
        Outcome::Measured { .. } => String::new(),
        Outcome::Refused { status, message } => {
            format!("the API refused the call (HTTP {status}: {message}); nothing was billed")
        }
        Outcome::NoReply { reason } => match (m.before, m.after) {
            (Some(b), Some(a)) => format!(
                "no complete reply ({reason}); the balance moved by {} units",
                thousands(b.saturating_sub(a))
            ),
            _ => format!("no reply ({reason})"),
        },
        Outcome::Unsettled { last } => format!(
            "the balance did not settle within --settle-timeout (last read {}); is another job using the key?",
            thousands(*last)
        ),
        Outcome::BalanceRose { after } => format!(
            "the balance rose to {} (a refund or top-up meanwhile)",
            thousands(*after)
        ),
        Outcome::BalanceUnreadable { reason } => format!("the balance could not be read: {reason}"),
        Outcome::Skipped { spent } => format!(
            "not called: {} units measured so far, and this call's worst case would pass --max-units",
            thousands(*spent)
        ),
    }
}

/// `1 → 15 per target`, or `100 per target` when they agree.
fn per_item(m: &Measurement) -> String {
    // A call of unknown price is never made (calibrate refuses it); say so should one appear.
    let Some(catalogue) = m.call.endpoint.units else {
        return format!("unknown per {}", item(m));
    };
    match m.verdict().and_then(|v| v.measured_unit_price) {
        Some(measured) if measured == Decimal::from(catalogue) => {
            format!("{} per {}", thousands(catalogue), item(m))
        }
        Some(measured) => format!("{} → {measured} per {}", thousands(catalogue), item(m)),
        None => format!("{} per {} (catalogue)", thousands(catalogue), item(m)),
    }
}

fn verdict_text(m: &Measurement) -> String {
    match m.verdict() {
        Some(v) if v.agrees() => "agrees".into(),
        Some(v) => format!(
            "differs by {}{}",
            if v.difference > 0 { "+" } else { "-" },
            thousands(u64::try_from(v.difference.unsigned_abs()).unwrap_or(u64::MAX))
        ),
        None => format!("not measured: {}", reason(m)),
    }
}

const HEADER: [&str; 7] = [
    "endpoint",
    "targets",
    "rows",
    "catalogue",
    "measured",
    "per item",
    "verdict",
];

fn rows(measured: &[Measurement], code: fn(&str) -> String) -> Vec<Vec<String>> {
    measured
        .iter()
        .map(|m| {
            let v = m.verdict();
            vec![
                code(&m.call.endpoint.name),
                m.call.targets.len().to_string(),
                m.rows.or(m.call.rows).map_or_else(|| "—".into(), thousands),
                thousands(v.as_ref().map_or(m.call.worst, |v| v.catalogue_units)),
                v.as_ref()
                    .map_or_else(|| "—".into(), |v| thousands(v.measured_units)),
                per_item(m),
                verdict_text(m),
            ]
        })
        .collect()
}

/// The closing line: units measured against the catalogue's.
fn summary(measured: &[Measurement]) -> String {
    let verdicts: Vec<_> = measured.iter().filter_map(Measurement::verdict).collect();
    let units: u64 = verdicts.iter().map(|v| v.measured_units).sum();
    let catalogue: u64 = verdicts.iter().map(|v| v.catalogue_units).sum();
    let differ = verdicts.iter().filter(|v| !v.agrees()).count();
    format!(
        "{} of {} endpoint{} measured: {} units billed, {} by the catalogue; {}",
        verdicts.len(),
        measured.len(),
        if measured.len() == 1 { "" } else { "s" },
        thousands(units),
        thousands(catalogue),
        match differ {
            0 => "the catalogue agrees".to_string(),
            1 => "1 price differs from the catalogue".to_string(),
            n => format!("{n} prices differ from the catalogue"),
        }
    )
}

pub fn calibrate(out: &mut dyn Write, format: Format, measured: &[Measurement]) -> io::Result<()> {
    match format {
        Format::Table => {
            let mut all = vec![HEADER.map(String::from).to_vec()];
            all.extend(rows(measured, str::to_string));
            writeln!(out, "{}", table(all, 1))?;
            writeln!(out, "{}", safe::terminal(&summary(measured)))
        }
        Format::Markdown => {
            writeln!(
                out,
                "### budget calibrate: {}",
                safe::markdown(&summary(measured))
            )?;
            writeln!(out)?;
            let body: Vec<Vec<String>> = rows(measured, safe::markdown_code)
                .into_iter()
                .map(|mut row| {
                    for cell in row.iter_mut().skip(1) {
                        *cell = safe::markdown(cell);
                    }
                    row
                })
                .collect();
            markdown_table(
                out,
                &HEADER,
                &[false, true, true, true, true, false, false],
                &body,
            )
        }
        Format::Json => safe::json(out, &calibrate_json(measured)),
        Format::Csv => {
            csv_header(
                out,
                &[
                    "endpoint",
                    "targets",
                    "rows",
                    "catalogue_units",
                    "measured_units",
                    "catalogue_unit_price",
                    "measured_unit_price",
                    "difference",
                    "verdict",
                ],
            )?;
            for m in measured {
                let v = m.verdict();
                csv_row(
                    out,
                    &[
                        Cell::text(&m.call.endpoint.name),
                        Cell::number(m.call.targets.len()),
                        Cell::optional(m.rows),
                        Cell::number(v.as_ref().map_or(m.call.worst, |v| v.catalogue_units)),
                        Cell::optional(v.as_ref().map(|v| v.measured_units)),
                        Cell::optional(m.call.endpoint.units),
                        Cell::optional(v.as_ref().and_then(|v| v.measured_unit_price)),
                        Cell::optional(v.as_ref().map(|v| v.difference)),
                        Cell::text(verdict_word(m)),
                    ],
                )?;
            }
            Ok(())
        }
    }
}

fn verdict_word(m: &Measurement) -> &'static str {
    match m.verdict() {
        Some(v) if v.agrees() => "agrees",
        Some(_) => "differs",
        None => "not_measured",
    }
}

/// The JSON of docs/reconcile.md "Measuring real prices".
pub fn calibrate_json(measured: &[Measurement]) -> Value {
    let endpoints: Vec<Value> = measured
        .iter()
        .map(|m| {
            let v = m.verdict();
            json!({
                "endpoint": m.call.endpoint.name,
                "targets": m.call.targets,
                "rows_asked": m.call.rows,
                "rows_returned": m.rows,
                "item": item(m),
                "catalogue_unit_price": m.call.endpoint.units,
                "catalogue_units": v.as_ref().map_or(m.call.worst, |v| v.catalogue_units),
                "measured_units": v.as_ref().map(|v| v.measured_units),
                "measured_unit_price": v.as_ref().and_then(|v| v.measured_unit_price)
                    .and_then(|d| d.to_string().parse::<f64>().ok()),
                "difference": v.as_ref().map(|v| v.difference),
                "verdict": verdict_word(m),
                "reason": v.is_none().then(|| reason(m)),
                "balance_before": m.before,
                "balance_after": m.after,
            })
        })
        .collect();
    json!({"version": 1, "endpoints": endpoints})
}

/// Endpoints whose price was measured as a whole number of units per item.
pub fn overlay_entries(measured: &[Measurement]) -> usize {
    measured
        .iter()
        .filter(|m| m.verdict().and_then(|v| v.whole_unit_price()).is_some())
        .count()
}

/// A pricing overlay of the prices measured exactly: `endpoints:` with `units`,
/// `evidence: measured` and `ref` per entry (the catalogue's other fields stay as they are).
pub fn overlay(out: &mut dyn Write, measured: &[Measurement], when: &str) -> io::Result<()> {
    writeln!(
        out,
        "# Pricing overlay written by `budget calibrate` at {when}: prices measured by the live"
    )?;
    writeln!(
        out,
        "# balance before and after one call per endpoint. Lay it over the pricing with"
    )?;
    writeln!(
        out,
        "# `budget plan --pricing-overlay FILE`, or copy the entries into a pricing file."
    )?;
    writeln!(out, "endpoints:")?;
    for m in measured {
        let Some((v, price)) = m
            .verdict()
            .and_then(|v| v.whole_unit_price().map(|p| (v, p)))
        else {
            continue;
        };
        let reference = format!(
            "budget calibrate {when}: one call with {} target{}{} billed {} units, {price} per {} (the catalogue said {})",
            m.call.targets.len(),
            if m.call.targets.len() == 1 { "" } else { "s" },
            match (m.call.endpoint.record, m.rows) {
                (RecordKind::Row, Some(rows)) => format!(" returning {rows} rows"),
                _ => String::new(),
            },
            v.measured_units,
            item(m),
            m.call
                .endpoint
                .units
                .map_or_else(|| "unknown".to_string(), |u| u.to_string())
        );
        writeln!(out, "  {}:", super::profile::key(&m.call.endpoint.name))?;
        writeln!(out, "    units: {price}")?;
        writeln!(out, "    evidence: measured")?;
        writeln!(out, "    ref: {}", yaml_string(&reference))?;
    }
    Ok(())
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// What writing the overlay did.
pub fn overlay_written(path: &str, entries: usize) -> String {
    match entries {
        0 => format!(
            "no price was measured as a whole number of units: the pricing overlay {path} was not written"
        ),
        n => format!(
            "pricing overlay {path}: {n} measured price{}",
            if n == 1 { "" } else { "s" }
        ),
    }
}
