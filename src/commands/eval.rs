//! `ttc eval …`: evaluation stages.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;

use crate::Dirs;
use crate::preset::Preset;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Greedy pass@1 of the trained policy on a split, overall and per level; writes
    /// checkpoints/<run>/policy/pass_at_1_<split>.json and prints one JSON line.
    Policy(PolicyEvalArgs),
    /// The PRM: step AUROC vs MC labels (held-out questions), first-error F1 vs the step
    /// checker, calibration, and best-of-N (vanilla, weighted) vs majority at N = 1, 4,
    /// 16, 64 on the test samples. Writes reports/<run>/prm/.
    Prm(super::prm::PrmArgs),
    /// Selection over revision chains of the test split: last answer, majority and
    /// ORM-weighted best-of-N within a chain, hierarchical and flat majority across chains,
    /// at chain lengths 1, 2, 4, …. Writes reports/<run>/revisions/selection.csv.
    Revisions(super::orm::OrmArgs),
    /// Accuracy against budget N = 1, 2, 4, … : majority / best-of-N / weighted best-of-N
    /// over random subsets of the test samples (several seeds), plus every `ttc search`
    /// result. Writes reports/<run>/sweep/{rows.parquet, accuracy.csv} (95% intervals).
    Sweep(super::analysis::AnalysisArgs),
    /// Difficulty bins of the test questions: oracle pass@1 over the test samples and the
    /// PRM's mean final score (predicted), each cut into quantile bins (1 = easiest).
    /// Writes reports/<run>/bins/.
    Bins(super::analysis::AnalysisArgs),
    /// Two-fold cross-validated compute-optimal accuracy per bin and budget (oracle and
    /// predicted bins) and its efficiency against weighted best-of-N. Writes
    /// reports/<run>/compute_optimal/.
    ComputeOptimal(super::analysis::AnalysisArgs),
    /// FLOPs-matched exchange (Snell §7): the policy with compute-optimal test-time compute
    /// against the ~14× larger policy's greedy answers, per difficulty bin, at
    /// R = D_inference/D_pretrain ∈ {0.16, 0.79, 22}. Needs `ttc eval policy --large`.
    /// Writes reports/<run>/exchange/exchange.csv.
    Exchange(super::analysis::AnalysisArgs),
}

#[derive(Args)]
pub struct PolicyEvalArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate the larger policy (policy-large/).
    #[arg(long)]
    pub large: bool,
}

pub fn run(cmd: EvalCommand, dirs: &Dirs) -> Result<()> {
    match cmd {
        EvalCommand::Policy(a) => policy(&a, dirs),
        EvalCommand::Prm(a) => super::prm::eval(&a, dirs),
        EvalCommand::Revisions(a) => super::orm::eval(&a, dirs),
        EvalCommand::Sweep(a) => super::analysis::sweep(&a, dirs),
        EvalCommand::Bins(a) => super::analysis::bins(&a, dirs),
        EvalCommand::ComputeOptimal(a) => super::analysis::compute_optimal_cmd(&a, dirs),
        EvalCommand::Exchange(a) => super::exchange::exchange(&a, dirs),
    }
}

fn policy(a: &PolicyEvalArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    if !["train", "val", "test"].contains(&a.split.as_str()) {
        anyhow::bail!("--split: expected train, val or test, got {:?}", a.split);
    }
    let name = if a.large { "policy-large" } else { "policy" };
    let pc = if a.large {
        &preset.policy_large
    } else {
        &preset.policy
    };
    let max_new = pc.as_ref().map(|p| p.eval_max_new_tokens).unwrap_or(400);
    let dir = dirs.checkpoints_dir.join(&preset.name).join(name);
    if !dir.join("model.safetensors").exists() {
        anyhow::bail!(
            "{} has no trained model: run `ttc train policy{} --preset {}` first",
            dir.display(),
            if a.large { " --large" } else { "" },
            a.preset.display()
        );
    }
    let problems = load_problems(&preset.data_dir(dirs).join(split_file(&a.split)))?;
    let tok = ttc_task::tokenizer::load_tokenizer(&dir.join("tokenizer.json"))
        .with_context(|| format!("{}: the policy's tokenizer", dir.display()))?;
    let r = super::train::eval_policy(&dir, &problems, &tok, max_new, &a.split)?;
    let out = dir.join(format!("pass_at_1_{}.json", a.split));
    ttc_core::atomic::write_atomic(&out, &serde_json::to_vec_pretty(&r)?)?;
    let per_level: serde_json::Map<String, serde_json::Value> = r
        .per_level
        .iter()
        .map(|(l, acc)| (format!("level{l}"), serde_json::json!(acc.rate())))
        .collect();
    println!(
        "{}",
        serde_json::json!({"policy": name, "split": a.split, "n": r.overall.total,
            "pass_at_1": r.overall.rate(), "per_level": per_level})
    );
    eprintln!("eval: wrote {}", out.display());
    Ok(())
}
