//! Money: exact decimals, rounded to cents once, at the end.

use rust_decimal::{Decimal, RoundingStrategy};

/// Billing period of the plan whose overage is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Billing {
    #[default]
    Monthly,
    Yearly,
}

/// Plan-specific overage or the add-on overage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverageRate {
    #[default]
    Plan,
    Addon,
}

impl Billing {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "monthly" => Some(Self::Monthly),
            "yearly" | "annual" | "annually" => Some(Self::Yearly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }
}

impl OverageRate {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "plan" => Some(Self::Plan),
            "addon" | "add-on" => Some(Self::Addon),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Addon => "addon",
        }
    }
}

/// Parses a non-negative USD amount such as `"99.99"`, `"$12.50"` or `30`.
pub fn parse_usd(text: &str) -> Result<Decimal, String> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('$').unwrap_or(trimmed);
    let value: Decimal = digits
        .parse()
        .map_err(|_| format!("{trimmed:?} is not a number of dollars (write it like \"12.50\")"))?;
    if value.is_sign_negative() {
        return Err(format!(
            "{trimmed:?} is negative; a rate is zero or more dollars"
        ));
    }
    Ok(cents(value))
}

/// `units × usd_per_million ÷ per_units`, exact, rounded half away from zero to cents.
/// `None` only if the product does not fit a decimal (about 7.9 × 10^28).
pub fn usd_for_units(units: u64, usd_per_million: Decimal, per_units: u64) -> Option<Decimal> {
    let exact = Decimal::from(units)
        .checked_mul(usd_per_million)?
        .checked_div(Decimal::from(per_units))?;
    Some(cents(exact.round_dp_with_strategy(
        2,
        RoundingStrategy::MidpointAwayFromZero,
    )))
}

/// Shows at least two decimal places (`30` → `30.00`), keeping any finer precision of a rate.
fn cents(mut value: Decimal) -> Decimal {
    if value.scale() < 2 {
        value.rescale(2);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn usd(units: u64, rate: &str, expected: &str) {
        let rate: Decimal = rate.parse().unwrap();
        let got = usd_for_units(units, rate, 1_000_000).unwrap();
        assert_eq!(got.to_string(), expected, "{units} units at {rate}");
    }

    #[test]
    fn cents_by_hand() {
        usd(1_000_000, "99.99", "99.99"); // exactly one million
        usd(20_000, "99.99", "2.00"); // 0.02 × 99.99 = 1.9998 -> 2.00
        usd(5_000, "1.00", "0.01"); // 0.005 -> half away from zero -> 0.01
        usd(4_999, "1.00", "0.00"); // 0.004999 -> 0.00
        usd(15_000, "0.10", "0.00"); // 0.0015 -> 0.00 (rounded once, not twice)
        usd(0, "46.67", "0.00");
        usd(3_000_000, "46.67", "140.01"); // 3 × 46.67
    }

    #[test]
    fn rate_parsing() {
        assert_eq!(parse_usd("$12.50").unwrap().to_string(), "12.50");
        assert_eq!(parse_usd("30").unwrap().to_string(), "30.00");
        assert_eq!(parse_usd("0.125").unwrap().to_string(), "0.125");
        assert!(parse_usd("-1").unwrap_err().contains("negative"));
        assert!(parse_usd("cheap").unwrap_err().contains("not a number"));
    }
}
