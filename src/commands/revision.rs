//! `ttc revisions build` and `ttc train revision` (DESIGN §7; Snell et al. §6).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_core::manifest::Manifest;
use ttc_data::revision::{build_trajectories, revision_prompt};
use ttc_data::rows::SampleRow;
use ttc_data::rows::TrajectoryRow;
use ttc_model::LlamaConfig;
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_train::policy_eval::prompt_example;
use ttc_train::sft::{Init, SftRun};

use super::sample::{group_by_question, policy_dir, samples_dir};
use super::train::{eos_pad, require};
use crate::Dirs;
use crate::preset::{Preset, RevisionConfig};

#[derive(Subcommand)]
pub enum RevisionsCommand {
    /// Revision trajectories from the high-temperature samples (`ttc sample --split
    /// revision`): for each correct sample, k ~ U{0..max_attempts} previous wrong attempts
    /// (the last the nearest in edit distance), target = the correct sample.
    /// Writes datasets/<run>/revisions/trajectories.parquet.
    Build(RevisionArgs),
}

#[derive(Args)]
pub struct RevisionArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: RevisionsCommand, dirs: &Dirs) -> Result<()> {
    match cmd {
        RevisionsCommand::Build(a) => build(&a, dirs),
    }
}

pub fn revision_config(preset: &Preset) -> Result<RevisionConfig> {
    let c = preset
        .revision
        .clone()
        .context("preset has no [revision] section")?;
    if !(0.0..1.0).contains(&c.val_fraction) {
        anyhow::bail!("revision.val_fraction: must be in [0, 1)");
    }
    c.train.validate()?;
    Ok(c)
}

/// `datasets/<run>/revisions/`.
pub fn revisions_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    preset.data_dir(dirs).join("revisions")
}

/// `datasets/<run>/chains-<split>/`: revision chains (train: ORM data; test: evaluation).
pub fn chains_dir(preset: &Preset, dirs: &Dirs, split: &str) -> PathBuf {
    preset.data_dir(dirs).join(format!("chains-{split}"))
}

/// `checkpoints/<run>/revision/`.
pub fn revision_model_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    dirs.checkpoints_dir.join(&preset.name).join("revision")
}

fn build(a: &RevisionArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let rc = revision_config(&preset)?;
    let sfile = samples_dir(&preset, dirs, "revision").join("samples.parquet");
    require(
        &sfile,
        &format!(
            "ttc sample --split revision --preset {}",
            a.preset.display()
        ),
    )?;
    let out = revisions_dir(&preset, dirs);
    let mut inputs = BTreeMap::new();
    inputs.insert("samples".to_string(), ttc_core::hash::hash_file(&sfile)?);
    // The cap joins the key only when set, so presets without it keep their hashes.
    let key = match rc.max_per_question {
        None => serde_json::json!([rc.max_attempts, rc.seed]),
        Some(c) => serde_json::json!([rc.max_attempts, rc.seed, c]),
    };
    let cfg_hash = ttc_core::hash::hash_json(&key);
    if a.force {
        let _ = std::fs::remove_dir_all(&out);
    } else if super::is_fresh("revisions", &out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = Instant::now();
    let samples: Vec<SampleRow> = ttc_core::table::read_parquet(&sfile)?;
    let n_q = samples
        .iter()
        .map(|s| s.question_index as usize + 1)
        .max()
        .unwrap_or(0);
    let groups = group_by_question(samples, n_q);
    let mut rows: Vec<TrajectoryRow> = Vec::new();
    let mut with_correct = 0;
    for g in &groups {
        with_correct += usize::from(g.iter().any(|s| s.correct));
        rows.extend(build_trajectories(
            g,
            rc.max_attempts,
            rc.max_per_question,
            rc.seed,
        ));
    }
    if rows.is_empty() {
        anyhow::bail!(
            "{}: no correct sample in any question, so no revision target; the policy needs to be better",
            sfile.display()
        );
    }
    let file = out.join("trajectories.parquet");
    ttc_core::table::write_parquet(&file, &rows)?;
    let mut hist = [0u64; 8];
    for r in &rows {
        hist[(r.k as usize).min(7)] += 1;
    }
    let mean_d = {
        let d: Vec<u32> = rows
            .iter()
            .filter_map(|r| r.edit_distances.last().copied())
            .collect();
        d.iter().map(|&x| x as f64).sum::<f64>() / d.len().max(1) as f64
    };
    let mut m = Manifest::new("revisions", &key, rc.seed);
    m.inputs = inputs;
    m.record_output(&out, "trajectories.parquet")?;
    m.counts.insert("trajectories".into(), rows.len() as u64);
    m.counts.insert(
        "questions_with_a_correct_sample".into(),
        with_correct as u64,
    );
    for (k, c) in hist.iter().enumerate().take(rc.max_attempts + 1) {
        m.counts.insert(format!("k{k}"), *c);
    }
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&out)?;
    eprintln!(
        "revisions: {} trajectories from {} of {} questions (k = 0..{}: {:?}), mean edit distance of the last attempt {:.1}; wrote {}",
        rows.len(),
        with_correct,
        groups.len(),
        rc.max_attempts,
        &hist[..=rc.max_attempts.min(7)],
        mean_d,
        file.display()
    );
    Ok(())
}

/// Fine-tune the revision model from the policy on the trajectories (loss on the target).
pub fn train(a: &RevisionArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let rc = revision_config(&preset)?;
    let pdir = policy_dir(&preset, dirs);
    let tfile = revisions_dir(&preset, dirs).join("trajectories.parquet");
    require(
        &tfile,
        &format!("ttc revisions build --preset {}", a.preset.display()),
    )?;
    let tok = ttc_task::tokenizer::load_tokenizer(&pdir.join("tokenizer.json"))
        .with_context(|| format!("{}: the policy's tokenizer", pdir.display()))?;
    let (eos, pad) = eos_pad(&tok)?;
    let problems: HashMap<String, String> =
        load_problems(&preset.data_dir(dirs).join(split_file("train")))?
            .into_iter()
            .map(|p| (p.unique_id, p.problem))
            .collect();
    let rows: Vec<TrajectoryRow> = ttc_core::table::read_parquet(&tfile)?;
    let val_q = super::prm::held_out(
        rows.iter().map(|r| r.question_index),
        rc.val_fraction,
        rc.seed,
    );
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for r in &rows {
        let p = problems.get(&r.question_id).with_context(|| {
            format!(
                "{}: question {} is not in the train split",
                tfile.display(),
                r.question_id
            )
        })?;
        let attempts: Vec<&str> = r.attempts.iter().map(String::as_str).collect();
        let ex = prompt_example(&tok, &revision_prompt(p, &attempts), &r.target, eos)?;
        if val_q.contains(&r.question_index) {
            &mut val
        } else {
            &mut train
        }
        .push(ex);
    }
    let mut model_cfg = LlamaConfig::load(&pdir.join("config.json"))?;
    model_cfg.max_position_embeddings = model_cfg
        .max_position_embeddings
        .max(rc.max_position_embeddings);
    let out = revision_model_dir(&preset, dirs);
    let run_hash = ttc_core::hash::hash_json(&(
        &model_cfg,
        &rc,
        ttc_core::hash::hash_file(&pdir.join("model.safetensors"))?,
        ttc_core::hash::hash_file(&tfile)?,
    ));
    let job = super::train::Job {
        label: "revision",
        run: SftRun {
            model_cfg: &model_cfg,
            init: Init::From(&pdir),
            cfg: &rc.train,
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
        "revision: {} train / {} val trajectories, {} steps, best val loss {:.4} at step {} in {:.0}s -> {}",
        train.len(),
        val.len(),
        state.step,
        state.best_val_loss.unwrap_or(f64::NAN),
        state.best_step.map(|s| s.to_string()).unwrap_or("-".into()),
        state.wall_time_s,
        out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ReviseArgs {
    /// Pipeline preset (TOML); `[revision.chains]` sets chains, steps, sampling, questions.
    #[arg(long)]
    pub preset: PathBuf,
    /// Dataset split whose questions are revised.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only the first this many questions (default: `[revision.chains] questions` on test,
    /// `[revision.orm] questions` on train, else all).
    #[arg(long)]
    pub questions: Option<usize>,
    /// Run only chunks c with c % n == i (one Slurm array task).
    #[arg(long)]
    pub shard: Option<ttc_data::shards::Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

/// Revision chains with the revision model: every attempt of every chain, per-step
/// pass@1, and how often a right answer is revised into a wrong one.
pub fn revise(a: &ReviseArgs, dirs: &Dirs) -> Result<()> {
    use ttc_data::revision::chain_stats;
    use ttc_data::rows::ChainRow;
    use ttc_engine::revision_chains::{ChainConfig, revise_questions};
    let preset = Preset::load(&a.preset)?;
    let rc = revision_config(&preset)?;
    let cs = &rc.chains;
    if cs.chains == 0 || cs.chunk == 0 {
        anyhow::bail!("revision.chains: chains and chunk must be at least 1");
    }
    let mdir = revision_model_dir(&preset, dirs);
    require(
        &mdir.join("model.safetensors"),
        &format!("ttc train revision --preset {}", a.preset.display()),
    )?;
    let split_path = preset.data_dir(dirs).join(split_file(&a.split));
    let mut problems = load_problems(&split_path)?;
    let default_q = if a.split == "train" {
        rc.orm.as_ref().map(|o| o.questions)
    } else {
        cs.questions
    };
    if let Some(q) = a.questions.or(default_q) {
        problems.truncate(q);
    }
    let out = chains_dir(&preset, dirs, &a.split);
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "revision".to_string(),
        ttc_core::hash::hash_file(&mdir.join("model.safetensors"))?,
    );
    inputs.insert("split".to_string(), ttc_core::hash::hash_file(&split_path)?);
    let cfg = ChainConfig {
        chains: cs.chains,
        steps: cs.steps,
        window: rc.max_attempts,
        temperature: cs.temperature,
        top_p: cs.top_p,
        max_new_tokens: cs.max_new_tokens,
        seed: cs.seed,
    };
    let key = (&cfg, &a.split, problems.len(), cs.chunk);
    let cfg_hash = ttc_core::hash::hash_json(&key);
    if a.force {
        let _ = std::fs::remove_dir_all(&out);
    } else if super::is_fresh("revise", &out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = Instant::now();
    let (model, tok) = super::sample::load_cpu(&mdir)?;
    let engine = ttc_model::generate::Engine::new(&model, &tok)?;
    let file = out.join("chains.parquet");
    let parts = ttc_data::shards::Parts::open(
        &file,
        cs.chunk,
        problems.len(),
        &format!("{cfg_hash}{inputs:?}"),
    )?;
    let shard = a.shard.unwrap_or(ttc_data::shards::Shard::ALL);
    let complete = super::sample::run_parts(&parts, shard, "revise", |_, r| {
        Ok(revise_questions(
            &engine,
            &problems[r.clone()],
            r.start,
            &cfg,
        )?)
    })?;
    if !complete {
        eprintln!("revise: shard {shard} done; other shards pending");
        return Ok(());
    }
    let rows: Vec<ChainRow> = parts.merge()?;
    let stats = chain_stats(&rows);
    ttc_core::atomic::write_atomic(&out.join("stats.json"), &serde_json::to_vec_pretty(&stats)?)?;
    let mut csv = String::from("step,pass_at_1\n");
    for (t, p) in stats.pass_at_1.iter().enumerate() {
        csv.push_str(&format!("{t},{p:.6}\n"));
    }
    ttc_core::atomic::write_atomic(&out.join("pass_at_1_by_step.csv"), csv.as_bytes())?;
    let mut m = Manifest::new("revise", &key, cs.seed);
    m.inputs = inputs;
    for f in ["chains.parquet", "stats.json", "pass_at_1_by_step.csv"] {
        m.record_output(&out, f)?;
    }
    m.counts.insert("attempts".into(), rows.len() as u64);
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&out)?;
    let p = &stats.pass_at_1;
    eprintln!(
        "revise: {} questions x {} chains x {} attempts; pass@1 step 0 {:.1}%, step {} {:.1}%; right->wrong {:.1}% of {} , wrong->right {:.1}% of {}; wrote {} in {:.1}s",
        problems.len(),
        cs.chains,
        cs.steps + 1,
        100.0 * p.first().copied().unwrap_or(0.0),
        p.len().saturating_sub(1),
        100.0 * p.last().copied().unwrap_or(0.0),
        100.0 * stats.right_to_wrong,
        stats.transitions_from_right,
        100.0 * stats.wrong_to_right,
        stats.transitions_from_wrong,
        file.display(),
        m.wall_time_s
    );
    Ok(())
}
