//! Rendering the active pricing.

use std::io::{self, Write};

use serde_json::json;

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::pricing::{Endpoint, Per, Pricing, RecordKind};

fn endpoint_row(e: &Endpoint) -> Vec<String> {
    vec![
        e.name.clone(),
        match e.per {
            Per::Record => "record".into(),
            Per::Request => "request".into(),
        },
        thousands(e.units),
        match e.record {
            RecordKind::Target => "target".into(),
            RecordKind::Row => "row".into(),
        },
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
    ]
}

const ENDPOINT_HEADER: [&str; 7] = [
    "endpoint",
    "per",
    "units",
    "record",
    "max batch",
    "rows default/max",
    "source",
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
                format!("${}", t.plan),
                format!("${}", t.plan_yearly),
                format!("${}", t.addon),
                format!("${}", t.addon_yearly),
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
            writeln!(out, "{}", table(rows, 2))?;
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
            // The first column (endpoint, tier) is the pricing file's text; the rest are figures.
            let escaped = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
                rows.into_iter()
                    .map(|mut row| {
                        row[0] = safe::markdown(&row[0]);
                        row
                    })
                    .collect()
            };
            let rows = escaped(pricing.endpoints.values().map(endpoint_row).collect());
            markdown_table(
                out,
                &ENDPOINT_HEADER,
                &[false, false, true, false, true, true, false],
                &rows,
            )?;
            writeln!(out)?;
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
                    "per",
                    "units",
                    "record",
                    "max_batch",
                    "limit_default",
                    "limit_max",
                    "paged",
                    "source",
                ],
            )?;
            for e in pricing.endpoints.values() {
                csv_row(
                    out,
                    &[
                        Cell::text(e.name.as_str()),
                        Cell::text(format!("{:?}", e.per).to_lowercase()),
                        Cell::number(e.units),
                        Cell::text(format!("{:?}", e.record).to_lowercase()),
                        Cell::number(e.max_batch),
                        Cell::optional(e.limit.map(|l| l.default)),
                        Cell::optional(e.limit.map(|l| l.max)),
                        Cell::text(e.paged.to_string()),
                        Cell::text(e.source.to_string()),
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
                "endpoints": pricing.endpoints.values().collect::<Vec<_>>(),
                "sources": pricing.sources,
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
