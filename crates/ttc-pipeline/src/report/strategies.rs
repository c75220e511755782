//! The report's search sections: accuracy vs budget per strategy, and per difficulty bin.

use std::collections::BTreeMap;

use anyhow::Result;
use ttc_data::rows::{BinRow, SweepRow};

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, line_chart};
use crate::stage::Ctx;

/// Appends the section to `b` and its checks of the paper's claims to `findings`.
pub fn strategies(ctx: &Ctx, b: &mut Vec<Block>, findings: &mut Vec<Vec<String>>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    // Accuracy vs budget.
    b.push(Block::Heading("Accuracy vs test-time budget".into()));
    let sf = base.join("sweep").join("rows.parquet");
    let mut at: Counts = BTreeMap::new();
    let sweep: Vec<SweepRow> = if sf.exists() {
        ttc_core::table::read_parquet(&sf)?
    } else {
        Vec::new()
    };
    for r in &sweep {
        let e = at.entry((r.strategy.clone(), r.n)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
    }
    if at.is_empty() {
        missing(b, "Budget sweep", &format!("ttc eval sweep --preset {p}"));
    } else {
        let by_s = group(&at);
        let series = series_of(&at);
        let ymax = series
            .iter()
            .flat_map(|s| s.intervals.iter().map(|i| i.1))
            .fold(0.0, f64::max);
        b.push(Block::Figure {
            file: "accuracy_vs_budget.svg".into(),
            svg: line_chart(
                &Axes { title: "Accuracy vs budget", x: "generations N (log2)", y: "accuracy", log2_x: true, y_range: (0.0, (ymax * 1.1).clamp(0.05, 1.0)) },
                &series,
            )?,
            caption: "Test accuracy of each search strategy against the generation budget (bars: 95% intervals)".into(),
        });
        let ns: Vec<u32> = at
            .keys()
            .map(|k| k.1)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut header = vec!["strategy".to_string()];
        header.extend(ns.iter().map(|n| format!("N={n}")));
        let rows = by_s
            .iter()
            .map(|(s, v)| {
                let mut r = vec![s.to_string()];
                for n in &ns {
                    r.push(
                        v.iter()
                            .find(|x| x.0 == *n)
                            .map_or("".into(), |&(_, k, t)| acc_cell(k, t)),
                    );
                }
                r
            })
            .collect();
        b.push(Block::Table { header, rows });
        let get = |s: &str, n: u32| {
            at.get(&(s.to_string(), n))
                .map(|&(k, t)| k as f64 / t as f64)
        };
        let n_top = ns.iter().copied().filter(|&n| n <= 16).max().unwrap_or(1);
        if let (Some(w), Some(v), Some(m)) = (
            get("weighted-bon", n_top),
            get("bon", n_top),
            get("majority", n_top),
        ) {
            findings.push(vec![
                format!("weighted best-of-N beats vanilla best-of-N (N={n_top})"),
                (if w > v { "holds" } else { "does not hold" }).into(),
                format!("{} vs {}", pct(w), pct(v)),
            ]);
            findings.push(vec![
                format!("PRM-weighted best-of-N beats majority voting (N={n_top})"),
                (if w > m { "holds" } else { "does not hold" }).into(),
                format!("{} vs {}", pct(w), pct(m)),
            ]);
        }
        if let (Some(beam), Some(w)) = (get("beam-m4", 16), get("weighted-bon", 16)) {
            findings.push(vec![
                "beam search (M=4) vs weighted best-of-16".into(),
                (if beam > w {
                    "beam better"
                } else {
                    "best-of-N better"
                })
                .into(),
                format!("{} vs {}", pct(beam), pct(w)),
            ]);
        }
    }

    // Difficulty bins.
    b.push(Block::Heading("Difficulty bins".into()));
    let bf = base.join("bins").join("bins.parquet");
    if bf.exists() && !sweep.is_empty() {
        let bins: Vec<BinRow> = ttc_core::table::read_parquet(&bf)?;
        let bin_of: BTreeMap<&str, u8> = bins
            .iter()
            .map(|r| (r.question_id.as_str(), r.oracle_bin))
            .collect();
        let mut per: Counts = BTreeMap::new();
        for r in sweep.iter().filter(|r| r.n == 16) {
            if let Some(&bin) = bin_of.get(r.question_id.as_str()) {
                let e = per.entry((r.strategy.clone(), u32::from(bin))).or_default();
                e.0 += u64::from(r.correct);
                e.1 += 1;
            }
        }
        let series = series_of(&per);
        b.push(Block::Figure {
            file: "strategies_by_bin.svg".into(),
            svg: line_chart(
                &Axes {
                    title: "Strategies by oracle difficulty bin (N=16)",
                    x: "oracle bin (1 = easiest)",
                    y: "accuracy",
                    log2_x: false,
                    y_range: (0.0, 1.0),
                },
                &series,
            )?,
            caption: "Accuracy at N=16 per oracle difficulty bin (quantiles of pass@1)".into(),
        });
    } else {
        missing(b, "Difficulty bins", &format!("ttc eval bins --preset {p}"));
    }

    Ok(())
}
