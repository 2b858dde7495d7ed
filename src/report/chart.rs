//! The burn-up chart of `budget forecast --chart FILE.svg`: cumulative projected units rising
//! towards the `units_left` line (a burn-up, not a burn-down: nothing is plotted falling).
//!
//! Drawn with plotters' SVG backend only: no system libraries and no font files. Text is written
//! as SVG `<text>` elements that the viewer renders with its own sans-serif font (plotters only
//! estimates text widths for layout). Coordinates are floating point because they are pixels;
//! no money is involved.

use std::io::{self, Write};

use chrono::Duration;
use plotters::prelude::*;

use super::thousands;
use crate::finance::Projection;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const PROJECTED: RGBColor = RGBColor(31, 119, 180);
const UNITS_LEFT: RGBColor = RGBColor(44, 160, 44);
const EXHAUSTED: RGBColor = RGBColor(214, 39, 40);
const PERIOD_END: RGBColor = RGBColor(90, 90, 90);

fn plot_error<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(format!("cannot draw the chart: {e}"))
}

/// Writes the chart as SVG. The projected series is a polyline of one point per day boundary:
/// `(0, 0)` at the start of `now`'s day, then the cumulative units at the end of each day, so a
/// period of N days has N + 1 points. x is in days since `now`'s date.
pub fn forecast_chart(out: &mut dyn Write, projection: &Projection) -> io::Result<()> {
    let svg = render(projection)?;
    out.write_all(svg.as_bytes())
}

fn render(p: &Projection) -> io::Result<String> {
    let start = p.now.date();
    let days = i64::try_from(p.days.len()).map_err(plot_error)?;
    let top = p.total.units.max(p.spendable.unwrap_or(0)).max(1) as f64 * 1.12;
    let long = days > 366;
    // plotters escapes XML's markup characters; control characters (invalid in XML) are ours.
    let names: Vec<String> = p
        .workflows
        .iter()
        .map(|w| super::safe::visible(&w.name))
        .collect();
    let caption = format!(
        "Burn-up: {} ({} to {})",
        names.join(", "),
        start,
        p.period_end.format("%Y-%m-%d")
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(16)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d(0i64..days, 0f64..top)
            .map_err(plot_error)?;
        let date_label = |x: &i64| {
            let date = start + Duration::days(*x);
            if long {
                date.format("%Y-%m-%d").to_string()
            } else {
                date.format("%b %d").to_string()
            }
        };
        let units_label = |y: &f64| thousands(crate::count::ceil_u64(y.max(0.0).round()));
        chart
            .configure_mesh()
            .x_labels(12)
            .y_labels(10)
            .x_label_formatter(&date_label)
            .y_label_formatter(&units_label)
            .x_desc("date (UTC)")
            .y_desc("units")
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;

        let mut points = vec![(0i64, 0f64)];
        points.extend(p.days.iter().zip(1i64..).map(|(d, x)| (x, d.units as f64)));
        chart
            .draw_series(LineSeries::new(points, PROJECTED.stroke_width(3)))
            .map_err(plot_error)?
            .label("projected units (cumulative)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], PROJECTED.stroke_width(3))
            });

        if let Some(spendable) = p.spendable {
            let y = spendable as f64;
            chart
                .draw_series(LineSeries::new(
                    vec![(0, y), (days, y)],
                    UNITS_LEFT.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(format!("units_left {}", thousands(spendable)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], UNITS_LEFT.stroke_width(2))
                });
        }
        if let Some(day) = p.total.exhausted_on {
            let x = (day - start).num_days();
            chart
                .draw_series(LineSeries::new(
                    vec![(x, 0.0), (x, top)],
                    EXHAUSTED.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(format!("exhausted on {day}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], EXHAUSTED.stroke_width(2))
                });
        }
        chart
            .draw_series(LineSeries::new(
                vec![(days, 0.0), (days, top)],
                PERIOD_END.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(format!(
                "period end {}",
                p.period_end.format("%Y-%m-%d %H:%M")
            ))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], PERIOD_END.stroke_width(2))
            });

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finance::{parse_datetime, project, ScheduledWorkflow};
    use crate::workflow::Schedule;

    fn example() -> Projection {
        project(
            &[ScheduledWorkflow {
                run: None,
                name: "Daily".into(),
                schedule: Some(Schedule::Daily),
                units_per_run: 1_000,
            }],
            parse_datetime("2026-11-26T00:00:00Z").unwrap(),
            parse_datetime("2026-12-26T00:00:00Z").unwrap(),
            Some(10_000),
        )
        .unwrap()
    }

    #[test]
    fn svg_parses_and_holds_the_series() {
        let svg = render(&example()).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("valid XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let polylines: Vec<usize> = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .map(|n| {
                n.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .collect();
        // 30 days -> 31 points (start + one per day); every other line has 2 points
        assert_eq!(
            polylines.iter().filter(|&&n| n == 31).count(),
            1,
            "{polylines:?}"
        );
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        for label in [
            "Burn-up: Daily (2026-11-26 to 2026-12-26)",
            "units_left 10,000",
            "exhausted on 2026-12-06",
            "period end 2026-12-26 00:00",
            "Dec 06",
        ] {
            assert!(
                texts.iter().any(|t| t.contains(label)),
                "no text {label:?} in {texts:?}"
            );
        }
    }
}
