//! The report's PRM section: step AUROC, first-error F1 and calibration.

use anyhow::Result;
use ttc_train::prm::CalibrationBin;

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, Series, line_chart};
use crate::stage::Ctx;

/// Appends the section to `b` (its numbers feed no finding yet).
pub fn prm(ctx: &Ctx, b: &mut Vec<Block>, _findings: &mut Vec<Vec<String>>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    // PRM.
    b.push(Block::Heading("Process reward model".into()));
    let pe = base.join("prm").join("prm_eval.json");
    if pe.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&pe)?)?;
        let num = |x: &serde_json::Value| x.as_f64().map_or("–".into(), |x| format!("{x:.3}"));
        b.push(Block::Table {
            header: vec!["metric".into(), "value".into()],
            rows: vec![
                vec![
                    "step AUROC vs MC labels (held-out)".into(),
                    num(&v["step_auroc_vs_mc"]),
                ],
                vec![
                    "step AUROC vs true verdicts (test)".into(),
                    num(&v["test_step_auroc_vs_true"]),
                ],
                vec!["first-error F1".into(), num(&v["first_error"]["f1"])],
            ],
        });
        let cal: Vec<CalibrationBin> =
            read_if_present(&base.join("prm").join("calibration_mc.parquet"))?;
        if !cal.is_empty() {
            let pts: Vec<(f64, f64)> = cal
                .iter()
                .filter(|r| r.n > 0)
                .map(|r| (r.mean_score, r.mean_target))
                .collect();
            let diag = Series {
                label: "ideal".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                intervals: vec![],
            };
            let cal = Series {
                label: "PRM".into(),
                points: pts,
                intervals: vec![],
            };
            b.push(Block::Figure {
                file: "prm_calibration.svg".into(),
                svg: line_chart(
                    &Axes {
                        title: "PRM calibration (held-out steps)",
                        x: "mean PRM score",
                        y: "mean MC label",
                        log2_x: false,
                        y_range: (0.0, 1.0),
                    },
                    &[cal, diag],
                )?,
                caption: "PRM step scores against Monte Carlo labels, in score deciles".into(),
            });
        }
    } else {
        missing(b, "PRM evaluation", &format!("ttc eval prm --preset {p}"));
    }

    Ok(())
}
