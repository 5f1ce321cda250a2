//! The dashboard's charts: bar and line charts drawn as SVG by the `plotters` crate
//! (its SVG backend only: no bitmap, no font files; text is SVG text the
//! browser sets in its own sans-serif).

use plotters::prelude::*;

/// Size of a chart, in pixels.
const SIZE: (u32, u32) = (560, 300);

/// A vertical bar per `(label, value)`, the value axis from 0 and named
/// `unit`. `None` if plotters fails (the table still has the numbers).
pub fn bars(title: &str, unit: &str, bars: &[(String, f64)]) -> Option<String> {
    let mut svg = String::new();
    draw(&mut svg, title, unit, bars).ok()?;
    Some(svg)
}

fn draw(
    svg: &mut String,
    title: &str,
    unit: &str,
    bars: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let top = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        // A segmented range holds its end: n bars are 0..n-1.
        .build_cartesian_2d((0..bars.len().saturating_sub(1)).into_segmented(), 0.0..top)?;
    let label = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(i) => bars.get(*i).map(|(l, _)| l.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(bars.len().max(1))
        .x_label_formatter(&label)
        .y_desc(unit)
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(RGBColor(0x0b, 0x5c, 0xad).filled())
            .margin(18)
            .data(bars.iter().enumerate().map(|(i, (_, v))| (i, *v))),
    )?;
    root.present()?;
    Ok(())
}

/// Colours of line series, told apart by more than hue (the legend names
/// each line too).
const SERIES: [RGBColor; 5] = [
    RGBColor(0x0b, 0x5c, 0xad),
    RGBColor(0x1a, 0x7f, 0x37),
    RGBColor(0x8a, 0x4b, 0x08),
    RGBColor(0x6f, 0x42, 0xc1),
    RGBColor(0xb3, 0x26, 0x1e),
];

/// One line per `(name, values)` over the points named `x` (dates), the
/// value axis from 0 and named `unit`, with a legend. `None` if plotters
/// fails or there is nothing to draw.
pub fn lines(title: &str, unit: &str, x: &[String], series: &[(&str, Vec<f64>)]) -> Option<String> {
    if x.is_empty() {
        return None;
    }
    let mut svg = String::new();
    draw_lines(&mut svg, title, unit, x, series).ok()?;
    Some(svg)
}

fn draw_lines(
    svg: &mut String,
    title: &str,
    unit: &str,
    x: &[String],
    series: &[(&str, Vec<f64>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0)
        // Room above the lines for the legend.
        * 1.7;
    // One point is drawn as a short flat line, not a lone dot.
    let last = x.len().saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0..last, 0.0..top)?;
    let label = |i: &usize| x.get(*i).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(x.len().min(6))
        .x_label_formatter(&label)
        .y_desc(unit)
        .label_style(("sans-serif", 13))
        .draw()?;
    for ((name, values), colour) in series.iter().zip(SERIES.iter().cycle()) {
        let points: Vec<(usize, f64)> = if values.len() == 1 {
            vec![(0, values[0]), (1, values[0])]
        } else {
            values.iter().copied().enumerate().collect()
        };
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_names_its_bars() {
        let svg = bars(
            "Learners by status",
            "learners",
            &[("Enrolled".to_owned(), 3.0), ("Completed".to_owned(), 1.0)],
        )
        .expect("a chart");
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in ["Learners by status", "Enrolled", "Completed", "learners"] {
            assert!(svg.contains(text), "{text}");
        }
        // One filled bar per value.
        assert!(svg.matches("<rect").count() >= 3, "{svg}");
    }

    #[test]
    fn a_line_chart_names_its_lines() {
        let x = ["2026-11-01".to_owned(), "2026-11-02".to_owned()];
        let svg = lines(
            "Learners over time",
            "learners",
            &x,
            &[("Enrolled", vec![3.0, 5.0]), ("Completed", vec![0.0, 2.0])],
        )
        .expect("a chart");
        for text in ["Learners over time", "Enrolled", "Completed", "2026-11-01"] {
            assert!(svg.contains(text), "{text}");
        }
        assert!(svg.matches("<polyline").count() >= 2, "{svg}");
        assert_eq!(lines("Nothing", "learners", &[], &[]), None);
    }
}
