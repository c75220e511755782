//! The report's search sections: accuracy vs budget per strategy, and per difficulty bin.

use std::collections::BTreeMap;

use anyhow::Result;
use ttc_data::rows::{BinRow, SweepRow};
use ttc_eval::paired::Verdict;

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, as_categories, grouped_bars, line_chart};
use crate::preset::LIKELIHOOD_SUFFIX as LIKELIHOOD;
use crate::run::stage::Ctx;

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
            caption: format!(
                "Test accuracy of each search strategy against the budget N in generations, {} questions (bars: Wilson 95% intervals over questions × seeds)",
                question_count(&sweep)
            ),
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
        // Which strategies and budgets exist is read from the sweep: each claim is checked
        // at the largest budget where every strategy it compares was run.
        let largest_common = |names: &[&str]| {
            ns.iter()
                .rev()
                .copied()
                .find(|&n| names.iter().all(|s| get(s, n).is_some()))
        };
        // Each claim is decided on a paired bootstrap interval over questions.
        let seed = ctx.preset.analysis.bootstrap_seed;
        let claim = |a: &str, b: &str, n: u32, words: [&str; 3]| -> (String, String) {
            let (pa, pb) = (get(a, n).unwrap_or(f64::NAN), get(b, n).unwrap_or(f64::NAN));
            match ttc_eval::paired::compare(&sweep, a, b, n, seed) {
                Some(p) => {
                    let w = match p.verdict() {
                        Verdict::Ahead => words[0],
                        Verdict::Behind => words[1],
                        Verdict::NotSignificant => words[2],
                    };
                    (
                        w.into(),
                        format!("{} vs {}: {}", pct(pa), pct(pb), p.describe()),
                    )
                }
                None => ("–".into(), "no question ran both".into()),
            }
        };
        const CLAIM: [&str; 3] = ["holds", "does not hold", "not significant"];
        // The paper's selection claims for each verifier the sweep selected with: the PRM,
        // and the likelihood (`-likelihood` strategies) when `eval prm` scored with one.
        let who = crate::preset::likelihood_name(ctx.preset.verifier.is_some());
        for (suffix, weighted_by, over) in [
            ("", "PRM-weighted best-of-N".to_string(), String::new()),
            (
                LIKELIHOOD,
                format!("best-of-N weighted by {who}"),
                format!(" (by {who})"),
            ),
        ] {
            let (w, bon) = (format!("weighted-bon{suffix}"), format!("bon{suffix}"));
            let Some(n_top) = largest_common(&[&w, &bon, "majority"]) else {
                continue;
            };
            let (v, d) = claim(&w, &bon, n_top, CLAIM);
            findings.push(vec![
                format!("weighted best-of-N beats vanilla best-of-N{over} (N={n_top})"),
                v,
                d,
            ]);
            // Against majority at every budget from 16 up (the paper's regime), else the top.
            let mut vs_majority: Vec<u32> = ns
                .iter()
                .copied()
                .filter(|&n| n >= 16 && get(&w, n).is_some() && get("majority", n).is_some())
                .collect();
            if vs_majority.is_empty() {
                vs_majority.push(n_top);
            }
            for n in vs_majority {
                let (v, d) = claim(&w, "majority", n, CLAIM);
                findings.push(vec![
                    format!("{weighted_by} beats majority voting (N={n})"),
                    v,
                    d,
                ]);
            }
        }
        // Each beam search against weighted best-of-N under its own verifier.
        for beam in by_s.keys().filter(|s| s.starts_with("beam")) {
            let own = format!("weighted-bon{LIKELIHOOD}");
            let base = if beam.ends_with(LIKELIHOOD) && by_s.contains_key(own.as_str()) {
                own.as_str()
            } else {
                "weighted-bon"
            };
            let Some(n) = largest_common(&[beam, base]) else {
                continue;
            };
            let words = ["beam better", "best-of-N better", "not significant"];
            let (v, d) = claim(beam, base, n, words);
            let vs = if base == "weighted-bon" {
                format!("PRM-weighted best-of-{n}")
            } else {
                format!("best-of-{n} weighted by {who}")
            };
            findings.push(vec![format!("{beam} vs {vs}"), v, d]);
        }
        super::newer_strategies::accuracy_vs_flops(&sweep, b)?;
        super::newer_strategies::newer_strategies(&sweep, seed, b, findings);
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
        // The budget most strategies were run at (the larger on a tie).
        let mut strategies_at: BTreeMap<u32, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for r in &sweep {
            strategies_at
                .entry(r.n)
                .or_default()
                .insert(r.strategy.as_str());
        }
        let n_bins = strategies_at
            .iter()
            .max_by_key(|(n, s)| (s.len(), **n))
            .map_or(1, |(n, _)| *n);
        let mut per: Counts = BTreeMap::new();
        for r in sweep.iter().filter(|r| r.n == n_bins) {
            if let Some(&bin) = bin_of.get(r.question_id.as_str()) {
                let e = per.entry((r.strategy.clone(), u32::from(bin))).or_default();
                e.0 += u64::from(r.correct);
                e.1 += 1;
            }
        }
        // Grouped bars, one group per bin (the paper's figures).
        let mut series = series_of(&per);
        let cats = as_categories(&mut series, "bin ");
        let binned_questions = sweep
            .iter()
            .filter(|r| r.n == n_bins && bin_of.contains_key(r.question_id.as_str()))
            .map(|r| r.question_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        b.push(Block::Figure {
            file: "strategies_by_bin.svg".into(),
            svg: grouped_bars(
                &Axes {
                    title: &format!("Strategies by oracle difficulty bin (N={n_bins})"),
                    x: "oracle difficulty bin (1 = easiest)",
                    y: "accuracy",
                    log2_x: false,
                    y_range: (0.0, 1.0),
                },
                &cats,
                &series,
            )?,
            caption: format!(
                "Accuracy at N={n_bins} generations (the budget most strategies ran at) per oracle difficulty bin (quintiles of pass@1 over the test samples), {binned_questions} questions (whiskers: Wilson 95% intervals)"
            ),
        });
        super::beam_vs_bon::beam_vs_bon(
            &sweep,
            &bin_of,
            crate::preset::likelihood_name(ctx.preset.verifier.is_some()),
            ctx.preset.analysis.bootstrap_seed,
            b,
            findings,
        );
    } else {
        missing(b, "Difficulty bins", &format!("ttc eval bins --preset {p}"));
    }

    Ok(())
}

/// How many distinct questions `rows` cover.
pub fn question_count(rows: &[SweepRow]) -> usize {
    rows.iter()
        .map(|r| r.question_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}
