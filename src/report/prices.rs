//! Rendering the active pricing.

use std::io::{self, Write};

use serde_json::json;

use super::overage::dollars;
use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::pricing::{Endpoint, Per, Pricing, RecordKind, OVERLAY_FLAG};

fn units_text(e: &Endpoint) -> String {
    e.units.map_or_else(|| "unknown".into(), thousands)
}

fn record_text(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Target => "target",
        RecordKind::Row => "row",
        RecordKind::Period => "period",
        RecordKind::Day => "day",
    }
}

/// `measured`, or `measured, disputed` when another source gives a different figure.
fn evidence_text(e: &Endpoint) -> String {
    if e.disputed() {
        format!("{}, disputed", e.evidence.as_str())
    } else {
        e.evidence.as_str().to_string()
    }
}

/// The notes and disputes of the catalogue, one line each, for people.
fn note_lines(pricing: &Pricing) -> Vec<String> {
    let mut lines = Vec::new();
    for e in pricing.endpoints.values() {
        if let Some(note) = &e.note {
            lines.push(format!("{}: {note}", e.name));
        }
        for d in &e.disputes {
            lines.push(format!(
                "{}: disputed: {} ({}: {}); the catalogue uses {} units, which forecasts more",
                e.name,
                d.figure,
                d.evidence.as_str(),
                d.reference,
                units_text(e)
            ));
        }
    }
    if pricing.endpoints.values().any(|e| e.units.is_none()) {
        lines.push(format!(
            "units unknown: no source publishes the price; planning such an endpoint is an error and the guard refuses it until a pricing overlay ({OVERLAY_FLAG}) sets it"
        ));
    }
    lines
}

/// The HTTP methods an entry prices, e.g. `GET POST`.
fn methods_text(e: &Endpoint) -> String {
    e.methods.join(" ")
}

fn endpoint_row(e: &Endpoint) -> Vec<String> {
    vec![
        e.name.clone(),
        methods_text(e),
        match e.per {
            Per::Record => "record".into(),
            Per::Request => "request".into(),
        },
        units_text(e),
        record_text(e.record).into(),
        thousands(e.max_batch),
        match e.limit {
            Some(l) => format!(
                "{}/{}{}",
                thousands(l.default),
                thousands(l.max),
                if e.paged { " paged" } else { "" }
            ),
            None => "-".into(),
        },
        if e.source { "yes".into() } else { "no".into() },
        evidence_text(e),
    ]
}

const ENDPOINT_HEADER: [&str; 9] = [
    "endpoint",
    "methods",
    "per",
    "units",
    "record",
    "max batch",
    "rows default/max",
    "source",
    "evidence",
];
const TIER_HEADER: [&str; 6] = [
    "tier",
    "credits",
    "plan",
    "plan yearly",
    "addon",
    "addon yearly",
];

fn tier_rows(pricing: &Pricing) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = pricing
        .overage
        .tiers
        .iter()
        .map(|t| {
            vec![
                t.tier.clone(),
                thousands(t.credits),
                dollars(t.plan),
                dollars(t.plan_yearly),
                dollars(t.addon),
                dollars(t.addon_yearly),
            ]
        })
        .collect();
    rows.push(
        ["enterprise", "-", "custom", "custom", "custom", "custom"]
            .map(String::from)
            .to_vec(),
    );
    rows
}

pub fn prices(out: &mut dyn Write, format: Format, pricing: &Pricing) -> io::Result<()> {
    match format {
        Format::Table => {
            let title = format!(
                "{} (effective {}), {}",
                pricing.name, pricing.effective, pricing.origin
            );
            writeln!(out, "{}", safe::terminal(&title))?;
            let mut rows = vec![ENDPOINT_HEADER.map(String::from).to_vec()];
            rows.extend(pricing.endpoints.values().map(endpoint_row));
            writeln!(out, "{}", table(rows, 3))?;
            let notes = note_lines(pricing);
            if !notes.is_empty() {
                writeln!(out, "notes:")?;
                for line in &notes {
                    writeln!(out, "  {}", safe::terminal(line))?;
                }
            }
            writeln!(
                out,
                "rate limit: {} requests/second per key",
                pricing.requests_per_second
            )?;
            let sources = pricing
                .sources
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            writeln!(
                out,
                "{}",
                safe::terminal(&format!("regional databases: {sources}"))
            )?;
            writeln!(out)?;
            writeln!(
                out,
                "overage, {} per {} units beyond the monthly credits:",
                pricing.overage.currency,
                thousands(pricing.overage.per_units)
            )?;
            let mut rows = vec![TIER_HEADER.map(String::from).to_vec()];
            rows.extend(tier_rows(pricing));
            writeln!(out, "{}", table(rows, 1))
        }
        Format::Markdown => {
            writeln!(
                out,
                "### {} (effective {})",
                safe::markdown(&pricing.name),
                pricing.effective
            )?;
            writeln!(out)?;
            // The pricing file's text (endpoint, tier, ref) is escaped; the rest are figures.
            let escaped = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
                rows.into_iter()
                    .map(|mut row| {
                        row[0] = safe::markdown(&row[0]);
                        row
                    })
                    .collect()
            };
            let rows: Vec<Vec<String>> = escaped(
                pricing
                    .endpoints
                    .values()
                    .map(|e| {
                        let mut row = endpoint_row(e);
                        row.push(safe::markdown(&e.reference));
                        row
                    })
                    .collect(),
            );
            let mut header = ENDPOINT_HEADER.to_vec();
            header.push("ref");
            markdown_table(
                out,
                &header,
                &[
                    false, false, false, true, false, true, true, false, false, false,
                ],
                &rows,
            )?;
            writeln!(out)?;
            let notes = note_lines(pricing);
            for line in &notes {
                writeln!(out, "- {}", safe::markdown(line))?;
            }
            if !notes.is_empty() {
                writeln!(out)?;
            }
            markdown_table(
                out,
                &TIER_HEADER,
                &[false, true, true, true, true, true],
                &escaped(tier_rows(pricing)),
            )
        }
        Format::Csv => {
            csv_header(
                out,
                &[
                    "endpoint",
                    "methods",
                    "per",
                    "units",
                    "record",
                    "max_batch",
                    "limit_default",
                    "limit_max",
                    "paged",
                    "source",
                    "evidence",
                    "ref",
                    "note",
                    "disputes",
                ],
            )?;
            for e in pricing.endpoints.values() {
                csv_row(
                    out,
                    &[
                        Cell::text(e.name.as_str()),
                        Cell::text(methods_text(e)),
                        Cell::text(format!("{:?}", e.per).to_lowercase()),
                        match e.units {
                            Some(units) => Cell::number(units),
                            None => Cell::text("unknown"),
                        },
                        Cell::text(record_text(e.record)),
                        Cell::number(e.max_batch),
                        Cell::optional(e.limit.map(|l| l.default)),
                        Cell::optional(e.limit.map(|l| l.max)),
                        Cell::text(e.paged.to_string()),
                        Cell::text(e.source.to_string()),
                        Cell::text(e.evidence.as_str()),
                        Cell::text(e.reference.as_str()),
                        Cell::text(e.note.clone().unwrap_or_default()),
                        Cell::text(
                            e.disputes
                                .iter()
                                .map(|d| {
                                    format!(
                                        "{} ({}: {})",
                                        d.figure,
                                        d.evidence.as_str(),
                                        d.reference
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    ],
                )?;
            }
            Ok(())
        }
        Format::Json => {
            let value = json!({
                "name": pricing.name,
                "effective": pricing.effective.to_string(),
                "source": pricing.source,
                "requests_per_second": pricing.requests_per_second,
                "overlays": pricing.overlays.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "endpoints": pricing.endpoints.values().collect::<Vec<_>>(),
                "sources": pricing.sources,
                "source_aliases": pricing.source_aliases,
                "overage": {
                    "currency": pricing.overage.currency,
                    "per_units": pricing.overage.per_units,
                    "tiers": pricing.overage.tiers.iter().map(|t| json!({
                        "tier": t.tier, "credits": t.credits,
                        "plan": t.plan.to_string(), "plan_yearly": t.plan_yearly.to_string(),
                        "addon": t.addon.to_string(), "addon_yearly": t.addon_yearly.to_string(),
                    })).collect::<Vec<_>>(),
                    "enterprise": "custom",
                },
            });
            safe::json(out, &value)
        }
    }
}
