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

/// The largest budget of each search family (a label without its `-n{N}`) whose picks the
/// step checker judged.
fn search_rows(rows_of: &[(String, Vec<SearchRow>)]) -> Vec<Row> {
    let mut best: BTreeMap<String, Row> = BTreeMap::new();
    for (label, rows) in rows_of {
        let judged: Vec<&SearchRow> = rows.iter().filter(|r| r.picked_fooled.is_some()).collect();
        let Some(first) = judged.first() else {
            continue;
        };
        let n = u64::from(first.n);
        let family = label.replacen(&format!("-n{n}-"), "-", 1);
        let row = Row {
            strategy: label.clone(),
            verifier: if label.ends_with(crate::preset::LIKELIHOOD_SUFFIX) {
                "likelihood"
            } else {
                "PRM"
            },
            n,
            judged: judged.len() as u64,
            wrong: Some(
                judged
                    .iter()
                    .filter(|r| r.picked_wrong_step == Some(true))
                    .count() as u64,
            ),
            fooled: judged
                .iter()
                .filter(|r| r.picked_fooled == Some(true))
                .count() as u64,
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
    if let Ok(bytes) = std::fs::read(base.join("prm").join("prm_eval.json")) {
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        rows.extend(sample_rows(&v));
    }
    let mut results = Vec::new();
    for l in searches {
        let r: Vec<SearchRow> =
            read_if_present(&ctx.layout.search_dir().join(l).join("results.parquet"))?;
        results.push((l.clone(), r));
    }
    rows.extend(search_rows(&results));
    if rows.is_empty() {
        return Ok(());
    }
    b.push(Block::Para(
        "Reward hacking per strategy, at its largest budget: the share of picks holding a wrong step (the step checker's truth) that the strategy's verifier scored above 0.5 (Wilson 95%). Searches run before the pick was judged are left out; rerun them to add them.".into(),
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
                vec![row(4, Some(false), Some(false))],
            ),
        ];
        let rows = search_rows(&results);
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
