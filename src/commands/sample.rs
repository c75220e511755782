//! `ttc sample` and `ttc label`: policy samples and Monte Carlo step labels (DESIGN §5),
//! written as parquet in resumable parts, `--shard i/n`-able, merged when complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use ttc_core::manifest::Manifest;
use ttc_data::rows::{LabelRow, SampleRow};
use ttc_data::shards::{Parts, Shard};
use ttc_engine::mc_labels::{LabelStats, label_questions};
use ttc_engine::sampling::sample_questions;
use ttc_model::cpu::CpuModel;
use ttc_model::generate::Engine;
use ttc_task::Problem;
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::{PromptTemplate, Tokenizer};

use super::train::require;
use crate::Dirs;
use crate::preset::{Preset, SampleStage};

#[derive(Args)]
pub struct SampleArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Split: `train` uses the preset's [samples] (for MC labels), `test` its
    /// [test_samples] (for PRM evaluation and best-of-N), `revision` its
    /// [revision_samples] on train questions (high-temperature, for revision data).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Run only chunks c with c % n == i (one Slurm array task); `ttc merge` joins them.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct LabelArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Run only chunks c with c % n == i; `ttc merge` joins them.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

/// Hash of a checkpoint's own prompt format, an input of the stages that prompt it (none
/// for the default format, so ttc-trained checkpoints keep their stages' hashes).
pub fn prompt_hash(dir: &Path) -> Result<Option<String>> {
    let t = PromptTemplate::load(dir)?;
    Ok((t != PromptTemplate::default()).then(|| ttc_core::hash::hash_bytes(t.as_str().as_bytes())))
}

/// A checkpoint's fast CPU model and its tokenizer (any HF `tokenizer.json`; ttc's special
/// tokens are not required to sample or score).
pub fn load_cpu(dir: &Path) -> Result<(CpuModel, Tokenizer)> {
    let cfg = ttc_model::LlamaConfig::load(&dir.join("config.json"))?;
    let w = ttc_model::weights::read_safetensors(&dir.join("model.safetensors"))?;
    let model = CpuModel::from_weights(&cfg, &w)?;
    let tpath = dir.join("tokenizer.json");
    let tok =
        Tokenizer::from_file(&tpath).map_err(|e| anyhow::anyhow!("{}: {e}", tpath.display()))?;
    if tok.get_vocab_size(true) > cfg.vocab_size {
        anyhow::bail!(
            "{}: tokenizer.json has {} tokens but config.json says vocab_size {}; they do not belong together",
            dir.display(),
            tok.get_vocab_size(true),
            cfg.vocab_size
        );
    }
    Ok((model, tok))
}

pub fn policy_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    dirs.checkpoints_dir.join(&preset.name).join("policy")
}

/// `datasets/<run>/samples-<split>/`.
pub fn samples_dir(preset: &Preset, dirs: &Dirs, split: &str) -> PathBuf {
    preset.data_dir(dirs).join(format!("samples-{split}"))
}

/// `datasets/<run>/labels/`.
pub fn labels_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    preset.data_dir(dirs).join("labels")
}

/// The dataset split a sampling split draws its questions from (`revision` samples the
/// train questions).
pub fn data_split(split: &str) -> &str {
    if split == "revision" { "train" } else { split }
}

/// The stage section for a split.
pub fn sample_stage(preset: &Preset, split: &str) -> Result<SampleStage> {
    let (s, key) = match split {
        "train" => (&preset.samples, "samples"),
        "test" => (&preset.test_samples, "test_samples"),
        "revision" => (&preset.revision_samples, "revision_samples"),
        other => anyhow::bail!("--split: expected train, test or revision, got {other:?}"),
    };
    let s = s
        .clone()
        .with_context(|| format!("preset has no [{key}] section"))?;
    s.sampling().validate(key)?;
    Ok(s)
}

/// Set by `ttc merge`: stages only join finished parts and fail if any is missing.
pub static MERGE_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run `work` on every pending chunk of `parts` owned by `shard`, with a progress bar
/// over questions. True when every chunk (all shards) is done.
pub fn run_parts<T: serde::Serialize>(
    parts: &Parts,
    shard: Shard,
    label: &str,
    mut work: impl FnMut(usize, std::ops::Range<usize>) -> Result<Vec<T>>,
) -> Result<bool> {
    if MERGE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        let missing = parts.pending(Shard::ALL);
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().take(20).map(|c| c.to_string()).collect();
            anyhow::bail!(
                "{label}: cannot merge {}: {} of {} parts missing (chunks {}{}); run the shards that own them (chunk c belongs to shard c % n)",
                parts.output.display(),
                missing.len(),
                parts.n_chunks(),
                list.join(", "),
                if missing.len() > 20 { ", …" } else { "" }
            );
        }
        return Ok(true);
    }
    let pending = parts.pending(shard);
    let n_q: usize = pending.iter().map(|&c| parts.range(c).len()).sum();
    let pb = crate::progress::bar(n_q as u64, label);
    for c in pending {
        let r = parts.range(c);
        let len = r.len();
        let rows = work(c, r)?;
        parts.write_part(c, &rows)?;
        pb.inc(len as u64);
    }
    pb.finish_and_clear();
    Ok(parts.complete())
}

pub fn sample(a: &SampleArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let st = sample_stage(&preset, &a.split)?;
    let pdir = policy_dir(&preset, dirs);
    require(
        &pdir.join("model.safetensors"),
        &format!("ttc train policy --preset {}", a.preset.display()),
    )?;
    let split_path = preset.data_dir(dirs).join(split_file(data_split(&a.split)));
    let mut problems = load_problems(&split_path)?;
    if let Some(q) = st.questions {
        problems.truncate(q);
    }
    let out = samples_dir(&preset, dirs, &a.split);
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "policy".to_string(),
        ttc_core::hash::hash_file(&pdir.join("model.safetensors"))?,
    );
    if let Some(h) = prompt_hash(&pdir)? {
        inputs.insert("prompt".to_string(), h);
    }
    inputs.insert("split".to_string(), ttc_core::hash::hash_file(&split_path)?);
    let cfg_hash = ttc_core::hash::hash_json(&(&st, &a.split));
    if a.force {
        let _ = std::fs::remove_dir_all(&out);
    } else if super::is_fresh("sample", &out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = Instant::now();
    let (model, tok) = load_cpu(&pdir)?;
    let engine = Engine::new(&model, &tok)?.with_prompt(PromptTemplate::load(&pdir)?);
    let file = out.join("samples.parquet");
    let parts = Parts::open(
        &file,
        st.chunk,
        problems.len(),
        &format!("{cfg_hash}{inputs:?}"),
    )?;
    let sampling = st.sampling();
    let shard = a.shard.unwrap_or(Shard::ALL);
    let complete = run_parts(&parts, shard, "sample", |_, r| {
        Ok(sample_questions(
            &engine,
            &problems[r.clone()],
            r.start,
            &sampling,
        )?)
    })?;
    if !complete {
        eprintln!("sample: shard {shard} done; other shards pending (then `ttc merge`)");
        return Ok(());
    }
    let rows: Vec<SampleRow> = parts.merge()?;
    let mut m = Manifest::new("sample", &(&st, &a.split), st.seed);
    m.inputs = inputs;
    m.record_output(&out, "samples.parquet")?;
    let correct = rows.iter().filter(|r| r.correct).count();
    let answered = rows.iter().filter(|r| r.answer.is_some()).count();
    let tokens: u64 = rows.iter().map(|r| r.generated_tokens as u64).sum();
    m.counts.insert("questions".into(), problems.len() as u64);
    m.counts.insert("samples".into(), rows.len() as u64);
    m.counts.insert("correct".into(), correct as u64);
    m.counts.insert("answered".into(), answered as u64);
    m.counts.insert("generated_tokens".into(), tokens);
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&out)?;
    eprintln!(
        "sample: wrote {} ({} questions x {} = {} samples, {:.1}% correct, {:.1}% with an answer, {} tokens, {:.0} tok/s) in {:.1}s",
        file.display(),
        problems.len(),
        st.n,
        rows.len(),
        100.0 * correct as f64 / rows.len().max(1) as f64,
        100.0 * answered as f64 / rows.len().max(1) as f64,
        tokens,
        tokens as f64 / m.wall_time_s.max(1e-9),
        m.wall_time_s
    );
    Ok(())
}

/// Samples grouped by question index (rows are in question order).
pub fn group_by_question(rows: Vec<SampleRow>, n_questions: usize) -> Vec<Vec<SampleRow>> {
    let mut g: Vec<Vec<SampleRow>> = vec![Vec::new(); n_questions];
    for r in rows {
        if let Some(v) = g.get_mut(r.question_index as usize) {
            v.push(r);
        }
    }
    g
}

pub fn label(a: &LabelArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let ls = preset
        .labels
        .clone()
        .context("preset has no [labels] section")?;
    ls.sampling().validate("labels")?;
    let pdir = policy_dir(&preset, dirs);
    let sdir = samples_dir(&preset, dirs, "train");
    let sfile = sdir.join("samples.parquet");
    require(
        &sfile,
        &format!("ttc sample --split train --preset {}", a.preset.display()),
    )?;
    let split_path = preset.data_dir(dirs).join(split_file("train"));
    let problems: Vec<Problem> = load_problems(&split_path)?;
    let samples: Vec<SampleRow> = ttc_core::table::read_parquet(&sfile)?;
    let n_q = samples
        .iter()
        .map(|r| r.question_index as usize + 1)
        .max()
        .unwrap_or(0);
    if n_q > problems.len() {
        anyhow::bail!(
            "{}: samples name question {} but {} has {} questions",
            sfile.display(),
            n_q - 1,
            split_path.display(),
            problems.len()
        );
    }
    let grouped = group_by_question(samples, n_q);
    let out = labels_dir(&preset, dirs);
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "policy".to_string(),
        ttc_core::hash::hash_file(&pdir.join("model.safetensors"))?,
    );
    if let Some(h) = prompt_hash(&pdir)? {
        inputs.insert("prompt".to_string(), h);
    }
    inputs.insert("samples".to_string(), ttc_core::hash::hash_file(&sfile)?);
    let cfg_hash = ttc_core::hash::hash_json(&ls);
    if a.force {
        let _ = std::fs::remove_dir_all(&out);
    } else if super::is_fresh("label", &out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = Instant::now();
    let (model, tok) = load_cpu(&pdir)?;
    let engine = Engine::new(&model, &tok)?.with_prompt(PromptTemplate::load(&pdir)?);
    let file = out.join("labels.parquet");
    let parts = Parts::open(&file, ls.chunk, n_q, &format!("{cfg_hash}{inputs:?}"))?;
    let sampling = ls.sampling();
    let shard = a.shard.unwrap_or(Shard::ALL);
    // Each chunk's token counts sit beside its part (written first, so a finished part
    // always has them).
    let stats_path = |c: usize| parts.dir.join(format!("stats-{c:05}.json"));
    let complete = run_parts(&parts, shard, "label", |c, r| {
        let (rows, s) = label_questions(&engine, &problems[r.clone()], &grouped[r], &sampling)?;
        ttc_core::atomic::write_atomic(&stats_path(c), &serde_json::to_vec(&s)?)?;
        Ok(rows)
    })?;
    if !complete {
        eprintln!("label: shard {shard} done; other shards pending (then `ttc merge`)");
        return Ok(());
    }
    let mut total = LabelStats::default();
    for c in 0..parts.n_chunks() {
        let p = stats_path(c);
        let bytes = std::fs::read(&p).map_err(|e| ttc_core::Error::io(&p, e))?;
        let s: LabelStats =
            serde_json::from_slice(&bytes).with_context(|| format!("{}", p.display()))?;
        total.add(&s);
    }
    let rows: Vec<LabelRow> = parts.merge()?;
    let mut m = Manifest::new("label", &ls, ls.seed);
    m.inputs = inputs;
    m.record_output(&out, "labels.parquet")?;
    m.counts.insert("steps".into(), rows.len() as u64);
    m.counts
        .insert("samples_labelled".into(), total.samples_labelled);
    m.counts
        .insert("samples_dropped".into(), total.samples_dropped);
    m.counts.insert("rollouts".into(), total.rollouts);
    m.counts.insert("unique_tokens".into(), total.unique_tokens);
    m.counts
        .insert("computed_tokens".into(), total.computed_tokens);
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&out)?;
    eprintln!(
        "label: wrote {} ({} steps of {} samples, {} dropped without an answer; {} rollouts; computed {} tokens for {} unique = {:.3}x) in {:.1}s",
        file.display(),
        rows.len(),
        total.samples_labelled,
        total.samples_dropped,
        total.rollouts,
        total.computed_tokens,
        total.unique_tokens,
        total.computed_tokens as f64 / total.unique_tokens.max(1) as f64,
        m.wall_time_s
    );
    Ok(())
}
