//! Rendering `budget balance`: status, both pools, the subscription's use and dates.

use std::io::{self, Write};

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::{csv_header, csv_row, markdown_table, safe, thousands, Cell, Format};
use crate::account::AccountBalance;

/// What the balance report shows, derived from a balance at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceFigures {
    pub units_used: u64,
    /// Hundredths of a percent of `units_limit` used, rounded half up; `None` when the limit is 0.
    pub used_basis_points: Option<u64>,
    /// Whole days until expiry (0 once expired); `None` when the expiry is unknown.
    pub days_left: Option<i64>,
}

/// The subscription's use: `units_used = units_limit − its remaining credits` (0 when a refund
/// lifts them above the limit); the wallet has no limit.
pub fn figures(s: &AccountBalance, now: NaiveDateTime) -> BalanceFigures {
    let units_used = s.subscription_limit.saturating_sub(s.subscription_left);
    let used_basis_points = (s.subscription_limit > 0).then(|| {
        let (used, limit) = (u128::from(units_used), u128::from(s.subscription_limit));
        // round(used × 10000 / limit), half up, in integers.
        u64::try_from((used * 20_000 + limit) / (2 * limit)).unwrap_or(u64::MAX)
    });
    let days_left = s.expires.map(|e| (e - now).num_days().max(0));
    BalanceFigures {
        units_used,
        used_basis_points,
        days_left,
    }
}

fn percent(basis_points: Option<u64>) -> String {
    match basis_points {
        Some(bp) => format!("{}.{:02}%", bp / 100, bp % 100),
        None => "n/a".into(),
    }
}

fn date(d: Option<NaiveDateTime>) -> String {
    d.map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn iso(d: Option<NaiveDateTime>) -> Value {
    d.map(|d| Value::String(d.format("%Y-%m-%dT%H:%M:%S").to_string()))
        .unwrap_or(Value::Null)
}

/// The JSON contract: status, usable, units_left (both pools), pools, units_limit, units_used,
/// used_percent, start, expires, days_left, access.
pub fn balance_json(s: &AccountBalance, now: NaiveDateTime) -> Value {
    let f = figures(s, now);
    let pools = s.pools();
    json!({
        "status": s.status,
        "usable": s.usable(),
        "units_left": s.units_left(),
        "pools": {"subscription": pools.subscription, "wallet": pools.wallet},
        "units_limit": s.subscription_limit,
        "units_used": f.units_used,
        "used_percent": f.used_basis_points.map(|bp| bp as f64 / 100.0),
        "start": iso(s.start),
        "expires": iso(s.expires),
        "days_left": f.days_left,
        "access": s.access,
    })
}

/// The status, and what it means for spending when the subscription is not active.
fn status_text(s: &AccountBalance) -> String {
    match s.wallet_left {
        _ if s.subscription_active() => s.status.clone(),
        Some(wallet) if wallet > 0 => format!(
            "{} (the wallet's {} credits keep the key working)",
            s.status,
            thousands(wallet)
        ),
        Some(_) => format!("{} (and no wallet credits: nothing can be spent)", s.status),
        None => format!("{} (nothing can be spent)", s.status),
    }
}

/// `units_left` and the pools it is made of.
fn units_left_text(s: &AccountBalance) -> String {
    let pools = s.pools();
    match pools.wallet {
        Some(wallet) => format!(
            "{} (subscription {} + wallet {})",
            thousands(s.units_left()),
            thousands(pools.subscription),
            thousands(wallet)
        ),
        None => format!(
            "{} (subscription; the API reports no wallet)",
            thousands(s.units_left())
        ),
    }
}

pub fn balance(
    out: &mut dyn Write,
    format: Format,
    s: &AccountBalance,
    now: NaiveDateTime,
) -> io::Result<()> {
    let f = figures(s, now);
    let expires = match (s.expires, f.days_left) {
        (Some(_), Some(1)) => format!("{} (1 day left)", date(s.expires)),
        (Some(_), Some(n)) => format!(
            "{} ({} days left)",
            date(s.expires),
            thousands(n.unsigned_abs())
        ),
        _ => date(s.expires),
    };
    let mut rows = vec![("status", status_text(s))];
    if let Some(access) = &s.access {
        rows.push(("access", access.clone()));
    }
    rows.extend([
        ("units_left", units_left_text(s)),
        ("units_limit", thousands(s.subscription_limit)),
        (
            "used",
            format!(
                "{} ({})",
                thousands(f.units_used),
                percent(f.used_basis_points)
            ),
        ),
        ("start", date(s.start)),
        ("expires", expires),
    ]);
    match format {
        Format::Json => safe::json(out, &balance_json(s, now)),
        Format::Table => {
            for (name, value) in rows {
                let value = safe::terminal(&value);
                writeln!(out, "{:<12} {value}", format!("{name}:"))?;
            }
            Ok(())
        }
        Format::Markdown => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(n, v)| vec![n.to_string(), safe::markdown(&v)])
                .collect();
            markdown_table(out, &["", "balance"], &[false, true], &rows)
        }
        Format::Csv => {
            let json = balance_json(s, now);
            csv_header(out, &CSV_KEYS)?;
            let cells = CSV_KEYS.map(|k| {
                let value = match k {
                    "subscription" | "wallet" => &json["pools"][k],
                    _ => &json[k],
                };
                match value {
                    Value::Null => Cell::number(""),
                    Value::String(text) => Cell::text(text.as_str()),
                    other => Cell::number(other),
                }
            });
            csv_row(out, &cells)
        }
    }
}

/// The CSV columns: the JSON keys, the pools flattened.
const CSV_KEYS: [&str; 12] = [
    "status",
    "usable",
    "units_left",
    "subscription",
    "wallet",
    "units_limit",
    "units_used",
    "used_percent",
    "start",
    "expires",
    "days_left",
    "access",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::BalanceEndpoint;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    /// The vendor doc's subscription example, read from `/v1/account/credits` with a wallet.
    fn vendor_example() -> AccountBalance {
        AccountBalance {
            endpoint: BalanceEndpoint::Credits,
            status: "active".into(),
            subscription_left: 4_975_033,
            subscription_limit: 5_000_000,
            start: Some(at("2024-01-18 14:20:02")),
            expires: Some(at("2024-02-18 14:20:02")),
            wallet_left: Some(250_000),
            access: Some("active_subscription".into()),
        }
    }

    #[test]
    fn vendor_example_figures() {
        // used = 5,000,000 − 4,975,033 = 24,967; 24,967 / 5,000,000 = 0.49934% → 0.50%.
        // 2024-02-18 14:20:02 − 2024-02-01 00:00:00 = 17 days 14:20 → 17 whole days.
        let f = figures(&vendor_example(), at("2024-02-01 00:00:00"));
        assert_eq!(
            f,
            BalanceFigures {
                units_used: 24_967,
                used_basis_points: Some(50),
                days_left: Some(17)
            }
        );
    }

    #[test]
    fn edge_figures() {
        let mut s = vendor_example();
        s.subscription_left = 6_000_000; // refunded above the limit: nothing used
        s.expires = Some(at("2024-01-01 00:00:00")); // already past: 0 days
        let f = figures(&s, at("2024-02-01 00:00:00"));
        assert_eq!(
            (f.units_used, f.used_basis_points, f.days_left),
            (0, Some(0), Some(0))
        );
        s.subscription_limit = 0;
        s.expires = None;
        let f = figures(&s, at("2024-02-01 00:00:00"));
        assert_eq!((f.used_basis_points, f.days_left), (None, None));
        // 1 of 3 used = 33.333…% → 3333 basis points; 2 of 3 = 66.666…% → 6667 (half up).
        s.subscription_limit = 3;
        s.subscription_left = 2;
        assert_eq!(
            figures(&s, at("2024-02-01 00:00:00")).used_basis_points,
            Some(3333)
        );
        s.subscription_left = 1;
        assert_eq!(
            figures(&s, at("2024-02-01 00:00:00")).used_basis_points,
            Some(6667)
        );
    }

    fn rendered(format: Format, s: &AccountBalance) -> String {
        let mut out = Vec::new();
        balance(&mut out, format, s, at("2024-02-01 00:00:00")).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_and_json_by_hand() {
        // units_left = 4,975,033 + 250,000 = 5,225,033.
        assert_eq!(
            rendered(Format::Table, &vendor_example()),
            "status:      active\n\
             access:      active_subscription\n\
             units_left:  5,225,033 (subscription 4,975,033 + wallet 250,000)\n\
             units_limit: 5,000,000\n\
             used:        24,967 (0.50%)\n\
             start:       2024-01-18 14:20:02\n\
             expires:     2024-02-18 14:20:02 (17 days left)\n"
        );
        assert_eq!(
            balance_json(&vendor_example(), at("2024-02-01 00:00:00")),
            json!({"status": "active", "usable": true, "units_left": 5225033,
                   "pools": {"subscription": 4975033, "wallet": 250000},
                   "units_limit": 5000000, "units_used": 24967, "used_percent": 0.5,
                   "start": "2024-01-18T14:20:02", "expires": "2024-02-18T14:20:02",
                   "days_left": 17, "access": "active_subscription"})
        );
    }

    #[test]
    fn an_expired_subscription_says_what_the_wallet_does() {
        let mut s = vendor_example();
        s.status = "expired".into();
        s.subscription_left = 0;
        s.access = Some("active_wallet".into());
        let table = rendered(Format::Table, &s);
        assert!(
            table.contains(
                "status:      expired (the wallet's 250,000 credits keep the key working)\n"
            ),
            "{table}"
        );
        // 0 (expired) + 250,000 = 250,000
        assert!(
            table.contains("units_left:  250,000 (subscription 0 + wallet 250,000)\n"),
            "{table}"
        );
        s.wallet_left = Some(0);
        assert!(rendered(Format::Table, &s)
            .contains("status:      expired (and no wallet credits: nothing can be spent)\n"));
        s.wallet_left = None;
        s.access = None;
        let table = rendered(Format::Table, &s);
        assert!(
            table.contains("units_left:  0 (subscription; the API reports no wallet)\n"),
            "{table}"
        );
    }

    #[test]
    fn csv_and_markdown_show_both_pools() {
        assert_eq!(
            rendered(Format::Csv, &vendor_example()),
            "status,usable,units_left,subscription,wallet,units_limit,units_used,used_percent,start,expires,days_left,access\n\
             active,true,5225033,4975033,250000,5000000,24967,0.5,2024-01-18T14:20:02,2024-02-18T14:20:02,17,active_subscription\n"
        );
        let markdown = rendered(Format::Markdown, &vendor_example());
        assert!(
            markdown
                .contains("| units_left | 5,225,033 (subscription 4,975,033 + wallet 250,000) |"),
            "{markdown}"
        );
    }
}
