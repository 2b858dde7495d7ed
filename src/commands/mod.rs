//! Command orchestration: load, compute, render, decide the status. No arithmetic and no
//! formatting live here; those belong to `forecast` and `report`.

pub mod balance;
mod forecast;
mod overage;
mod plan;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::pricing::Pricing;
use crate::{report, Error, Status};

pub fn run(cli: Cli) -> Result<Status, Error> {
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
    }
}
