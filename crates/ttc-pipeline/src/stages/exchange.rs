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
use ttc_eval::stats::wilson95;

use std::path::PathBuf;

use ttc_data::rows::BinRow;

use super::analysis::{AnalysisArgs, params, write_csv};
use crate::layout::{Layout, model_files};
use crate::report::doc::Block;
use crate::report::figures::{Axes, Series, line_chart};
use crate::stage::{Ctx, Stage};

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
            co.join("efficiency.csv"),
            co.join("per_bin.csv"),
            layout.analysis_dir("bins").join("bins.parquet"),
            layout.policy_dir(true).join("pass_at_1_test.json"),
        ];
        i.extend(model_files(&layout.policy_dir(false)));
        i.extend(model_files(&layout.policy_dir(true)));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.analysis_dir("exchange");
        vec![d.join("exchange.csv"), d.join("policies.json")]
    }
    fn command(&self) -> String {
        "eval exchange".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        exchange(&self.args, ctx)
    }
}

/// The paper's inference-to-pretraining token ratios.
pub const RATIOS: [f64; 3] = [0.16, 0.79, 22.0];

/// Generations per question the small model may spend at ratio `r_tokens` = R when the
/// larger model has `size_ratio` = P_L / P_S times its parameters.
pub fn matched_budget(size_ratio: f64, r_tokens: f64) -> f64 {
    3.0 * (size_ratio - 1.0) / r_tokens + size_ratio
}

fn exchange(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let base = ctx.layout.report_dir();
    let small_dir = ctx.layout.policy_dir(false);
    let large_dir = ctx.layout.policy_dir(true);
    let greedy_file = large_dir.join("pass_at_1_test.json");
    let co_file = base.join("compute_optimal").join("per_bin.csv");
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
    let text = std::fs::read_to_string(&co_file)
        .with_context(|| format!("reading {}", co_file.display()))?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (|| -> Option<_> {
            Some((
                (
                    f.first()?.to_string(),
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.parse().ok()?,
                ),
                (f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?),
            ))
        })();
        let (k, v) =
            parsed.with_context(|| format!("{}:{}: malformed row", co_file.display(), i + 1))?;
        co.insert(k, v);
    }
    let mut lines = Vec::new();
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
                lines.push(format!(
                    "{kind},{bin},{r},{n_r:.1},{used},{},{small:.4},{nq},{large:.4},{lo:.4},{hi:.4},{n},{}",
                    f64::from(used) < n_r.floor() && used == max_budget,
                    if small > large { "small+ttc" } else if small < large { "large" } else { "tie" }
                ));
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
    write_csv(
        &out.join("exchange.csv"),
        "bins,bin,ratio_r,matched_n,budget,budget_capped,small_compute_optimal,questions,large_greedy,large_lo95,large_hi95,large_questions,winner",
        &lines,
    )?;
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

/// The sentence under the exchange figure: both policies' size, training tokens and greedy
/// pass@1, and whether the larger one saw as much data as the policy (the paper's setting).
fn policies_para(v: &serde_json::Value) -> (String, Option<bool>) {
    let one = |k: &str| {
        let p = &v[k];
        let tokens = p["training_tokens"].as_f64();
        let greedy = p["greedy_pass_at_1_test"].as_f64();
        (
            format!(
                "{:.2}M parameters, {}, greedy pass@1 on test {}",
                p["params"].as_f64().unwrap_or(f64::NAN) / 1e6,
                tokens.map_or("training tokens unknown (imported)".into(), |t| format!(
                    "{:.2}M training tokens",
                    t / 1e6
                )),
                greedy.map_or("not measured".into(), |g| format!("{:.1}%", 100.0 * g)),
            ),
            tokens,
        )
    };
    let ((small, ts), (large, tl)) = (one("policy"), one("larger"));
    let same_data = ts.zip(tl).map(|(s, l)| l >= 0.95 * s);
    let mut text = format!("Policies compared: the policy — {small}; the larger policy — {large}.");
    if same_data == Some(false) {
        text.push_str(
            " The larger policy saw fewer training tokens than the policy (the paper trains both on the same data), so this comparison favours test-time compute.",
        );
    }
    (text, same_data)
}

/// The report's exchange section: a figure of accuracy per oracle bin (the larger policy
/// greedy vs the policy with compute-optimal test-time compute at each R), the table, and
/// one finding per R.
pub fn report_blocks(
    base: &std::path::Path,
    blocks: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) -> Result<bool> {
    let file = base.join("exchange").join("exchange.csv");
    let Some(rows) = crate::report::csv_rows(&file)? else {
        return Ok(false);
    };
    let rows: Vec<Vec<String>> = rows.into_iter().filter(|r| r.len() == 13).collect();
    let num = crate::report::f;
    let oracle: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "oracle").collect();
    let mut series = Vec::new();
    for r in RATIOS {
        let pts: Vec<(f64, f64)> = oracle
            .iter()
            .filter(|x| num(&x[2]) == r)
            .map(|x| (num(&x[1]), num(&x[6])))
            .collect();
        let budget = oracle
            .iter()
            .find(|x| num(&x[2]) == r)
            .map_or(String::new(), |x| x[4].clone());
        series.push(Series {
            label: format!("policy + compute-optimal, R={r} (N={budget})"),
            points: pts,
            intervals: vec![],
        });
        let wins: Vec<&str> = oracle
            .iter()
            .filter(|x| num(&x[2]) == r && x[12] == "small+ttc")
            .map(|x| x[1].as_str())
            .collect();
        findings.push(vec![
            format!("at equal FLOPs (R={r}) test-time compute beats a ~14× larger model on easy bins, not on hard ones"),
            "measured".into(),
            format!(
                "policy+TTC wins in oracle bins [{}] of {}",
                wins.join(" "),
                oracle.iter().filter(|x| num(&x[2]) == r).count()
            ),
        ]);
    }
    let large: Vec<(f64, f64)> = oracle
        .iter()
        .filter(|x| num(&x[2]) == RATIOS[0])
        .map(|x| (num(&x[1]), num(&x[8])))
        .collect();
    let large_iv: Vec<(f64, f64)> = oracle
        .iter()
        .filter(|x| num(&x[2]) == RATIOS[0])
        .map(|x| (num(&x[9]), num(&x[10])))
        .collect();
    series.push(Series {
        label: "larger policy, greedy".into(),
        points: large,
        intervals: large_iv,
    });
    blocks.push(Block::Figure {
        file: "exchange.svg".into(),
        svg: line_chart(
            &Axes {
                title: "FLOPs-matched: policy + test-time compute vs larger policy",
                x: "oracle difficulty bin (1 = easiest)",
                y: "accuracy",
                log2_x: false,
                y_range: (0.0, 1.0),
            },
            &series,
        )?,
        caption: "Per oracle bin: the larger policy's greedy accuracy (95% intervals) and the policy's compute-optimal accuracy at the FLOPs-matched budget N(R) = 3(r−1)/R + r".into(),
    });
    if let Some(v) = std::fs::read(base.join("exchange").join("policies.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        let (text, same_data) = policies_para(&v);
        blocks.push(Block::Para(text));
        if let Some(same) = same_data {
            findings.push(vec![
                "the larger model is trained on the same data as the policy (a fair exchange)"
                    .into(),
                if same { "holds" } else { "does not hold" }.into(),
                format!(
                    "{:.2}M vs {:.2}M training tokens",
                    v["larger"]["training_tokens"].as_f64().unwrap_or(0.0) / 1e6,
                    v["policy"]["training_tokens"].as_f64().unwrap_or(0.0) / 1e6
                ),
            ]);
        }
    }
    blocks.push(Block::Table {
        header: [
            "bins",
            "bin",
            "R",
            "N(R)",
            "budget used",
            "capped",
            "policy + CO",
            "questions",
            "larger greedy",
            "lo95",
            "hi95",
            "questions",
            "winner",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_para_flags_a_larger_model_trained_on_less_data() {
        let v = |large_tokens: u64| {
            serde_json::json!({
                "policy": {"params": 1.7e6, "training_tokens": 6_000_000u64, "greedy_pass_at_1_test": 0.338},
                "larger": {"params": 24e6, "training_tokens": large_tokens, "greedy_pass_at_1_test": null},
            })
        };
        let (text, fair) = policies_para(&v(1_500_000));
        assert_eq!(fair, Some(false));
        assert!(
            text.contains("1.70M parameters, 6.00M training tokens, greedy pass@1 on test 33.8%"),
            "{text}"
        );
        assert!(
            text.contains("not measured") && text.contains("favours test-time compute"),
            "{text}"
        );
        let (text, fair) = policies_para(&v(6_000_000));
        assert_eq!(fair, Some(true));
        assert!(!text.contains("favours"), "{text}");
        let mut imported = v(6_000_000);
        imported["larger"]["training_tokens"] = serde_json::Value::Null;
        let (text, fair) = policies_para(&imported);
        assert_eq!(fair, None);
        assert!(
            text.contains("training tokens unknown (imported)"),
            "{text}"
        );
    }

    #[test]
    fn the_paper_budgets_at_14x() {
        let n: Vec<f64> = RATIOS.iter().map(|&r| matched_budget(14.0, r)).collect();
        assert!((n[0] - 257.75).abs() < 1e-9);
        assert!((n[1] - (39.0 / 0.79 + 14.0)).abs() < 1e-9);
        assert!((n[2] - (39.0 / 22.0 + 14.0)).abs() < 1e-9);
        // Equal total FLOPs by construction (P_S = 1, D_pre = 1).
        for (&r, &n) in RATIOS.iter().zip(&n) {
            let small = 6.0 + 2.0 * n * r;
            let large = 6.0 * 14.0 + 2.0 * 14.0 * r;
            assert!((small - large).abs() < 1e-9);
        }
    }
}
