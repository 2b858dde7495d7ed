//! Rendering a comparison with a saved plan.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{markdown_table, safe, table, thousands};
use crate::baseline::{Change, Comparison};

/// `+12,000`, `-250`, `0`.
pub fn signed(delta: i128) -> String {
    let magnitude = thousands(u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX));
    match delta {
        d if d > 0 => format!("+{magnitude}"),
        d if d < 0 => format!("-{magnitude}"),
        _ => magnitude,
    }
}

fn percent(c: &Change) -> String {
    match c.percent() {
        Some(p) if p.is_sign_positive() && !p.is_zero() => format!("+{p}%"),
        Some(p) => format!("{p}%"),
        None if c.before.is_none() => "new".into(),
        None => "—".into(),
    }
}

fn units(value: Option<u64>) -> String {
    value.map_or_else(|| "—".into(), thousands)
}

/// "this change adds 12,000 units (+46.2%)".
pub fn headline(c: &Comparison) -> String {
    let delta = c.total.delta();
    let text = match delta {
        d if d > 0 => format!(
            "this change adds {} units",
            thousands(u64::try_from(d).unwrap_or(u64::MAX))
        ),
        d if d < 0 => format!(
            "this change saves {} units",
            thousands(u64::try_from(-d).unwrap_or(u64::MAX))
        ),
        _ => "this change leaves the units unchanged".into(),
    };
    let pct = match c.total.percent() {
        Some(_) if delta != 0 => format!(" ({})", percent(&c.total)),
        None if delta != 0 => " (from nothing)".into(),
        _ => String::new(),
    };
    format!("{text}{pct} compared with {}", c.baseline.display())
}

/// The verdict on `--max-increase`, when one was given.
pub fn limit_line(c: &Comparison) -> Option<String> {
    let max = c.max_increase?;
    Some(if c.exceeded {
        format!(
            "over budget: the increase of {} units is above --max-increase {max}",
            signed(c.total.delta())
        )
    } else {
        format!("within --max-increase {max}")
    })
}

/// One row per workflow and the total; `name` dresses the workflow name for the format.
fn rows(c: &Comparison, name: fn(&str) -> String) -> Vec<Vec<String>> {
    c.workflows
        .iter()
        .chain(std::iter::once(&c.total))
        .map(|w| {
            vec![
                name(&w.name),
                units(w.before),
                units(w.after),
                signed(w.delta()),
                percent(w),
            ]
        })
        .collect()
}

pub fn comparison_table(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    let mut all = vec![["workflow", "before", "after", "change", "%"]
        .map(String::from)
        .to_vec()];
    all.extend(rows(c, str::to_string));
    writeln!(out, "{}", table(all, 1))?;
    writeln!(out, "{}", safe::terminal(&headline(c)))?;
    if let Some(line) = limit_line(c) {
        writeln!(out, "{}", safe::terminal(&line))?;
    }
    Ok(())
}

pub fn comparison_markdown(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    writeln!(
        out,
        "#### Change against {}",
        safe::markdown_code(&c.baseline.display().to_string())
    )?;
    writeln!(out)?;
    let mut all = rows(c, safe::markdown);
    if let Some(total) = all.last_mut() {
        total[0] = "**total**".into();
        total[3] = format!("**{}**", total[3]);
    }
    markdown_table(
        out,
        &["workflow", "before", "after", "change", "%"],
        &[false, true, true, true, true],
        &all,
    )?;
    writeln!(out)?;
    writeln!(out, "**{}**", safe::markdown(&headline(c)))?;
    if let Some(line) = limit_line(c) {
        writeln!(out)?;
        writeln!(
            out,
            "{} {}",
            if c.exceeded { "❌" } else { "✅" },
            safe::markdown(&line)
        )?;
    }
    writeln!(out)
}

fn change_json(w: &Change) -> Value {
    json!({
        "name": w.name,
        "path": w.path,
        "units_before": w.before,
        "units": w.after,
        "change": w.delta(),
        "percent": w.percent().map(|p| p.to_string()),
    })
}

/// The `baseline` member of plan JSON.
pub fn comparison_json(c: &Comparison) -> Value {
    json!({
        "path": c.baseline.display().to_string(),
        "workflows": c.workflows.iter().map(change_json).collect::<Vec<_>>(),
        "total": change_json(&c.total),
        "max_increase": c.max_increase.map(|m| match m {
            crate::baseline::MaxIncrease::Units(n) => n.to_string(),
            crate::baseline::MaxIncrease::Percent(p) => format!("{p}%"),
        }),
        "exceeded": c.exceeded,
    })
}
