//! The report's revisions section: pass@1 per revision step, right→wrong rates, the paired
//! step-4-vs-step-0 claim and selection over chains.

use anyhow::Result;
use ttc_data::rows::{CsvRow, RevisionSelectionRow};

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, Series, line_chart};
use crate::run::stage::Ctx;

/// Appends the section to `b` and its checks of the paper's claims to `findings`.
pub fn revisions(ctx: &Ctx, b: &mut Vec<Block>, findings: &mut Vec<Vec<String>>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    // Revisions.
    b.push(Block::Heading("Revisions".into()));
    let stats = ctx.layout.chains_dir("test").join("stats.json");
    if stats.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
        let p1: Vec<f64> = v["pass_at_1"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        b.push(Block::Figure {
            file: "revision_pass_at_1.svg".into(),
            svg: line_chart(
                &Axes {
                    title: "Revision pass@1 per step",
                    x: "revision step",
                    y: "pass@1",
                    log2_x: false,
                    y_range: (
                        0.0,
                        (p1.iter().cloned().fold(0.0, f64::max) * 1.3).clamp(0.05, 1.0),
                    ),
                },
                &[Series {
                    label: "revision model".into(),
                    points: p1.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect(),
                    intervals: vec![],
                }],
            )?,
            caption: "Pass@1 at each revision step (mean over chains)".into(),
        });
        let rw = v["right_to_wrong"].as_f64().unwrap_or(f64::NAN);
        b.push(Block::Para(format!(
            "Right answers revised into wrong ones: {} of {} transitions; wrong into right: {}.",
            pct(rw),
            v["transitions_from_right"],
            pct(v["wrong_to_right"].as_f64().unwrap_or(f64::NAN))
        )));
        if p1.len() > 4 {
            // Judged on the paired difference over questions (95% interval), not on the two
            // point estimates: a point or two either way is noise on 100 questions.
            let cf = stats.with_file_name("chains.parquet");
            let rows: Vec<ttc_data::rows::ChainRow> = if cf.exists() {
                ttc_core::table::read_parquet(&cf)?
            } else {
                Vec::new()
            };
            let (verdict, detail) = match ttc_data::revision::paired_step_gain(&rows, 0, 4) {
                Some((d, se, n)) => {
                    let (lo, hi) = (d - 1.96 * se, d + 1.96 * se);
                    let verdict = if lo > 0.0 {
                        "holds"
                    } else if hi < 0.0 {
                        "does not hold"
                    } else {
                        "not significant"
                    };
                    let detail = format!(
                        "{} vs {}; paired difference {:+.1} points, 95% [{:+.1}, {:+.1}], {n} questions",
                        pct(p1[4]),
                        pct(p1[0]),
                        100.0 * d,
                        100.0 * lo,
                        100.0 * hi
                    );
                    (verdict, detail)
                }
                None => (
                    if p1[4] > p1[0] {
                        "holds"
                    } else {
                        "does not hold"
                    },
                    format!("{} vs {}", pct(p1[4]), pct(p1[0])),
                ),
            };
            findings.push(vec![
                "revisions improve pass@1 (step 4 vs step 0)".into(),
                verdict.into(),
                detail,
            ]);
            let bins: Vec<ttc_data::rows::BinRow> =
                read_if_present(&base.join("bins").join("bins.parquet"))?;
            super::revision_bins::revision_gain_by_bin(&rows, &bins, b, findings);
            super::revision_bins::revision_drift_by_bin(
                &rows,
                &bins,
                ctx.preset.analysis.bootstrap_seed,
                b,
                findings,
            );
        }
        findings.push(vec![
            "share of right answers revised to wrong (paper ≈38%)".into(),
            "measured".into(),
            pct(rw),
        ]);
        // Selection within and across chains, under the ORM and (where the run has one)
        // the PRM.
        for (sfx, who) in [("", "ORM"), ("_prm", "PRM")] {
            let selection: Vec<RevisionSelectionRow> = read_if_present(
                &base
                    .join("revisions")
                    .join(format!("selection{sfx}.parquet")),
            )?;
            if selection.is_empty() {
                continue;
            }
            let rows = selection.iter().map(CsvRow::fields).collect();
            b.push(Block::Table {
                header: [
                    "chain length",
                    "last",
                    "majority",
                    &format!("{who}-weighted"),
                    &format!("hierarchical ({who})"),
                    "flat majority",
                    "chains",
                    "questions",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            });
        }
    } else {
        missing(b, "Revision chains", &format!("ttc revise --preset {p}"));
    }

    Ok(())
}
