//! SVG line charts for the report (plotters, SVG backend).

use anyhow::Result;
use plotters::prelude::*;

/// One line of a chart: label and (x, y) points, with optional 95% intervals per point.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub intervals: Vec<(f64, f64)>,
}

/// Axes of a chart.
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    /// log2 x axis (budgets 1, 2, 4, …).
    pub log2_x: bool,
    pub y_range: (f64, f64),
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Render `series` as an SVG document.
pub fn line_chart(axes: &Axes<'_>, series: &[Series]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let tx = |x: f64| if axes.log2_x { x.max(1e-9).log2() } else { x };
        let xs: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| tx(p.0)))
            .collect();
        let (x0, x1) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let (x0, x1) = if x0.is_finite() && x1 > x0 {
            (x0, x1)
        } else {
            (0.0, 1.0)
        };
        let pad = (x1 - x0) * 0.03;
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), axes.y_range.0..axes.y_range.1)?;
        let log2 = axes.log2_x;
        // log2 axes: one tick per power of two.
        let ticks = if log2 {
            (x1 - x0).round() as usize + 1
        } else {
            8
        };
        chart
            .configure_mesh()
            .x_labels(ticks)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_desc(axes.x)
            .y_desc(axes.y)
            .x_label_formatter(&|v| {
                if log2 {
                    format!("{}", 2f64.powf(*v).round())
                } else {
                    format!("{v:.2}")
                }
            })
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (tx(x), y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
            for (&(x, _), &(lo, hi)) in pts.iter().zip(&s.intervals) {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, lo), (x, hi)],
                    c.stroke_width(1),
                )))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_svg() {
        let s = Series {
            label: "weighted-bon".into(),
            points: vec![(1.0, 0.1), (4.0, 0.2), (16.0, 0.3)],
            intervals: vec![(0.05, 0.15), (0.15, 0.25), (0.25, 0.35)],
        };
        let svg = line_chart(
            &Axes {
                title: "accuracy vs budget",
                x: "generations N",
                y: "accuracy",
                log2_x: true,
                y_range: (0.0, 1.0),
            },
            &[s],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1))
            .map(|t| t.split('<').next().unwrap_or("").trim())
            .collect();
        for needle in [
            "accuracy vs budget",
            "generations N",
            "weighted-bon",
            "1",
            "2",
            "4",
            "8",
            "16",
        ] {
            assert!(texts.contains(&needle), "missing {needle} in {texts:?}");
        }
        assert!(
            !texts.contains(&"3") && !texts.contains(&"11"),
            "ticks at powers of two: {texts:?}"
        );
    }
}
