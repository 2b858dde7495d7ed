//! Rendering: tables for people, JSON for programs, Markdown for pull requests, CSV for
//! spreadsheets. The only module that writes output, always to a `&mut dyn Write`; it makes
//! decisions about wording and layout, never about budgets.
//!
//! # The neutralisation rule
//!
//! Every string a user, a pull request or a server controls — workflow and step names,
//! endpoints, paths, targets, server text, the guard's endpoint names, error messages that quote
//! them — is made safe for its format by [`safe`] **right before it is written, and nowhere
//! else** (the model keeps the raw text; JSON keeps it exact):
//!
//! | output | how |
//! |---|---|
//! | terminal table cells | [`table`] passes every cell through [`safe::terminal`] |
//! | terminal lines (notes, warnings, errors, verdicts) | [`safe::terminal`] on the whole line or on each user part |
//! | Markdown cells, headings, list items | [`safe::markdown`] / [`safe::markdown_code`] on each user part; [`safe::html`] inside raw HTML |
//! | CSV | [`csv_row`] with [`Cell::Text`] (neutralised by [`safe::csv_text`]) or [`Cell::Number`] (the tool's own figures) |
//! | GitHub annotations | [`annotation`] escapes the message and the `file` property |
//! | JSON | [`safe::json`] (serde plus the characters serde leaves raw) |
//! | HTML (`budget report`) | [`safe::html`] on every user part, text and attribute alike |
//!
//! So no user text can write a control character, start a line with `::` or contain `##[`
//! (GitHub workflow commands), add a Markdown heading, row, column or comment, or start a CSV
//! cell with a formula. New output uses these functions; the property tests in `report/tests.rs`
//! check every format against arbitrary names.

mod balance;
mod baseline;
mod calibrate;
mod chart;
mod ci;
mod forecast;
mod gate;
mod guard;
mod guard_admin;
mod html;
mod overage;
mod plan;
mod prices;
mod profile;
mod reconcile;
mod reservations;
pub mod safe;
#[cfg(test)]
mod tests;

pub use balance::{balance, balance_json, figures as balance_figures, BalanceFigures};
pub use baseline::{
    comparison_json, headline as comparison_headline, limit_line as comparison_limit_line,
};
pub use calibrate::{
    calibrate, calibrate_event, calibrate_json, calibrate_over_balance, calibrate_over_max,
    calibrate_started, overlay, overlay_entries, overlay_written,
};
pub use chart::forecast_chart;
pub use ci::{annotation, error_annotations, verdict_annotations};
pub use forecast::{forecast, ForecastReport};
pub use gate::{gate_notes, gate_release_failed, gate_update_failed, GateNotes};
pub use guard::{
    guard_overrun, guard_started, guard_stopped, guard_stopping, guard_summary, guard_summary_in,
};
pub use guard_admin::guard_admin;
pub use html::{
    dashboard, dashboard_page, html_report, html_written, HtmlReport, ReconcileView, TierTable,
};
pub use overage::{overage, overage_tiers};
pub use plan::{
    max_units_line, plan, plan_brief, plan_compared, strict_prices_lines, verdict_lines, PlanReport,
};
pub use prices::prices;
pub use profile::{profile, profile_notes, profile_written};
pub use reconcile::{journal_warnings, reconcile, reconcile_json, reconcile_lines};
pub use reservations::{held_by, reservations};

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::workflow::Warning;
use crate::Error;

/// The output formats every report can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Csv,
}

/// Prints an error for a person, on stderr. Error messages quote user text (paths, names,
/// server replies), so each line is neutralised; workflow problems are one line each.
pub fn error(error: &Error, err: &mut dyn Write) {
    // A broken stderr leaves nothing better to do than exit with the code.
    let _ = match error {
        Error::Workflows { errors } => {
            let mut lines = Vec::new();
            for e in errors {
                match e {
                    crate::workflow::WorkflowError::Invalid { path, problems } => {
                        lines.push(format!(
                            "{} problem{} in {}:",
                            problems.len(),
                            if problems.len() == 1 { "" } else { "s" },
                            safe::terminal(&path.display().to_string())
                        ));
                        // The first MAX_SHOWN; a broken file can hold 100,000 problems.
                        let shown = crate::workflow::MAX_SHOWN;
                        lines.extend(
                            problems
                                .iter()
                                .take(shown)
                                .map(|p| format!("  - {}", problem(p))),
                        );
                        if problems.len() > shown {
                            lines.push(format!(
                                "  … and {} more (fix these first)",
                                problems.len() - shown
                            ));
                        }
                    }
                    other => lines.push(safe::terminal(&other.to_string())),
                }
            }
            writeln!(err, "error: {}", lines.join("\n"))
        }
        other => {
            // Several problems (e.g. guard flags): an `error:` line each; list items indented
            // under theirs.
            let lines: Vec<String> = other
                .lines()
                .iter()
                .map(|line| match line.starts_with(' ') {
                    true => safe::terminal(line),
                    false => format!("error: {}", safe::terminal(line)),
                })
                .collect();
            writeln!(err, "{}", lines.join("\n"))
        }
    };
}

/// A workflow problem on one line, as `workflow::Problem` displays it (`path:line:column: step N
/// (name): field `f`: message [Wnnn]`), each user-controlled part neutralised.
fn problem(p: &crate::workflow::Problem) -> String {
    let mut text = safe::terminal(&p.path.display().to_string());
    if let Some(line) = p.line {
        text.push_str(&format!(":{line}"));
        if let Some(column) = p.column {
            text.push_str(&format!(":{column}"));
        }
    }
    // Names and fields from the file are clipped as the diagnostic's own values are.
    let clip = |text: &str| crate::workflow::Clip(text).to_string();
    if let Some(step) = &p.step {
        text.push_str(&format!(
            ": step {} ({})",
            step.number,
            safe::visible(&clip(&step.name))
        ));
    }
    if !p.field.is_empty() {
        text.push_str(&format!(": field `{}`", safe::visible(&clip(&p.field))));
    }
    text.push_str(&format!(": {} [{}]", safe::visible(&p.message()), p.code()));
    text
}

/// Prints notes for a person (progress, decisions), one per line; each line is neutralised as
/// a whole (notes quote names and commands).
pub fn notes(err: &mut dyn Write, lines: &[String]) {
    for line in lines {
        let _ = writeln!(err, "{}", safe::terminal(line));
    }
}

/// A JSON Schema (`crate::schema::text`), as embedded.
pub fn schema(out: &mut dyn Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())
}

/// A shell completion script, generated by the caller (`report` knows nothing of the command line).
pub fn completions(out: &mut dyn Write, script: &[u8]) -> io::Result<()> {
    out.write_all(script)
}

/// Prints warnings, one per line.
pub fn warnings(err: &mut dyn Write, warnings: &[Warning]) {
    for warning in warnings {
        let _ = writeln!(err, "warning: {}", problem(warning));
    }
}

pub use crate::count::thousands;

/// Seconds as a person reads them: `0.6 s`, `2 min 5 s`, `3 h 20 min`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        let text = format!("{seconds:.1}");
        return format!("{} s", text.trim_end_matches(".0"));
    }
    let total = crate::count::ceil_u64(seconds);
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// A terminal table: first row is the header, columns from `numeric_from` on are right-aligned.
/// Every cell is neutralised with [`safe::terminal`] (one line, no control characters).
pub(crate) fn table(rows: Vec<Vec<String>>, numeric_from: usize) -> String {
    let mut builder = Builder::default();
    for row in rows {
        builder.push_record(row.iter().map(|cell| safe::terminal(cell)));
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    table.modify(Columns::new(numeric_from..), Alignment::right());
    table.to_string()
}

/// A Markdown table; `right` marks right-aligned columns. Cells are written as given: user text
/// in them must come from [`safe::markdown`] or [`safe::markdown_code`].
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
        writeln!(out, "| {} |", row.join(" | "))?;
    }
    Ok(())
}

/// A CSV cell: text (names, paths, words) is neutralised by [`safe::csv_text`]; numbers the tool
/// itself computed are written as they are, so a spreadsheet reads them as numbers.
pub(crate) enum Cell {
    Text(String),
    Number(String),
}

impl Cell {
    pub(crate) fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// A figure the tool computed (`None`: an empty cell).
    pub(crate) fn number(value: impl std::fmt::Display) -> Cell {
        Cell::Number(value.to_string())
    }

    pub(crate) fn optional<T: std::fmt::Display>(value: Option<T>) -> Cell {
        Cell::Number(value.map(|v| v.to_string()).unwrap_or_default())
    }
}

/// A header row of plain words.
pub(crate) fn csv_header(out: &mut dyn Write, names: &[&str]) -> io::Result<()> {
    let cells: Vec<Cell> = names.iter().map(|n| Cell::text(*n)).collect();
    csv_row(out, &cells)
}

/// One CSV record (RFC 4180).
pub(crate) fn csv_row(out: &mut dyn Write, cells: &[Cell]) -> io::Result<()> {
    let written: Vec<String> = cells
        .iter()
        .map(|c| match c {
            Cell::Text(text) => safe::csv_text(text),
            Cell::Number(number) => number.clone(),
        })
        .collect();
    writeln!(out, "{}", written.join(","))
}

#[cfg(test)]
mod unit_tests {
    use super::*;

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
        let rows = vec![vec![safe::markdown("evil\n| x |")]];
        markdown_table(&mut out, &["step"], &[false], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| step |\n|---|\n| evil\\\\n\\| x \\| |\n"
        );
    }

    #[test]
    fn csv_quoting_and_numbers() {
        let mut out = Vec::new();
        csv_row(
            &mut out,
            &[
                Cell::text("a,b"),
                Cell::text("say \"hi\""),
                Cell::text("-5"),
                Cell::number(-5),
                Cell::optional(None::<u64>),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",'-5,-5,\n"
        );
    }
}
