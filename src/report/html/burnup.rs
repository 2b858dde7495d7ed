//! The burn-up chart of the HTML report, drawn by hand as inline SVG.
//!
//! Not `report::chart` (plotters' SVG for `budget forecast --chart`): that file has fixed colours
//! (no dark theme), a fixed pixel size and no `<title>`/`<desc>`. Here every line takes its colour
//! from the page's palette through a CSS class, the drawing scales with the page (`viewBox`), and
//! the chart is an image with a text alternative: `role="img"`, a `<title>` and a `<desc>` saying
//! what it shows, and a table of the same figures right after it. Lines differ by dash pattern
//! as well as colour, so the chart reads without colour vision (and in black-and-white print).
//!
//! The series is `budget forecast --chart`'s: `(0, 0)` at the start of `now`'s day, then the
//! cumulative projected units at the end of each day. Coordinates are pixels (floating point);
//! the figures themselves are never rounded: the table shows them exact.

use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};

use super::super::{safe, thousands};
use crate::finance::Projection;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 46.0;

/// A round step for about five ticks up to `max`: 1, 2 or 5 times a power of ten.
fn tick_step(max: u64) -> u64 {
    let raw = max.div_ceil(5).max(1);
    let mut magnitude = 1u64;
    while magnitude <= raw / 10 {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10 * magnitude)
}

/// The y axis: its top (a whole number of steps at or above `max`) and its step.
fn y_axis(max: u64) -> (u64, u64) {
    let step = tick_step(max);
    (step * max.div_ceil(step).max(1), step)
}

/// Writes the chart: a `<figure>` with the SVG, a legend and the caption.
pub(super) fn chart(page: &mut String, p: &Projection) {
    let start = p.now.date();
    let days = p.days.len().max(1);
    let n = days as f64;
    let max = p.total.units.max(p.spendable.unwrap_or(0)).max(1);
    let (top, step) = y_axis(max);
    let x = |day: f64| LEFT + (WIDTH - LEFT - RIGHT) * day / n;
    let y = |units: u64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - units as f64 / top as f64);
    let bottom = HEIGHT - BOTTOM;
    let last_day = p.days.last().map(|d| d.date).unwrap_or(start);

    let _ = write!(
        page,
        "<figure id=\"burnup\">\n<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-labelledby=\"burnup-title burnup-desc\">\n<title id=\"burnup-title\">Burn-up chart: projected units against the units left, {} to {}</title>\n<desc id=\"burnup-desc\">{}</desc>\n",
        start,
        p.period_end.format("%Y-%m-%d %H:%M"),
        safe::html(&description(p, last_day)),
    );
    // Grid and y ticks.
    let mut tick = 0u64;
    while tick <= top {
        let ty = y(tick);
        let _ = writeln!(
            page,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            ty + 4.0,
            thousands(tick)
        );
        tick += step;
    }
    // x ticks: at most about eight dates.
    let every = days.div_ceil(8).max(1);
    let long = days > 366;
    for day in (0..=days).step_by(every) {
        let tx = x(day as f64);
        let date = start + Duration::days(i64::try_from(day).unwrap_or(0));
        let label = match long {
            true => date.format("%Y-%m-%d").to_string(),
            false => date.format("%b %d").to_string(),
        };
        let _ = writeln!(
            page,
            "<line class=\"axis\" x1=\"{tx:.1}\" y1=\"{bottom}\" x2=\"{tx:.1}\" y2=\"{:.1}\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            bottom + 5.0,
            bottom + 19.0
        );
    }
    let _ = writeln!(
        page,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\"/><line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\"/>",
        WIDTH - RIGHT
    );
    let _ = writeln!(
        page,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">date (UTC)</text><text x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">units</text>",
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 6.0,
        TOP + (bottom - TOP) / 2.0,
        TOP + (bottom - TOP) / 2.0
    );
    if let Some(spendable) = p.spendable {
        let by = y(spendable);
        let _ = writeln!(
            page,
            "<line class=\"balance\" x1=\"{LEFT}\" y1=\"{by:.1}\" x2=\"{:.1}\" y2=\"{by:.1}\"/>",
            WIDTH - RIGHT
        );
    }
    if let Some(day) = p.total.exhausted_on {
        let ex = x((day - start).num_days() as f64);
        let _ = writeln!(
            page,
            "<line class=\"exhausted\" x1=\"{ex:.1}\" y1=\"{TOP}\" x2=\"{ex:.1}\" y2=\"{bottom}\"/>"
        );
    }
    let pe = x(n);
    let _ = writeln!(
        page,
        "<line class=\"period\" x1=\"{pe:.1}\" y1=\"{TOP}\" x2=\"{pe:.1}\" y2=\"{bottom}\"/>"
    );
    let mut points = format!("{:.1},{:.1}", x(0.0), y(0));
    for (i, d) in p.days.iter().enumerate() {
        let _ = write!(points, " {:.1},{:.1}", x((i + 1) as f64), y(d.units));
    }
    let _ = writeln!(page, "<polyline class=\"projected\" points=\"{points}\"/>");
    page.push_str("</svg>\n");
    legend(page, p);
    let _ = writeln!(
        page,
        "<figcaption>Projected cumulative units at the end of each day against the units left; the table below lists the same figures.</figcaption>\n</figure>"
    );
}

/// What the chart shows, in words, for readers who cannot see it.
fn description(p: &Projection, last_day: NaiveDate) -> String {
    let mut text = format!(
        "Projected units rise from 0 at the start of {} to {} by the end of {}.",
        p.now.date(),
        thousands(p.total.units),
        last_day
    );
    match (p.spendable, p.total.exhausted_on) {
        (Some(s), Some(day)) => text.push_str(&format!(
            " The units left, {}, are used up on {day}.",
            thousands(s)
        )),
        (Some(s), None) => text.push_str(&format!(
            " The units left, {}, last to the end of the period.",
            thousands(s)
        )),
        (None, _) => text.push_str(" The balance is unknown, so no units-left line is drawn."),
    }
    text.push_str(&format!(
        " The period ends at {}. The table after the chart lists the figures of every day.",
        p.period_end.format("%Y-%m-%d %H:%M")
    ));
    text
}

/// The legend: a sample of each line and what it means (text, not colour alone).
fn legend(page: &mut String, p: &Projection) {
    let sample = |class: &str| {
        format!(
            "<svg width=\"28\" height=\"10\" aria-hidden=\"true\" focusable=\"false\"><line class=\"{class}\" x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\"/></svg>"
        )
    };
    page.push_str("<ul class=\"legend\">\n");
    let _ = writeln!(
        page,
        "<li>{}projected units (cumulative)</li>",
        sample("projected")
    );
    if let Some(s) = p.spendable {
        let _ = writeln!(
            page,
            "<li>{}units left: {}</li>",
            sample("balance"),
            thousands(s)
        );
    }
    if let Some(day) = p.total.exhausted_on {
        let _ = writeln!(page, "<li>{}exhausted on {day}</li>", sample("exhausted"));
    }
    let _ = writeln!(
        page,
        "<li>{}period end {}</li>\n</ul>",
        sample("period"),
        p.period_end.format("%Y-%m-%d %H:%M")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        // (max, expected top, expected step): max/5 rounded up to 1, 2 or 5 × 10^k.
        for (max, top, step) in [
            (1, 1, 1),
            (7, 8, 2),                  // 7/5 -> 2 -> step 2, top 8
            (150_000, 150_000, 50_000), // 150000/5 = 30000 -> 50000; 3 steps
            (100_000, 100_000, 20_000),
            (556_800, 600_000, 200_000), // 111360 -> 200000; 556800 -> 3 steps = 600000
            (26_000, 30_000, 10_000),    // 5200 -> 10000
        ] {
            assert_eq!(y_axis(max), (top, step), "max {max}");
        }
    }
}
