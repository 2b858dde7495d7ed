//! `budget reconcile`: reads the saved plan, streams the journals into the reconciler (and the
//! profile builder with `--write-profile`), renders the rows, adds the observations to the
//! profile, and says whether the forecast held (exit 0) or not (exit 1).

use std::path::Path;

use crate::cli::{Global, ReconcileArgs};
use crate::reconcile::profile::{self, Profile, ProfileBuilder};
use crate::reconcile::{self, Reconciler, Sink};
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &ReconcileArgs) -> Result<Status, Error> {
    let plan = reconcile::load_plan(&args.plan)?;
    // The profile to add to, read before the journals so a bad one stops the run early.
    let existing = match &args.write_profile {
        Some(path) if path.exists() => Some(profile::load(path)?),
        _ => None,
    };
    let pricing = match &args.write_profile {
        Some(_) => Some(super::load_pricing(global)?),
        None => None,
    };
    let mut reconciler = Reconciler::new(&plan);
    let mut builder = pricing.as_ref().map(ProfileBuilder::new);
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut reconciler];
    if let Some(builder) = builder.as_mut() {
        sinks.push(builder);
    }
    let reads = reconcile::read_journals(&args.journals, &mut sinks)?;
    if !global.quiet {
        let warnings: Vec<_> = reads.iter().flat_map(|r| &r.warnings).collect();
        report::journal_warnings(&mut std::io::stderr().lock(), &warnings);
    }
    let result = reconciler.finish(&args.journals)?;
    super::to_stdout(|out| report::reconcile(out, global.format, &result))?;
    if let (Some(path), Some(builder)) = (&args.write_profile, builder) {
        let mut profile = existing.unwrap_or_default();
        let added = profile.add(&builder.finish()?)?;
        write_profile(path, &profile)?;
        if !global.quiet {
            let lines = report::profile_written(&path.display().to_string(), &added);
            report::notes(&mut std::io::stderr().lock(), &lines);
        }
    }
    Ok(if result.forecast_held() {
        Status::Ok
    } else {
        Status::OverBudget
    })
}

/// Writes the profile beside its destination, then moves it in place: a run that fails half-way
/// never leaves a truncated profile.
fn write_profile(path: &Path, profile: &Profile) -> Result<(), Error> {
    super::write_in_place(path, "usage profile", |file| report::profile(file, profile))
}
