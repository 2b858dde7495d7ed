//! Rendering `budget overage`: one quote, or the table across tiers.

use std::io::{self, Write};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{csv_header, csv_row, markdown_table, safe, table, thousands, Cell, Format};
use crate::finance::{Amount, OverageQuote, TierQuote};
use crate::pricing::{Billing, OverageRate};

/// Money as a plain decimal with at least two places: `2.00`, `99.99`, `12.345` (a custom rate
/// keeps its precision; costs are already rounded to cents).
pub(crate) fn money(value: Decimal) -> String {
    let mut value = value;
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}

/// Money as a person reads it: `$` and [`money`] with its whole dollars grouped by thousands
/// like unit counts (`$12,344.44`). JSON and CSV keep [`money`]'s plain decimal.
pub(crate) fn dollars(value: Decimal) -> String {
    let text = money(value);
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, cents) = text.split_once('.').unwrap_or((text, ""));
    let grouped = crate::count::group_digits(whole);
    if cents.is_empty() {
        format!("{sign}${grouped}")
    } else {
        format!("{sign}${grouped}.{cents}")
    }
}

fn count_or_dash(n: Option<u64>) -> String {
    n.map(thousands).unwrap_or_else(|| "-".into())
}

/// The JSON object of one quote (the keys).
pub fn overage_json(q: &OverageQuote) -> Value {
    json!({
        "tier": q.tier,
        "billing": q.billing.as_str(),
        "rate": q.rate.as_str(),
        "usage": q.usage,
        "included": q.included,
        "units": q.units,
        "usd_per_million": money(q.usd_per_million),
        "usd": money(q.usd),
    })
}

pub fn overage(out: &mut dyn Write, format: Format, q: &OverageQuote) -> io::Result<()> {
    match format {
        Format::Json => safe::json(out, &overage_json(q)),
        Format::Csv => {
            let header = [
                "tier",
                "billing",
                "rate",
                "usage",
                "included",
                "units",
                "usd_per_million",
                "usd",
            ];
            csv_header(out, &header)?;
            csv_row(
                out,
                &[
                    Cell::text(q.tier.as_str()),
                    Cell::text(q.billing.as_str()),
                    Cell::text(q.rate.as_str()),
                    Cell::optional(q.usage),
                    Cell::optional(q.included),
                    Cell::number(q.units),
                    Cell::number(money(q.usd_per_million)),
                    Cell::number(money(q.usd)),
                ],
            )
        }
        Format::Table | Format::Markdown => {
            let rows = vec![
                vec!["tier".into(), q.tier.clone()],
                vec!["billing".into(), q.billing.as_str().into()],
                vec!["rate".into(), q.rate.as_str().into()],
                vec!["usage".into(), count_or_dash(q.usage)],
                vec!["included".into(), count_or_dash(q.included)],
                vec!["overage units".into(), thousands(q.units)],
                vec!["usd per 1M units".into(), dollars(q.usd_per_million)],
                vec!["overage cost".into(), dollars(q.usd)],
            ];
            if format == Format::Markdown {
                // The tier is the user's or the pricing file's text; the rest are figures.
                let mut rows = rows;
                rows[0][1] = safe::markdown(&rows[0][1]);
                markdown_table(out, &["", "overage"], &[false, true], &rows)
            } else {
                let mut all = vec![vec![String::from("overage"), String::new()]];
                all.extend(rows);
                writeln!(out, "{}", table(all, 1))
            }
        }
    }
}

fn rate_key(billing: Billing, rate: OverageRate) -> &'static str {
    match (rate, billing) {
        (OverageRate::Plan, Billing::Monthly) => "plan",
        (OverageRate::Plan, Billing::Yearly) => "plan_yearly",
        (OverageRate::Addon, Billing::Monthly) => "addon",
        (OverageRate::Addon, Billing::Yearly) => "addon_yearly",
    }
}

/// The across-tiers table. `selected` marks the user's tier, when given, in every format: a
/// `*` in tables, `"selected": true` in JSON, a `selected` column in CSV.
pub fn overage_tiers(
    out: &mut dyn Write,
    format: Format,
    amount: Amount,
    tiers: &[TierQuote],
    selected: Option<&str>,
) -> io::Result<()> {
    let (usage, units) = match amount {
        Amount::Usage(n) => (Some(n), None),
        Amount::Units(n) => (None, Some(n)),
    };
    let marked = |t: &TierQuote| selected.is_some_and(|s| s.eq_ignore_ascii_case(&t.tier));
    match format {
        Format::Json => {
            let value = json!({
                "usage": usage,
                "units": units,
                "tiers": tiers.iter().map(|t| {
                    let usd: serde_json::Map<String, Value> = t.rates.iter()
                        .map(|r| (rate_key(r.billing, r.rate).to_string(), Value::from(money(r.usd))))
                        .collect();
                    let rates: serde_json::Map<String, Value> = t.rates.iter()
                        .map(|r| (rate_key(r.billing, r.rate).to_string(), Value::from(money(r.usd_per_million))))
                        .collect();
                    json!({
                        "tier": t.tier,
                        "selected": marked(t),
                        "included": t.included,
                        "units": t.units,
                        "usd_per_million": rates,
                        "usd": usd,
                    })
                }).collect::<Vec<_>>(),
            });
            safe::json(out, &value)
        }
        Format::Csv => {
            let header = [
                "tier",
                "included",
                "units",
                "usd_plan",
                "usd_plan_yearly",
                "usd_addon",
                "usd_addon_yearly",
                "selected",
            ];
            csv_header(out, &header)?;
            for t in tiers {
                let mut row = vec![
                    Cell::text(t.tier.as_str()),
                    Cell::number(t.included),
                    Cell::number(t.units),
                ];
                row.extend(t.rates.iter().map(|r| Cell::number(money(r.usd))));
                row.push(Cell::number(marked(t)));
                csv_row(out, &row)?;
            }
            Ok(())
        }
        Format::Table | Format::Markdown => {
            let header = [
                "tier",
                "included",
                "overage units",
                "plan",
                "plan yearly",
                "addon",
                "addon yearly",
            ];
            let rows: Vec<Vec<String>> = tiers
                .iter()
                .map(|t| {
                    let tier = match marked(t) {
                        true => format!("{} *", t.tier),
                        false => t.tier.clone(),
                    };
                    let mut row = vec![
                        match format {
                            Format::Markdown => safe::markdown(&tier),
                            _ => tier,
                        },
                        thousands(t.included),
                        thousands(t.units),
                    ];
                    row.extend(t.rates.iter().map(|r| dollars(r.usd)));
                    row
                })
                .collect();
            match usage {
                Some(n) => writeln!(
                    out,
                    "overage cost of a usage of {} units, by tier and rate:",
                    thousands(n)
                )?,
                None => writeln!(
                    out,
                    "cost of {} overage units, by tier and rate:",
                    thousands(units.unwrap_or(0))
                )?,
            }
            if format == Format::Markdown {
                writeln!(out)?;
                markdown_table(
                    out,
                    &header,
                    &[false, true, true, true, true, true, true],
                    &rows,
                )?;
                writeln!(out)?;
            } else {
                let mut all = vec![header.map(String::from).to_vec()];
                all.extend(rows);
                writeln!(out, "{}", table(all, 1))?;
            }
            if let Some(line) = first_free_tier(usage, tiers) {
                writeln!(out, "{line}")?;
            }
            if selected.is_some() {
                // In Markdown a line starting with `*` would be a list item.
                match format {
                    Format::Markdown => writeln!(out, "\\* your tier")?,
                    _ => writeln!(out, "* your tier")?,
                }
            }
            writeln!(out, "enterprise: credits and rate by contract (use --tier enterprise --usd-per-million X)")
        }
    }
}

/// Where a bigger tier stops paying overage, for a usage.
fn first_free_tier(usage: Option<u64>, tiers: &[TierQuote]) -> Option<String> {
    let usage = usage?;
    Some(match tiers.iter().find(|t| t.units == 0) {
        Some(t) => format!(
            "no overage from the {} tier up ({} included credits)",
            t.tier,
            thousands(t.included)
        ),
        None => format!(
            "every tier pays overage on {} units; ask SE Ranking for an enterprise contract",
            thousands(usage)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_group_whole_dollars_by_thousands() {
        for (value, shown) in [
            ("0", "$0.00"),
            ("99.99", "$99.99"),
            ("999.5", "$999.50"),
            ("1000", "$1,000.00"),
            ("12344.44", "$12,344.44"),
            ("1234567.891", "$1,234,567.891"),
            ("-1234.5", "-$1,234.50"),
        ] {
            assert_eq!(dollars(value.parse().unwrap()), shown, "{value}");
        }
    }

    #[test]
    fn money_has_two_places() {
        assert_eq!(money("2".parse().unwrap()), "2.00");
        assert_eq!(money("2.5".parse().unwrap()), "2.50");
        assert_eq!(money("99.99".parse().unwrap()), "99.99");
        assert_eq!(money("12.345".parse().unwrap()), "12.345");
        assert_eq!(money(Decimal::ZERO), "0.00");
    }
}
