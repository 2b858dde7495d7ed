//! `budget gate WF... -- CMD`: check, reserve, run, release.
//!
//! The gate's own report goes to stderr, so CMD's stdout is exactly what CMD prints.

use std::ffi::OsString;

use rust_decimal::Decimal;

use crate::account::{ApiKey, Scrubber};
use crate::cli::{GateArgs, Global};
use crate::estimate::Assessment;
use crate::gate::{self, Decision};
use crate::ledger::{Claim, HolderKind, Ledger, ProcessId, Reservation};
use crate::pricing::parse_usd;
use crate::{report, Error, Status};

use super::{ci, plan};

/// Releases the reservation when dropped: after CMD, on an error path, or on a panic.
struct Held {
    ledger: Box<dyn Ledger>,
    reservation: Reservation,
}

impl Held {
    /// Records the running command in the reservation, which then stays while it runs.
    fn started(&mut self, child: ProcessId) {
        self.reservation.child = Some(child);
        if let Err(e) = self.ledger.update(&self.reservation) {
            report::notes(
                &mut std::io::stderr().lock(),
                &[report::gate_update_failed(&e)],
            );
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Err(e) = self.ledger.release(&self.reservation) {
            report::notes(
                &mut std::io::stderr().lock(),
                &[report::gate_release_failed(&e)],
            );
        }
    }
}

/// The command for the ledger and messages, scrubbed: should CMD carry the API key in any form
/// (or an `apikey=` value), `reservations.json` and the messages show `[redacted]` instead.
fn command_text(command: &[OsString], api_key: Option<&ApiKey>) -> String {
    let text = gate::display_command(command);
    Scrubber::for_key(api_key).scrub(&text).into_owned()
}

pub fn run(global: &Global, args: &GateArgs) -> Result<Status, Error> {
    let max_overage_usd: Option<Decimal> = args
        .max_overage_usd
        .as_deref()
        .map(parse_usd)
        .transpose()
        .map_err(|e| Error::Usage {
            message: format!("--max-overage-usd: {e}"),
        })?;
    let checked = plan::prepare(global, &args.plan)?;
    let account = checked
        .planned
        .workflows
        .iter()
        .find_map(|w| w.account.as_ref());
    if max_overage_usd.is_some() && account.is_none() {
        return Err(Error::Usage {
            message: "--max-overage-usd needs an overage tier to price units: add `account: {tier: 1M}` (your tier) to a workflow".into(),
        });
    }
    if max_overage_usd.is_some() && account.is_some_and(|a| a.overage.is_none()) {
        return Err(Error::Usage {
            message: "--max-overage-usd needs an account with overage on: the workflow's account has overage off (the default: at zero balance calls fail with \"Insufficient funds\"); add `overage: plan` (or `addon`) to its `account` if Support enabled overage".into(),
        });
    }
    if checked.balance.is_none() {
        return Err(Error::BalanceUnknown {
            offline: global.offline,
        });
    }
    let command = command_text(&args.command, checked.api_key.as_ref());
    gate::catch_signals()?;
    let ledger = super::open_ledger(global)?;
    let claim = Claim::new(
        &checked.account,
        HolderKind::Gate,
        checked
            .planned
            .forecasts
            .iter()
            .map(|f| f.name.clone())
            .collect(),
        command.clone(),
    );
    let units = checked.planned.total.units;
    let exceeded = checked.comparison.as_ref().is_some_and(|c| c.exceeded);
    let uncertain =
        args.plan.strict_prices && crate::estimate::uncertain_prices(&checked.planned.forecasts);
    let mut judged: Option<(Assessment, Decision)> = None;
    let reservation = ledger.reserve(&claim, &mut |reserved| {
        let assessment = checked.assess(reserved);
        let decision = gate::decide(
            &assessment,
            max_overage_usd,
            account,
            &checked.planned.pricing,
        );
        let admit = !exceeded && !uncertain && !matches!(decision, Decision::Refuse { .. });
        judged = Some((assessment, decision));
        admit.then_some(units)
    })?;
    let Some((assessment, decision)) = judged else {
        return Err(Error::BalanceUnknown {
            offline: global.offline,
        });
    };
    let report = checked.report(&assessment);
    let comparison = checked.comparison.as_ref();
    // Name who holds the units when they stand in the way (a listing that fails only loses this
    // note).
    let held_by = match &decision {
        Decision::Refuse { .. } if assessment.balance.as_ref().is_some_and(|b| b.reserved > 0) => {
            ledger
                .list()
                .ok()
                .and_then(|list| report::held_by(&checked.account, &list))
        }
        _ => None,
    };
    let notes = report::gate_notes(&report::GateNotes {
        command: &command,
        decision: &decision,
        exceeded,
        uncertain,
        held_by,
        max_overage_usd,
        report: &report,
    });
    let refused = reservation.is_none();
    {
        let mut err = std::io::stderr().lock();
        if refused || !global.quiet {
            report::plan_brief(&mut err, global.format, &report, comparison)?;
        }
        if refused || !global.quiet {
            report::notes(&mut err, &notes);
        }
    }
    ci::step_summary(&report, comparison);
    let Some(reservation) = reservation else {
        if ci::github_actions() {
            report::verdict_annotations(&mut std::io::stderr().lock(), &report, comparison);
        }
        return Ok(Status::OverBudget);
    };
    let mut held = Held {
        ledger,
        reservation,
    };
    if let Some(signal) = gate::pending_signal() {
        drop(held);
        return Ok(Status::Child(u8::try_from(128 + signal).unwrap_or(255)));
    }
    let code = gate::run(&args.command, &mut |child| held.started(child));
    drop(held);
    Ok(Status::Child(code?))
}
