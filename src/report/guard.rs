//! What `budget guard` tells people: the line it prints once listening, and the spend by
//! endpoint when it stops.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::json;

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::guard::{EndpointTotals, Overrun};

/// The warning for a call billed beyond its price, as it happens (stderr).
pub fn guard_overrun(err: &mut dyn Write, o: &Overrun) -> io::Result<()> {
    let over = o.billed.saturating_sub(o.priced);
    let mut line = format!(
        "warning: a {} call was priced at {} units but its reply shows {} billed; the {} units over were charged to the guard's budget",
        o.endpoint,
        thousands(o.priced),
        thousands(o.billed),
        thousands(over)
    );
    if !o.settled {
        line.push_str(&format!(
            " (the shared state could not be reached: only the {} units held stay charged)",
            thousands(o.priced)
        ));
    }
    writeln!(err, "{}", safe::terminal(&line))
}

/// Facts for the startup line.
pub struct GuardStarted<'a> {
    /// `http://ADDR:PORT`.
    pub url: &'a str,
    /// The API base URL (no credentials).
    pub api: &'a str,
    pub budget: u64,
    /// Where the budget came from, e.g. `--budget`, `live units_left 4,975,033 − reserve 10%`.
    pub budget_source: &'a str,
    pub rps: u32,
    /// `this process`, or `Redis at HOST:PORT (…)`.
    pub state: &'a str,
    pub journal: Option<&'a str>,
    /// Where the guard holds its unspent budget (`crate::guard::hold`).
    pub ledger: &'a str,
    pub token: bool,
}

pub fn guard_started(err: &mut dyn Write, s: &GuardStarted) -> io::Result<()> {
    let line = format!("budget guard listening on {} → {}", s.url, s.api);
    writeln!(err, "{}", safe::terminal(&line))?;
    let line = format!(
        "  budget {} units ({}), {} requests/second, state in {}",
        thousands(s.budget),
        s.budget_source,
        s.rps,
        s.state
    );
    writeln!(err, "{}", safe::terminal(&line))?;
    if let Some(journal) = s.journal {
        writeln!(err, "  journal: {}", safe::visible(journal))?;
    }
    let line = format!(
        "  holding its unspent budget in the reservation ledger ({}): gates, plans and other guards of this account leave it out",
        s.ledger
    );
    writeln!(err, "{}", safe::terminal(&line))?;
    if s.token {
        writeln!(
            err,
            "  clients must send the token (X-Budget-Token or Authorization: Bearer)"
        )?;
    }
    writeln!(
        err,
        "  point jobs at SERANKING_API_URL={}; stop with Ctrl-C",
        safe::visible(s.url)
    )
}

/// The spend by endpoint, and what is left of the budget (`None` when it could not be read).
pub fn guard_summary(
    out: &mut dyn Write,
    format: Format,
    totals: &BTreeMap<String, EndpointTotals>,
    left: Option<i64>,
) -> io::Result<()> {
    let mut sum = EndpointTotals::default();
    for t in totals.values() {
        sum.calls += t.calls;
        sum.charged_calls += t.charged_calls;
        sum.over_budget += t.over_budget;
        sum.other += t.other;
        sum.units_charged = sum.units_charged.saturating_add(t.units_charged);
        sum.overrun = sum.overrun.saturating_add(t.overrun);
    }
    let header = [
        "endpoint",
        "calls",
        "charged",
        "over budget",
        "other",
        "units charged",
    ];
    let row = |name: &str, t: &EndpointTotals| {
        vec![
            name.to_string(),
            thousands(t.calls),
            thousands(t.charged_calls),
            thousands(t.over_budget),
            thousands(t.other),
            thousands(t.units_charged),
        ]
    };
    let left_text = match left {
        Some(left) if left >= 0 => thousands(left.unsigned_abs()),
        Some(left) => format!(
            "-{} (overdrawn: calls were billed more than they were priced at)",
            thousands(left.unsigned_abs())
        ),
        None => "unknown".into(),
    };
    let overrun_text = (sum.overrun > 0).then(|| {
        format!(
            "{} units were charged beyond the calls' prices (`overrun` in the journal)",
            thousands(sum.overrun)
        )
    });
    match format {
        Format::Table => {
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            rows.extend(totals.iter().map(|(name, t)| row(name, t)));
            rows.push(row("total", &sum));
            writeln!(out, "Spend by endpoint")?;
            writeln!(out, "{}", table(rows, 1))?;
            if let Some(text) = &overrun_text {
                writeln!(out, "{text}")?;
            }
            writeln!(out, "units left in the guard's budget: {left_text}")
        }
        Format::Markdown => {
            let mut rows: Vec<Vec<String>> = totals
                .iter()
                .map(|(name, t)| row(&safe::markdown(name), t))
                .collect();
            let mut total = row("**total**", &sum);
            total[5] = format!("**{}**", total[5]);
            rows.push(total);
            writeln!(out, "### Spend by endpoint")?;
            writeln!(out)?;
            markdown_table(out, &header, &[false, true, true, true, true, true], &rows)?;
            writeln!(out)?;
            if let Some(text) = &overrun_text {
                writeln!(out, "{text}")?;
                writeln!(out)?;
            }
            writeln!(out, "Units left in the guard's budget: {left_text}")
        }
        Format::Csv => {
            csv_header(
                out,
                &[
                    "endpoint",
                    "calls",
                    "charged",
                    "over_budget",
                    "other",
                    "units_charged",
                ],
            )?;
            for (name, t) in totals
                .iter()
                .map(|(n, t)| (n.as_str(), t))
                .chain([("total", &sum)])
            {
                csv_row(
                    out,
                    &[
                        Cell::text(name),
                        Cell::number(t.calls),
                        Cell::number(t.charged_calls),
                        Cell::number(t.over_budget),
                        Cell::number(t.other),
                        Cell::number(t.units_charged),
                    ],
                )?;
            }
            Ok(())
        }
        Format::Json => {
            let endpoints: serde_json::Map<String, serde_json::Value> = totals
                .iter()
                .map(|(name, t)| (name.clone(), json!(t)))
                .collect();
            let value = json!({"endpoints": endpoints, "total": sum, "units_left": left});
            safe::json(out, &value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> BTreeMap<String, EndpointTotals> {
        let mut t = BTreeMap::new();
        t.insert(
            "backlinks/summary".to_string(),
            EndpointTotals {
                calls: 3,
                charged_calls: 2,
                over_budget: 1,
                other: 0,
                units_charged: 1200,
                overrun: 0,
            },
        );
        t.insert(
            "backlinks/all".to_string(),
            EndpointTotals {
                calls: 1,
                charged_calls: 1,
                over_budget: 0,
                other: 0,
                units_charged: 40,
                overrun: 0,
            },
        );
        t
    }

    fn render(format: Format, left: Option<i64>) -> String {
        let mut out = Vec::new();
        guard_summary(&mut out, format, &totals(), left).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn table_sums_by_hand() {
        let text = render(Format::Table, Some(8760));
        // total: 4 calls, 3 charged, 1 over budget, 1200 + 40 = 1,240 units.
        let total = text
            .lines()
            .find(|l| l.contains("total"))
            .expect("total row");
        for cell in ["4", "3", "1", "1,240"] {
            assert!(total.contains(cell), "{total}");
        }
        assert!(
            text.contains("units left in the guard's budget: 8,760"),
            "{text}"
        );
    }

    #[test]
    fn csv_and_json() {
        let csv = render(Format::Csv, None);
        assert_eq!(
            csv,
            "endpoint,calls,charged,over_budget,other,units_charged\n\
             backlinks/all,1,1,0,0,40\n\
             backlinks/summary,3,2,1,0,1200\n\
             total,4,3,1,0,1240\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, Some(-5))).expect("json");
        assert_eq!(json["total"]["units_charged"], 1240);
        assert_eq!(json["units_left"], -5);
        assert!(
            render(Format::Markdown, Some(1)).contains("| **total** | 4 | 3 | 1 | 0 | **1,240** |")
        );
    }
}
