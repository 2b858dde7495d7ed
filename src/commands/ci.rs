//! CI integration: GitHub Actions annotations and the job summary.
//!
//! Annotations go to stderr (the runner reads workflow commands from both streams), so
//! `--format json` on stdout stays parseable. A summary that cannot be written is a warning, not a
//! failure: the verdict and exit code matter more than the decoration.

use std::io::Write;

use crate::baseline::Comparison;
use crate::cli::Format;
use crate::forecast::Verdict;
use crate::report::{self, PlanReport};
use crate::Error;

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

/// `::error` lines for an over-budget verdict and an exceeded `--max-increase`.
pub fn verdict_annotations(report: &PlanReport, comparison: Option<&Comparison>) {
    let mut err = std::io::stderr().lock();
    let a = report.assessment;
    // One workflow: the annotation points at it; several: at none in particular.
    let file = match report.workflows {
        [only] => Some(only.path.as_path()),
        _ => None,
    };
    if a.verdict == Verdict::OverBudget {
        let lines = report::verdict_lines(report);
        if a.over_by > 0 || a.over_max_units.is_empty() {
            if let Some(first) = lines.first() {
                let _ = report::annotation(&mut err, file, None, first);
            }
        }
        for m in &a.over_max_units {
            let path = report
                .workflows
                .iter()
                .find(|w| w.name == m.workflow)
                .map(|w| w.path.as_path());
            let message = format!(
                "over budget: {} plans {} units, above its budget.max_units of {}",
                m.workflow,
                report::thousands(m.units),
                report::thousands(m.max_units)
            );
            let _ = report::annotation(&mut err, path, None, &message);
        }
    }
    if let Some(c) = comparison.filter(|c| c.exceeded) {
        let message = format!(
            "{}; {}",
            report::comparison_limit_line(c).unwrap_or_default(),
            report::comparison_headline(c)
        );
        let _ = report::annotation(&mut err, file, None, &message);
    }
}

/// `::error` lines for an error: one per workflow problem (with file and line), else one.
pub fn error_annotations(error: &Error) {
    let mut err = std::io::stderr().lock();
    match error {
        Error::Workflows(errors) => {
            for problem in errors.iter().flat_map(|e| e.problems()) {
                let mut message = String::new();
                if let Some(step) = &problem.step {
                    message.push_str(&format!("step {} ({}): ", step.number, step.name));
                }
                if !problem.field.is_empty() {
                    message.push_str(&format!("field `{}`: ", problem.field));
                }
                message.push_str(&problem.message);
                let _ = report::annotation(&mut err, Some(&problem.path), problem.line, &message);
            }
        }
        other => {
            let _ = report::annotation(&mut err, None, None, &other.to_string());
        }
    }
}
