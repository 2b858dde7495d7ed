//! The guard's live dashboard (`GET /budget/`, docs/guard.md "The dashboard"): the status
//! endpoint's figures as a page for people — budget, spent, remaining, the burn rate and when
//! the budget runs out at it, calls by outcome, clients, recent refusals and approvals.
//!
//! - **Readable without script.** Every figure is in the server-rendered HTML; the script only
//!   refreshes them from `/budget/status` every `--dashboard-refresh` seconds (textContent only,
//!   never HTML); the footer says how often.
//! - **Nothing from elsewhere.** The guard's headers carry a Content-Security-Policy of
//!   `default-src 'none'` with a per-response nonce for the one `<style>` and the one `<script>`
//!   here (`connect-src 'self'` for the refresh); no font, image or file is loaded.
//! - **Safe names.** Endpoints, clients, ids and times go through [`safe::html`] as in the
//!   report; the script writes with `textContent`.
//!
//! It renders from the very [`Status`] the JSON endpoint serialises, so the two cannot differ.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::super::{safe, thousands};
use super::style;
use crate::guard::dashboard::{Page, Refresh};
use crate::guard::status::Status;

/// The page, as bytes for the guard's reply.
pub fn dashboard(page: &Page<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 * 1024);
    // Writing to memory cannot fail.
    let _ = dashboard_page(&mut out, page);
    out
}

/// Writes the page.
pub fn dashboard_page(out: &mut dyn Write, page: &Page<'_>) -> io::Result<()> {
    let html = match page {
        Page::Dashboard {
            status,
            nonce,
            operator,
            refresh,
        } => figures(status, nonce, *operator, *refresh),
        Page::SignIn { nonce, failed } => sign_in(nonce, *failed),
    };
    out.write_all(html.as_bytes())
}

fn e(text: &str) -> String {
    safe::html(text)
}

/// A signed count as the page (and its script) writes it: `−1,234` below zero.
fn signed(n: i64) -> String {
    if n < 0 {
        format!("\u{2212}{}", thousands(n.unsigned_abs()))
    } else {
        thousands(n.unsigned_abs())
    }
}

/// Seconds as "2 h 5 min", "3 min", "40 s".
fn span(seconds: u64) -> String {
    match (seconds / 3600, (seconds % 3600) / 60) {
        (0, 0) => format!("{seconds} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

const EXTRA_CSS: &str = "dl.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:10px;margin:12px 0}\n\
dl.figures div{background:var(--surface);border:1px solid var(--rule);border-radius:6px;padding:8px 12px}\n\
dl.figures dt{color:var(--muted);font-size:.85rem}\n\
dl.figures dd{margin:0;font-size:1.5rem;font-weight:700;font-variant-numeric:tabular-nums}\n\
meter{width:100%;height:1.2rem}\n\
.stale{color:var(--bad)}\n\
form input{font:inherit;padding:4px 6px;margin:4px 0;min-width:24rem;max-width:100%}\n\
form button{font:inherit;padding:4px 12px}\n";

fn head(page: &mut String, title: &str, nonce: &str) {
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<meta name=\"color-scheme\" content=\"light dark\"/>\n<meta name=\"referrer\" content=\"no-referrer\"/>\n<meta name=\"generator\" content=\"budget {}\"/>\n<title>{}</title>\n<style nonce=\"{}\">\n{}{EXTRA_CSS}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        e(title),
        e(nonce),
        style::css(),
    );
}

fn sign_in(nonce: &str, failed: bool) -> String {
    let mut page = String::with_capacity(16 * 1024);
    head(&mut page, "Budget guard: sign in", nonce);
    page.push_str("<header>\n<h1>Budget guard</h1>\n<p class=\"meta\">This guard asks for a token.</p>\n</header>\n<main>\n");
    if failed {
        page.push_str("<div class=\"verdict bad\" role=\"alert\"><p>That is not one of this guard's tokens.</p></div>\n");
    }
    page.push_str("<form method=\"post\" action=\"/budget/login\">\n<p><label for=\"token\">The token you send the guard (X-Budget-Token): the dashboard shows what that token may see.</label></p>\n<p><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required=\"required\"/></p>\n<p><button type=\"submit\">Open the dashboard</button></p>\n</form>\n<p class=\"note\">The token is sent in the form's body, never in a URL. The browser keeps a cookie made from it (not the token) until it closes; the cookie opens this page and its figures, nothing else.</p>\n</main>\n</body>\n</html>\n");
    page
}

fn figures(s: &Status, nonce: &str, operator: bool, refresh: Refresh) -> String {
    let mut page = String::with_capacity(64 * 1024);
    head(&mut page, "Budget guard", nonce);
    let b = &s.budget;
    let _ = write!(
        page,
        "<header>\n<h1>Budget guard{}</h1>\n<p class=\"meta\">account {} · budget id {} (from {}, state in {}) · mode <span id=\"mode\">{}</span> · started {} · <span id=\"updated\" data-refreshes=\"0\">figures of {}</span></p>\n</header>\n<main>\n",
        if operator { ": every client (operator's view)" } else { "" },
        e(&s.account),
        e(&s.epoch),
        e(b.source),
        e(b.state),
        e(s.mode),
        e(&s.started),
        e(&s.time),
    );
    // The headline figures.
    let exhausts = match (&s.burn.exhausts_at, s.burn.exhausts_in_seconds) {
        (Some(at), Some(secs)) => format!("{} (in {})", e(at), span(secs)),
        _ if b.remaining_units <= 0 => "now: nothing remains".into(),
        _ => "not at this pace (nothing spent lately)".into(),
    };
    let _ = write!(
        page,
        "<section aria-labelledby=\"budget-h\">\n<h2 id=\"budget-h\">Budget</h2>\n<dl class=\"figures\">\n\
<div><dt>Budget</dt><dd id=\"budget-units\">{}</dd></div>\n\
<div><dt>Spent</dt><dd id=\"spent-units\">{}</dd></div>\n\
<div><dt>Remaining</dt><dd id=\"remaining-units\">{}</dd></div>\n\
<div><dt>In flight</dt><dd id=\"reserved-units\">{}</dd></div>\n\
<div><dt>Burn rate (units/min)</dt><dd id=\"burn-rate\">{}</dd></div>\n\
</dl>\n\
<p><label for=\"spent-meter\">Spent: <span id=\"spent-percent\">{}</span>% of the budget</label></p>\n\
<meter id=\"spent-meter\" min=\"0\" max=\"100\" low=\"80\" high=\"95\" optimum=\"0\" value=\"{}\">{}%</meter>\n\
<p>At the pace of the last <span id=\"burn-window\">{}</span>, the budget runs out: <strong id=\"exhausts\">{exhausts}</strong>.</p>\n\
</section>\n",
        thousands(b.budget_units),
        signed(b.spent_units),
        signed(b.remaining_units),
        thousands(b.reserved_units),
        s.burn.units_per_minute,
        b.spent_percent,
        b.spent_percent.clamp(0.0, 100.0),
        b.spent_percent,
        span(s.burn.window_seconds),
    );
    // Calls by outcome.
    let _ = write!(
        page,
        "<section aria-labelledby=\"calls-h\">\n<h2 id=\"calls-h\">Calls</h2>\n<p>This guard process, since it started: <span id=\"calls-total\">{}</span> calls, <span id=\"units-charged\">{}</span> units charged.</p>\n<table>\n<caption>Calls by outcome</caption>\n<thead><tr><th scope=\"col\">outcome</th><th scope=\"col\" class=\"num\">calls</th></tr></thead>\n<tbody id=\"outcomes\">\n",
        thousands(s.calls.calls + s.calls.refused_before_pricing),
        thousands(s.calls.units_charged),
    );
    for (outcome, n) in &s.calls.by_outcome {
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>",
            e(outcome),
            thousands(*n)
        );
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
    // Clients.
    if !s.clients.is_empty() {
        page.push_str("<section aria-labelledby=\"clients-h\">\n<h2 id=\"clients-h\">Clients</h2>\n<div class=\"scroll\"><table>\n<caption>Each client's own budget (— without one) and its calls in this guard process</caption>\n<thead><tr><th scope=\"col\">client</th><th scope=\"col\" class=\"num\">budget</th><th scope=\"col\" class=\"num\">spent</th><th scope=\"col\" class=\"num\">remaining</th><th scope=\"col\" class=\"num\">calls</th><th scope=\"col\" class=\"num\">units charged</th><th scope=\"col\" class=\"num\">over budget</th></tr></thead>\n<tbody id=\"clients\">\n");
        let dash = |n: Option<String>| n.unwrap_or_else(|| "\u{2014}".into());
        for c in &s.clients {
            let _ = writeln!(
                page,
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                e(&c.name),
                dash(c.budget_units.map(thousands)),
                dash(c.spent_units.map(signed)),
                dash(c.remaining_units.map(signed)),
                thousands(c.calls.calls),
                thousands(c.calls.units_charged),
                thousands(c.calls.over_budget),
            );
        }
        page.push_str("</tbody>\n</table></div>\n</section>\n");
    }
    // Recent refusals.
    page.push_str("<section aria-labelledby=\"refusals-h\">\n<h2 id=\"refusals-h\">Recent refusals</h2>\n<div class=\"scroll\"><table>\n<caption>The latest calls this guard refused, newest first (refusals before pricing are only counted, above)</caption>\n<thead><tr><th scope=\"col\">time</th><th scope=\"col\">call</th><th scope=\"col\">client</th><th scope=\"col\">outcome</th><th scope=\"col\" class=\"num\">status</th><th scope=\"col\" class=\"num\">units</th><th scope=\"col\">approval</th></tr></thead>\n<tbody id=\"refusals\">\n");
    if s.recent_refusals.is_empty() {
        page.push_str("<tr><td colspan=\"7\">none</td></tr>\n");
    }
    for r in &s.recent_refusals {
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td><span class=\"endpoint\">{} {}</span></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            e(&r.time),
            e(&r.method),
            e(&r.endpoint),
            e(r.client.as_deref().unwrap_or("")),
            e(&outcome),
            r.status,
            thousands(r.units),
            e(r.approval.as_deref().unwrap_or("")),
        );
    }
    page.push_str("</tbody>\n</table></div>\n</section>\n");
    // Approvals.
    let a = &s.approvals;
    if a.approval_above_units.is_some() || a.soft_budget_units.is_some() {
        let mut rules = Vec::new();
        if let Some(above) = a.approval_above_units {
            rules.push(format!("calls above {} units", thousands(above)));
        }
        if let Some(soft) = a.soft_budget_units {
            rules.push(format!(
                "calls past the soft limit of {} units ({} approved above it)",
                thousands(soft),
                thousands(a.approved_units)
            ));
        }
        let _ = write!(
            page,
            "<section aria-labelledby=\"approvals-h\">\n<h2 id=\"approvals-h\">Approvals</h2>\n<p>Operators approve {} (<code>budget guard-admin approve ID</code>). <span id=\"approvals-pending\">{}</span> waiting.</p>\n<div class=\"scroll\"><table>\n<caption>Approvals this guard keeps (15 minutes each)</caption>\n<thead><tr><th scope=\"col\">id</th><th scope=\"col\">state</th><th scope=\"col\">call</th><th scope=\"col\">client</th><th scope=\"col\" class=\"num\">units</th><th scope=\"col\">requested</th></tr></thead>\n<tbody id=\"approvals\">\n",
            rules.join(" and "),
            thousands(a.pending as u64),
        );
        if a.list.is_empty() {
            page.push_str("<tr><td colspan=\"6\">none</td></tr>\n");
        }
        for ap in &a.list {
            let state = serde_json::to_value(&ap.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = writeln!(
                page,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td><span class=\"endpoint\">{} {}</span></td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                e(&ap.id),
                e(&state),
                e(&ap.method),
                e(&ap.endpoint),
                e(ap.client.as_deref().unwrap_or("")),
                thousands(ap.units),
                e(&ap.requested),
            );
        }
        page.push_str("</tbody>\n</table></div>\n</section>\n");
    }
    let _ = write!(
        page,
        "</main>\n<footer>\n<p>The figures are those of <code>GET /budget/status</code>. The page refreshes them every <span id=\"refresh-seconds\">{}</span> s when scripts run; without script, reload it.</p>\n<p>Made by budget {}.</p>\n</footer>\n<script nonce=\"{}\">\n{}</script>\n</body>\n</html>\n",
        refresh.seconds(),
        env!("CARGO_PKG_VERSION"),
        e(nonce),
        SCRIPT.replace("REFRESH_MS", &refresh.millis().to_string())
    );
    page
}

/// The refresh: reads `/budget/status` and writes its figures with `textContent` (no HTML).
const SCRIPT: &str = r#""use strict";
(function () {
  var n = function (v) { return v == null ? "\u2014" : (v < 0 ? "\u2212" : "") + Math.abs(v).toLocaleString("en-US"); };
  var set = function (id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } };
  var rows = function (id, list, cells) {
    var body = document.getElementById(id); if (!body) { return; }
    while (body.firstChild) { body.removeChild(body.firstChild); }
    list.forEach(function (item) {
      var tr = document.createElement("tr");
      cells(item).forEach(function (c) { var td = document.createElement("td"); td.textContent = c; tr.appendChild(td); });
      body.appendChild(tr);
    });
  };
  var span = function (s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h === 0 && m === 0) { return s + " s"; }
    if (h === 0) { return m + " min"; }
    return m === 0 ? h + " h" : h + " h " + m + " min";
  };
  var refreshes = 0;
  var refresh = function () {
    fetch("/budget/status", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(function (s) {
      var b = s.budget;
      set("budget-units", n(b.budget_units)); set("spent-units", n(b.spent_units));
      set("remaining-units", n(b.remaining_units)); set("reserved-units", n(b.reserved_units));
      set("spent-percent", String(b.spent_percent)); set("burn-rate", String(s.burn.units_per_minute));
      var m = document.getElementById("spent-meter"); if (m) { m.value = Math.max(0, Math.min(100, b.spent_percent)); }
      set("burn-window", span(s.burn.window_seconds));
      set("exhausts", s.burn.exhausts_at ? s.burn.exhausts_at + " (in " + span(s.burn.exhausts_in_seconds) + ")" : (b.remaining_units <= 0 ? "now: nothing remains" : "not at this pace (nothing spent lately)"));
      set("calls-total", n(s.calls.calls + s.calls.refused_before_pricing)); set("units-charged", n(s.calls.units_charged));
      rows("outcomes", Object.keys(s.calls.by_outcome || {}), function (k) { return [k, n(s.calls.by_outcome[k])]; });
      rows("clients", s.clients, function (c) { return [c.name, n(c.budget_units), n(c.spent_units), n(c.remaining_units), n(c.calls.calls), n(c.calls.units_charged), n(c.calls.over_budget)]; });
      rows("refusals", s.recent_refusals, function (r) { return [r.time, r.method + " " + r.endpoint, r.client || "", r.outcome, String(r.status), n(r.units), r.approval || ""]; });
      rows("approvals", s.approvals.list, function (a) { return [a.id, a.state, a.method + " " + a.endpoint, a.client || "", n(a.units), a.requested]; });
      set("approvals-pending", n(s.approvals.pending));
      refreshes += 1;
      var u = document.getElementById("updated");
      if (u) { u.textContent = "figures of " + s.time; u.className = ""; u.setAttribute("data-refreshes", String(refreshes)); }
    }).catch(function () {
      var u = document.getElementById("updated");
      if (u) { u.textContent = "could not refresh (the guard stopped, or the session ended): reload"; u.className = "stale"; }
    });
  };
  window.setInterval(refresh, REFRESH_MS);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::status::{
        Alerts, ApprovalsStatus, Budget, Burn, Calls, ClientStatus, Rate, RecentRefusal,
    };

    fn status() -> Status {
        Status {
            version: 1,
            time: "2026-11-26T07:10:00.000Z".into(),
            started: "2026-11-26T07:00:00.000Z".into(),
            mode: "enforce",
            account: "62af8704764faf8e".into(),
            epoch: "06eb46e974af".into(),
            budget: Budget {
                source: "flag",
                state: "memory",
                budget_units: 1000,
                spent_units: 1050,
                remaining_units: -50,
                reserved_units: 0,
                spent_percent: 105.0,
            },
            rate: Rate {
                requests_per_second: 10,
                window_ms: 1025,
                window_used: 0,
                queue_depth: 0,
                max_queue: 1000,
            },
            calls: Calls {
                calls: 12,
                units_charged: 1050,
                by_outcome: [("forwarded", 11), ("over_budget", 1)].into(),
                ..Calls::default()
            },
            alerts: Alerts {
                thresholds_percent: vec![],
                fired_percent: vec![],
            },
            clients: vec![ClientStatus {
                name: "ad-hoc".into(),
                budget_units: None,
                spent_units: None,
                remaining_units: None,
                reserved_units: None,
                requests_per_second: Some(2),
                calls: Calls::default(),
            }],
            burn: Burn {
                window_seconds: 300,
                units: 0,
                units_per_minute: 0.0,
                exhausts_at: None,
                exhausts_in_seconds: None,
            },
            recent_refusals: vec![RecentRefusal {
                time: "2026-11-26T07:09:00.000Z".into(),
                method: "GET".into(),
                // Not a catalogue name, but the page must hold any text as text.
                endpoint: "a<script>b&".into(),
                status: 402,
                outcome: crate::guard::Outcome::OverBudget,
                units: 100,
                client: None,
                approval: None,
            }],
            approvals: ApprovalsStatus::default(),
        }
    }

    fn text(page: &Page<'_>) -> String {
        String::from_utf8(dashboard(page)).expect("utf-8")
    }

    #[test]
    fn the_figures_are_server_rendered_and_text_stays_text() {
        let status = status();
        let page = text(&Page::Dashboard {
            status: &status,
            nonce: "n0nce",
            operator: true,
            refresh: Refresh::from_seconds(7).expect("7 s is an interval"),
        });
        // 1,000 − 1,050 spent: overdrawn by 50, written with a minus sign.
        assert!(
            page.contains(r#"<dd id="remaining-units">−50</dd>"#),
            "{page}"
        );
        assert!(page.contains(r#"<dd id="spent-units">1,050</dd>"#));
        assert!(page.contains("now: nothing remains"));
        // A client without a budget of its own: dashes.
        assert!(page.contains("<th scope=\"row\">ad-hoc</th><td class=\"num\">—</td>"));
        // The endpoint is escaped; the one script is the page's own, under the nonce.
        assert!(page.contains("a&lt;script&gt;b&amp;"), "{page}");
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script nonce=\"n0nce\">"));
        assert!(page.contains("<style nonce=\"n0nce\">"));
        // No approvals section without the flags.
        assert!(!page.contains("id=\"approvals\""));
        // The interval it was given, in the footer's words and in the script: 7 s = 7,000 ms.
        assert!(
            page.contains(r#"refreshes them every <span id="refresh-seconds">7</span> s"#),
            "{page}"
        );
        assert!(
            page.contains("window.setInterval(refresh, 7000);"),
            "{page}"
        );
    }

    #[test]
    fn the_sign_in_page_has_a_form_and_no_script() {
        let page = text(&Page::SignIn {
            nonce: "n",
            failed: true,
        });
        assert!(page.contains(r#"<form method="post" action="/budget/login">"#));
        assert!(page.contains(r#"type="password""#));
        assert!(page.contains("That is not one of this guard's tokens."));
        assert!(!page.contains("<script"));
    }
}
