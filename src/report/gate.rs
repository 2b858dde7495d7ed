//! What `budget gate` tells the person who ran it: why it runs or does not run the command, and
//! what went wrong keeping its reservation. `commands::gate` decides; the sentences live here.

use rust_decimal::Decimal;

use super::overage::dollars;
use crate::count::thousands;
use crate::gate::Decision;
use crate::ledger::LedgerError;

use super::PlanReport;

/// Everything the gate's notes depend on.
pub struct GateNotes<'a> {
    /// The command as recorded (scrubbed of the key).
    pub command: &'a str,
    pub decision: &'a Decision,
    /// `--max-increase` was exceeded.
    pub exceeded: bool,
    /// `--strict-prices` and the plan relies on assumed or disputed prices.
    pub uncertain: bool,
    /// Who holds the account's reserved units, when the gate was refused and some are held.
    pub held_by: Option<String>,
    pub max_overage_usd: Option<Decimal>,
    pub report: &'a PlanReport<'a>,
}

/// The gate's notes, one sentence per line.
pub fn gate_notes(n: &GateNotes) -> Vec<String> {
    let command = n.command;
    let mut notes = Vec::new();
    if n.exceeded {
        notes.push(format!(
            "budget gate: the increase is above --max-increase; not running {command}"
        ));
    }
    let refused = matches!(n.decision, Decision::Refuse { .. });
    if n.uncertain && !refused {
        notes.extend(super::strict_prices_lines(n.report));
        notes.push(format!("budget gate: not running {command}"));
    }
    match n.decision {
        Decision::Run | Decision::RunWithOverage { .. } if n.exceeded || n.uncertain => {}
        Decision::Run => notes.push(format!("budget gate: running {command}")),
        Decision::RunWithOverage { cost, max_usd } => notes.push(format!(
            "budget gate: running {command}: the {} units beyond usable cost {} at the {} {} {} rate, within --max-overage-usd {}",
            thousands(cost.units),
            dollars(cost.usd),
            cost.tier,
            cost.billing.as_str(),
            cost.rate.as_str(),
            dollars(*max_usd)
        )),
        Decision::Refuse { priced } => {
            notes.push(format!("budget gate: over budget; not running {command}"));
            notes.extend(n.held_by.clone());
            if let Some(cost) = priced {
                notes.push(match n.max_overage_usd {
                    Some(max) => format!(
                        "the {} units beyond usable would cost {}, above --max-overage-usd {}",
                        thousands(cost.units),
                        dollars(cost.usd),
                        dollars(max)
                    ),
                    None => format!(
                        "the {} units beyond usable would cost {} at the {} {} {} rate; --max-overage-usd {} lets it run",
                        thousands(cost.units),
                        dollars(cost.usd),
                        cost.tier,
                        cost.billing.as_str(),
                        cost.rate.as_str(),
                        cost.usd
                    ),
                });
            }
        }
    }
    notes
}

/// The running command could not be recorded in the reservation.
pub fn gate_update_failed(e: &LedgerError) -> String {
    format!(
        "warning: {e}; the reservation is kept while this gate runs (its command is stopped with it)"
    )
}

/// The reservation could not be released.
pub fn gate_release_failed(e: &LedgerError) -> String {
    format!(
        "warning: {e}; the reservation is dropped by the next budget run once this process has ended"
    )
}
