//! Command orchestration: load, compute, render, decide the status. No arithmetic and no
//! formatting live here; those belong to `forecast` and `report`.

pub mod balance;
mod calibrate;
mod ci;
mod forecast;
mod gate;
mod guard;
mod guard_admin;
mod overage;
mod page;
mod plan;
mod reconcile;

use crate::cli::{Cli, Command};
use crate::pricing::Pricing;
use crate::{report, Error, Status};

pub fn run(cli: Cli) -> Result<Status, Error> {
    let result = dispatch(&cli);
    if let Err(error) = &result {
        if ci::github_actions() {
            report::error_annotations(&mut std::io::stderr().lock(), error);
        }
    }
    result
}

fn dispatch(cli: &Cli) -> Result<Status, Error> {
    let global = &cli.global();
    match &cli.command {
        Command::Plan(args) => plan::run(global, args, false),
        Command::Check(args) => plan::run(global, args, true),
        Command::Prices(_) => {
            let pricing = load_pricing(global)?;
            to_stdout(|out| report::prices(out, global.format, &pricing))?;
            Ok(Status::Ok)
        }
        Command::Overage(args) => overage::run(global, args),
        Command::Forecast(args) => forecast::run(global, args),
        Command::Balance(_) => balance::run(global),
        Command::Gate(args) => gate::run(global, args),
        Command::Guard(args) => guard::run(global, args),
        Command::GuardAdmin(args) => guard_admin::run(global, args),
        Command::Reconcile(args) => reconcile::run(global, args),
        Command::Report(args) => page::run(global, args),
        Command::Calibrate(args) => calibrate::run(global, args),
        Command::Reservations(_) => {
            let ledger = open_ledger(global)?;
            let list = ledger.list()?;
            to_stdout(|out| report::reservations(out, global.format, &ledger.location(), &list))?;
            Ok(Status::Ok)
        }
        Command::Schema(args) => {
            let text = crate::schema::text(args.output, args.draft)?;
            to_stdout(|out| report::schema(out, text))?;
            Ok(Status::Ok)
        }
        Command::Completions(args) => {
            let script = completion_script(args.shell);
            to_stdout(|out| report::completions(out, &script))?;
            Ok(Status::Ok)
        }
    }
}

/// The active pricing: `--pricing` (else the embedded file) with every `--pricing-overlay`.
pub(crate) fn load_pricing(global: &crate::cli::Global) -> Result<Pricing, Error> {
    Ok(Pricing::load(
        global.pricing.as_deref(),
        &global.pricing_overlays,
    )?)
}

/// The completion script for `shell`, rendered to memory (clap_complete panics on a write error).
fn completion_script(shell: crate::cli::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    use clap_complete::Shell as Target;
    let target = match shell {
        crate::cli::Shell::Bash => Target::Bash,
        crate::cli::Shell::Zsh => Target::Zsh,
        crate::cli::Shell::Fish => Target::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "budget", &mut script);
    script
}

/// Writes a report to stdout. A reader that stops early (`budget … | head`) is not an error:
/// the output was cut by its reader's choice, and the command's verdict and exit code stand.
pub(crate) fn to_stdout(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    // Block-buffered: stdout is line-buffered, and a long plan has many lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// What a ledger warns about (a lapsed lease, a state directory others can write to), on
/// stderr.
pub(crate) fn warnings_to_stderr() -> crate::ledger::Warn {
    std::sync::Arc::new(|warning: &str| {
        report::notes(&mut std::io::stderr().lock(), &[warning.to_string()]);
    })
}

/// The reservation ledger `--redis` selects, its warnings on stderr.
pub(crate) fn open_ledger(
    global: &crate::cli::Global,
) -> Result<Box<dyn crate::ledger::Ledger>, Error> {
    Ok(crate::ledger::open_with_warnings(
        global.redis.as_deref(),
        warnings_to_stderr(),
    )?)
}

/// Writes a file a command creates (an overlay, a profile) beside its destination, synced,
/// then moves it in place: a run that fails half-way never leaves a truncated file. `what`
/// names it in the error.
fn write_in_place(
    path: &std::path::Path,
    what: &str,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    use std::io::Write as _;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let temporary = path.with_file_name(name);
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        write(&mut file)?;
        file.flush()?;
        file.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            Error::Usage {
                message: format!(
                    "cannot write the {what} {}: {}",
                    path.display(),
                    crate::io_reason(&e)
                ),
            }
        })
}
