//! `budget report`: the plan, the billing-period forecast, overage and (given journals) forecast
//! against actual, as one HTML page written to `--output`. The figures come from the same
//! orchestration as `plan`, `forecast`, `overage --all-tiers` and `reconcile`; `report::html`
//! renders them.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::balance::KeyUse;
use super::plan::Checked;
use crate::cli::{Global, ReportArgs};
use crate::estimate::{Balance, Verdict};
use crate::finance::{self, Amount};
use crate::reconcile::{self, Reconciler, Sink};
use crate::report::{self, HtmlReport, ReconcileView, TierTable};
use crate::{Error, Status};

pub fn run(global: &Global, args: &ReportArgs) -> Result<Status, Error> {
    // Everything read from files first: bad input exits 2 before any call to the API.
    let reserve = super::plan::parse_reserve(args.reserve.as_deref())?;
    let planned = super::plan::estimate_files(global, &args.workflows, None)?;
    super::plan::warn_accounts(global, &planned.workflows);
    let reconciliation = match args.journals.is_empty() {
        true => None,
        false => {
            let plan = match &args.plan {
                Some(path) => reconcile::load_plan(path)?,
                None => reconcile::plan_from_estimates(&planned.forecasts, &planned.total),
            };
            let mut reconciler = Reconciler::new(&plan);
            let mut sinks: Vec<&mut dyn Sink> = vec![&mut reconciler];
            let reads = reconcile::read_journals(&args.journals, &mut sinks)?;
            if !global.quiet {
                let warnings: Vec<_> = reads.iter().flat_map(|r| &r.warnings).collect();
                report::journal_warnings(&mut std::io::stderr().lock(), &warnings);
            }
            Some(reconciler.finish(&args.journals)?)
        }
    };

    // The API is asked once, for what the flags leave open (as `forecast` does).
    let call = !global.offline && (args.units_left.is_none() || args.period_end.is_none());
    let key_use = match call {
        true => KeyUse::CallIfSet,
        false => KeyUse::LedgerOnly,
    };
    let api_key = super::balance::load_key(global, key_use)?;
    let live = match call {
        true => super::balance::resolve(global, None, api_key.as_ref())?,
        false => None,
    };
    let period_end = super::forecast::period_end(args.period_end, live.as_ref());
    let balance = match args.units_left {
        Some(units_left) => Some(Balance::from_flag(units_left)),
        None => live,
    };
    let account = crate::account::account_id(api_key.as_ref());
    let reserved = match &balance {
        Some(_) => super::open_ledger(global)?.reserved(&account)?,
        None => 0,
    };
    let checked = Checked {
        planned,
        reserve,
        balance,
        account,
        api_key,
        comparison: None,
        offline: global.offline,
        strict_prices: args.strict_prices,
    };
    let assessment = checked.assess(reserved);
    let now = args.now.unwrap_or_else(super::forecast::now_utc);
    let with_reserved = checked.balance.clone().map(|b| Balance { reserved, ..b });
    let forecasted = period_end
        .map(|end| super::forecast::project(&checked.planned, with_reserved, end, now))
        .transpose()?;
    let overage_units = forecasted
        .as_ref()
        .and_then(|f| f.projection.total.overage_units)
        .filter(|units| *units > 0);
    let tiers = overage_units
        .map(|units| finance::all_tiers(Amount::Units(units), &checked.planned.pricing))
        .transpose()?;
    let chosen = crate::estimate::overage_account(&checked.planned.workflows).chosen;

    let plan_view = checked.report(&assessment);
    let forecast_view = forecasted.as_ref().map(|f| f.view(global.offline));
    let page = HtmlReport {
        plan: &plan_view,
        forecast: forecast_view.as_ref(),
        tiers: match (&tiers, overage_units) {
            (Some(tiers), Some(units)) => Some(TierTable {
                units,
                tiers,
                selected: chosen.map(|(_, account)| account.tier.as_str()),
            }),
            _ => None,
        },
        account: chosen.map(|(_, account)| account),
        reconciliation: reconciliation.as_ref().map(|result| ReconcileView {
            result,
            saved_plan: args.plan.is_some(),
        }),
        generated: now,
    };
    write_atomically(&args.output, |out| report::html_report(out, &page))?;
    if !global.quiet {
        report::notes(
            &mut std::io::stderr().lock(),
            &report::html_written(&args.output.display().to_string(), &page),
        );
    }

    let runs_out = forecasted
        .as_ref()
        .is_some_and(|f| f.balance.is_some() && f.projection.runs_out());
    let exceeded = reconciliation.as_ref().is_some_and(|r| !r.forecast_held());
    Ok(
        match assessment.verdict == Verdict::OverBudget
            || plan_view.strict_failed
            || runs_out
            || exceeded
        {
            true => Status::OverBudget,
            false => Status::Ok,
        },
    )
}

/// Writes `path` whole or not at all: the page goes to a new file beside it (same directory, so
/// the same file system), is flushed to disk, then renamed over `path`. A reader — a browser, a
/// web server, a mail job — never sees half a page, and a failure leaves the previous page as it
/// was. An existing file is replaced, as `>` would: naming it with `--output` asks for that. The
/// new file gets the usual permissions (0666 less the umask, 0644 under the common 022): a
/// report holds figures and names, never the key.
fn write_atomically(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let cannot = |e: std::io::Error| Error::Output {
        reason: format!("{}: {}", path.display(), crate::io_reason(&e)),
    };
    let Some(name) = path.file_name() else {
        return Err(Error::Usage {
            message: format!(
                "--output {}: not a file name; give the HTML file to write, e.g. report.html",
                path.display()
            ),
        });
    };
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    // `create_new`: never write through a file (or a link) someone put there, nor remove it.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(cannot)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let written = render(&mut out)
        .and_then(|()| {
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)
        })
        .and_then(|file| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        cannot(e)
    })
}
