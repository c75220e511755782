//! The report's compute-optimal section: two-fold CV compute-optimal selection vs
//! weighted best-of-N, and its efficiency.

use anyhow::Result;
use ttc_data::rows::{CsvRow, EfficiencyRow};

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, Series, line_chart};
use crate::stage::Ctx;

/// Appends the section to `b` and its checks of the paper's claims to `findings`.
pub fn compute_optimal(
    ctx: &Ctx,
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    // Compute-optimal.
    b.push(Block::Heading("Compute-optimal scaling".into()));
    let rows: Vec<EfficiencyRow> =
        read_if_present(&base.join("compute_optimal").join("efficiency.parquet"))?;
    match (!rows.is_empty()).then_some(rows) {
        Some(rows) => {
            let mut series = Vec::new();
            for kind in ["oracle", "predicted"] {
                let pts: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.bins == kind)
                    .map(|r| (f64::from(r.n), r.compute_optimal))
                    .collect();
                series.push(Series {
                    label: format!("compute-optimal ({kind} bins)"),
                    points: pts,
                    intervals: vec![],
                });
            }
            let bon: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.bins == "oracle")
                .map(|r| (f64::from(r.n), r.baseline.unwrap_or(f64::NAN)))
                .collect();
            series.push(Series {
                label: "weighted best-of-N".into(),
                points: bon,
                intervals: vec![],
            });
            let ymax = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(0.0, f64::max);
            b.push(Block::Figure {
                file: "compute_optimal.svg".into(),
                svg: line_chart(
                    &Axes { title: "Compute-optimal vs best-of-N", x: "generations N (log2)", y: "accuracy", log2_x: true, y_range: (0.0, (ymax * 1.2).clamp(0.05, 1.0)) },
                    &series,
                )?,
                caption: "Two-fold cross-validated compute-optimal selection per bin vs weighted best-of-N".into(),
            });
            b.push(Block::Table {
                header: efficiency_header("weighted BoN"),
                rows: rows.iter().map(CsvRow::fields).collect(),
            });
            if let Some(r) = rows.iter().rfind(|r| r.bins == "oracle") {
                let ratio = r.fields()[5].clone();
                findings.push(vec![
                    format!(
                        "compute-optimal is more efficient than best-of-N (paper ≈4×), at N={}",
                        r.n
                    ),
                    (if r.efficiency.is_some_and(|e| e >= 2.0) {
                        "holds"
                    } else {
                        "does not hold"
                    })
                    .into(),
                    format!("N/N' = {}", if ratio.is_empty() { "–" } else { &ratio }),
                ]);
            }
        }
        None => missing(
            b,
            "Compute-optimal",
            &format!("ttc eval compute-optimal --preset {p}"),
        ),
    }

    Ok(())
}
