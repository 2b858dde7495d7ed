//! Rendering: tables for people, JSON for programs, Markdown for pull requests, CSV for
//! spreadsheets. The only module that writes output, always to a `&mut dyn Write`.

mod balance;
mod baseline;
mod chart;
mod ci;
mod forecast;
mod guard;
mod overage;
mod plan;
mod prices;
mod reservations;

pub use balance::{balance, balance_json, figures as balance_figures, BalanceFigures};
pub use baseline::{
    comparison_json, headline as comparison_headline, limit_line as comparison_limit_line,
};
pub use chart::forecast_chart;
pub use ci::{annotation, error_annotations, verdict_annotations};
pub use forecast::{forecast, ForecastReport};
pub use guard::{guard_started, guard_summary, GuardStarted};
pub use overage::{overage, overage_tiers};
pub use plan::{max_units_line, plan, plan_brief, plan_compared, verdict_lines, PlanReport};
pub use prices::prices;
pub use reservations::reservations;

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::workflow::Warning;
use crate::Error;

/// Prints an error for a person, on stderr.
pub fn error(error: &Error, err: &mut dyn Write) {
    let text = error.to_string();
    // A broken stderr leaves nothing better to do than exit with the code.
    let _ = writeln!(err, "error: {}", text.trim_end());
}

/// Prints notes for a person (progress, decisions), one per line.
pub fn notes(err: &mut dyn Write, lines: &[String]) {
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// The workflow file's JSON Schema.
pub fn schema(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(crate::schema::WORKFLOW.as_bytes())
}

/// A shell completion script.
pub fn completions(out: &mut dyn Write, shell: crate::cli::Shell) -> io::Result<()> {
    use clap::CommandFactory;
    use clap_complete::Shell as Target;
    let target = match shell {
        crate::cli::Shell::Bash => Target::Bash,
        crate::cli::Shell::Zsh => Target::Zsh,
        crate::cli::Shell::Fish => Target::Fish,
    };
    let mut command = crate::cli::Cli::command();
    // clap_complete panics on a write error; render to memory, then write (and report) it.
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command, "budget", &mut script);
    out.write_all(&script)
}

/// Prints warnings, one per line.
pub fn warnings(err: &mut dyn Write, warnings: &[Warning]) {
    for warning in warnings {
        let _ = writeln!(err, "warning: {warning}");
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds as a person reads them: `0.6 s`, `2 min 5 s`, `3 h 20 min`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        let text = format!("{seconds:.1}");
        return format!("{} s", text.trim_end_matches(".0"));
    }
    let total = seconds.ceil() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// A terminal table: first row is the header, columns from `numeric_from` on are right-aligned.
pub(crate) fn table(rows: Vec<Vec<String>>, numeric_from: usize) -> String {
    let mut builder = Builder::default();
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    table.modify(Columns::new(numeric_from..), Alignment::right());
    table.to_string()
}

/// A Markdown table; `right` marks right-aligned columns.
pub(crate) fn markdown_table(
    out: &mut dyn Write,
    header: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
) -> io::Result<()> {
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = right
        .iter()
        .map(|r| if *r { "---:" } else { "---" })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for row in rows {
        // A cell is one line: a newline would end the table, a bare `|` would split the cell.
        let cells: Vec<String> = row
            .iter()
            .map(|c| c.replace(['\r', '\n'], " ").replace('|', "\\|"))
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// One CSV record (RFC 4180 quoting).
pub(crate) fn csv_row(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    writeln!(out, "{}", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_by_hand() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(26000), "26,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn durations_by_hand() {
        assert_eq!(duration(0.6), "0.6 s");
        assert_eq!(duration(3.0), "3 s");
        assert_eq!(duration(125.0), "2 min 5 s");
        assert_eq!(duration(120.0), "2 min");
        assert_eq!(duration(12_000.0), "3 h 20 min");
    }

    #[test]
    fn markdown_cells_stay_on_one_line() {
        let mut out = Vec::new();
        let rows = vec![vec!["evil\n| x |".to_string()]];
        markdown_table(&mut out, &["step"], &[false], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| step |\n|---|\n| evil \\| x \\| |\n"
        );
    }

    #[test]
    fn csv_quoting() {
        let mut out = Vec::new();
        csv_row(
            &mut out,
            &["a,b".into(), "say \"hi\"".into(), "plain".into()],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",plain\n"
        );
    }
}
