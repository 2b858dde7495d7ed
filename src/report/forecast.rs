//! Rendering `budget forecast`.

use std::io::{self, Write};
use std::path::PathBuf;

use serde_json::{json, Value};

use super::overage::{dollars, money};
use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::estimate::{Balance, BalanceSource};
use crate::finance::{rfc3339, PoolSpend, Projection, ProjectionCost};

/// What a forecast shows.
pub struct ForecastReport<'a> {
    pub projection: &'a Projection,
    /// The workflow files, in the projection's order.
    pub paths: &'a [PathBuf],
    pub balance: Option<&'a Balance>,
    /// Where the period end came from.
    pub period_end_source: BalanceSource,
    /// The overage priced at the account tier; `None` without a balance, or with overage off.
    pub cost: Option<&'a ProjectionCost>,
    /// Overage is off (no account declares `overage: plan|addon`): the jobs stop when the balance
    /// runs out instead of running into overage.
    pub overage_off: bool,
    /// How the subscription and wallet pools fare; `None` unless the live balance gave them.
    pub pools: Option<&'a PoolSpend>,
    /// Things the reader should know (no account, no schedule ...).
    pub notes: &'a [String],
    /// The run was `--offline`: that is why no balance is known, when none is.
    pub offline: bool,
}

fn source_name(source: BalanceSource) -> &'static str {
    match source {
        BalanceSource::Live => "live",
        BalanceSource::Flag => "flag",
    }
}

/// `lasts`, `runs_out` or `unknown`, as the JSON's `verdict`.
pub(super) fn verdict(report: &ForecastReport) -> &'static str {
    match (report.balance, report.projection.runs_out()) {
        (None, _) => "unknown",
        (Some(_), true) => "runs_out",
        (Some(_), false) => "lasts",
    }
}

pub fn forecast_json(report: &ForecastReport) -> Value {
    let p = report.projection;
    let cost = report.cost;
    json!({
        "version": 1,
        "now": rfc3339(p.now),
        "period_end": rfc3339(p.period_end),
        "period_end_source": source_name(report.period_end_source),
        "balance": report.balance.map(|b| json!({
            "source": source_name(b.source),
            "units_left": b.units_left,
            "pools": b.pools.map(|pools| json!({"subscription": pools.subscription, "wallet": pools.wallet})),
            "reserved": b.reserved,
            "spendable": p.spendable,
        })),
        "pools": report.pools.map(|s| json!({
            "subscription": s.subscription,
            "wallet": s.wallet,
            "subscription_spent": s.subscription_spent,
            "subscription_expiring_unused": s.subscription_unused,
            "wallet_spent": s.wallet_spent,
            "wallet_from": s.wallet_from.map(|d| d.to_string()),
        })),
        "account": cost.map(|c| json!({
            "tier": c.account.tier,
            "billing": c.account.billing.as_str(),
            "rate": c.rate.as_str(),
            "usd_per_million": money(c.usd_per_million),
        })),
        "workflows": p.workflows.iter().enumerate().map(|(i, w)| json!({
            "name": w.name,
            "path": report.paths.get(i).map(|p| p.display().to_string()),
            "schedule": w.schedule.to_string(),
            "runs": w.runs,
            "units_per_run": w.units_per_run,
            "units": w.units,
            "first_run": w.first_run.map(rfc3339),
            "last_run": w.last_run.map(rfc3339),
            "exhausted_on": w.exhausted_on.map(|d| d.to_string()),
            "overage_units": w.overage_units,
            "overage_usd": cost.and_then(|c| c.workflows.get(i)).map(|usd| money(*usd)),
        })).collect::<Vec<_>>(),
        "total": {
            "runs": p.total.runs,
            "units": p.total.units,
            "exhausted_on": p.total.exhausted_on.map(|d| d.to_string()),
            "overage_units": p.total.overage_units,
            "overage_usd": cost.map(|c| money(c.total)),
            "stops_on": p.total.exhausted_on.filter(|_| report.overage_off).map(|d| d.to_string()),
        },
        "verdict": verdict(report),
        "notes": report.notes,
    })
}

pub fn forecast(out: &mut dyn Write, format: Format, report: &ForecastReport) -> io::Result<()> {
    match format {
        Format::Json => safe::json(out, &forecast_json(report)),
        Format::Csv => forecast_csv(out, report),
        Format::Table | Format::Markdown => forecast_text(out, format, report),
    }
}

const HEADER: [&str; 8] = [
    "workflow",
    "schedule",
    "runs",
    "units/run",
    "projected",
    "exhausted on",
    "overage units",
    "overage cost",
];

fn dash() -> String {
    "-".into()
}

fn forecast_text(out: &mut dyn Write, format: Format, report: &ForecastReport) -> io::Result<()> {
    let p = report.projection;
    let cost = report.cost;
    let mut rows: Vec<Vec<String>> = p
        .workflows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            vec![
                w.name.clone(),
                w.schedule.to_string(),
                thousands(w.runs),
                thousands(w.units_per_run),
                thousands(w.units),
                w.exhausted_on.map(|d| d.to_string()).unwrap_or_else(dash),
                w.overage_units.map(thousands).unwrap_or_else(dash),
                cost.and_then(|c| c.workflows.get(i))
                    .map(|usd| dollars(*usd))
                    .unwrap_or_else(dash),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        String::new(),
        thousands(p.total.runs),
        String::new(),
        thousands(p.total.units),
        p.total
            .exhausted_on
            .map(|d| d.to_string())
            .unwrap_or_else(dash),
        p.total.overage_units.map(thousands).unwrap_or_else(dash),
        cost.map(|c| dollars(c.total)).unwrap_or_else(dash),
    ]);
    let period_source = match report.period_end_source {
        BalanceSource::Live => "subscription expiry",
        BalanceSource::Flag => "--period-end",
    };
    let heading = format!(
        "forecast from {} to {} (period end from {period_source})",
        rfc3339(p.now),
        rfc3339(p.period_end)
    );
    if format == Format::Markdown {
        writeln!(out, "### {}", safe::markdown(&heading))?;
        writeln!(out)?;
        for row in &mut rows {
            row[0] = safe::markdown(&row[0]);
        }
        if let Some(total) = rows.last_mut() {
            total[0] = "**total**".into();
        }
        markdown_table(
            out,
            &HEADER,
            &[false, false, true, true, true, true, true, true],
            &rows,
        )?;
        writeln!(out)?;
        for line in summary_lines(report) {
            writeln!(out, "- {}", safe::markdown(&line))?;
        }
        return Ok(());
    }
    writeln!(out, "{}", safe::terminal(&heading))?;
    let mut all = vec![HEADER.map(String::from).to_vec()];
    all.extend(rows);
    writeln!(out, "{}", table(all, 2))?;
    for line in summary_lines(report) {
        writeln!(out, "{}", safe::terminal(&line))?;
    }
    Ok(())
}

/// The balance, the verdict in words, then the notes: raw text, neutralised by the caller per
/// line.
pub fn summary_lines(report: &ForecastReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(b) = report.balance {
        let source = match b.source {
            BalanceSource::Live => "live",
            BalanceSource::Flag => "--units-left",
        };
        let mut line = format!("balance ({source}): {} units left", thousands(b.units_left));
        if let Some(pools) = super::plan::pools_text(b.pools.as_ref(), b.status.as_deref()) {
            line.push_str(&format!(" ({pools})"));
        }
        if b.reserved > 0 {
            line.push_str(&format!(
                ", {} reserved by running jobs",
                thousands(b.reserved)
            ));
        }
        lines.push(line);
    }
    lines.push(verdict_line(report));
    if let Some(s) = report.pools {
        lines.push(pools_line(s));
    }
    lines.extend(report.notes.iter().cloned());
    lines
}

/// The forecast's verdict in one line: lasts, runs out (when, and what it costs or where the
/// jobs stop), or unknown.
pub(super) fn verdict_line(report: &ForecastReport) -> String {
    let p = report.projection;
    match (p.spendable, p.total.exhausted_on) {
        (None, _) if report.offline => format!(
            "balance unknown: {} units projected; --offline reads no balance: pass --units-left N to see when it runs out",
            thousands(p.total.units)
        ),
        (None, _) => format!(
            "balance unknown: {} units projected; pass --units-left N or set SERANKING_API_KEY to see when it runs out",
            thousands(p.total.units)
        ),
        (Some(spendable), None) => format!(
            "lasts: {} units projected, {} available ({} to spare at period end)",
            thousands(p.total.units),
            thousands(spendable),
            thousands(spendable - p.total.units)
        ),
        (Some(spendable), Some(day)) if report.overage_off => format!(
            "runs out on {day}: {} units projected, {} available; overage is off, so the jobs stop on {day}: {} units of their runs would fail with \"Insufficient funds\" (set `account.overage: plan` or `addon` if Support enabled overage)",
            thousands(p.total.units),
            thousands(spendable),
            thousands(p.total.overage_units.unwrap_or(0))
        ),
        (Some(spendable), Some(day)) => {
            let mut line = format!(
                "runs out on {day}: {} units projected, {} available; {} overage units",
                thousands(p.total.units),
                thousands(spendable),
                thousands(p.total.overage_units.unwrap_or(0))
            );
            if let Some(c) = report.cost {
                line.push_str(&format!(
                    " cost {} at the {} {} {} rate ({} per 1M)",
                    dollars(c.total),
                    c.account.tier,
                    c.account.billing.as_str(),
                    c.rate.as_str(),
                    dollars(c.usd_per_million)
                ));
            }
            line
        }
    }
}

/// The subscription is spent first: what of it expires unused, and when the wallet takes over.
fn pools_line(s: &PoolSpend) -> String {
    let mut line = format!(
        "subscription credits (spent first, they expire at the period end): {} of {} spent, {} expire unused",
        thousands(s.subscription_spent),
        thousands(s.subscription),
        thousands(s.subscription_unused)
    );
    match (s.wallet, s.wallet_from) {
        (Some(wallet), Some(day)) => line.push_str(&format!(
            "; the wallet pays from {day}: {} of its {}",
            thousands(s.wallet_spent),
            thousands(wallet)
        )),
        (Some(wallet), None) => line.push_str(&format!(
            "; the wallet's {} (which never expire) are not needed",
            thousands(wallet)
        )),
        (None, _) => {}
    }
    line
}

fn forecast_csv(out: &mut dyn Write, report: &ForecastReport) -> io::Result<()> {
    let p = report.projection;
    let header = [
        "workflow",
        "path",
        "schedule",
        "runs",
        "units_per_run",
        "units",
        "first_run",
        "exhausted_on",
        "overage_units",
        "overage_usd",
    ];
    csv_header(out, &header)?;
    for (i, w) in p.workflows.iter().enumerate() {
        csv_row(
            out,
            &[
                Cell::text(w.name.as_str()),
                Cell::text(
                    report
                        .paths
                        .get(i)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ),
                Cell::text(w.schedule.to_string()),
                Cell::number(w.runs),
                Cell::number(w.units_per_run),
                Cell::number(w.units),
                Cell::text(w.first_run.map(rfc3339).unwrap_or_default()),
                Cell::text(w.exhausted_on.map(|d| d.to_string()).unwrap_or_default()),
                Cell::optional(w.overage_units),
                Cell::optional(
                    report
                        .cost
                        .and_then(|c| c.workflows.get(i))
                        .map(|usd| money(*usd)),
                ),
            ],
        )?;
    }
    Ok(())
}
