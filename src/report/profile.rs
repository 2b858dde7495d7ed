//! Writing a usage profile (`budget reconcile --write-profile FILE`), and the notes `budget plan
//! --profile` prints about the steps it changed.

use std::io::{self, Write};

use super::thousands;
use crate::reconcile::profile::{Added, Application, Histogram, Profile, Usage};
use crate::workflow::Workflow;

const HEADER: &str = "\
# budget usage profile: rows and pages per target that `budget guard` saw, written by
# `budget reconcile PLAN.json JOURNAL... --write-profile FILE` (which adds to this file).
# `budget plan --profile FILE` takes the p90 of rows_per_target as the expected_rows of steps
# that state none; the worst case never changes. Percentiles are nearest-rank; `observed` maps a
# value to the number of targets it was seen for, and the summary is computed from it.
";

/// A YAML key as written: plain when it is safe, else a double-quoted string.
pub(crate) fn key(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
    }
}

fn histogram(out: &mut dyn Write, indent: &str, name: &str, h: &Histogram) -> io::Result<()> {
    if h.is_empty() {
        return Ok(());
    }
    let observed: Vec<String> = h
        .counts()
        .iter()
        .map(|(v, n)| format!("{v}: {n}"))
        .collect();
    write!(
        out,
        "{indent}{name}: {{count: {}, p50: {}, p90: {}, max: {}, ",
        h.count(),
        h.percentile(50).unwrap_or(0),
        h.percentile(90).unwrap_or(0),
        h.max().unwrap_or(0)
    )?;
    if h.rounded() {
        write!(out, "rounded: true, ")?;
    }
    writeln!(out, "observed: {{{}}}}}", observed.join(", "))
}

fn usage(out: &mut dyn Write, indent: &str, u: &Usage) -> io::Result<()> {
    histogram(out, indent, "rows_per_target", &u.rows_per_target)?;
    histogram(out, indent, "pages_per_target", &u.pages_per_target)
}

/// The profile as YAML.
pub fn profile(out: &mut dyn Write, p: &Profile) -> io::Result<()> {
    out.write_all(HEADER.as_bytes())?;
    writeln!(out, "version: {}", crate::reconcile::profile::VERSION)?;
    let journals: Vec<String> = p.journals.iter().map(|j| key(j)).collect();
    writeln!(out, "journals: [{}]", journals.join(", "))?;
    writeln!(out, "endpoints:")?;
    let mut endpoints: Vec<&str> = p.usage.keys().map(|(e, _)| e.as_str()).collect();
    endpoints.dedup();
    for endpoint in endpoints {
        writeln!(out, "  {}:", key(endpoint))?;
        let entries = p.usage.iter().filter(|((e, _), _)| e == endpoint);
        let mut sources = Vec::new();
        for ((_, source), u) in entries {
            match source {
                None => usage(out, "    ", u)?,
                Some(s) => sources.push((s, u)),
            }
        }
        if !sources.is_empty() {
            writeln!(out, "    sources:")?;
            for (source, u) in sources {
                writeln!(out, "      {}:", key(source))?;
                usage(out, "        ", u)?;
            }
        }
    }
    Ok(())
}

/// What writing the profile did, for stderr.
pub fn profile_written(path: &str, added: &Added) -> Vec<String> {
    let mut lines: Vec<String> = added
        .skipped
        .iter()
        .map(|j| {
            format!(
                "note: {} is already in the usage profile {path}; its calls were not added again",
                j.display()
            )
        })
        .collect();
    lines.push(format!(
        "usage profile {path}: {} journal{} added",
        added.added.len(),
        if added.added.len() == 1 { "" } else { "s" }
    ));
    lines
}

/// Which steps took their expected band from the profile, and which could not.
pub fn profile_notes(workflows: &[Workflow], app: &Application, path: &str) -> Vec<String> {
    let step = |w: usize, s: usize| {
        let workflow = &workflows[w];
        format!(
            "{} step {} ({})",
            workflow.name,
            s + 1,
            workflow.steps[s].name
        )
    };
    let mut lines = Vec::new();
    for a in &app.applied {
        let mut line = format!(
            "profile: {}: expected_rows {} per target, the p90 of {} observed target{} in {path}",
            step(a.workflow, a.step),
            thousands(a.expected_rows),
            thousands(a.observations),
            if a.observations == 1 { "" } else { "s" }
        );
        if a.p90 > a.expected_rows {
            line.push_str(&format!(
                " (the p90 is {}, above the step's rows)",
                thousands(a.p90)
            ));
        }
        lines.push(line);
    }
    for n in &app.not_applied {
        let what = if n.missing.is_empty() {
            format!("no observations of {}", n.endpoint)
        } else {
            format!(
                "no observations of {} in source {}",
                n.endpoint,
                n.missing.join(", ")
            )
        };
        lines.push(format!(
            "profile: {}: {what} in {path}; its expected band stays the worst case",
            step(n.workflow, n.step)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::profile::parse;

    #[test]
    fn a_written_profile_reads_back_the_same() {
        let text = "version: 1\njournals: [d1, d2]\nendpoints:\n  backlinks/all:\n    rows_per_target: {observed: {40: 2, 100: 1}}\n  domain/keywords:\n    rows_per_target: {observed: {7: 1}}\n    sources:\n      us:\n        rows_per_target: {observed: {250: 3, 400: 1}}\n        pages_per_target: {observed: {1: 3, 2: 1}}\n";
        let p = parse(std::path::Path::new("p.yaml"), text).expect("profile");
        let mut out = Vec::new();
        profile(&mut out, &p).expect("write");
        let written = String::from_utf8(out).expect("utf-8");
        // 40, 40, 100: p50 40, p90 100. 250 ×3, 400: p50 rank 2 → 250, p90 rank 4 → 400.
        assert!(
            written.ends_with(
                "version: 1
journals: [d1, d2]
endpoints:
  backlinks/all:
    rows_per_target: {count: 3, p50: 40, p90: 100, max: 100, observed: {40: 2, 100: 1}}
  domain/keywords:
    rows_per_target: {count: 1, p50: 7, p90: 7, max: 7, observed: {7: 1}}
    sources:
      us:
        rows_per_target: {count: 4, p50: 250, p90: 400, max: 400, observed: {250: 3, 400: 1}}
        pages_per_target: {count: 4, p50: 1, p90: 2, max: 2, observed: {1: 3, 2: 1}}
"
            ),
            "{written}"
        );
        assert_eq!(
            parse(std::path::Path::new("p.yaml"), &written).expect("reads back"),
            p
        );
    }

    #[test]
    fn odd_keys_are_quoted() {
        assert_eq!(key("backlinks/all"), "backlinks/all");
        assert_eq!(key("no"), "\"no\"");
        assert_eq!(key("a b: c"), "\"a b: c\"");
        assert_eq!(key(""), "\"\"");
    }
}
