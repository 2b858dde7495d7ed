//! Command orchestration: load, compute, render, decide the status. No arithmetic and no
//! formatting live here; those belong to `forecast` and `report`.

pub mod balance;
mod ci;
mod forecast;
mod gate;
mod overage;
mod plan;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::pricing::Pricing;
use crate::{report, Error, Status};

pub fn run(cli: Cli) -> Result<Status, Error> {
    let result = dispatch(&cli);
    if let Err(error) = &result {
        if ci::github_actions() {
            ci::error_annotations(error);
        }
    }
    result
}

fn dispatch(cli: &Cli) -> Result<Status, Error> {
    let global = &cli.global;
    match &cli.command {
        Command::Plan(args) => plan::run(global, args, false),
        Command::Check(args) => plan::run(global, args, true),
        Command::Prices => {
            let pricing = Pricing::load(global.pricing.as_deref())?;
            let mut out = std::io::stdout().lock();
            report::prices(&mut out, global.format, &pricing)?;
            out.flush()?;
            Ok(Status::Ok)
        }
        Command::Overage(args) => overage::run(global, args),
        Command::Forecast(args) => forecast::run(global, args),
        Command::Balance => balance::run(global),
        Command::Gate(args) => gate::run(global, args),
        Command::Reservations => {
            let ledger = crate::ledger::open()?;
            let list = ledger.list()?;
            let mut out = std::io::stdout().lock();
            report::reservations(&mut out, global.format, &ledger.location(), &list)?;
            out.flush()?;
            Ok(Status::Ok)
        }
        Command::Schema => {
            let mut out = std::io::stdout().lock();
            report::schema(&mut out)?;
            out.flush()?;
            Ok(Status::Ok)
        }
        Command::Completions(args) => {
            let mut out = std::io::stdout().lock();
            report::completions(&mut out, args.shell)?;
            out.flush()?;
            Ok(Status::Ok)
        }
    }
}
