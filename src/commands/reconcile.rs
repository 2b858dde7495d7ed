//! `budget reconcile`: reads the saved plan, streams the journals into the reconciler, renders
//! the rows and says whether the forecast held (exit 0) or not (exit 1).

use crate::cli::{Global, ReconcileArgs};
use crate::reconcile::{self, Reconciler, Sink};
use crate::{report, Error, Status};

pub fn run(global: &Global, args: &ReconcileArgs) -> Result<Status, Error> {
    let plan = reconcile::load_plan(&args.plan)?;
    let mut reconciler = Reconciler::new(&plan);
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut reconciler];
    let reads = reconcile::read_journals(&args.journals, &mut sinks)?;
    if !global.quiet {
        let warnings: Vec<_> = reads.iter().flat_map(|r| &r.warnings).collect();
        report::journal_warnings(&mut std::io::stderr().lock(), &warnings);
    }
    let result = reconciler.finish(&args.journals)?;
    super::to_stdout(|out| report::reconcile(out, global.format, &result))?;
    Ok(if result.forecast_held() {
        Status::Ok
    } else {
        Status::OverBudget
    })
}
