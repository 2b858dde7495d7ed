//! What the guard tells a client that it did not send a call to the API: the status, the
//! envelope's `message` and a description an agent can act on.
//!
//! The readers are often programs — an AI agent behind SE Ranking's MCP server sees only "API
//! error (STATUS) BODY" — so each refusal says whether retrying can help, what would fit or what
//! to change, and who can change the guard. Statuses are chosen so that a refusal of the guard's
//! cannot be mistaken for the API's own 400 ("your parameters are wrong"):
//!
//! | refusal | status | `message` |
//! |---|---|---|
//! | the call does not fit the budget | 402 | `Budget exceeded` |
//! | a path the catalogue does not know, or an entry of unknown price | 501 | `Not priced by budget guard` |
//! | a body or parameter the guard cannot read exactly | 422 | `Cannot price this call` |
//! | a method the path's entries do not list | 405 (with `Allow`) | `Method Not Allowed` |
//! | not a `/v1/` path | 404 | `Not Found` |
//!
//! Every envelope the guard writes itself carries `"source": "budget-guard"` beside the vendor's
//! `code`, `message` and `description` (docs/guard.md "What the guard does with each call").
//!
//! This module only words; deciding what to refuse is the proxy's and pricing's.

use axum::http::StatusCode;

use super::price::{Fit, PriceError};
use crate::pricing::Granularity;

/// The `source` of every envelope the guard writes itself.
pub const SOURCE: &str = "budget-guard";

/// The `message` of a call the guard cannot price: an unknown path or an unknown price.
pub const NOT_PRICED: &str = "Not priced by budget guard";

/// How a guard's budget is raised: the one sentence every reply that mentions it uses. Keep it
/// general: how an operator raises a budget depends on how the guard keeps it.
pub const RAISE_BUDGET: &str = "only the guard's operator can raise its budget (`budget guard-admin raise --by N` on a guard started with --admin-token-file, or a restart with a larger --budget)";

/// The 402 text of a call that needs an operator's approval: why, the id, what to do.
/// `soft`: (units needed, units used, the soft limit) when the soft limit is why.
pub fn approval_needed(
    endpoint: &str,
    units: u64,
    id: &str,
    rules: super::admin::Rules,
    soft: Option<(u64, i64, u64)>,
) -> String {
    let why = match (soft, rules.above) {
        (Some((needed, used, limit)), _) => format!(
            "it needs {} units, and {} are used already: together past the soft limit of {} units (--soft-budget) and what operators approved above it",
            crate::count::thousands(needed),
            crate::count::thousands(used.unsigned_abs()),
            crate::count::thousands(limit)
        ),
        (None, Some(above)) => format!(
            "it needs {} units, more than the {} units a call may spend without an operator's approval (--approval-above)",
            crate::count::thousands(units),
            crate::count::thousands(above)
        ),
        (None, None) => format!("it needs {} units", crate::count::thousands(units)),
    };
    format!(
        "budget guard: this {endpoint} call waits for an operator's approval ({id}): {why}; it was not sent to the API. Ask the guard's operator to run `budget guard-admin approve {id}`, then send the same call again (same parameters and body) within 15 minutes: it passes once, for these {} units. Until then the same call gets this answer again.",
        crate::count::thousands(units)
    )
}

/// The 402 text of a call an operator denied.
pub fn approval_denied(endpoint: &str, id: &str) -> String {
    format!(
        "budget guard: the guard's operator denied this {endpoint} call (approval {id}); it was not sent to the API, and the same call is refused for 15 minutes. Change the call or ask the operator."
    )
}

/// The 503 text when too many approvals wait.
pub fn approvals_full(max: usize) -> String {
    format!(
        "the guard keeps {max} approvals already (pending, approved or denied); this call was not sent to the API. Ask the guard's operator to decide them (`budget guard-admin approvals`), or try again once they expire (15 minutes)"
    )
}

/// A refusal's status line and envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
    pub description: String,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
}

/// The refusal of a call the guard could not price.
pub fn price_refusal(e: &PriceError) -> Refusal {
    let (status, message) = match e {
        PriceError::NotApi { .. } => (StatusCode::NOT_FOUND, "Not Found"),
        PriceError::UnknownEndpoint { .. } | PriceError::PriceUnknown { .. } => {
            (StatusCode::NOT_IMPLEMENTED, NOT_PRICED)
        }
        PriceError::MethodNotAllowed { .. } => {
            (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        PriceError::Unreadable { .. } | PriceError::Overflow { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Cannot price this call")
        }
    };
    let allow = match e {
        PriceError::MethodNotAllowed { allowed, .. } => Some(allowed.join(", ")),
        _ => None,
    };
    Refusal {
        status,
        message,
        description: format!("budget guard: {e}"),
        allow,
    }
}

/// The description of a 402: what the call needs and what is left, that the budget does not
/// refill (so the same call fails again), what still fits — computed by [`super::price::largest_fit`]
/// — and who can raise the budget.
pub fn over_budget(endpoint: &str, needed: u64, left: i64, fit: &Fit) -> String {
    let refused = if left < 0 {
        format!(
            "budget guard: this {endpoint} call needs {} units, and the guard's budget is overdrawn by {} units (calls were billed more than they were priced at); it was not sent to the API",
            crate::count::thousands(needed),
            crate::count::thousands(left.unsigned_abs())
        )
    } else {
        format!(
            "budget guard: this {endpoint} call needs {} units, {} left of the guard's budget; it was not sent to the API",
            crate::count::thousands(needed),
            crate::count::thousands(left.unsigned_abs())
        )
    };
    let fits = still_fits(endpoint, left, fit);
    format!(
        "{refused}. The budget does not refill while the guard runs, so the same call will be refused again; {fits}. To spend more, {RAISE_BUDGET}."
    )
}

/// What still fits of `left` units: the clause both 402 texts end with.
fn still_fits(endpoint: &str, left: i64, fit: &Fit) -> String {
    match (left, fit) {
        (..=-1, _) => "nothing fits any more, not even free calls".to_string(),
        (0, _) => "only free calls (0 units, e.g. task status polls) still fit".to_string(),
        (_, Fit::Nothing { smallest }) => format!(
            "no {endpoint} call fits (the smallest costs {} units); calls of at most {} units still do",
            crate::count::thousands(*smallest),
            crate::count::thousands(left.unsigned_abs())
        ),
        (_, fit) => format!(
            "calls of at most {} units still fit, e.g. this call {}",
            crate::count::thousands(left.unsigned_abs()),
            smaller(fit)
        ),
    }
}

/// The 402 text for a call its client's own budget (`--clients`) cannot hold: names the
/// client and its budget, says what still fits of it, and who can raise it.
pub fn over_client_budget(
    endpoint: &str,
    client: &str,
    needed: u64,
    left: i64,
    budget: u64,
    fit: &Fit,
) -> String {
    let refused = if left < 0 {
        format!(
            "budget guard: this {endpoint} call needs {} units, and client {client}'s budget of {} units is overdrawn by {} units; it was not sent to the API",
            crate::count::thousands(needed),
            crate::count::thousands(budget),
            crate::count::thousands(left.unsigned_abs())
        )
    } else {
        format!(
            "budget guard: this {endpoint} call needs {} units, {} left of client {client}'s budget of {} units; it was not sent to the API",
            crate::count::thousands(needed),
            crate::count::thousands(left.unsigned_abs()),
            crate::count::thousands(budget)
        )
    };
    let fits = still_fits(endpoint, left, fit);
    format!(
        "{refused}. A client's budget does not refill while the guard runs; {fits}. Other clients of this guard are not affected. To spend more, only the guard's operator can raise this client's budget (its entry in the --clients file, then a restart with --new-budget)."
    )
}

/// The smaller call of a fit, after "this call".
fn smaller(fit: &Fit) -> String {
    match fit {
        Fit::Targets { targets, units } => format!(
            "with at most {} {} ({} units)",
            crate::count::thousands(*targets),
            if *targets == 1 { "target" } else { "targets" },
            crate::count::thousands(*units)
        ),
        Fit::Rows { param, rows, units } => format!(
            "with {param} at most {} ({} units)",
            crate::count::thousands(*rows),
            crate::count::thousands(*units)
        ),
        Fit::Periods {
            periods,
            granularity,
            units,
        } => {
            let period = match granularity {
                Granularity::ByDay => "day",
                Granularity::ByWeek => "week",
                Granularity::ByMonth => "month",
            };
            format!(
                "over a date range of at most {} {period}{} ({} units)",
                crate::count::thousands(*periods),
                if *periods == 1 { "" } else { "s" },
                crate::count::thousands(*units)
            )
        }
        Fit::Nothing { smallest } => format!(
            "costs at least {} units",
            crate::count::thousands(*smallest)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn says(text: &str, phrases: &[&str]) {
        for phrase in phrases {
            assert!(text.contains(phrase), "lacks {phrase:?}:\n{text}");
        }
    }

    #[test]
    fn over_budget_says_what_fits_and_that_nothing_refills() {
        // 300 needed, 250 left; 2 targets × 100 = 200 fit.
        says(
            &over_budget(
                "backlinks/summary",
                300,
                250,
                &Fit::Targets {
                    targets: 2,
                    units: 200,
                },
            ),
            &[
                "budget guard: this backlinks/summary call needs 300 units, 250 left of the guard's budget; it was not sent to the API.",
                "The budget does not refill while the guard runs, so the same call will be refused again;",
                "calls of at most 250 units still fit, e.g. this call with at most 2 targets (200 units).",
                "To spend more, only the guard's operator can raise its budget",
            ],
        );
        says(
            &over_budget(
                "backlinks/all",
                5_000,
                1_234,
                &Fit::Rows {
                    param: "limit".into(),
                    rows: 1_234,
                    units: 1_234,
                },
            ),
            &[
                "needs 5,000 units, 1,234 left",
                "this call with limit at most 1,234 (1,234 units)",
            ],
        );
        says(
            &over_budget(
                "backlinks/history/count",
                3_100,
                250,
                &Fit::Periods {
                    periods: 2,
                    granularity: Granularity::ByDay,
                    units: 200,
                },
            ),
            &["over a date range of at most 2 days (200 units)"],
        );
        says(
            &over_budget("domain/keywords", 100, 99, &Fit::Nothing { smallest: 100 }),
            &["no domain/keywords call fits (the smallest costs 100 units); calls of at most 99 units still do"],
        );
        says(
            &over_budget("domain/keywords", 100, 0, &Fit::Nothing { smallest: 100 }),
            &[
                "0 left",
                "only free calls (0 units, e.g. task status polls) still fit",
            ],
        );
        says(
            &over_budget("backlinks/all", 100, -4_000, &Fit::Nothing { smallest: 1 }),
            &[
                "the guard's budget is overdrawn by 4,000 units",
                "nothing fits any more, not even free calls",
                "does not refill",
            ],
        );
    }

    #[test]
    fn refusals_are_not_the_api_s_400() {
        let cases = [
            (
                PriceError::UnknownEndpoint {
                    endpoint: "backlinks/sumary".into(),
                    suggestion: Some("backlinks/summary".into()),
                },
                501,
                NOT_PRICED,
                "budget guard: backlinks/sumary is not in the guard's pricing catalogue (a typo of backlinks/summary?), so the guard cannot price it and did not send it to the API; retrying will not help: the guard's operator can add it in a pricing overlay (--pricing-overlay FILE)",
            ),
            (
                PriceError::PriceUnknown {
                    endpoint: "domain/pages".into(),
                },
                501,
                NOT_PRICED,
                "budget guard: the price of domain/pages is unknown (no source publishes it), so the guard did not send the call to the API; retrying will not help: the guard's operator can set the price in a pricing overlay (--pricing-overlay FILE)",
            ),
            (
                PriceError::MethodNotAllowed {
                    endpoint: "site-audit/audits".into(),
                    method: "PUT".into(),
                    allowed: vec!["GET", "PATCH", "DELETE"],
                },
                405,
                "Method Not Allowed",
                "budget guard: site-audit/audits takes GET, PATCH, DELETE; the guard does not forward PUT calls to it",
            ),
            (
                PriceError::NotApi {
                    path: "/admin".into(),
                },
                404,
                "Not Found",
                "budget guard: /admin is not an SE Ranking Data API path",
            ),
        ];
        for (error, status, message, phrase) in cases {
            let r = price_refusal(&error);
            assert_eq!(r.status.as_u16(), status, "{error}");
            assert_eq!(r.message, message);
            says(&r.description, &[phrase]);
        }
        let r = price_refusal(&PriceError::MethodNotAllowed {
            endpoint: "serp/classic/tasks/html".into(),
            method: "POST".into(),
            allowed: vec!["GET"],
        });
        assert_eq!(r.allow.as_deref(), Some("GET"));
    }
}
