//! `budget calibrate`: checks the flags, plans one call per endpoint, refuses when the
//! catalogue's worst case passes `--max-units` (or the balance), warns that other jobs on the key
//! spoil the measurement, measures, renders, and writes the overlay.

use std::path::Path;
use std::time::Duration;

use super::balance::KeyUse;
use crate::account::transport::{Policy, Transport};
use crate::account::{self, AccountError, AuthMethod, Backoff, Client, Config};
use crate::calibrate::{self, CalibrateError, Settings};
use crate::cli::{Auth, CalibrateArgs, Global};
use crate::{report, Error, Status};

/// Largest reply of a calibration call read (a small call's reply is a few kilobytes).
const MAX_REPLY_BYTES: usize = 16 << 20;

pub fn run(global: &Global, args: &CalibrateArgs) -> Result<Status, Error> {
    let usage = |message: String| Error::Usage { message };
    if global.offline {
        return Err(usage(
            "--offline: calibrate measures the live API, which --offline forbids; drop --offline"
                .into(),
        ));
    }
    let seconds = |flag: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                usage(format!(
                    "{flag}: {value} is not a positive number of seconds"
                ))
            })
    };
    let settings = Settings {
        interval: seconds("--settle-interval", args.settle_interval)?,
        timeout: seconds("--settle-timeout", args.settle_timeout)?,
        max_units: args.max_units,
    };
    // Minutes of measuring must not end in an overlay that cannot be written.
    if let Some(path) = &args.write_overlay {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(usage(format!(
                "--write-overlay: {} is not a directory, so {} cannot be written; nothing was sent",
                dir.display(),
                path.display()
            )));
        }
    }
    let pricing = super::load_pricing(global)?;
    let plan = calibrate::plan(
        &pricing,
        &args.endpoints,
        &args.targets,
        &args.source,
        args.rows,
    )?;
    if plan.worst > args.max_units {
        report::notes(
            &mut std::io::stderr().lock(),
            &report::calibrate_over_max(&plan, args.max_units),
        );
        return Ok(Status::OverBudget);
    }
    let key = super::balance::load_key(global, KeyUse::Call)?.ok_or(AccountError::NoKey)?;
    let auth = match global.auth {
        Auth::Header => AuthMethod::Header,
        Auth::Query => AuthMethod::Query,
    };
    let config = Config::new(
        &global.api_url,
        key.clone(),
        auth,
        global.retries,
        global.timeout,
    )?;
    let client = Client::new(config.clone())?;
    let transport = Transport::new(
        &global.api_url,
        key,
        auth,
        Policy {
            attempts: config.attempts,
            timeout: config.total_timeout,
            attempt_timeout: Some(account::ATTEMPT_TIMEOUT),
            backoff: Backoff::from_env()?,
            body_cap: MAX_REPLY_BYTES,
            // A billable call: one that may have been billed is never sent again.
            retry_lost: false,
            user_agent: concat!("budget-calibrate/", env!("CARGO_PKG_VERSION")),
        },
    )
    .map_err(CalibrateError::from)?;
    let quiet = global.quiet;
    if !quiet {
        report::notes(
            &mut std::io::stderr().lock(),
            &report::calibrate_started(&plan, &settings),
        );
    }
    let measured = account::block_on(async {
        let units_left = client.balance().await?.require_usable()?.units_left();
        if plan.worst > units_left {
            return Ok(Err(units_left));
        }
        let mut progress = |event: calibrate::Event| {
            if !quiet {
                report::notes(
                    &mut std::io::stderr().lock(),
                    &[report::calibrate_event(&event, &settings)],
                );
            }
        };
        let measured =
            calibrate::measure(&client, &transport, &plan, &settings, &mut progress).await;
        Ok::<_, AccountError>(Ok(measured))
    })??;
    let measured = match measured {
        Ok(measured) => measured,
        Err(units_left) => {
            report::notes(
                &mut std::io::stderr().lock(),
                &[report::calibrate_over_balance(&plan, units_left)],
            );
            return Ok(Status::OverBudget);
        }
    };
    super::to_stdout(|out| report::calibrate(out, global.format, &measured))?;
    if let Some(path) = &args.write_overlay {
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let written = write_overlay(path, &measured, &when)?;
        if !quiet {
            report::notes(
                &mut std::io::stderr().lock(),
                &[report::overlay_written(
                    &path.display().to_string(),
                    written,
                )],
            );
        }
    }
    let not_measured = measured.iter().filter(|m| m.verdict().is_none()).count();
    if not_measured > 0 {
        return Err(CalibrateError::NotMeasured {
            count: not_measured,
            total: measured.len(),
        }
        .into());
    }
    Ok(Status::Ok)
}

/// Writes the overlay of the prices measured exactly (beside its destination, then moved in
/// place); none measured: no file. Returns how many entries it holds.
fn write_overlay(
    path: &Path,
    measured: &[calibrate::Measurement],
    when: &str,
) -> Result<usize, Error> {
    let entries = report::overlay_entries(measured);
    if entries == 0 {
        return Ok(0);
    }
    super::write_in_place(path, "pricing overlay", |file| {
        report::overlay(file, measured, when)
    })?;
    Ok(entries)
}
