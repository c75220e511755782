//! `ttc eval exchange` (Snell et al. §7, v1 conventions; DESIGN §9): is test-time compute
//! on the small policy worth more than a ~14× larger policy, at equal total FLOPs?
//!
//! Pretraining costs X = 6·P·D_pretrain, inference Y = 2·P·D_inference, with the same
//! D_pretrain for both models and R = D_inference / D_pretrain. The larger model (P_L = r·P_S)
//! answers greedily (one generation); the small model may spend N generations per question
//! where 6·P_S·D_pre + 2·P_S·N·D_inf = 6·P_L·D_pre + 2·P_L·D_inf, i.e.
//! N(R) = 3·(r − 1)/R + r (r = 14: N = 258, 63, 16 at R = 0.16, 0.79, 22). Per difficulty
//! bin the small model's compute-optimal accuracy at the largest swept budget ≤ N(R) is
//! compared with the larger model's greedy accuracy on the same questions.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use ttc_eval::exchange::{RATIOS, matched_budget};
use ttc_eval::stats::wilson95;

use std::path::PathBuf;

use ttc_data::rows::{BinRow, ComputeOptimalRow, ExchangeRow};

use super::analysis::{AnalysisArgs, params};
use crate::run::layout::{Layout, model_files};
use crate::run::stage::{Ctx, Stage};
use crate::run::table_io::write_table;

/// `ttc eval exchange`: the FLOPs-matched comparison with the larger policy.
pub struct ExchangeStage {
    args: AnalysisArgs,
}

impl ExchangeStage {
    pub fn new(args: AnalysisArgs) -> Self {
        ExchangeStage { args }
    }
}

impl Stage for ExchangeStage {
    fn id(&self) -> String {
        "exchange".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"bins": self.args.bins})
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let co = layout.analysis_dir("compute_optimal");
        let mut i = vec![
            co.join("per_bin.parquet"),
            layout.analysis_dir("bins").join("bins.parquet"),
            layout.policy_dir(true).join("pass_at_1_test.json"),
        ];
        i.extend(model_files(&layout.policy_dir(false)));
        i.extend(model_files(&layout.policy_dir(true)));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.analysis_dir("exchange");
        vec![
            d.join("exchange.parquet"),
            d.join("exchange.csv"),
            d.join("policies.json"),
        ]
    }
    fn command(&self) -> String {
        "eval exchange".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        exchange(&self.args, ctx)
    }
}

fn exchange(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let base = ctx.layout.report_dir();
    let small_dir = ctx.layout.policy_dir(false);
    let large_dir = ctx.layout.policy_dir(true);
    let greedy_file = large_dir.join("pass_at_1_test.json");
    let co_file = base.join("compute_optimal").join("per_bin.parquet");
    let bins_file = base.join("bins").join("bins.parquet");
    let (p_small, p_large) = (params(&small_dir)?, params(&large_dir)?);
    let size_ratio = p_large / p_small;
    if size_ratio <= 1.0 {
        bail!(
            "{}: the larger policy has {p_large:.0} parameters, not more than the policy's {p_small:.0}",
            large_dir.display()
        );
    }
    let greedy: ttc_train::policy_eval::PassAtOne =
        serde_json::from_slice(&std::fs::read(&greedy_file)?)
            .with_context(|| format!("{}: not a pass@1 result", greedy_file.display()))?;
    let large_right: HashMap<&str, bool> = greedy
        .answers
        .iter()
        .map(|(q, _, ok)| (q.as_str(), *ok))
        .collect();
    let bins: Vec<BinRow> = ttc_core::table::read_parquet(&bins_file)?;
    // (bins kind, bin, budget) → (accuracy, questions) from the compute-optimal table.
    let mut co: BTreeMap<(String, u8, u32), (f64, usize)> = BTreeMap::new();
    let per_bin: Vec<ComputeOptimalRow> = ttc_core::table::read_parquet(&co_file)?;
    // The paper's compute-optimal: among the PRM's methods ("" in tables written before
    // pools had a verifier).
    for r in per_bin
        .into_iter()
        .filter(|r| matches!(r.verifier.as_str(), "prm" | ""))
    {
        co.insert(
            (r.bins, r.bin, r.budget),
            (r.accuracy, r.questions as usize),
        );
    }
    let mut rows: Vec<ExchangeRow> = Vec::new();
    let mut summary = Vec::new();
    for kind in ["oracle", "predicted"] {
        let budgets: Vec<u32> = {
            let mut b: Vec<u32> = co.keys().filter(|k| k.0 == kind).map(|k| k.2).collect();
            b.sort_unstable();
            b.dedup();
            b
        };
        let Some(&max_budget) = budgets.last() else {
            continue;
        };
        for r in RATIOS {
            let n_r = matched_budget(size_ratio, r);
            let used = budgets
                .iter()
                .copied()
                .filter(|&b| f64::from(b) <= n_r)
                .max()
                .unwrap_or(budgets[0]);
            let (mut s_sum, mut l_k, mut l_n) = (0.0, 0u64, 0u64);
            for bin in 1..=a.bins as u8 {
                let qs: Vec<&BinRow> = bins
                    .iter()
                    .filter(|b| if kind == "oracle" { b.oracle_bin } else { b.predicted_bin } == bin)
                    .filter(|b| large_right.contains_key(b.question_id.as_str()))
                    .collect();
                let Some(&(small, nq)) = co.get(&(kind.to_string(), bin, used)) else {
                    continue;
                };
                let k = qs
                    .iter()
                    .filter(|b| large_right[b.question_id.as_str()])
                    .count() as u64;
                let n = qs.len() as u64;
                let (lo, hi) = wilson95(k, n);
                let large = k as f64 / n.max(1) as f64;
                s_sum += small * nq as f64;
                l_k += k;
                l_n += n;
                rows.push(ExchangeRow {
                    bins: kind.to_string(),
                    bin,
                    ratio_r: r,
                    matched_n: n_r,
                    budget: used,
                    budget_capped: f64::from(used) < n_r.floor() && used == max_budget,
                    small_compute_optimal: small,
                    questions: nq as u64,
                    large_greedy: large,
                    large_lo95: lo,
                    large_hi95: hi,
                    large_questions: n,
                    winner: if small > large {
                        "small+ttc"
                    } else if small < large {
                        "large"
                    } else {
                        "tie"
                    }
                    .into(),
                });
            }
            if l_n > 0 {
                let s_all = s_sum / l_n as f64;
                let l_all = l_k as f64 / l_n as f64;
                summary.push(format!(
                    "  {kind} bins, R={r}: N(R)={n_r:.1} → budget {used}: small+TTC {:.1}% vs larger greedy {:.1}%",
                    100.0 * s_all,
                    100.0 * l_all
                ));
            }
        }
    }
    let out = base.join("exchange");
    let policies = serde_json::json!({
        "policy": policy_facts(&small_dir, p_small),
        "larger": policy_facts(&large_dir, p_large),
    });
    ttc_core::atomic::write_atomic(
        &out.join("policies.json"),
        &serde_json::to_vec_pretty(&policies)?,
    )?;
    write_table(&out, "exchange", ExchangeRow::HEADER, &rows)?;
    eprintln!(
        "eval exchange: larger policy {:.2}M params = {size_ratio:.1}× the policy's {:.2}M; wrote {}",
        p_large / 1e6,
        p_small / 1e6,
        out.display()
    );
    for s in &summary {
        eprintln!("{s}");
    }
    Ok(())
}

/// What the comparison rests on, per policy: parameters, training tokens (from
/// `train_state.json`; absent for an imported model) and greedy test pass@1 (absent until
/// `ttc eval policy --split test` ran).
fn policy_facts(dir: &std::path::Path, params: f64) -> serde_json::Value {
    let read = |f: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()
    };
    let tokens = read("train_state.json").and_then(|v| v.get("tokens_seen")?.as_u64());
    let greedy = read("pass_at_1_test.json").and_then(|v| {
        let o = v.get("overall")?;
        Some(o.get("correct")?.as_f64()? / o.get("total")?.as_f64()?.max(1.0))
    });
    serde_json::json!({ "params": params, "training_tokens": tokens, "greedy_pass_at_1_test": greedy })
}
