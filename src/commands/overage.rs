//! `budget overage`: finance's "what does this usage cost beyond the plan?".

use crate::cli::{Global, OverageArgs};
use crate::finance::{self, Amount, FinanceError, OverageQuery};
use crate::pricing::ENTERPRISE;
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &OverageArgs) -> Result<Status, Error> {
    let pricing = super::load_pricing(global)?;
    // clap's "amount" group guarantees exactly one of the two.
    let amount = match (args.usage, args.units) {
        (Some(usage), _) => Amount::Usage(usage),
        (None, Some(units)) => Amount::Units(units),
        (None, None) => return Err(Error::Usage {
            message:
                "give the period's total use with --usage N, or the overage units with --units N"
                    .into(),
        }),
    };
    if args.all_tiers {
        // A named tier is checked and marked; enterprise has no row to mark.
        if let Some(tier) = &args.tier {
            if !tier.eq_ignore_ascii_case(ENTERPRISE) && pricing.overage.tier(tier).is_none() {
                return Err(FinanceError::UnknownTier {
                    tier: tier.clone(),
                    valid: pricing.overage.tier_names(),
                }
                .into());
            }
        }
        let tiers = finance::all_tiers(amount, &pricing)?;
        let selected = args
            .tier
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case(ENTERPRISE));
        super::to_stdout(|out| {
            report::overage_tiers(out, global.format, amount, &tiers, selected)
        })?;
    } else {
        let query = OverageQuery {
            tier: args.tier.clone().unwrap_or_default(),
            billing: args.billing,
            rate: args.rate,
            amount,
            usd_per_million: args.usd_per_million,
            included: args.included,
        };
        let quote = finance::quote(&query, &pricing)?;
        super::to_stdout(|out| report::overage(out, global.format, &quote))?;
    }
    Ok(Status::Ok)
}
