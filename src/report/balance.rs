//! Rendering `budget balance`.

use std::io::{self, Write};

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::{csv_header, csv_row, markdown_table, safe, thousands, Cell, Format};
use crate::account::Subscription;

/// What the balance report shows, derived from a subscription at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceFigures {
    pub units_used: u64,
    /// Hundredths of a percent of `units_limit` used, rounded half up; `None` when the limit is 0.
    pub used_basis_points: Option<u64>,
    /// Whole days until expiry (0 once expired); `None` when the expiry is unknown.
    pub days_left: Option<i64>,
}

/// `units_used = units_limit − units_left` (0 when a refund lifts units_left above the limit).
pub fn figures(s: &Subscription, now: NaiveDateTime) -> BalanceFigures {
    let units_used = s.units_limit.saturating_sub(s.units_left);
    let used_basis_points = (s.units_limit > 0).then(|| {
        let (used, limit) = (u128::from(units_used), u128::from(s.units_limit));
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

/// The JSON contract: status, units_left, units_limit, units_used, used_percent, start, expires,
/// days_left.
pub fn balance_json(s: &Subscription, now: NaiveDateTime) -> Value {
    let f = figures(s, now);
    json!({
        "status": s.status,
        "units_left": s.units_left,
        "units_limit": s.units_limit,
        "units_used": f.units_used,
        "used_percent": f.used_basis_points.map(|bp| bp as f64 / 100.0),
        "start": iso(s.start),
        "expires": iso(s.expires),
        "days_left": f.days_left,
    })
}

pub fn balance(
    out: &mut dyn Write,
    format: Format,
    s: &Subscription,
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
    let rows = [
        ("status", s.status.clone()),
        ("units_left", thousands(s.units_left)),
        ("units_limit", thousands(s.units_limit)),
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
    ];
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
            markdown_table(out, &["", "subscription"], &[false, true], &rows)
        }
        Format::Csv => {
            let json = balance_json(s, now);
            let keys = [
                "status",
                "units_left",
                "units_limit",
                "units_used",
                "used_percent",
                "start",
                "expires",
                "days_left",
            ];
            csv_header(out, &keys)?;
            let cells = keys.map(|k| match &json[k] {
                Value::Null => Cell::number(""),
                Value::String(text) => Cell::text(text.as_str()),
                other => Cell::number(other),
            });
            csv_row(out, &cells)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn vendor_example() -> Subscription {
        Subscription {
            status: "active".into(),
            units_left: 4_975_033,
            units_limit: 5_000_000,
            start: Some(at("2024-01-18 14:20:02")),
            expires: Some(at("2024-02-18 14:20:02")),
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
        s.units_left = 6_000_000; // refunded above the limit: nothing used
        s.expires = Some(at("2024-01-01 00:00:00")); // already past: 0 days
        let f = figures(&s, at("2024-02-01 00:00:00"));
        assert_eq!(
            (f.units_used, f.used_basis_points, f.days_left),
            (0, Some(0), Some(0))
        );
        s.units_limit = 0;
        s.expires = None;
        let f = figures(&s, at("2024-02-01 00:00:00"));
        assert_eq!((f.used_basis_points, f.days_left), (None, None));
        // 1 of 3 used = 33.333…% → 3333 basis points; 2 of 3 = 66.666…% → 6667 (half up).
        s.units_limit = 3;
        s.units_left = 2;
        assert_eq!(
            figures(&s, at("2024-02-01 00:00:00")).used_basis_points,
            Some(3333)
        );
        s.units_left = 1;
        assert_eq!(
            figures(&s, at("2024-02-01 00:00:00")).used_basis_points,
            Some(6667)
        );
    }

    #[test]
    fn table_and_json_by_hand() {
        let now = at("2024-02-01 00:00:00");
        let mut out = Vec::new();
        balance(&mut out, Format::Table, &vendor_example(), now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "status:      active\n\
             units_left:  4,975,033\n\
             units_limit: 5,000,000\n\
             used:        24,967 (0.50%)\n\
             start:       2024-01-18 14:20:02\n\
             expires:     2024-02-18 14:20:02 (17 days left)\n"
        );
        assert_eq!(
            balance_json(&vendor_example(), now),
            json!({"status": "active", "units_left": 4975033, "units_limit": 5000000, "units_used": 24967,
                   "used_percent": 0.5, "start": "2024-01-18T14:20:02", "expires": "2024-02-18T14:20:02",
                   "days_left": 17})
        );
    }

    #[test]
    fn csv_has_the_json_keys() {
        let mut out = Vec::new();
        balance(
            &mut out,
            Format::Csv,
            &vendor_example(),
            at("2024-02-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "status,units_left,units_limit,units_used,used_percent,start,expires,days_left\n\
             active,4975033,5000000,24967,0.5,2024-01-18T14:20:02,2024-02-18T14:20:02,17\n"
        );
    }
}
