//! Rendering the reservations of running gates and guards.

use std::io::{self, Write};

use serde_json::json;

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::ledger::Reservation;

fn child(r: &Reservation) -> String {
    r.child.map(|c| c.pid.to_string()).unwrap_or_default()
}

fn cells(r: &Reservation) -> Vec<String> {
    vec![
        r.account.clone(),
        r.kind.as_str().to_string(),
        r.pid.to_string(),
        child(r),
        thousands(r.units),
        r.workflows.join(", "),
        r.command.clone(),
        r.started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ]
}

const HEADER: [&str; 8] = [
    "account",
    "holder",
    "pid",
    "command pid",
    "units",
    "workflows",
    "command",
    "started",
];

/// One holder, for messages: `gate 4242 (sh job.sh): 26,000 units`.
pub fn holder(r: &Reservation) -> String {
    format!(
        "{} {} ({}): {} units",
        r.kind.as_str(),
        r.pid,
        r.command,
        thousands(r.units)
    )
}

/// The holders of `account` in `list`, for a note (`None` when there are none).
pub fn held_by(account: &str, list: &[Reservation]) -> Option<String> {
    let holders: Vec<String> = list
        .iter()
        .filter(|r| r.account == account)
        .map(holder)
        .collect();
    (!holders.is_empty()).then(|| {
        format!(
            "held by running jobs of this account: {} (see `budget reservations`)",
            holders.join("; ")
        )
    })
}

/// Lists reservations; `location` says where the ledger is.
pub fn reservations(
    out: &mut dyn Write,
    format: Format,
    location: &str,
    list: &[Reservation],
) -> io::Result<()> {
    match format {
        Format::Json => {
            let value = json!({
                "ledger": location,
                "reservations": list.iter().map(|r| json!({
                    "account": r.account,
                    "holder": r.kind.as_str(),
                    "pid": r.pid,
                    "command_pid": r.child.map(|c| c.pid),
                    "units": r.units,
                    "workflows": r.workflows,
                    "command": r.command,
                    "started": r.started.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                })).collect::<Vec<_>>(),
            });
            safe::json(out, &value)
        }
        Format::Csv => {
            csv_header(out, &HEADER)?;
            for r in list {
                let mut row: Vec<Cell> = cells(r).into_iter().map(Cell::Text).collect();
                row[2] = Cell::number(r.pid);
                if let Some(c) = r.child {
                    row[3] = Cell::number(c.pid);
                }
                row[4] = Cell::number(r.units);
                csv_row(out, &row)?;
            }
            Ok(())
        }
        Format::Markdown => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|r| {
                    let mut row = cells(r);
                    for i in [0, 5, 6] {
                        row[i] = safe::markdown(&row[i]);
                    }
                    row
                })
                .collect();
            markdown_table(
                out,
                &HEADER,
                &[false, false, true, true, true, false, false, false],
                &rows,
            )?;
            writeln!(out)?;
            writeln!(out, "Ledger: {}", safe::markdown_code(location))
        }
        Format::Table => {
            if list.is_empty() {
                let line = format!("no reservations (ledger: {location})");
                return writeln!(out, "{}", safe::terminal(&line));
            }
            let mut rows = vec![HEADER.map(String::from).to_vec()];
            rows.extend(list.iter().map(cells));
            writeln!(out, "{}", table(rows, 2))?;
            let total = list.iter().fold(0u64, |sum, r| sum.saturating_add(r.units));
            let line = format!(
                "{} reservation{} holding {} units (ledger: {location})",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                thousands(total)
            );
            writeln!(out, "{}", safe::terminal(&line))
        }
    }
}
