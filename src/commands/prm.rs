//! `ttc train prm` and `ttc eval prm` (DESIGN §6).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use ttc_data::rows::LabelRow;
use ttc_data::rows::SampleRow;
use ttc_engine::step_scorer::StepScorer;
use ttc_model::LlamaConfig;
use ttc_search::select::{best_of_n, majority, weighted_best_of_n};
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_train::prm::{auroc, calibration, first_error_f1, prm_examples};
use ttc_train::sft::{Init, SftRun};

use super::sample::{labels_dir, load_cpu, policy_dir, samples_dir};
use crate::Dirs;
use crate::preset::{Preset, PrmConfig};

#[derive(Args)]
pub struct PrmArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Use hard labels (any rollout right) instead of the preset's `[prm] labels`;
    /// writes checkpoints/<run>/prm-hard/.
    #[arg(long)]
    pub hard: bool,
    /// Start over even if a finished or resumable run exists (train only).
    #[arg(long)]
    pub force: bool,
}

fn prm_config(preset: &Preset) -> Result<PrmConfig> {
    let c = preset.prm.clone().context("preset has no [prm] section")?;
    if !["soft", "hard"].contains(&c.labels.as_str()) {
        anyhow::bail!(
            "prm.labels: expected \"soft\" or \"hard\", got {:?}",
            c.labels
        );
    }
    if !(0.0..1.0).contains(&c.val_fraction) {
        anyhow::bail!("prm.val_fraction: must be in [0, 1)");
    }
    c.train.validate()?;
    Ok(c)
}

fn hard_of(a: &PrmArgs, c: &PrmConfig) -> bool {
    a.hard || c.labels == "hard"
}

/// `checkpoints/<run>/prm` (or `prm-hard`).
pub fn prm_dir(preset: &Preset, dirs: &Dirs, hard: bool) -> PathBuf {
    dirs.checkpoints_dir
        .join(&preset.name)
        .join(if hard { "prm-hard" } else { "prm" })
}

/// Held-out questions: a seeded `val_fraction` of the labelled question indices.
fn val_questions(labels: &[LabelRow], frac: f64, seed: u64) -> HashSet<u32> {
    held_out(labels.iter().map(|l| l.question_index), frac, seed)
}

/// A seeded fraction `frac` of the distinct question indices in `qs` (at least one when
/// `frac` > 0): the validation questions of a training stage.
pub fn held_out(qs: impl Iterator<Item = u32>, frac: f64, seed: u64) -> HashSet<u32> {
    let mut q: Vec<u32> = qs.collect();
    q.sort_unstable();
    q.dedup();
    q.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed));
    let n = ((q.len() as f64) * frac).round() as usize;
    q.into_iter().take(n.max(usize::from(frac > 0.0))).collect()
}

struct Inputs {
    samples: Vec<SampleRow>,
    labels: Vec<LabelRow>,
    problems: HashMap<String, String>,
    samples_file: PathBuf,
    labels_file: PathBuf,
}

fn load_inputs(preset: &Preset, dirs: &Dirs, preset_path: &Path) -> Result<Inputs> {
    let samples_file = samples_dir(preset, dirs, "train").join("samples.parquet");
    let labels_file = labels_dir(preset, dirs).join("labels.parquet");
    for (f, hint) in [
        (&samples_file, "ttc sample --split train"),
        (&labels_file, "ttc label"),
    ] {
        if !f.exists() {
            anyhow::bail!(
                "{} not found: run `{hint} --preset {}` first",
                f.display(),
                preset_path.display()
            );
        }
    }
    let problems = load_problems(&preset.data_dir(dirs).join(split_file("train")))?
        .into_iter()
        .map(|p| (p.unique_id, p.problem))
        .collect();
    Ok(Inputs {
        samples: ttc_core::table::read_parquet(&samples_file)?,
        labels: ttc_core::table::read_parquet(&labels_file)?,
        problems,
        samples_file,
        labels_file,
    })
}

pub fn train(a: &PrmArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let pc = prm_config(&preset)?;
    let hard = hard_of(a, &pc);
    let pdir = policy_dir(&preset, dirs);
    let inp = load_inputs(&preset, dirs, &a.preset)?;
    let tok = ttc_task::tokenizer::load_tokenizer(&pdir.join("tokenizer.json"))
        .with_context(|| format!("{}: the policy's tokenizer", pdir.display()))?;
    let (eos, pad) = super::train::eos_pad(&tok)?;
    let exs = prm_examples(&tok, &inp.problems, &inp.samples, &inp.labels, hard, eos)?;
    let val_q = val_questions(&inp.labels, pc.val_fraction, pc.train.seed);
    let (val, train): (Vec<_>, Vec<_>) = exs.into_iter().partition(|(q, _)| val_q.contains(q));
    let train: Vec<_> = train.into_iter().map(|(_, e)| e).collect();
    let val: Vec<_> = val.into_iter().map(|(_, e)| e).collect();
    if train.is_empty() {
        anyhow::bail!("no labelled samples to train the PRM on (did every sample lack an answer?)");
    }
    let model_cfg = LlamaConfig::load(&pdir.join("config.json"))?.with_score_head();
    let out = prm_dir(&preset, dirs, hard);
    let run_hash = ttc_core::hash::hash_json(&(
        &model_cfg,
        &pc,
        hard,
        ttc_core::hash::hash_file(&pdir.join("model.safetensors"))?,
        ttc_core::hash::hash_file(&inp.samples_file)?,
        ttc_core::hash::hash_file(&inp.labels_file)?,
    ));
    let name = if hard { "prm-hard" } else { "prm" };
    let job = super::train::Job {
        label: name,
        run: SftRun {
            model_cfg: &model_cfg,
            init: Init::ScoreHeadFrom(&pdir),
            cfg: &pc.train,
            train: &train,
            val: &val,
            pad,
            run_hash: &run_hash,
            out: &out,
        },
        tokenizer: &pdir.join("tokenizer.json"),
        force: a.force,
    };
    let state = super::train::fine_tune(job)?;
    eprintln!(
        "{name}: {} train / {} val samples ({} labels), {} steps, best val BCE {:.4} at step {} in {:.0}s -> {}",
        train.len(),
        val.len(),
        if hard { "hard" } else { "soft" },
        state.step,
        state.best_val_loss.unwrap_or(f64::NAN),
        state.best_step.map(|s| s.to_string()).unwrap_or("-".into()),
        state.wall_time_s,
        out.display()
    );
    Ok(())
}

/// One test sample with its PRM step scores.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScoredSample {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    pub sample_id: u32,
    pub answer: Option<String>,
    pub correct: bool,
    pub first_error: Option<u32>,
    pub step_scores: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
struct SelectionRow {
    n: usize,
    subsets: usize,
    majority: f64,
    best_of_n: f64,
    weighted_best_of_n: f64,
    pass_at_n: f64,
}

/// Score every test sample with the PRM (batched, with a progress bar).
pub fn score_samples(
    scorer: &StepScorer,
    problems: &HashMap<String, String>,
    samples: &[SampleRow],
) -> Result<Vec<ScoredSample>> {
    let pb = crate::progress::bar(samples.len() as u64, "score");
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        let items: Vec<(&str, &[String])> = chunk
            .iter()
            .map(|s| {
                let p = problems
                    .get(&s.question_id)
                    .with_context(|| format!("sample of unknown question {}", s.question_id))?;
                Ok((p.as_str(), s.steps.as_slice()))
            })
            .collect::<Result<_>>()?;
        let scores = scorer.score(&items)?;
        for (s, sc) in chunk.iter().zip(scores) {
            out.push(ScoredSample {
                question_id: s.question_id.clone(),
                question_index: s.question_index,
                level: s.level,
                sample_id: s.sample_id,
                answer: s.answer.clone(),
                correct: s.correct,
                first_error: s.first_error,
                step_scores: sc,
            });
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// Accuracy of each selection rule at N, over disjoint N-subsets of every question's
/// samples (in sample order).
fn selection_table(scored: &[ScoredSample], ns: &[usize]) -> Vec<SelectionRow> {
    let mut by_q: BTreeMap<u32, Vec<&ScoredSample>> = BTreeMap::new();
    for s in scored {
        by_q.entry(s.question_index).or_default().push(s);
    }
    let mut rows = Vec::new();
    for &n in ns {
        let (mut tot, mut acc) = (0usize, [0usize; 4]);
        for ss in by_q.values() {
            for sub in ss.chunks_exact(n) {
                let answers: Vec<Option<&str>> = sub.iter().map(|s| s.answer.as_deref()).collect();
                let last: Vec<f32> = sub
                    .iter()
                    .map(|s| s.step_scores.last().copied().unwrap_or(0.0))
                    .collect();
                let pick = |i: Option<usize>| i.is_some_and(|i| sub[i].correct) as usize;
                acc[0] += pick(majority(&answers));
                acc[1] += pick(best_of_n(&answers, &last));
                acc[2] += pick(weighted_best_of_n(&answers, &last));
                acc[3] += sub.iter().any(|s| s.correct) as usize;
                tot += 1;
            }
        }
        let r = |k: usize| acc[k] as f64 / tot.max(1) as f64;
        rows.push(SelectionRow {
            n,
            subsets: tot,
            majority: r(0),
            best_of_n: r(1),
            weighted_best_of_n: r(2),
            pass_at_n: r(3),
        });
    }
    rows
}

pub fn eval(a: &PrmArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    // An imported PRM has no [prm] section and no MC labels to compare with.
    let pc = match &preset.prm {
        Some(_) => Some(prm_config(&preset)?),
        None => None,
    };
    let hard = a.hard || pc.as_ref().is_some_and(|c| c.labels == "hard");
    let mdir = prm_dir(&preset, dirs, hard);
    if !mdir.join("model.safetensors").exists() {
        anyhow::bail!(
            "{} has no trained PRM: run `ttc train prm{} --preset {}` first",
            mdir.display(),
            if hard { " --hard" } else { "" },
            a.preset.display()
        );
    }
    let test_file = samples_dir(&preset, dirs, "test").join("samples.parquet");
    if !test_file.exists() {
        anyhow::bail!(
            "{} not found: run `ttc sample --split test --preset {}` first",
            test_file.display(),
            a.preset.display()
        );
    }
    let (model, tok) = load_cpu(&mdir)?;
    let scorer = StepScorer::new(&model, &tok)?
        .with_prompt(ttc_task::tokenizer::PromptTemplate::load(&mdir)?);
    let out = dirs
        .reports_dir
        .join(&preset.name)
        .join(if hard { "prm-hard" } else { "prm" });
    // Held-out labelled questions: step AUROC and calibration against MC labels.
    let (mut sc, mut soft, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(pc) = &pc {
        let inp = load_inputs(&preset, dirs, &a.preset)?;
        let val_q = val_questions(&inp.labels, pc.val_fraction, pc.train.seed);
        let val_samples: Vec<SampleRow> = inp
            .samples
            .iter()
            .filter(|s| val_q.contains(&s.question_index))
            .cloned()
            .collect();
        let val_scored = score_samples(&scorer, &inp.problems, &val_samples)?;
        let by_key: HashMap<(u32, u32), &ScoredSample> = val_scored
            .iter()
            .map(|s| ((s.question_index, s.sample_id), s))
            .collect();
        for l in inp
            .labels
            .iter()
            .filter(|l| val_q.contains(&l.question_index))
        {
            if let Some(s) = by_key
                .get(&(l.question_index, l.sample_id))
                .and_then(|s| s.step_scores.get(l.step_index as usize))
            {
                sc.push(*s);
                soft.push(l.soft);
                truth.push(l.verdict.as_deref() == Some("correct"));
            }
        }
    }
    let mc_pos: Vec<bool> = soft.iter().map(|&s| s >= 0.5).collect();
    // Test samples: first-error F1 vs the step checker, selection vs majority.
    let test_problems: HashMap<String, String> =
        load_problems(&preset.data_dir(dirs).join(split_file("test")))?
            .into_iter()
            .map(|p| (p.unique_id, p.problem))
            .collect();
    let test_samples: Vec<SampleRow> = ttc_core::table::read_parquet(&test_file)?;
    let scored = score_samples(&scorer, &test_problems, &test_samples)?;
    // Step truth exists only where the step checker judged the steps (arith, not MATH).
    let judged: std::collections::HashSet<(u32, u32)> = test_samples
        .iter()
        .filter(|s| !s.step_verdicts.is_empty())
        .map(|s| (s.question_index, s.sample_id))
        .collect();
    let has_truth = |s: &&ScoredSample| judged.contains(&(s.question_index, s.sample_id));
    let with_answer: Vec<&ScoredSample> = scored
        .iter()
        .filter(|s| s.answer.is_some())
        .filter(has_truth)
        .collect();
    let fe = first_error_f1(
        &with_answer
            .iter()
            .map(|s| s.step_scores.clone())
            .collect::<Vec<_>>(),
        &with_answer
            .iter()
            .map(|s| s.first_error)
            .collect::<Vec<_>>(),
        0.5,
    );
    let (mut t_sc, mut t_ok) = (Vec::new(), Vec::new());
    for s in scored.iter().filter(has_truth) {
        // True per-step correctness: steps before the first error are right.
        let fe = s.first_error.map(|f| f as usize).unwrap_or(usize::MAX);
        for (k, &x) in s.step_scores.iter().enumerate() {
            t_sc.push(x);
            t_ok.push(k < fe);
        }
    }
    let n_per_q = test_samples
        .iter()
        .filter(|s| s.question_index == test_samples[0].question_index)
        .count();
    let ns: Vec<usize> = [1, 4, 16, 64]
        .into_iter()
        .filter(|&n| n <= n_per_q)
        .collect();
    let sel = selection_table(&scored, &ns);
    let cal_mc = calibration(&sc, &soft, 10);
    let t_ok_f: Vec<f32> = t_ok.iter().map(|&b| b as u8 as f32).collect();
    let cal_true = calibration(&t_sc, &t_ok_f, 10);
    ttc_core::table::write_parquet(&out.join("scores.parquet"), &scored)?;
    ttc_core::table::write_csv(&out.join("selection.csv"), &sel)?;
    ttc_core::table::write_csv(&out.join("calibration_mc.csv"), &cal_mc)?;
    ttc_core::table::write_csv(&out.join("calibration_true.csv"), &cal_true)?;
    let summary = serde_json::json!({
        "prm": mdir.display().to_string(),
        "labels": if hard { "hard" } else { "soft" },
        "val_steps": sc.len(),
        "step_auroc_vs_mc": auroc(&sc, &mc_pos),
        "step_auroc_vs_true": auroc(&sc, &truth),
        "test_samples": scored.len(),
        "test_step_auroc_vs_true": auroc(&t_sc, &t_ok),
        "first_error": fe,
        "selection": sel,
    });
    ttc_core::atomic::write_atomic(
        &out.join("prm_eval.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    println!("{summary}");
    eprintln!(
        "eval prm: step AUROC vs MC {:.3}, vs truth (test) {:.3}; first-error F1 {:.3} (err {:.3} n={}, ok {:.3} n={}); wrote {}",
        auroc(&sc, &mc_pos).unwrap_or(f64::NAN),
        auroc(&t_sc, &t_ok).unwrap_or(f64::NAN),
        fe.f1,
        fe.acc_erroneous,
        fe.n_erroneous,
        fe.acc_correct,
        fe.n_correct,
        out.display()
    );
    for r in &sel {
        eprintln!(
            "  N={:<3} majority {:.3}  best-of-N {:.3}  weighted {:.3}  pass@N {:.3}  ({} subsets)",
            r.n, r.majority, r.best_of_n, r.weighted_best_of_n, r.pass_at_n, r.subsets
        );
    }
    Ok(())
}
