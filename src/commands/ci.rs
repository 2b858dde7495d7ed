//! CI integration: GitHub Actions annotations and the job summary.
//!
//! Annotations go to stderr (the runner reads workflow commands from both streams), so
//! `--format json` on stdout stays parseable. A summary that cannot be written is a warning, not a
//! failure: the verdict and exit code matter more than the decoration.

use std::io::Write;

use crate::baseline::Comparison;
use crate::cli::Format;
use crate::report::{self, PlanReport};

/// Running under GitHub Actions (`GITHUB_ACTIONS=true`).
pub fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Appends the Markdown summary to `$GITHUB_STEP_SUMMARY`, when it is set.
pub fn step_summary(report: &PlanReport, comparison: Option<&Comparison>) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| {
            let mut text = Vec::new();
            report::plan_compared(&mut text, Format::Markdown, report, comparison)?;
            file.write_all(&text)
        });
    if let Err(e) = written {
        report::notes(
            &mut std::io::stderr().lock(),
            &[format!(
                "warning: cannot append the summary to GITHUB_STEP_SUMMARY ({}): {}",
                std::path::Path::new(&path).display(),
                crate::io_reason(&e)
            )],
        );
    }
}
