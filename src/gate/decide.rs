//! Whether a gate may start its command: pure, from the assessment.

use rust_decimal::Decimal;

use crate::estimate::{overage_cost, Assessment, OverageCost, Verdict};
use crate::pricing::Pricing;
use crate::workflow::Account;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The plan fits the usable balance.
    Run,
    /// Over the usable balance, but the units beyond it cost no more than `--max-overage-usd`.
    RunWithOverage { cost: OverageCost, max_usd: Decimal },
    /// Over budget. `priced` is the cost of the units beyond `usable`, when it could be priced.
    Refuse { priced: Option<OverageCost> },
}

/// Decides from an assessment made with a known balance.
///
/// With `max_overage_usd`, a plan whose only problem is the balance (no workflow above its own
/// `max_units`) may run when its `over_by` units — everything beyond `usable`, so units taken
/// from the reserve or from other jobs' reservations count too — priced at the account's overage
/// rate cost at most that many dollars. Pricing the reserve's units as overage keeps the rule
/// monotone: a bigger plan never passes where a smaller one fails.
pub fn decide(
    assessment: &Assessment,
    max_overage_usd: Option<Decimal>,
    account: Option<&Account>,
    pricing: &Pricing,
) -> Decision {
    match assessment.verdict {
        Verdict::Fits => return Decision::Run,
        Verdict::Unknown => return Decision::Refuse { priced: None },
        Verdict::OverBudget => {}
    }
    let priced = account.and_then(|a| overage_cost(assessment.over_by, a, pricing));
    if !assessment.over_max_units.is_empty() || assessment.over_by == 0 {
        return Decision::Refuse { priced: None };
    }
    match (max_overage_usd, priced) {
        (Some(max_usd), Some(cost)) if cost.usd <= max_usd => {
            Decision::RunWithOverage { cost, max_usd }
        }
        (_, priced) => Decision::Refuse { priced },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::{BalanceSource, BalanceView, OverMaxUnits};
    use crate::pricing::{Billing, OverageRate};

    fn assessment(verdict: Verdict, over_by: u64, over_max: bool) -> Assessment {
        Assessment {
            balance: Some(BalanceView {
                source: BalanceSource::Flag,
                status: None,
                units_left: 100_000,
                pools: None,
                units_limit: None,
                reserve: 0,
                reserved: 0,
                usable: 100_000,
                expires: None,
            }),
            verdict,
            over_by,
            overage: None,
            stops_at: None,
            over_max_units: if over_max {
                vec![OverMaxUnits {
                    workflow: "w".into(),
                    units: 2,
                    max_units: 1,
                }]
            } else {
                Vec::new()
            },
        }
    }

    fn tier_1m() -> Account {
        Account {
            tier: "1M".into(),
            billing: Billing::Monthly,
            overage: Some(OverageRate::Plan),
            usd_per_million: None,
        }
    }

    #[track_caller]
    fn case(a: &Assessment, max: Option<&str>, account: Option<&Account>, expected: &str) {
        let pricing = Pricing::embedded().unwrap();
        let max = max.map(|m| m.parse::<Decimal>().unwrap());
        let got = match decide(a, max, account, &pricing) {
            Decision::Run => "run".to_string(),
            Decision::RunWithOverage { cost, .. } => format!("run ${}", cost.usd),
            Decision::Refuse { priced: Some(cost) } => format!("refuse ${}", cost.usd),
            Decision::Refuse { priced: None } => "refuse".to_string(),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn decisions_by_hand() {
        let one_m = tier_1m();
        // 1M tier, monthly plan rate $99.99 per 1M units.
        // 20,000 units over: 0.02 × 99.99 = 1.9998 → $2.00.
        let over = assessment(Verdict::OverBudget, 20_000, false);
        case(&assessment(Verdict::Fits, 0, false), None, None, "run");
        case(&over, None, Some(&one_m), "refuse $2.00");
        case(&over, Some("2.00"), Some(&one_m), "run $2.00");
        case(&over, Some("1.99"), Some(&one_m), "refuse $2.00");
        case(&over, Some("100"), None, "refuse"); // no tier: cannot price
                                                  // A workflow above its max_units is never bought out.
        case(
            &assessment(Verdict::OverBudget, 20_000, true),
            Some("100"),
            Some(&one_m),
            "refuse",
        );
        case(
            &assessment(Verdict::OverBudget, 0, true),
            Some("100"),
            Some(&one_m),
            "refuse",
        );
    }
}
