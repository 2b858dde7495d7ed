//! `budget guard-admin`'s answers: one line for a raise or a decision, a table of approvals;
//! or the guard's answer as JSON (`--format json`). Guard text (endpoints, names, ids) goes
//! through [`super::safe`] as everywhere.

use std::io::{self, Write};

use super::{safe, thousands, Format};
use crate::guard::admin_client::{AdminAnswer, ApprovalView};

pub fn guard_admin(out: &mut dyn Write, format: Format, answer: &AdminAnswer) -> io::Result<()> {
    if format == Format::Json {
        safe::json(out, answer)?;
        return writeln!(out);
    }
    match answer {
        AdminAnswer::Raised(r) => {
            let mut line = format!(
                "raised the guard's budget by {} units: {} → {} units",
                thousands(r.by),
                thousands(r.budget_before),
                thousands(r.budget_units)
            );
            if let Some(left) = r.remaining_units {
                line.push_str(&format!(
                    ", {}{} left",
                    if left < 0 { "−" } else { "" },
                    thousands(left.unsigned_abs())
                ));
            }
            line.push_str(&format!(" (by {}", r.operator));
            line.push_str(if r.journaled {
                "; journaled: a restart keeps it)"
            } else {
                ")"
            });
            writeln!(out, "{}", safe::terminal(&line))?;
            if let Some(warning) = &r.warning {
                writeln!(out, "{}", safe::terminal(&format!("warning: {warning}")))?;
            }
            Ok(())
        }
        AdminAnswer::Decided { approval: a } => {
            let line = match a.state.as_str() {
                "approved" => format!(
                    "approved {}: one {} {} call of {} units{} may pass; its client sends the same call again within 15 minutes",
                    a.id,
                    a.method,
                    a.endpoint,
                    thousands(a.units),
                    client(a)
                ),
                _ => format!(
                    "denied {}: the {} {} call of {} units{} is refused",
                    a.id,
                    a.method,
                    a.endpoint,
                    thousands(a.units),
                    client(a)
                ),
            };
            writeln!(out, "{}", safe::terminal(&line))
        }
        AdminAnswer::Listed { approvals, pending } => {
            if approvals.is_empty() {
                return writeln!(out, "no calls wait for approval");
            }
            let mut rows: Vec<Vec<String>> = vec![[
                "id",
                "state",
                "call",
                "client",
                "why",
                "requested",
                "units",
                "expires in",
            ]
            .map(String::from)
            .to_vec()];
            rows.extend(approvals.iter().map(|a| {
                vec![
                    a.id.clone(),
                    a.state.clone(),
                    format!("{} {}", a.method, a.endpoint),
                    a.client.clone().unwrap_or_default(),
                    a.reason.replace('_', " "),
                    a.requested.clone(),
                    thousands(a.units),
                    format!("{} s", a.expires_in_seconds),
                ]
            }));
            let table = super::table(rows, 6);
            writeln!(out, "{table}")?;
            writeln!(out, "{} pending", thousands(*pending))
        }
    }
}

fn client(a: &ApprovalView) -> String {
    a.client
        .as_ref()
        .map(|c| format!(" of client {c}"))
        .unwrap_or_default()
}
