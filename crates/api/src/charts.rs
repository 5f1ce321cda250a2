//! The dashboard's charts: bar charts drawn as SVG by the `plotters` crate
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
}
