//! The two balance pools over a projected period: the subscription's credits expire at the end
//! of the billing period and the wallet's never do, so a forecast spends the subscription first
//! and says what of it would expire unused. Pure: derived from a [`Projection`].

use chrono::NaiveDate;

use super::Projection;
use crate::estimate::Pools;

/// How each pool fares by the period end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSpend {
    /// What each pool can pay from `now` (reservations of running jobs taken out, from the
    /// subscription first, as they will be spent first).
    pub subscription: u64,
    pub wallet: Option<u64>,
    pub subscription_spent: u64,
    /// Subscription credits left at the period end: they expire unused.
    pub subscription_unused: u64,
    pub wallet_spent: u64,
    /// The day the subscription pool runs out and the wallet starts paying.
    pub wallet_from: Option<NaiveDate>,
}

/// The pools' spend over `projection`, whose runs draw on `pools` minus `reserved`.
pub fn pool_spend(projection: &Projection, pools: Pools, reserved: u64) -> PoolSpend {
    let subscription = pools.subscription.saturating_sub(reserved);
    let reserved_from_wallet = reserved.saturating_sub(pools.subscription);
    let wallet = pools.wallet.map(|w| w.saturating_sub(reserved_from_wallet));
    let units = projection.total.units;
    let subscription_spent = units.min(subscription);
    let wallet_spent = units
        .saturating_sub(subscription_spent)
        .min(wallet.unwrap_or(0));
    let wallet_from = projection
        .days
        .iter()
        .find(|day| day.units > subscription)
        .filter(|_| wallet.is_some_and(|w| w > 0))
        .map(|day| day.date);
    PoolSpend {
        subscription,
        wallet,
        subscription_spent,
        subscription_unused: subscription - subscription_spent,
        wallet_spent,
        wallet_from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finance::{parse_datetime, project, ScheduledWorkflow};
    use crate::workflow::Schedule;

    fn daily(units_per_run: u64) -> Vec<ScheduledWorkflow> {
        vec![ScheduledWorkflow {
            run: None,
            name: "daily".into(),
            schedule: Some(Schedule::Daily),
            units_per_run,
        }]
    }

    fn projection(units_per_run: u64, spendable: u64) -> Projection {
        project(
            &daily(units_per_run),
            parse_datetime("2026-11-26").unwrap(),
            parse_datetime("2026-12-26").unwrap(),
            Some(spendable),
        )
        .unwrap()
    }

    #[test]
    fn subscription_credits_left_at_the_period_end_expire_unused() {
        // 30 daily runs of 500 = 15,000 units; subscription 20,000 + wallet 5,000 = 25,000.
        // Subscription first: 15,000 of its 20,000 spent, 20,000 − 15,000 = 5,000 expire
        // unused; the wallet is never touched.
        let p = projection(500, 25_000);
        let spend = pool_spend(
            &p,
            Pools {
                subscription: 20_000,
                wallet: Some(5_000),
            },
            0,
        );
        assert_eq!(
            spend,
            PoolSpend {
                subscription: 20_000,
                wallet: Some(5_000),
                subscription_spent: 15_000,
                subscription_unused: 5_000,
                wallet_spent: 0,
                wallet_from: None,
            }
        );
    }

    #[test]
    fn the_wallet_pays_once_the_subscription_is_spent() {
        // 30 daily runs of 1,000 from 26 Nov = 30,000 units; subscription 10,000 (3,000 of it
        // reserved by a running gate: 7,000 left to these runs) + wallet 40,000.
        // Day 7 (2 Dec) brings the cumulative to 7,000 = the subscription exactly; day 8 (3 Dec)
        // to 8,000 > 7,000: the wallet pays from 3 Dec, 30,000 − 7,000 = 23,000 of it.
        let p = projection(1_000, 47_000);
        let spend = pool_spend(
            &p,
            Pools {
                subscription: 10_000,
                wallet: Some(40_000),
            },
            3_000,
        );
        assert_eq!(
            (
                spend.subscription,
                spend.subscription_spent,
                spend.subscription_unused
            ),
            (7_000, 7_000, 0)
        );
        assert_eq!(spend.wallet_spent, 23_000);
        assert_eq!(spend.wallet_from, NaiveDate::from_ymd_opt(2026, 12, 3));
    }

    #[test]
    fn reservations_beyond_the_subscription_come_out_of_the_wallet() {
        // subscription 1,000, wallet 10,000, 4,000 reserved: 0 and 10,000 − 3,000 = 7,000 left;
        // 30 × 100 = 3,000 units all from the wallet, from the first day.
        let p = projection(100, 7_000);
        let spend = pool_spend(
            &p,
            Pools {
                subscription: 1_000,
                wallet: Some(10_000),
            },
            4_000,
        );
        assert_eq!((spend.subscription, spend.wallet), (0, Some(7_000)));
        assert_eq!((spend.subscription_unused, spend.wallet_spent), (0, 3_000));
        assert_eq!(spend.wallet_from, NaiveDate::from_ymd_opt(2026, 11, 26));
    }
}
