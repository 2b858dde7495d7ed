//! `budget overage`: the cost of units beyond a tier's included credits.

use rust_decimal::Decimal;

use super::FinanceError;
use crate::pricing::{usd_for_units, Billing, OverageRate, Pricing, ENTERPRISE};
use crate::workflow::Account;

/// What the user knows: the period's total use, or the overage units themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Total units used in the period; the overage is what exceeds the included credits.
    Usage(u64),
    /// Overage units, given directly.
    Units(u64),
}

/// One overage question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverageQuery {
    pub tier: String,
    pub billing: Billing,
    pub rate: OverageRate,
    pub amount: Amount,
    /// Replaces the table rate (required for enterprise).
    pub usd_per_million: Option<Decimal>,
    /// Replaces the tier's credits (required for enterprise with a usage).
    pub included: Option<u64>,
}

/// The answer: JSON keys of the issue, money exact until `usd` (rounded to cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverageQuote {
    pub tier: String,
    pub billing: Billing,
    pub rate: OverageRate,
    pub usage: Option<u64>,
    /// Included credits; `None` for enterprise given `--units` without `--included`.
    pub included: Option<u64>,
    pub units: u64,
    pub usd_per_million: Decimal,
    pub usd: Decimal,
}

/// One rate of one tier in the across-tiers table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateQuote {
    pub billing: Billing,
    pub rate: OverageRate,
    pub usd_per_million: Decimal,
    pub usd: Decimal,
}

/// One tier in the across-tiers table: the four rates in the order plan, plan yearly, addon,
/// addon yearly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierQuote {
    pub tier: String,
    pub included: u64,
    pub units: u64,
    pub rates: Vec<RateQuote>,
}

/// The four (billing, rate) pairs, in table order.
pub const RATES: [(Billing, OverageRate); 4] = [
    (Billing::Monthly, OverageRate::Plan),
    (Billing::Yearly, OverageRate::Plan),
    (Billing::Monthly, OverageRate::Addon),
    (Billing::Yearly, OverageRate::Addon),
];

fn usd(units: u64, usd_per_million: Decimal, pricing: &Pricing) -> Result<Decimal, FinanceError> {
    usd_for_units(units, usd_per_million, pricing.overage.per_units).ok_or(
        FinanceError::MoneyOverflow {
            units,
            usd_per_million,
        },
    )
}

fn overage_units(
    amount: Amount,
    included: Option<u64>,
) -> Result<(Option<u64>, u64), FinanceError> {
    match amount {
        Amount::Units(units) => Ok((None, units)),
        Amount::Usage(usage) => match included {
            Some(included) => Ok((Some(usage), usage.saturating_sub(included))),
            None => Err(FinanceError::EnterpriseIncluded),
        },
    }
}

/// Prices one query. Unknown tier and enterprise without a rate are errors.
pub fn quote(query: &OverageQuery, pricing: &Pricing) -> Result<OverageQuote, FinanceError> {
    let (tier, included, table_rate) = if query.tier.eq_ignore_ascii_case(ENTERPRISE) {
        (ENTERPRISE.to_string(), query.included, None)
    } else {
        let tier = pricing
            .overage
            .tier(&query.tier)
            .ok_or_else(|| FinanceError::UnknownTier {
                tier: query.tier.clone(),
                valid: pricing.overage.tier_names(),
            })?;
        (
            tier.tier.clone(),
            Some(query.included.unwrap_or(tier.credits)),
            Some(tier.rate(query.billing, query.rate)),
        )
    };
    let usd_per_million = query
        .usd_per_million
        .or(table_rate)
        .ok_or(FinanceError::EnterpriseRate)?;
    let (usage, units) = overage_units(query.amount, included)?;
    Ok(OverageQuote {
        tier,
        billing: query.billing,
        rate: query.rate,
        usage,
        included,
        units,
        usd_per_million,
        usd: usd(units, usd_per_million, pricing)?,
    })
}

/// Every tier of the pricing file for the same amount, under each of the four rates.
/// Enterprise is left out: its credits and rate are per contract.
pub fn all_tiers(amount: Amount, pricing: &Pricing) -> Result<Vec<TierQuote>, FinanceError> {
    pricing
        .overage
        .tiers
        .iter()
        .map(|tier| {
            let (_, units) = overage_units(amount, Some(tier.credits))?;
            let rates = RATES
                .iter()
                .map(|&(billing, rate)| {
                    let usd_per_million = tier.rate(billing, rate);
                    Ok(RateQuote {
                        billing,
                        rate,
                        usd_per_million,
                        usd: usd(units, usd_per_million, pricing)?,
                    })
                })
                .collect::<Result<Vec<_>, FinanceError>>()?;
            Ok(TierQuote {
                tier: tier.tier.clone(),
                included: tier.credits,
                units,
                rates,
            })
        })
        .collect()
}

/// The overage of a projection priced at one account's rate: per workflow and in total, each
/// rounded to cents once (so the workflows' cents may not add up to the total's exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionCost {
    pub account: Account,
    /// The account's overage rate (a cost exists only with overage on).
    pub rate: OverageRate,
    pub usd_per_million: Decimal,
    pub workflows: Vec<Decimal>,
    pub total: Decimal,
}

/// Prices a projection's overage; `None` without a balance (no overage is known), when the
/// account's overage is off (the job stops instead), or when its tier is not in the pricing file.
pub fn projection_cost(
    projection: &super::Projection,
    account: &Account,
    pricing: &Pricing,
) -> Result<Option<ProjectionCost>, FinanceError> {
    let (Some(total_units), Some(rate), Some(usd_per_million)) = (
        projection.total.overage_units,
        account.overage,
        account.usd_per_million(pricing),
    ) else {
        return Ok(None);
    };
    let workflows = projection
        .workflows
        .iter()
        .map(|w| usd(w.overage_units.unwrap_or(0), usd_per_million, pricing))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ProjectionCost {
        account: account.clone(),
        rate,
        usd_per_million,
        workflows,
        total: usd(total_units, usd_per_million, pricing)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing() -> Pricing {
        Pricing::embedded().expect("embedded pricing")
    }

    fn query(tier: &str, billing: Billing, rate: OverageRate, amount: Amount) -> OverageQuery {
        OverageQuery {
            tier: tier.into(),
            billing,
            rate,
            amount,
            usd_per_million: None,
            included: None,
        }
    }

    /// Checks (units, usd per million, usd) of one query against figures worked out by hand.
    #[track_caller]
    fn expect(q: OverageQuery, units: u64, rate: &str, usd: &str) {
        let got = quote(&q, &pricing()).expect("quote");
        assert_eq!(got.units, units, "units of {q:?}");
        assert_eq!(got.usd_per_million.to_string(), rate, "rate of {q:?}");
        assert_eq!(format!("{:.2}", got.usd), usd, "usd of {q:?}");
    }

    use Billing::{Monthly, Yearly};
    use OverageRate::{Addon, Plan};

    #[test]
    fn tier_boundaries_by_hand() {
        // 1M tier includes 1,000,000 credits.
        // below: 999,999 used -> 0 overage -> $0.00
        expect(
            query("1M", Monthly, Plan, Amount::Usage(999_999)),
            0,
            "99.99",
            "0.00",
        );
        // at: exactly 1,000,000 -> 0 overage
        expect(
            query("1M", Monthly, Plan, Amount::Usage(1_000_000)),
            0,
            "99.99",
            "0.00",
        );
        // one above: 1 unit × 99.99 / 1M = 0.00009999 -> $0.00
        expect(
            query("1M", Monthly, Plan, Amount::Usage(1_000_001)),
            1,
            "99.99",
            "0.00",
        );
        // above: 1,500,000 -> 500,000 × 99.99 / 1M = 49.995 -> half away from zero -> $50.00
        expect(
            query("1M", Monthly, Plan, Amount::Usage(1_500_000)),
            500_000,
            "99.99",
            "50.00",
        );
        // yearly plan: 500,000 × 79.99 / 1M = 39.995 -> $40.00
        expect(
            query("1M", Yearly, Plan, Amount::Usage(1_500_000)),
            500_000,
            "79.99",
            "40.00",
        );
        // add-on monthly: 500,000 × 49.99 / 1M = 24.995 -> $25.00
        expect(
            query("1M", Monthly, Addon, Amount::Usage(1_500_000)),
            500_000,
            "49.99",
            "25.00",
        );
        // add-on yearly: 500,000 × 39.99 / 1M = 19.995 -> $20.00
        expect(
            query("1M", Yearly, Addon, Amount::Usage(1_500_000)),
            500_000,
            "39.99",
            "20.00",
        );
        // 3M tier, 4,250,000 used -> 1,250,000 × 46.67 / 1M = 58.3375 -> $58.34
        expect(
            query("3M", Monthly, Plan, Amount::Usage(4_250_000)),
            1_250_000,
            "46.67",
            "58.34",
        );
        // 3M yearly add-on: 1,250,000 × 32.00 / 1M = 40.00
        expect(
            query("3m", Yearly, Addon, Amount::Usage(4_250_000)),
            1_250_000,
            "32.00",
            "40.00",
        );
        // 500M tier below its credits: 499,999,999 -> 0
        expect(
            query("500M", Monthly, Plan, Amount::Usage(499_999_999)),
            0,
            "4.20",
            "0.00",
        );
        // --units given directly: 20,000 × 99.99 / 1M = 1.9998 -> $2.00
        expect(
            query("1M", Monthly, Plan, Amount::Units(20_000)),
            20_000,
            "99.99",
            "2.00",
        );
    }

    #[test]
    fn rate_override_and_enterprise() {
        let mut q = query("enterprise", Monthly, Plan, Amount::Units(2_500_000));
        assert_eq!(quote(&q, &pricing()), Err(FinanceError::EnterpriseRate));
        q.usd_per_million = Some("3.10".parse().unwrap());
        // 2,500,000 × 3.10 / 1M = 7.75
        expect(q.clone(), 2_500_000, "3.10", "7.75");
        assert_eq!(quote(&q, &pricing()).unwrap().included, None);
        // enterprise with a usage needs its included credits
        q.amount = Amount::Usage(60_000_000);
        assert_eq!(quote(&q, &pricing()), Err(FinanceError::EnterpriseIncluded));
        q.included = Some(50_000_000);
        // 60M − 50M = 10,000,000 × 3.10 / 1M = 31.00
        expect(q, 10_000_000, "3.10", "31.00");
        // an override on a table tier: 1M tier at $10 -> 500,000 × 10 / 1M = 5.00
        let mut q = query("1M", Monthly, Plan, Amount::Usage(1_500_000));
        q.usd_per_million = Some("10".parse().unwrap());
        expect(q, 500_000, "10", "5.00");
    }

    #[test]
    fn unknown_tier_lists_the_valid_ones() {
        let err = quote(&query("7M", Monthly, Plan, Amount::Units(1)), &pricing()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown tier `7M`"), "{text}");
        assert!(
            text.contains("1M, 2M, 3M, 5M, 10M, 20M, 30M, 50M, 100M, 200M, 300M, 500M, enterprise"),
            "{text}"
        );
    }

    #[test]
    fn across_tiers_by_hand() {
        let tiers = all_tiers(Amount::Usage(2_500_000), &pricing()).unwrap();
        assert_eq!(tiers.len(), 12);
        // 1M: 1,500,000 over; plan 1.5 × 99.99 = 149.985 -> 149.99; plan yearly 1.5 × 79.99 = 119.985
        // -> 119.99; addon 1.5 × 49.99 = 74.985 -> 74.99; addon yearly 1.5 × 39.99 = 59.985 -> 59.99
        assert_eq!(tiers[0].units, 1_500_000);
        let usd: Vec<String> = tiers[0]
            .rates
            .iter()
            .map(|r| format!("{:.2}", r.usd))
            .collect();
        assert_eq!(usd, ["149.99", "119.99", "74.99", "59.99"]);
        // 2M: 500,000 over; plan 0.5 × 60 = 30.00, yearly 24.00, addon 22.50, addon yearly 18.00
        assert_eq!(tiers[1].units, 500_000);
        let usd: Vec<String> = tiers[1]
            .rates
            .iter()
            .map(|r| format!("{:.2}", r.usd))
            .collect();
        assert_eq!(usd, ["30.00", "24.00", "22.50", "18.00"]);
        // 3M and up: no overage
        assert!(tiers[2..]
            .iter()
            .all(|t| t.units == 0 && t.rates.iter().all(|r| r.usd.is_zero())));
    }
}
