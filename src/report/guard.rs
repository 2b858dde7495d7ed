//! What `budget guard` tells people: the line it prints once listening, and the spend by
//! endpoint when it stops.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::json;

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::guard::startup::{Abandoned, BudgetNotApplied, BudgetOrigin, Record, SharedHow};
use crate::guard::{EndpointTotals, Overrun, Startup, Stopped, Totals};

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

/// The row that counts refusals before pricing in the spend summary.
const REFUSED_ROW: &str = "(refused before pricing)";

/// Where the budget figure comes from, e.g. `--budget`, `live units_left 4,975,033 − reserve 10%
/// − 0 reserved by running jobs`.
fn budget_source(origin: &BudgetOrigin) -> String {
    match origin {
        BudgetOrigin::Flag { spent: 0, .. } => "--budget".to_string(),
        BudgetOrigin::Flag { budget, spent } => format!(
            "--budget {} − {} spent before this start",
            thousands(*budget),
            thousands(*spent)
        ),
        BudgetOrigin::Live {
            units_left,
            wallet,
            reserve,
            others,
            recent,
            ..
        } => {
            let mut text = format!("live units_left {}", thousands(*units_left));
            if let Some((subscription, wallet)) = wallet {
                text.push_str(&format!(
                    " (subscription {} + wallet {})",
                    thousands(*subscription),
                    thousands(*wallet)
                ));
            }
            if let Some(r) = reserve {
                text.push_str(&format!(" − reserve {r}"));
            }
            text.push_str(&format!(
                " − {} reserved by running jobs",
                thousands(*others)
            ));
            if *recent > 0 {
                text.push_str(&format!(
                    " − {} spent by this guard in the last minutes, not in the balance yet",
                    thousands(*recent)
                ));
            }
            text
        }
        BudgetOrigin::Shared => "the shared budget in Redis".to_string(),
    }
}

pub fn guard_started(err: &mut dyn Write, s: &Startup) -> io::Result<()> {
    let line = format!("budget guard listening on {} → {}", s.url, s.api);
    writeln!(err, "{}", safe::terminal(&line))?;
    let state = match (&s.redis, &s.record) {
        (Some((at, _)), Record::Shared { how: SharedHow::Created }) => {
            format!("Redis at {at} (new shared budget)")
        }
        (Some((at, _)), Record::Shared { how: SharedHow::Replaced }) => {
            format!("Redis at {at} (new shared budget, replacing the one set earlier: --new-budget)")
        }
        (Some((at, key)), _) => format!(
            "Redis at {at} (joined the shared budget set earlier; --new-budget replaces it, or delete {key} to start over)"
        ),
        (None, _) => "this process".to_string(),
    };
    let margin = s.window.saturating_sub(std::time::Duration::from_secs(1));
    let line = format!(
        "  budget {} units ({}), {} requests/second (+{} ms margin), state in {}",
        thousands(s.budget),
        budget_source(&s.origin),
        s.rps,
        margin.as_millis(),
        state
    );
    writeln!(err, "{}", safe::terminal(&line))?;
    let not_applied = match &s.budget_not_applied {
        Some(BudgetNotApplied::Budget { asked, shared }) => Some((
            format!("--budget {} is not this guard's budget", thousands(*asked)),
            *shared,
            "with this figure",
        )),
        Some(BudgetNotApplied::Reserve { asked, shared }) => Some((
            format!("--reserve {asked} does not apply"),
            *shared,
            "with the live balance less this reserve",
        )),
        None => None,
    };
    if let Some((what, shared, instead)) = not_applied {
        writeln!(
            err,
            "  warning: {what}: it joined the shared budget of {} units another guard set in Redis, which holds for every guard sharing it; --new-budget replaces the shared budget {instead}",
            thousands(shared)
        )?;
    }
    let journal = s.journal.as_ref().map(|p| p.display().to_string());
    let line = match (&s.record, journal) {
        (Record::None, _) => {
            "  not durable: without --journal a restart grants this budget again".to_string()
        }
        (Record::Fresh { replaced: None }, Some(j)) => {
            format!("  journal: {j} (the record of this budget: a restart with it continues the budget)")
        }
        (Record::Fresh { replaced: Some(past) }, Some(j)) => format!(
            "  journal: {j}; a fresh budget (--new-budget): the {} units spent under the previous one (since {}) are not counted",
            thousands(past.spent()),
            past.started
        ),
        (Record::Continued { past }, Some(j)) if matches!(s.origin, BudgetOrigin::Live { .. }) => {
            format!(
                "  journal: {j}; continuing its record (since {}): the live balance shows what was spent before, the journal what it may not show yet",
                past.started
            )
        }
        (Record::Continued { past }, Some(j)) => {
            let mut line = format!(
                "  journal: {j}; continuing its budget (since {}): {} units spent before this start",
                past.started,
                thousands(past.spent())
            );
            if past.raised > 0 {
                line.push_str(&format!(
                    ", {} units raised by operators (budget guard-admin raise) kept",
                    thousands(past.raised)
                ));
            }
            if past.unsettled_calls > 0 {
                line.push_str(&format!(
                    ", {} of them held by {} calls that never ended (counted in full)",
                    thousands(past.unsettled),
                    thousands(past.unsettled_calls)
                ));
            }
            line
        }
        (_, Some(j)) => format!("  journal: {j}"),
        (_, None) => String::new(),
    };
    if !line.is_empty() {
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if s.torn || s.unreadable > 0 {
        let mut parts = Vec::new();
        if s.torn {
            parts.push("its last line was torn (a crash mid-write)".to_string());
        }
        if s.unreadable > 0 {
            parts.push(format!("{} lines are not JSON", thousands(s.unreadable)));
        }
        writeln!(
            err,
            "  warning: in the journal, {}; skipped (a call whose line is lost counts in full)",
            parts.join(" and ")
        )?;
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
    if s.shadow {
        writeln!(
            err,
            "  shadow mode (--shadow): every call is priced, paced and journaled, none is refused for the budget; the journal marks those that would have been (would_refuse)"
        )?;
    }
    if !s.clients.is_empty() {
        let list: Vec<String> = s
            .clients
            .iter()
            .map(|(name, budget, rps)| {
                let mut parts = Vec::new();
                if let Some(budget) = budget {
                    parts.push(format!("{} units", thousands(*budget)));
                }
                if let Some(rps) = rps {
                    parts.push(format!("{rps} requests/second"));
                }
                if parts.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", parts.join(", "))
                }
            })
            .collect();
        let line = format!("  clients (each sends its own token): {}", list.join("; "));
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if let Some(a) = &s.alerts {
        let thresholds: Vec<String> = a.thresholds.iter().map(|t| format!("{t}%")).collect();
        let mut to = Vec::new();
        if let Some(webhook) = &a.webhook {
            to.push(format!("webhook {webhook}"));
        }
        if let Some(command) = &a.command {
            to.push(format!("command {command}"));
        }
        let mut line = format!(
            "  alerts at {} of the budget, once each: {}",
            thresholds.join(", "),
            to.join(" and ")
        );
        if !a.fired.is_empty() {
            let fired: Vec<String> = a.fired.iter().map(|t| format!("{t}%")).collect();
            line.push_str(&format!(
                " ({} sent for this budget already)",
                fired.join(", ")
            ));
        }
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if let Some(metrics) = &s.metrics {
        let line = format!(
            "  metrics on {metrics}/metrics (Prometheus), {metrics}/healthz, {metrics}/budget/status"
        );
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if s.dashboard {
        let line = format!(
            "  dashboard: {}/budget/{}",
            s.url,
            if s.token || !s.clients.is_empty() {
                " (sign in with a client's token)"
            } else {
                ""
            }
        );
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if s.admin {
        let mut line = format!(
            "  admin endpoint on: budget guard-admin --guard {} --admin-token-file FILE raise --by N | approvals | approve ID",
            s.url
        );
        let mut rules = Vec::new();
        if let Some(above) = s.rules.above {
            rules.push(format!("calls above {} units", thousands(above)));
        }
        if let Some(soft) = s.rules.soft {
            rules.push(format!(
                "calls past the soft budget of {} units",
                thousands(soft)
            ));
        }
        if !rules.is_empty() {
            line.push_str(&format!("; {} wait for approval", rules.join(" and ")));
        }
        writeln!(err, "{}", safe::terminal(&line))?;
    }
    if let Some((asked, files)) = s.connections_lowered {
        writeln!(
            err,
            "  at most {} client connections: the open-file limit is {} (--max-connections {} would exhaust it)",
            thousands(s.limits.max_connections as u64),
            thousands(files),
            thousands(asked as u64)
        )?;
    }
    writeln!(
        err,
        "  point jobs at SERANKING_API_URL={}; stop with Ctrl-C",
        safe::visible(&s.url)
    )
}

/// The note printed when the first signal arrives and calls are in flight.
pub fn guard_stopping(err: &mut dyn Write, busy: usize) {
    if busy > 0 {
        super::notes(
            err,
            &[format!("budget guard stopping: waiting for {busy} calls in flight; a second Ctrl-C (SIGINT or SIGTERM) stops at once")],
        );
    }
}

/// Notes after the summary: calls abandoned, a hold not released, journal lines not written.
pub fn guard_stopped(err: &mut dyn Write, s: &Stopped) {
    let mut notes = Vec::new();
    let counted = "they have no call line; their units count as spent (their hold lines are in the journal; in Redis, once their hold times out)";
    match s.abandoned {
        Some(Abandoned::Signal { calls }) => notes.push(format!(
            "budget guard stopped at once on a second signal: {calls} calls in flight were abandoned; {counted}"
        )),
        Some(Abandoned::Grace { calls, grace }) => notes.push(format!(
            "budget guard stopped after the {} s grace period (--grace): {calls} calls in flight were abandoned; {counted}",
            grace.as_secs_f64()
        )),
        None => {}
    }
    if let Some(e) = &s.release_failed {
        notes.push(format!(
            "warning: cannot release the guard's hold: {e}; it is dropped once this process has ended"
        ));
    }
    if s.alerts_dropped {
        notes.push(format!(
            "warning: budget alerts still being sent when the guard stopped were dropped (it waits {} s for them)",
            crate::guard::alerts::DRAIN.as_secs()
        ));
    }
    if let Some(path) = &s.journal_failed {
        notes.push(format!(
            "warning: some lines could not be written to the journal {}",
            path.display()
        ));
    }
    super::notes(err, &notes);
}

/// The spend by endpoint (refusals before pricing in one row), and what is left of the budget
/// (`None` when it could not be read).
pub fn guard_summary(
    out: &mut dyn Write,
    format: Format,
    totals: &Totals,
    left: Option<i64>,
) -> io::Result<()> {
    guard_summary_in(out, format, totals, left, false)
}

/// As [`guard_summary`]; `shadow`: say what enforcement would have refused (`--shadow`).
pub fn guard_summary_in(
    out: &mut dyn Write,
    format: Format,
    totals: &Totals,
    left: Option<i64>,
    shadow: bool,
) -> io::Result<()> {
    let clients = &totals.clients;
    let mut rows: BTreeMap<String, EndpointTotals> = totals.endpoints.clone();
    let refused: u64 = totals.refused.values().sum();
    if refused > 0 {
        rows.insert(
            REFUSED_ROW.to_string(),
            EndpointTotals {
                calls: refused,
                other: refused,
                ..EndpointTotals::default()
            },
        );
    }
    let by_reason: serde_json::Map<String, serde_json::Value> = totals
        .refused
        .iter()
        .map(|(why, n)| (why.name().to_string(), json!(n)))
        .collect();
    let totals = &rows;
    let mut sum = EndpointTotals::default();
    for t in totals.values() {
        sum.absorb(t);
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
        Some(left) if shadow && sum.would_refuse > 0 => format!(
            "-{} (overdrawn: shadow mode forwarded calls beyond the budget)",
            thousands(left.unsigned_abs())
        ),
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
    let shadow_text = shadow.then(|| {
        format!(
            "shadow mode: {} calls would have been refused for the budget (priced at {} units); they were forwarded and charged (`would_refuse` in the journal)",
            thousands(sum.would_refuse),
            thousands(sum.would_refuse_units)
        )
    });
    let client_header = [
        "client",
        "calls",
        "charged",
        "over budget",
        "other",
        "units charged",
    ];
    match format {
        Format::Table => {
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            rows.extend(totals.iter().map(|(name, t)| row(name, t)));
            rows.push(row("total", &sum));
            writeln!(out, "Spend by endpoint")?;
            writeln!(out, "{}", table(rows, 1))?;
            if !clients.is_empty() {
                let mut rows = vec![client_header
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()];
                rows.extend(clients.iter().map(|(name, t)| row(name, t)));
                writeln!(out, "Spend by client")?;
                writeln!(out, "{}", table(rows, 1))?;
            }
            if let Some(text) = &overrun_text {
                writeln!(out, "{text}")?;
            }
            if let Some(text) = &shadow_text {
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
            if !clients.is_empty() {
                let rows: Vec<Vec<String>> = clients
                    .iter()
                    .map(|(name, t)| row(&safe::markdown(name), t))
                    .collect();
                writeln!(out, "### Spend by client")?;
                writeln!(out)?;
                markdown_table(
                    out,
                    &client_header,
                    &[false, true, true, true, true, true],
                    &rows,
                )?;
                writeln!(out)?;
            }
            if let Some(text) = &overrun_text {
                writeln!(out, "{text}")?;
                writeln!(out)?;
            }
            if let Some(text) = &shadow_text {
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
                .filter(|(name, _)| name.as_str() != REFUSED_ROW)
                .map(|(name, t)| (name.clone(), json!(t)))
                .collect();
            let value = json!({
                "endpoints": endpoints,
                "refused_before_pricing": by_reason,
                "total": sum,
                "units_left": left,
                "mode": if shadow { "shadow" } else { "enforce" },
                "clients": clients,
            });
            safe::json(out, &value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> Totals {
        let mut t = BTreeMap::new();
        t.insert(
            "backlinks/summary".to_string(),
            EndpointTotals {
                calls: 3,
                charged_calls: 2,
                over_budget: 1,
                other: 0,
                units_charged: 1200,
                ..EndpointTotals::default()
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
                ..EndpointTotals::default()
            },
        );
        Totals {
            endpoints: t,
            refused: [(crate::guard::Refusal::Unauthorized, 5)].into(),
            clients: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        }
    }

    fn render(format: Format, left: Option<i64>) -> String {
        let mut out = Vec::new();
        guard_summary(&mut out, format, &totals(), left).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    fn startup(origin: BudgetOrigin, record: Record) -> Startup {
        Startup {
            url: "http://127.0.0.1:8787".into(),
            api: "https://api.seranking.com".into(),
            budget: 400,
            origin,
            record,
            redis: None,
            rps: 10,
            window: std::time::Duration::from_millis(1025),
            journal: Some("calls.jsonl".into()),
            unreadable: 0,
            torn: false,
            ledger: "/state/reservations.json".into(),
            token: false,
            limits: crate::guard::Limits::default(),
            connections_lowered: None,
            metrics: None,
            shadow: false,
            clients: Vec::new(),
            alerts: None,
            dashboard: false,
            admin: false,
            rules: crate::guard::admin::Rules::default(),
            budget_not_applied: None,
        }
    }

    fn started(s: &Startup) -> String {
        let mut out = Vec::new();
        guard_started(&mut out, s).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    fn past(spent: u64, unsettled: u64, calls: u64) -> crate::guard::PastBudget {
        crate::guard::PastBudget {
            epoch: "e1".into(),
            started: "2026-11-26T07:00:00.000Z".into(),
            budget: Some(1000),
            charged: spent - unsettled,
            unsettled,
            unsettled_calls: calls,
            recent: 0,
            ..Default::default()
        }
    }

    /// What a start says it continues, sets aside or cannot keep.
    #[test]
    fn the_startup_text_says_what_survives() {
        let flag = BudgetOrigin::Flag {
            budget: 1000,
            spent: 600,
        };
        let text = started(&startup(
            flag.clone(),
            Record::Continued {
                past: past(600, 100, 1),
            },
        ));
        assert!(text.contains("  budget 400 units (--budget 1,000 − 600 spent before this start), 10 requests/second (+25 ms margin), state in this process\n"), "{text}");
        assert!(text.contains("  journal: calls.jsonl; continuing its budget (since 2026-11-26T07:00:00.000Z): 600 units spent before this start, 100 of them held by 1 calls that never ended (counted in full)\n"), "{text}");
        let text = started(&startup(
            BudgetOrigin::Flag {
                budget: 1000,
                spent: 0,
            },
            Record::Fresh {
                replaced: Some(past(1000, 0, 0)),
            },
        ));
        assert!(text.contains("a fresh budget (--new-budget): the 1,000 units spent under the previous one (since 2026-11-26T07:00:00.000Z) are not counted"), "{text}");
        // Raises kept across the restart; the dashboard and the admin endpoint with its rules.
        let mut raised = past(600, 0, 0);
        raised.raised = 500;
        let mut admin = startup(flag.clone(), Record::Continued { past: raised });
        admin.dashboard = true;
        admin.admin = true;
        admin.token = true;
        admin.rules = crate::guard::admin::Rules {
            above: Some(5000),
            soft: Some(40_000),
        };
        let text = started(&admin);
        assert!(text.contains("600 units spent before this start, 500 units raised by operators (budget guard-admin raise) kept\n"), "{text}");
        assert!(
            text.contains(
                "  dashboard: http://127.0.0.1:8787/budget/ (sign in with a client's token)\n"
            ),
            "{text}"
        );
        assert!(text.contains("  admin endpoint on: budget guard-admin --guard http://127.0.0.1:8787 --admin-token-file FILE raise --by N | approvals | approve ID; calls above 5,000 units and calls past the soft budget of 40,000 units wait for approval\n"), "{text}");
        let mut none = startup(flag.clone(), Record::None);
        none.journal = None;
        none.torn = true;
        none.unreadable = 2;
        none.connections_lowered = Some((512, 256));
        none.limits.max_connections = 64;
        let text = started(&none);
        assert!(
            text.contains("  not durable: without --journal a restart grants this budget again\n"),
            "{text}"
        );
        assert!(text.contains("warning: in the journal, its last line was torn (a crash mid-write) and 2 lines are not JSON"), "{text}");
        assert!(text.contains("at most 64 client connections: the open-file limit is 256 (--max-connections 512 would exhaust it)"), "{text}");
        let live = BudgetOrigin::Live {
            units_left: 30_000,
            wallet: Some((20_000, 10_000)),
            reserve: None,
            kept: 0,
            others: 4_000,
            recent: 700,
        };
        let text = started(&startup(
            live,
            Record::Continued {
                past: past(600, 0, 0),
            },
        ));
        assert!(text.contains("(live units_left 30,000 (subscription 20,000 + wallet 10,000) − 4,000 reserved by running jobs − 700 spent by this guard in the last minutes, not in the balance yet)"), "{text}");
        assert!(text.contains("continuing its record (since 2026-11-26T07:00:00.000Z): the live balance shows what was spent before"), "{text}");
        let mut joined = startup(
            BudgetOrigin::Shared,
            Record::Shared {
                how: SharedHow::Joined,
            },
        );
        joined.redis = Some(("127.0.0.1:6379".into(), "budget:{a}:left".into()));
        let text = started(&joined);
        assert!(text.contains("(the shared budget in Redis), 10 requests/second (+25 ms margin), state in Redis at 127.0.0.1:6379 (joined the shared budget set earlier; --new-budget replaces it, or delete budget:{a}:left to start over)"), "{text}");
        // Joined with the same --budget as the shared figure: nothing to warn about.
        assert!(!text.contains("warning: --budget"), "{text}");
        // A guard joining a shared budget cannot apply its own --budget: the startup says so
        // (it used to label the shared figure "(--budget)" and ignore the flag in silence).
        joined.budget_not_applied = Some(BudgetNotApplied::Budget {
            asked: 500_000,
            shared: 2_000_000,
        });
        let text = started(&joined);
        assert!(text.contains("  warning: --budget 500,000 is not this guard's budget: it joined the shared budget of 2,000,000 units another guard set in Redis"), "{text}");
        assert!(!text.contains("(--budget)"), "{text}");
        // --reserve is a rule for a live budget, which a joined guard does not read either.
        joined.budget_not_applied = Some(BudgetNotApplied::Reserve {
            asked: crate::workflow::Reserve::Units(1_000),
            shared: 2_000_000,
        });
        let text = started(&joined);
        assert!(text.contains("  warning: --reserve 1000 units does not apply: it joined the shared budget of 2,000,000 units another guard set in Redis, which holds for every guard sharing it; --new-budget replaces the shared budget with the live balance less this reserve"), "{text}");
    }

    #[test]
    fn table_sums_by_hand() {
        let text = render(Format::Table, Some(8760));
        // total: 3 + 1 + 5 refused = 9 calls, 3 charged, 1 over budget, 5 other,
        // 1200 + 40 = 1,240 units.
        let total = text
            .lines()
            .find(|l| l.contains("total"))
            .expect("total row");
        for cell in ["9", "3", "1", "5", "1,240"] {
            assert!(total.contains(cell), "{total}");
        }
        assert!(text.contains("(refused before pricing)"), "{text}");
        assert!(
            text.contains("units left in the guard's budget: 8,760"),
            "{text}"
        );
    }

    /// Shadow mode's line, the clients' table and their JSON, by hand.
    #[test]
    fn shadow_and_clients_in_the_summary() {
        let mut t = totals();
        t.clients.insert(
            "seo".into(),
            EndpointTotals {
                calls: 4,
                charged_calls: 2,
                over_budget: 2,
                units_charged: 200,
                ..EndpointTotals::default()
            },
        );
        if let Some(summary) = t.endpoints.get_mut("backlinks/summary") {
            summary.would_refuse = 1;
            summary.would_refuse_units = 300;
        }
        let render = |format| {
            let mut out = Vec::new();
            guard_summary_in(&mut out, format, &t, Some(-50), true).expect("render");
            String::from_utf8(out).expect("utf-8")
        };
        let text = render(Format::Table);
        assert!(text.contains("Spend by client"), "{text}");
        assert!(
            text.contains(
                "shadow mode: 1 calls would have been refused for the budget (priced at 300 units)"
            ),
            "{text}"
        );
        assert!(
            text.contains("units left in the guard's budget: -50 (overdrawn: shadow mode forwarded calls beyond the budget)"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json)).expect("json");
        assert_eq!(json["mode"], "shadow");
        assert_eq!(json["clients"]["seo"]["units_charged"], 200);
        assert_eq!(json["total"]["would_refuse_units"], 300);
        assert!(render(Format::Markdown).contains("### Spend by client"));
    }

    #[test]
    fn csv_and_json() {
        let csv = render(Format::Csv, None);
        assert_eq!(
            csv,
            "endpoint,calls,charged,over_budget,other,units_charged\n\
             (refused before pricing),5,0,0,5,0\n\
             backlinks/all,1,1,0,0,40\n\
             backlinks/summary,3,2,1,0,1200\n\
             total,9,3,1,5,1240\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, Some(-5))).expect("json");
        assert_eq!(json["total"]["units_charged"], 1240);
        assert_eq!(json["units_left"], -5);
        assert_eq!(json["refused_before_pricing"]["unauthorized"], 5);
        assert!(json["endpoints"].get("(refused before pricing)").is_none());
        assert!(
            render(Format::Markdown, Some(1)).contains("| **total** | 9 | 3 | 1 | 5 | **1,240** |")
        );
    }
}
