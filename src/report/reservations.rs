//! Rendering the reservations of running gates.

use std::io::{self, Write};

use serde_json::json;

use super::Format;
use super::{csv_row, markdown_table, table, thousands};
use crate::ledger::Reservation;

fn cells(r: &Reservation) -> Vec<String> {
    vec![
        r.account.clone(),
        r.pid.to_string(),
        thousands(r.units),
        r.workflows.join(", "),
        r.command.clone(),
        r.started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ]
}

const HEADER: [&str; 6] = ["account", "pid", "units", "workflows", "command", "started"];

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
                    "pid": r.pid,
                    "units": r.units,
                    "workflows": r.workflows,
                    "command": r.command,
                    "started": r.started.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)
        }
        Format::Csv => {
            csv_row(out, &HEADER.map(String::from))?;
            for r in list {
                let mut row = cells(r);
                row[2] = r.units.to_string();
                csv_row(out, &row)?;
            }
            Ok(())
        }
        Format::Markdown => {
            let rows: Vec<Vec<String>> = list.iter().map(cells).collect();
            markdown_table(
                out,
                &HEADER,
                &[false, true, true, false, false, false],
                &rows,
            )?;
            writeln!(out)?;
            writeln!(out, "Ledger: `{location}`")
        }
        Format::Table => {
            if list.is_empty() {
                return writeln!(out, "no reservations (ledger: {location})");
            }
            let mut rows = vec![HEADER.map(String::from).to_vec()];
            rows.extend(list.iter().map(cells));
            writeln!(out, "{}", table(rows, 1))?;
            let total = list.iter().fold(0u64, |sum, r| sum.saturating_add(r.units));
            writeln!(
                out,
                "{} reservation{} holding {} units (ledger: {location})",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                thousands(total)
            )
        }
    }
}
