//! The report's reward-hacking table: per selection strategy, at its largest budget, the
//! share of picks that hold a wrong step (the step checker's truth) which the verifier
//! guiding the strategy scored above 0.5 — a step it was fooled by, not merely a wrong
//! final answer.

use std::collections::BTreeMap;

use anyhow::Result;
use ttc_data::rows::SearchRow;

use super::cells::{acc_cell, read_if_present};
use super::doc::Block;
use crate::run::stage::Ctx;

/// One row: the strategy, its verifier, N, judged picks, picks with a wrong step, fooled.
struct Row {
    strategy: String,
    verifier: &'static str,
    n: u64,
    judged: u64,
    wrong: Option<u64>,
    fooled: u64,
}

/// Whether a judged pick fooled its verifier: a wrong step scored above 0.5, the
/// likelihood's scores calibrated first (`calibrate`; `None`: no calibration, so no
/// verdict for a likelihood). Rows written before the scores were kept fall back to the
/// search's own verdict where that was on the PRM's probabilities.
fn fooled(r: &SearchRow, likelihood: bool, calibrate: Option<&dyn Fn(f32) -> f32>) -> Option<bool> {
    r.picked_wrong_step?;
    if r.picked_step_scores.is_empty() {
        return if likelihood { None } else { r.picked_fooled };
    }
    let scores: Vec<f32> = match (likelihood, calibrate) {
        (false, _) => r.picked_step_scores.clone(),
        (true, Some(c)) => r.picked_step_scores.iter().map(|&p| c(p)).collect(),
        (true, None) => return None,
    };
    Some(ttc_eval::reward_hacking::fooled_at(
        r.picked_first_error.map(|f| f as usize),
        &scores,
    ))
}

/// The largest budget of each search family (a label without its `-n{N}`) whose picks the
/// step checker judged.
fn search_rows(
    rows_of: &[(String, Vec<SearchRow>)],
    calibrate: Option<&dyn Fn(f32) -> f32>,
) -> Vec<Row> {
    let mut best: BTreeMap<String, Row> = BTreeMap::new();
    for (label, rows) in rows_of {
        let likelihood = label.ends_with(crate::preset::LIKELIHOOD_SUFFIX);
        let judged: Vec<(&SearchRow, bool)> = rows
            .iter()
            .filter_map(|r| fooled(r, likelihood, calibrate).map(|f| (r, f)))
            .collect();
        let Some(first) = judged.first() else {
            continue;
        };
        let n = u64::from(first.0.n);
        let family = label.replacen(&format!("-n{n}-"), "-", 1);
        let row = Row {
            strategy: label.clone(),
            verifier: if likelihood { "likelihood" } else { "PRM" },
            n,
            judged: judged.len() as u64,
            wrong: Some(
                judged
                    .iter()
                    .filter(|r| r.0.picked_wrong_step == Some(true))
                    .count() as u64,
            ),
            fooled: judged.iter().filter(|r| r.1).count() as u64,
        };
        if best.get(&family).is_none_or(|b| b.n < n) {
            best.insert(family, row);
        }
    }
    best.into_values().collect()
}

/// Best-of-N and weighted best-of-N over the test samples (`prm_eval.json`'s
/// `reward_hacking`, under the PRM and under the likelihood).
fn sample_rows(eval: &serde_json::Value) -> Vec<Row> {
    let mut out = Vec::new();
    for (v, verifier) in [
        (&eval["reward_hacking"], "PRM"),
        (&eval["policy_likelihood"]["reward_hacking"], "likelihood"),
    ] {
        let (Some(n), Some(q)) = (v["n"].as_u64(), v["questions"].as_u64()) else {
            continue;
        };
        for (key, name) in [
            ("best_of_n", "best-of-N"),
            ("weighted_best_of_n", "weighted best-of-N"),
        ] {
            if let Some(share) = v[key].as_f64() {
                out.push(Row {
                    strategy: format!("{name} (test samples)"),
                    verifier,
                    n,
                    judged: q,
                    wrong: None,
                    fooled: (share * q as f64).round() as u64,
                });
            }
        }
    }
    out
}

/// Appends the table where some pick was judged (arith; MATH has no step truth).
pub fn reward_hacking(ctx: &Ctx, searches: &[String], b: &mut Vec<Block>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let mut rows = Vec::new();
    // The likelihood's calibration on the held-out Monte Carlo labels (eval prm).
    let mut ab = None;
    if let Ok(bytes) = std::fs::read(base.join("prm").join("prm_eval.json")) {
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        rows.extend(sample_rows(&v));
        let c = &v["policy_likelihood"]["calibrated"];
        ab = c["a"].as_f64().zip(c["b"].as_f64());
    }
    let calibrate = ab
        .map(|(a, b)| move |p: f32| ttc_eval::logistic::sigmoid(a * f64::from(p).ln() + b) as f32);
    let mut results = Vec::new();
    for l in searches {
        let r: Vec<SearchRow> =
            read_if_present(&ctx.layout.search_dir().join(l).join("results.parquet"))?;
        results.push((l.clone(), r));
    }
    rows.extend(search_rows(
        &results,
        calibrate.as_ref().map(|c| c as &dyn Fn(f32) -> f32),
    ));
    if rows.is_empty() {
        return Ok(());
    }
    b.push(Block::Para(
        "Reward hacking per strategy, at its largest budget: the share of picks holding a wrong step (the step checker's truth) that the strategy's verifier scored above 0.5 (Wilson 95%; the likelihood calibrated on the held-out Monte Carlo labels first, as for its weighted vote). Searches run before the pick was judged are left out; rerun them to add them.".into(),
    ));
    b.push(Block::Table {
        header: [
            "strategy",
            "verifier",
            "N",
            "picks with a wrong step",
            "picks with a wrong step scored > 0.5",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.strategy.clone(),
                    r.verifier.to_string(),
                    r.n.to_string(),
                    r.wrong.map_or("–".into(), |w| {
                        super::cells::pct(w as f64 / r.judged as f64)
                    }),
                    acc_cell(r.fooled, r.judged),
                ]
            })
            .collect(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32, wrong: Option<bool>, fooled: Option<bool>) -> SearchRow {
        SearchRow {
            strategy: "beam-m4".into(),
            n,
            picked_wrong_step: wrong,
            picked_fooled: fooled,
            ..Default::default()
        }
    }

    #[test]
    fn a_likelihood_pick_is_judged_on_calibrated_scores() {
        // A wrong step from step 1 on; raw likelihoods 0.9, 0.7 (all above 0.5).
        let r = SearchRow {
            picked_wrong_step: Some(true),
            picked_fooled: Some(true),
            picked_first_error: Some(1),
            picked_step_scores: vec![0.9, 0.7],
            ..Default::default()
        };
        let strict = |p: f32| if p > 0.8 { 0.9 } else { 0.1 };
        assert_eq!(fooled(&r, true, Some(&strict)), Some(false));
        assert_eq!(fooled(&r, true, Some(&|p| p)), Some(true));
        assert_eq!(fooled(&r, true, None), None);
        assert_eq!(fooled(&r, false, None), Some(true));
        // Written before the scores were kept: a likelihood pick has no verdict.
        let old = row(4, Some(true), Some(true));
        assert_eq!(fooled(&old, true, Some(&strict)), None);
        assert_eq!(fooled(&old, false, None), Some(true));
    }
    #[test]
    fn each_family_at_its_largest_judged_budget() {
        let results = vec![
            (
                "beam-m4-n4-last".to_string(),
                vec![row(4, Some(true), Some(true))],
            ),
            (
                "beam-m4-n16-last".to_string(),
                vec![
                    row(16, Some(true), Some(true)),
                    row(16, Some(true), Some(false)),
                    row(16, Some(false), Some(false)),
                    row(16, None, None),
                ],
            ),
            // Run before picks were judged: left out, N = 4 above stands for nothing.
            ("beam-m4-n64-last".to_string(), vec![row(64, None, None)]),
            (
                "beam-m4-n4-last-likelihood".to_string(),
                vec![
                    SearchRow {
                        picked_step_scores: vec![0.9],
                        ..row(4, Some(false), Some(false))
                    },
                    // Written before the scores were kept: no verdict on a likelihood.
                    row(4, Some(true), Some(true)),
                ],
            ),
        ];
        let rows = search_rows(&results, Some(&|p| p));
        let got: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {:?} {}",
                    r.strategy, r.verifier, r.n, r.judged, r.wrong, r.fooled
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "beam-m4-n16-last PRM 16 3 Some(2) 1",
                "beam-m4-n4-last-likelihood likelihood 4 1 Some(0) 0",
            ]
        );
    }
}
