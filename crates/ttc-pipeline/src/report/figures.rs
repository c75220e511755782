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

/// A point marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Cross,
}

/// How line series `i` is drawn: its colour, whether its line is dashed, and its marker.
/// The 8 colours come first, then dashed lines, then other markers: 48 series before any
/// two look alike.
pub fn series_style(i: usize) -> (RGBColor, bool, Marker) {
    let n = COLORS.len();
    let marker = [Marker::Circle, Marker::Triangle, Marker::Cross][(i / (2 * n)) % 3];
    (COLORS[i % n], (i / n) % 2 == 1, marker)
}

/// Draw `style`'s line through `pts` and its markers at them.
fn draw_styled<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    pts: &[(f64, f64)],
    (c, dashed, marker): (RGBColor, bool, Marker),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if dashed {
        chart.draw_series(DashedLineSeries::new(pts.to_vec(), 7, 4, c.stroke_width(2)))?;
    } else {
        chart.draw_series(LineSeries::new(pts.to_vec(), c.stroke_width(2)))?;
    }
    match marker {
        Marker::Circle => chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?,
        Marker::Triangle => {
            chart.draw_series(pts.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))?
        }
        Marker::Cross => {
            chart.draw_series(pts.iter().map(|&p| Cross::new(p, 4, c.stroke_width(2))))?
        }
    };
    Ok(())
}

/// Width of the legend panel beside the plot: legends never sit on the data.
const LEGEND_W: u32 = 190;
const SIZE: (u32, u32) = (760, 440);

/// Render `series` as an SVG line chart (points with 95% interval bars), its legend in a
/// panel on the right. A linear x axis whose points are all whole numbers (bins, revision
/// steps) gets one tick per whole number, labelled without decimals.
pub fn line_chart(axes: &Axes<'_>, series: &[Series]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_W);
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
        let whole = !axes.log2_x && xs.iter().all(|x| x.fract() == 0.0) && x1 - x0 <= 24.0;
        let pad = if whole { 0.3 } else { (x1 - x0) * 0.03 };
        let mut chart = build(&plot, axes, (x0 - pad)..(x1 + pad))?;
        let log2 = axes.log2_x;
        // One tick per power of two (log2) or per whole number.
        let ticks = if log2 || whole {
            (x1 - x0).round() as usize + 1
        } else {
            8
        };
        let x_label = |v: &f64| {
            if log2 && 2f64.powf(*v) >= 1e5 {
                format!("{:.1e}", 2f64.powf(*v))
            } else if log2 {
                format!("{}", 2f64.powf(*v).round())
            } else if whole {
                // Ticks between whole numbers stay blank.
                if (v - v.round()).abs() < 1e-6 {
                    format!("{}", v.round())
                } else {
                    String::new()
                }
            } else {
                format!("{v:.2}")
            }
        };
        draw_mesh(&mut chart, axes, ticks, &x_label, true)?;
        // Series with intervals are dodged sideways a little so their bars do not overlap.
        let m = series.len() as f64;
        for (i, s) in series.iter().enumerate() {
            let style = series_style(i);
            let c = style.0;
            let dodge = if s.intervals.is_empty() {
                0.0
            } else {
                (x1 - x0) * 0.008 * (i as f64 - (m - 1.0) / 2.0)
            };
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (tx(x) + dodge, y)).collect();
            draw_styled(&mut chart, &pts, style)?;
            for (&(x, _), &(lo, hi)) in pts.iter().zip(&s.intervals) {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, lo), (x, hi)],
                    c.stroke_width(1),
                )))?;
            }
        }
        draw_legend(&legend_area, series.iter().map(|s| s.label.as_str()), false)?;
        root.present()?;
    }
    Ok(svg)
}

/// Render `series` as grouped bars, one group per category (`series[i].points[j]` is
/// category `points[j].0` as an index into `categories`), whiskers at the 95% intervals —
/// the paper's figures of strategies per difficulty bin.
pub fn grouped_bars(axes: &Axes<'_>, categories: &[String], series: &[Series]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_W);
        let k = categories.len().max(1) as f64;
        let mut chart = build(&plot, axes, -0.5..(k - 0.5))?;
        let x_label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        draw_mesh(&mut chart, axes, categories.len() + 1, &x_label, false)?;
        let m = series.len().max(1) as f64;
        let w = 0.8 / m;
        for (i, s) in series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let left = |x: f64| x - 0.4 + w * i as f64;
            chart.draw_series(s.points.iter().map(|&(x, y)| {
                Rectangle::new(
                    [(left(x) + 0.1 * w, axes.y_range.0), (left(x) + 0.9 * w, y)],
                    c.filled(),
                )
            }))?;
            for (&(x, _), &(lo, hi)) in s.points.iter().zip(&s.intervals) {
                let mid = left(x) + 0.5 * w;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(mid, lo), (mid, hi)],
                    BLACK.stroke_width(1),
                )))?;
            }
        }
        draw_legend(&legend_area, series.iter().map(|s| s.label.as_str()), true)?;
        root.present()?;
    }
    Ok(svg)
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart on `area` with the figure's title, `x` as its x range and the axes' y range.
fn build<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    axes: &Axes<'_>,
    x: std::ops::Range<f64>,
) -> Result<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    Ok(ChartBuilder::on(area)
        .caption(axes.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(x, axes.y_range.0..axes.y_range.1)?)
}

/// Axes, labels and a light major grid (no minor grid; no vertical lines unless `x_grid`).
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    axes: &Axes<'_>,
    x_ticks: usize,
    x_label: &dyn Fn(&f64) -> String,
    x_grid: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut mesh = chart.configure_mesh();
    if !x_grid {
        mesh.disable_x_mesh();
    }
    mesh.x_labels(x_ticks)
        .y_labels(6)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_label_formatter(x_label)
        .draw()?;
    Ok(())
}

/// Series over whole-number x values (difficulty bins) as categories for [`grouped_bars`]:
/// each point's x becomes the index of its value among all the series' values, and the
/// categories are named `"{prefix}{value}"`.
pub fn as_categories(series: &mut [Series], prefix: &str) -> Vec<String> {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for s in series.iter_mut() {
        for p in &mut s.points {
            p.0 = xs.iter().position(|&x| x == p.0).unwrap_or(0) as f64;
        }
    }
    xs.iter().map(|x| format!("{prefix}{x}")).collect()
}

/// The legend panel: a swatch (a line, or a box for bars) and each series' label.
fn draw_legend<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: impl Iterator<Item = &'a str>,
    boxes: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    for (i, label) in labels.enumerate() {
        let (c, dashed, marker) = series_style(i);
        let y = 60 + 22 * i as i32;
        if boxes {
            area.draw(&Rectangle::new([(4, y - 6), (22, y + 6)], c.filled()))?;
        } else {
            if dashed {
                area.draw(&PathElement::new(vec![(2, y), (9, y)], c.stroke_width(2)))?;
                area.draw(&PathElement::new(vec![(16, y), (23, y)], c.stroke_width(2)))?;
            } else {
                area.draw(&PathElement::new(vec![(2, y), (23, y)], c.stroke_width(2)))?;
            }
            match marker {
                Marker::Circle => area.draw(&Circle::new((12, y), 3, c.filled()))?,
                Marker::Triangle => area.draw(&TriangleMarker::new((12, y), 5, c.filled()))?,
                Marker::Cross => area.draw(&Cross::new((12, y), 4, c.stroke_width(2)))?,
            }
        }
        area.draw(&Text::new(label.to_string(), (28, y - 7), style.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_of_48_series_are_drawn_alike() {
        let styles: Vec<_> = (0..48).map(series_style).collect();
        for i in 0..styles.len() {
            for j in 0..i {
                assert_ne!(styles[i], styles[j], "series {i} and {j}");
            }
        }
        // Nine series (the default report's count once): the ninth is dashed.
        assert!(!styles[0].1 && styles[8].1 && styles[8].0 == styles[0].0);
    }

    /// The texts of an SVG's `<text>` elements.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1))
            .map(|t| t.split('<').next().unwrap_or("").trim())
            .collect()
    }

    fn bins_series(label: &str) -> Series {
        Series {
            label: label.into(),
            points: (0..5)
                .map(|b| (f64::from(b), 0.9 - 0.2 * f64::from(b)))
                .collect(),
            intervals: (0..5)
                .map(|b| (0.85 - 0.2 * f64::from(b), 0.95 - 0.2 * f64::from(b)))
                .collect(),
        }
    }

    #[test]
    fn whole_number_axes_are_labelled_without_decimals() {
        let mut s = bins_series("beam");
        s.points.iter_mut().for_each(|p| p.0 += 1.0);
        let axes = Axes {
            title: "by bin",
            x: "oracle bin",
            y: "accuracy",
            log2_x: false,
            y_range: (0.0, 1.0),
        };
        let svg = line_chart(&axes, &[s]).unwrap();
        let t = texts(&svg);
        for b in ["1", "2", "3", "4", "5", "beam"] {
            assert!(t.contains(&b), "missing {b} in {t:?}");
        }
        assert!(!t.iter().any(|x| x.contains(".00") || *x == "1.5"), "{t:?}");
    }

    #[test]
    fn grouped_bars_label_each_category_and_series() {
        let cats: Vec<String> = (1..=5).map(|b| format!("bin {b}")).collect();
        let axes = Axes {
            title: "strategies by bin",
            x: "oracle bin",
            y: "accuracy",
            log2_x: false,
            y_range: (0.0, 1.0),
        };
        let svg = grouped_bars(&axes, &cats, &[bins_series("beam"), bins_series("dvts")]).unwrap();
        let t = texts(&svg);
        for c in cats
            .iter()
            .map(String::as_str)
            .chain(["beam", "dvts", "strategies by bin"])
        {
            assert!(t.contains(&c), "missing {c} in {t:?}");
        }
        // 2 series × 5 bins bars (plus the legend's 2 swatches and the background).
        assert_eq!(svg.matches("<rect").count(), 10 + 2 + 1, "{svg}");
    }

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
        let texts = texts(&svg);
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
