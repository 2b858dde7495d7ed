//! GitHub Actions workflow commands (`::error file=…,line=…::message`): the only lines the tool
//! starts with `::`. Messages and properties are neutralised by [`safe::annotation_data`] and
//! [`safe::annotation_property`] (GitHub's escaping, on one line).

use std::io::{self, Write};
use std::path::Path;

use super::{safe, PlanReport};
use crate::baseline::Comparison;
use crate::estimate::Verdict;
use crate::Error;

/// One `::error` line; `file` and `line` are left out when unknown.
pub fn annotation(
    out: &mut dyn Write,
    file: Option<&Path>,
    line: Option<usize>,
    message: &str,
) -> io::Result<()> {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!(
            "file={}",
            safe::annotation_property(&file.display().to_string())
        ));
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
    }
    let properties = if properties.is_empty() {
        String::new()
    } else {
        format!(" {}", properties.join(","))
    };
    writeln!(
        out,
        "::error{properties}::{}",
        safe::annotation_data(message.trim_end())
    )
}

/// `::error` lines for an over-budget verdict and an exceeded `--max-increase`.
pub fn verdict_annotations(
    err: &mut dyn Write,
    report: &PlanReport,
    comparison: Option<&Comparison>,
) {
    let a = report.assessment;
    // One workflow: the annotation points at it; several: at none in particular.
    let file = match report.workflows {
        [only] => Some(only.path.as_path()),
        _ => None,
    };
    if a.verdict == Verdict::OverBudget {
        let lines = super::verdict_lines(report);
        if a.over_by > 0 || a.over_max_units.is_empty() {
            if let Some(first) = lines.first() {
                let _ = annotation(err, file, None, first);
            }
        }
        for m in &a.over_max_units {
            let path = report
                .workflows
                .iter()
                .find(|w| w.name == m.workflow)
                .map(|w| w.path.as_path());
            let _ = annotation(err, path, None, &super::max_units_line(m));
        }
    }
    if let Some(c) = comparison.filter(|c| c.exceeded) {
        let message = format!(
            "{}; {}",
            super::comparison_limit_line(c).unwrap_or_default(),
            super::comparison_headline(c)
        );
        let _ = annotation(err, file, None, &message);
    }
}

/// `::error` lines for an error: one per workflow problem (with file and line), else one.
pub fn error_annotations(err: &mut dyn Write, error: &Error) {
    match error {
        Error::Workflows { errors } => {
            // The message ends with the diagnostic's code (`… [W031]`), as in the text output.
            for problem in errors.iter().flat_map(|e| e.problems()) {
                let message = problem.describe();
                let _ = annotation(err, Some(&problem.path), problem.line, &message);
            }
        }
        other => {
            let _ = annotation(err, None, None, &other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_lines() {
        let mut out = Vec::new();
        annotation(
            &mut out,
            Some(Path::new("dir/a,b:c.yaml")),
            Some(7),
            "bad: 1,2\nmore",
        )
        .unwrap();
        annotation(&mut out, Some(Path::new("w.yaml")), None, "x").unwrap();
        annotation(&mut out, None, Some(3), "plain").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error file=dir/a%2Cb%3Ac.yaml,line=7::bad: 1,2\\nmore\n::error file=w.yaml::x\n::error::plain\n"
        );
    }
}
