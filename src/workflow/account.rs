//! The `account` block (the overage tier that prices units beyond the balance) and the `budget`
//! block (`max_units`, `reserve`, `rps`).

use serde_yaml::Value;

use super::check::{Check, Reported};
use super::diagnostic::Diagnostic;
use super::fields::{ACCOUNT_FIELDS, BUDGET_FIELDS};
use super::{Account, Reserve};
use crate::pricing::{parse_usd, Billing, OverageRate, ENTERPRISE};

/// The `budget` block's three fields, each checked on its own.
pub(super) type BudgetFields = (
    Result<Option<u64>, Reported>,
    Result<Option<Reserve>, Reported>,
    Result<Option<u32>, Reported>,
);

impl Check<'_> {
    pub(super) fn account(&mut self, value: &Value) -> Result<Account, Reported> {
        let Some(m) = value.as_mapping() else {
            self.problem(None, "account", Diagnostic::AccountNotMapping);
            return Err(Reported);
        };
        let before = self.problems.len();
        self.unknown_fields(m, None, "account.", ACCOUNT_FIELDS);
        let tier = match self.text(m, None, "account.", "tier")? {
            None => {
                let tiers = self.pricing.overage.tier_names();
                self.problem(None, "account.tier", Diagnostic::TierMissing { tiers });
                None
            }
            Some(t) if t.eq_ignore_ascii_case(ENTERPRISE) => Some(ENTERPRISE.to_string()),
            Some(t) => match self.pricing.overage.tier(&t) {
                Some(tier) => Some(tier.tier.clone()),
                None => {
                    let tiers = self.pricing.overage.tier_names();
                    self.problem(
                        None,
                        "account.tier",
                        Diagnostic::UnknownTier { tier: t, tiers },
                    );
                    None
                }
            },
        };
        let billing = match self.text(m, None, "account.", "billing")? {
            None => Billing::default(),
            Some(b) => Billing::parse(&b).unwrap_or_else(|| {
                self.problem(
                    None,
                    "account.billing",
                    Diagnostic::UnknownBilling { billing: b },
                );
                Billing::default()
            }),
        };
        // Off unless declared: the vendor's default (docs/finance.md).
        let overage = match self.text(m, None, "account.", "overage")? {
            None => None,
            Some(o) if o.trim().eq_ignore_ascii_case("off") => None,
            Some(o) => OverageRate::parse(&o).or_else(|| {
                self.problem(
                    None,
                    "account.overage",
                    Diagnostic::UnknownOverage { overage: o },
                );
                None
            }),
        };
        let usd_per_million = match self.text(m, None, "account.", "usd_per_million")? {
            None => None,
            Some(text) => match parse_usd(&text) {
                Ok(rate) => Some(rate),
                Err(reason) => {
                    self.problem(
                        None,
                        "account.usd_per_million",
                        Diagnostic::BadRate { reason },
                    );
                    None
                }
            },
        };
        if tier.as_deref() == Some(ENTERPRISE)
            && usd_per_million.is_none()
            && m.get("usd_per_million").is_none()
        {
            self.problem(
                None,
                "account.usd_per_million",
                Diagnostic::EnterpriseWithoutRate,
            );
        }
        match tier {
            Some(tier) if self.problems.len() == before => Ok(Account {
                tier,
                billing,
                overage,
                usd_per_million,
            }),
            _ => Err(Reported),
        }
    }

    pub(super) fn budget(&mut self, value: &Value) -> BudgetFields {
        let Some(m) = value.as_mapping() else {
            self.problem(None, "budget", Diagnostic::BudgetNotMapping);
            return (Err(Reported), Err(Reported), Err(Reported));
        };
        self.unknown_fields(m, None, "budget.", BUDGET_FIELDS);
        let max_units = self.count(m, None, "budget.", "max_units", 0);
        let reserve = match m.get("reserve") {
            None => Ok(None),
            // A bare number is a unit count, read as counts are (so -5 is "negative").
            Some(number @ Value::Number(_)) => crate::count::from_yaml(number)
                .map(|units| Some(Reserve::Units(units)))
                .map_err(|e| {
                    let reason = format!("{e}; or a percentage such as \"10%\"");
                    self.problem(None, "budget.reserve", Diagnostic::BadReserve { reason });
                    Reported
                }),
            Some(Value::String(s)) => Reserve::parse(s).map(Some).map_err(|reason| {
                self.problem(None, "budget.reserve", Diagnostic::BadReserve { reason });
                Reported
            }),
            Some(other) => {
                self.problem(
                    None,
                    "budget.reserve",
                    Diagnostic::ReserveWrongType {
                        found: crate::yaml_inline(other),
                    },
                );
                Err(Reported)
            }
        };
        let rps = self
            .count(m, None, "budget.", "rps", 1)
            .and_then(|rps| match rps {
                None => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    self.problem(None, "budget.rps", Diagnostic::RpsTooLarge { rps: n });
                    Reported
                }),
            });
        (max_units, reserve, rps)
    }
}
