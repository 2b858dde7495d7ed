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

    use proptest::prelude::*;

    /// Unit counts from none to `u64::MAX`, the edges more often than chance would pick them.
    fn units() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..10_000_000,
            any::<u64>(),
            (u64::MAX - 1_000_000)..=u64::MAX,
        ]
    }

    proptest! {
        /// Invariant: the amount is the exact product rounded once, half away from zero, to
        /// cents (never rounded twice, never truncated), with exactly two decimals. The oracle
        /// is integer arithmetic in u128: a rate of `rate_e4` ten-thousandths of a dollar per
        /// `per` units makes `units × rate_e4 / (per × 100)` cents, and adding half the divisor
        /// before dividing rounds half up (all amounts are ≥ 0, so up is away from zero).
        #[test]
        fn cents_are_the_exact_amount_rounded_once(
            units in units(),
            rate_e4 in prop_oneof![0u64..=1_000_000, 0u64..=100_000_000],
            per in prop_oneof![Just(1_000_000u64), Just(1_000), 1u64..=10_000_000],
        ) {
            let rate = Decimal::new(i64::try_from(rate_e4).unwrap(), 4);
            let got = usd_for_units(units, rate, per).expect("fits a decimal");
            let numerator = u128::from(units) * u128::from(rate_e4);
            let divisor = u128::from(per) * 100;
            let cents = (2 * numerator + divisor) / (2 * divisor);
            let expected = Decimal::from_i128_with_scale(i128::try_from(cents).unwrap(), 2);
            prop_assert_eq!(got, expected);
            prop_assert_eq!(got.scale(), 2);
        }

        /// Invariant: more units never cost less.
        #[test]
        fn more_units_never_cost_less(units in units(), more in 0u64..1_000_000, rate_e4 in 0u64..=100_000_000) {
            let rate = Decimal::new(i64::try_from(rate_e4).unwrap(), 4);
            let bigger = units.saturating_add(more);
            prop_assert!(
                usd_for_units(bigger, rate, 1_000_000) >= usd_for_units(units, rate, 1_000_000)
            );
        }
    }
}
