//! The report's sequential-vs-parallel section (Snell et al. §6.2): accuracy vs budget per
//! chain length, the compute-optimal ratio per oracle bin, its efficiency against parallel
//! sampling.

use anyhow::Result;
use ttc_data::rows::{
    ComputeOptimalRow, CsvRow, EfficiencyRow, RatioAccuracyRow, SplitAccuracyRow,
};

use super::cells::{efficiency_header, read_if_present};
use super::doc::Block;
use super::figures::{Axes, Series, as_categories, grouped_bars, line_chart};
use crate::run::stage::Ctx;

/// The report's sequential-vs-parallel part: accuracy vs budget per chain length, the
/// compute-optimal ratio per oracle bin, its efficiency against parallel sampling.
pub fn revision_ratios(
    ctx: &Ctx,
    blocks: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) -> Result<()> {
    // Under the ORM (trained on revision chains) and the PRM (each attempt on its own).
    for (sfx, who) in [("", "ORM"), ("_prm", "PRM")] {
        under_selector(ctx, blocks, findings, sfx, who)?;
    }
    Ok(())
}

/// The part for one selector: its files carry `sfx`, its figures and findings name `who`.
fn under_selector(
    ctx: &Ctx,
    blocks: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
    sfx: &str,
    who: &str,
) -> Result<()> {
    let base = ctx.layout.report_dir();
    let ratios: Vec<RatioAccuracyRow> = read_if_present(
        &base
            .join("revisions")
            .join(format!("ratio_accuracy{sfx}.parquet")),
    )?;
    if ratios.is_empty() {
        return Ok(());
    }
    blocks.push(Block::Para(format!(
        "Selected by the {who}{}:",
        if who == "PRM" {
            " (each attempt judged on its own, as the PRM judges any solution)"
        } else {
            " (trained on revision chains, the previous attempts in context)"
        }
    )));
    let mut by_s: std::collections::BTreeMap<u32, Series> = Default::default();
    for r in &ratios {
        let s = r.sequential;
        let e = by_s.entry(s).or_insert_with(|| Series {
            label: if s == 1 {
                "1 attempt per chain (parallel)".into()
            } else {
                format!("{s} attempts per chain")
            },
            points: vec![],
            intervals: vec![],
        });
        e.points.push((f64::from(r.n), r.accuracy));
        e.intervals.push((r.lo95, r.hi95));
    }
    blocks.push(Block::Figure {
        file: format!("sequential_vs_parallel{sfx}.svg"),
        svg: line_chart(
            &Axes {
                title: &format!("Sequential vs parallel revisions ({who})"),
                x: "generations N = attempts × chains (log2)",
                y: "accuracy",
                log2_x: true,
                y_range: (0.0, 1.0),
            },
            &by_s.into_values().collect::<Vec<_>>(),
        )?,
        caption: format!(
            "Hierarchical {who} selection over p chains of s revisions each (s·p = N); 95% intervals"
        ),
    });
    blocks.push(Block::Table {
        header: [
            "N",
            "sequential",
            "parallel",
            "accuracy",
            "lo95",
            "hi95",
            "questions",
        ]
        .map(String::from)
        .to_vec(),
        rows: ratios.iter().map(CsvRow::fields).collect(),
    });
    let co = base.join("compute_optimal");
    let per_bin: Vec<ComputeOptimalRow> =
        read_if_present(&co.join(format!("revisions{sfx}_per_bin.parquet")))?;
    // The finding is read at the largest budget with a real choice: at a budget only one
    // split reaches (e.g. 8×4 with 4 chains of 9 attempts) every bin "chooses" it.
    let mut splits: std::collections::BTreeMap<u32, usize> = Default::default();
    for r in &ratios {
        *splits.entry(r.n).or_default() += 1;
    }
    let choice_n = splits.iter().rev().find(|(_, c)| **c > 1).map(|(n, _)| *n);
    if !per_bin.is_empty() {
        if let Some(max_n) = choice_n {
            let at_max: Vec<&ComputeOptimalRow> = per_bin
                .iter()
                .filter(|r| r.bins == "oracle" && r.budget == max_n)
                .collect();
            findings.push(vec![
            format!("the best sequential:parallel ratio depends on difficulty (easy bins: more sequential; {who} selection)"),
            "measured".into(),
            format!(
                "at N={max_n} ({} splits), chosen per oracle bin (fold 0/fold 1): {}",
                splits[&max_n],
                at_max
                    .iter()
                    .map(|r| format!("bin {} {}/{}", r.bin, r.chosen_fold0, r.chosen_fold1))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ]);
            let split_rows: Vec<SplitAccuracyRow> =
                read_if_present(&co.join(format!("revisions{sfx}_by_bin.parquet")))?;
            let mut series: std::collections::BTreeMap<String, Series> = Default::default();
            for r in split_rows
                .iter()
                .filter(|r| r.bins == "oracle" && r.n == max_n)
            {
                series
                    .entry(r.split.clone())
                    .or_insert_with(|| Series {
                        label: format!("{} (sequential:parallel)", r.split),
                        points: vec![],
                        intervals: vec![],
                    })
                    .points
                    .push((f64::from(r.bin), r.accuracy));
            }
            if !series.is_empty() {
                let mut series = series.into_values().collect::<Vec<_>>();
                let cats = as_categories(&mut series, "bin ");
                blocks.push(Block::Figure {
                file: format!("ratio_by_bin{sfx}.svg"),
                svg: grouped_bars(
                    &Axes {
                        title: "Sequential:parallel splits per difficulty bin",
                        x: "oracle difficulty bin (1 = easiest)",
                        y: "accuracy",
                        log2_x: false,
                        y_range: (0.0, 1.0),
                    },
                    &cats,
                    &series,
                )?,
                caption: format!(
                    "Accuracy of each sequential:parallel split at N={max_n} per oracle bin (hierarchical {who} selection); the best split per bin is the compute-optimal ratio"
                ),
            });
            }
        }
        blocks.push(Block::Para(
            format!("Compute-optimal ratio per difficulty bin under the {who} (two-fold CV; the ratio chosen on each half):"),
        ));
        blocks.push(Block::Table {
            header: [
                "bins",
                "verifier",
                "bin",
                "N",
                "accuracy",
                "questions",
                "chosen (fold 0)",
                "chosen (fold 1)",
                "lo95",
                "hi95",
            ]
            .map(String::from)
            .to_vec(),
            rows: per_bin.iter().map(CsvRow::fields).collect(),
        });
    }
    // Against parallel-only revisions, per bin, paired.
    let per_question: Vec<ttc_data::rows::RatioRow> =
        read_if_present(&base.join("revisions").join(format!("ratios{sfx}.parquet")))?;
    let bins: Vec<ttc_data::rows::BinRow> =
        read_if_present(&base.join("bins").join("bins.parquet"))?;
    super::ratio_vs_parallel::versus_parallel(
        &per_question,
        &bins,
        ctx.preset.analysis.bootstrap_seed,
        who,
        blocks,
        findings,
    );
    let eff: Vec<EfficiencyRow> =
        read_if_present(&co.join(format!("revisions{sfx}_efficiency.parquet")))?;
    if !eff.is_empty() {
        blocks.push(Block::Table {
            header: efficiency_header("parallel (1:N)"),
            rows: eff.iter().map(CsvRow::fields).collect(),
        });
    }
    Ok(())
}
