//! `ttc revisions build` and `ttc train revision` (DESIGN §7; Snell et al. §6).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ttc_core::manifest::Manifest;
use ttc_data::revision::{TrajectoryRecipe, build_trajectories, revision_problem};
use ttc_data::rows::SampleRow;
use ttc_data::rows::TrajectoryRow;
use ttc_model::LlamaConfig;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;
use ttc_train::policy_eval::template_example;
use ttc_train::sft::{Init, SftRun};

use ttc_data::rows::group_by_question;

use crate::preset::{Preset, RevisionConfig, SamplesConfig};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs};
use crate::run::stage::{Ctx, Stage};
use crate::stages::shared::checkpoint::training_text;
use crate::stages::shared::training::{Job, best_summary, fine_tune};

/// `ttc revisions build`: revision trajectories from the high-temperature samples.
pub struct RevisionsBuildStage {
    config: RevisionConfig,
}

/// `ttc train revision`: the revision model, fine-tuned from the policy on trajectories.
pub struct RevisionTrainStage {
    config: RevisionConfig,
    /// `[revision_samples]` (for the cost model).
    samples: Option<SamplesConfig>,
}

/// `ttc revise --split S`: revision chains with the revision model.
pub struct ChainsStage {
    config: RevisionConfig,
    split: String,
    questions: Option<usize>,
}

impl RevisionsBuildStage {
    pub fn new(preset: &Preset) -> Result<Self> {
        let config = revision_config(preset)?;
        if !(0.0..=1.0).contains(&config.right_last) {
            anyhow::bail!(
                "[revision] right_last: a share in [0, 1], got {}",
                config.right_last
            );
        }
        Ok(RevisionsBuildStage { config })
    }
}

impl RevisionTrainStage {
    pub fn new(preset: &Preset) -> Result<Self> {
        Ok(RevisionTrainStage {
            config: revision_config(preset)?,
            samples: preset.revision_samples.clone(),
        })
    }
}

impl ChainsStage {
    /// `questions` overrides the section's number of questions.
    pub fn new(preset: &Preset, split: &str, questions: Option<usize>) -> Result<Self> {
        if !["train", "val", "test"].contains(&split) {
            anyhow::bail!("--split: expected train, val or test, got {split:?}");
        }
        let mut config = revision_config(preset)?;
        config.chains.engine = Some(crate::preset::engine_choice::resolve(
            preset,
            &config.chains.engine,
        ));
        let cs = &config.chains;
        if cs.chains == 0 || cs.chunk == 0 {
            anyhow::bail!("[revision.chains] chains and chunk: must be at least 1");
        }
        crate::preset::nonzero("revision.chains", "questions", questions.or(cs.questions))?;
        if cs.ratio_budget != 0 && !cs.ratio_budget.is_power_of_two() {
            anyhow::bail!(
                "[revision.chains] ratio_budget: a power of two (the budget N of the splits s:p = N), got {}",
                cs.ratio_budget
            );
        }
        // The ORM trains on the train split's full chains; the splits are compared on test.
        if split == "train" {
            config.chains.ratio_budget = 0;
        }
        Ok(ChainsStage {
            config,
            split: split.to_string(),
            questions,
        })
    }
}

impl Stage for RevisionsBuildStage {
    fn id(&self) -> String {
        "revisions".into()
    }
    fn config(&self) -> serde_json::Value {
        let rc = &self.config;
        // The cap and a right last attempt join the key only when set (earlier records
        // stay valid).
        let mut key = match rc.max_per_question {
            None => serde_json::json!([rc.max_attempts, rc.seed]),
            Some(c) => serde_json::json!([rc.max_attempts, rc.seed, c]),
        };
        if rc.right_last > 0.0
            && let Some(a) = key.as_array_mut()
        {
            a.push(serde_json::json!({ "right_last": rc.right_last }));
        }
        key
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.samples_file("revision")]
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.revisions_dir().join("trajectories.parquet")]
    }
    fn command(&self) -> String {
        "revisions build".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        build(&self.config, ctx)
    }
}

impl Stage for RevisionTrainStage {
    fn id(&self) -> String {
        "revision".into()
    }
    /// Its epochs over the trajectories, at most `max_per_question` per question (an upper
    /// bound: questions without a right and a wrong sample give none), each holding half its
    /// window of attempts.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let s = self.samples.as_ref()?;
        let rc = &self.config;
        let per_question = rc.max_per_question.unwrap_or(s.n).min(s.n);
        let q = s.questions.unwrap_or(shape.rows("train"));
        let trajectories = (q * per_question) as f64;
        let sequence =
            shape.prompt_tokens + (rc.max_attempts as f64 / 2.0 + 1.0) * shape.solution_tokens;
        let tokens = rc.train.epochs * trajectories * sequence;
        Some(shape.policy_work(WorkKind::Train, tokens))
    }
    fn config(&self) -> serde_json::Value {
        let rc = &self.config;
        serde_json::json!({
            "max_attempts": rc.max_attempts,
            "val_fraction": rc.val_fraction,
            "max_position_embeddings": rc.max_position_embeddings,
            "train": rc.train,
        })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.split_file("train"),
            layout.revisions_dir().join("trajectories.parquet"),
        ];
        i.extend(checkpoint_inputs(&layout.policy_dir(false)));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        checkpoint_inputs(&layout.revision_model_dir())
    }
    fn command(&self) -> String {
        "train revision".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        train(&self.config, ctx)
    }
}

impl Stage for ChainsStage {
    fn id(&self) -> String {
        match self.questions {
            None => format!("chains-{}", self.split),
            Some(q) => format!("chains-{}-q{q}", self.split),
        }
    }
    /// Each question's attempts: its full chains' and the ratio budget's extra ones (chain
    /// `c` gets N/p, p the smallest power of two above `c`).
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let (attempts, _) = chain_attempts(&self.config, &self.split, self.questions, shape);
        Some(shape.policy_work(WorkKind::Generate, shape.generated(attempts)))
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "chains": self.config.chains,
            "window": self.config.max_attempts,
            "split": self.split,
            "questions": self.questions,
            "orm_questions": self.config.orm.as_ref().map(|o| o.questions),
        })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![layout.split_file(&self.split)];
        i.extend(checkpoint_inputs(&layout.revision_model_dir()));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.chains_dir(&self.split);
        let mut o = vec![d.join("chains.parquet")];
        if self.config.chains.ratio_budget > 0 {
            o.push(d.join("parallel.parquet"));
        }
        o
    }
    fn command(&self) -> String {
        format!("revise --split {}", self.split)
    }
    fn sharded(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        revise(self, ctx)
    }
}

/// For the cost model: the attempts of a split's chains (full chains and, on test, the ratio
/// budget's extra ones: chain `c` gets N/p, p the smallest power of two above `c`), and the
/// tokens of one attempt's sequence with its previous attempts in context (up to
/// `max_attempts` of them).
pub fn chain_attempts(
    rc: &RevisionConfig,
    split: &str,
    questions: Option<usize>,
    shape: &DataShape,
) -> (f64, f64) {
    let cs = &rc.chains;
    let q = questions.or(cs.questions).unwrap_or(shape.rows(split));
    let n = if split == "train" { 0 } else { cs.ratio_budget };
    let extra: usize = (cs.chains..n)
        .map(|c| n / (c + 1).next_power_of_two())
        .sum();
    let len = cs.steps + 1;
    let context = (0..len).map(|a| a.min(rc.max_attempts)).sum::<usize>() as f64 / len as f64;
    let attempts = (q * (cs.chains * len + extra)) as f64;
    let sequence = shape.prompt_tokens + (context + 1.0) * shape.solution_tokens;
    (attempts, sequence)
}

pub fn revision_config(preset: &Preset) -> Result<RevisionConfig> {
    let c = preset
        .revision
        .clone()
        .context("preset has no [revision] section")?;
    if !(0.0..1.0).contains(&c.val_fraction) {
        anyhow::bail!("revision.val_fraction: must be in [0, 1)");
    }
    // The device is checked when the stage runs (a GPU preset plans on a CPU build).
    c.train.validate_in("revision.train")?;
    Ok(c)
}

fn build(rc: &RevisionConfig, ctx: &Ctx) -> Result<()> {
    let sfile = ctx.layout.samples_dir("revision").join("samples.parquet");
    let out = ctx.layout.revisions_dir();
    // The cap joins the key only when set, so presets without it keep their hashes.
    let key = match rc.max_per_question {
        None => serde_json::json!([rc.max_attempts, rc.seed]),
        Some(c) => serde_json::json!([rc.max_attempts, rc.seed, c]),
    };
    if ctx.force {
        let _ = std::fs::remove_dir_all(&out);
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
            &TrajectoryRecipe {
                max_k: rc.max_attempts,
                max_targets: rc.max_per_question,
                right_last: rc.right_last,
                seed: rc.seed,
            },
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
fn train(rc: &RevisionConfig, ctx: &Ctx) -> Result<()> {
    rc.train.check_device("revision.train")?;
    let pdir = ctx.layout.policy_dir(false);
    let tfile = ctx.layout.revisions_dir().join("trajectories.parquet");
    let text = training_text(&pdir)
        .with_context(|| format!("{}: the policy's tokenizer and prompt", pdir.display()))?;
    let (tok, eos, pad) = (&text.tok, text.eos, text.pad);
    let problems: HashMap<String, String> = load_problems(&ctx.layout.split_file("train"))?
        .into_iter()
        .map(|p| (p.unique_id, p.problem))
        .collect();
    let rows: Vec<TrajectoryRow> = ttc_core::table::read_parquet(&tfile)?;
    let val_q = ttc_data::held_out::held_out(
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
        let ex = template_example(
            tok,
            &text.prompt,
            &revision_problem(p, &attempts),
            &r.target,
            eos,
        )?;
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
    let out = ctx.layout.revision_model_dir();
    let run_hash = ttc_core::hash::hash_json(&(
        &model_cfg,
        &rc,
        ttc_model::io::checkpoint_files::hash_weights(&pdir)?,
        ttc_core::hash::hash_file(&tfile)?,
    ));
    let job = Job {
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
            reading: None,
        },
        tokenizer: &pdir.join("tokenizer.json"),
        force: ctx.force,
    };
    let state = fine_tune(ctx, job)?;
    // The revision model is prompted as the policy was.
    if text.prompt != PromptTemplate::default() {
        text.prompt.save(&out)?;
    }
    eprintln!(
        "revision: {} train / {} val trajectories, {} -> {}",
        train.len(),
        val.len(),
        best_summary(&state, "loss"),
        out.display()
    );
    Ok(())
}

/// Revision chains with the revision model: every attempt of every chain, per-step
/// pass@1, and how often a right answer is revised into a wrong one.
fn revise(a: &ChainsStage, ctx: &Ctx) -> Result<()> {
    use ttc_data::revision::chain_stats;
    use ttc_data::rows::ChainRow;
    use ttc_jobs::revision_chains::{ChainConfig, revise_questions};
    let rc = &a.config;
    let cs = &rc.chains;
    let mdir = ctx.layout.revision_model_dir();
    let split_path = ctx.layout.split_file(&a.split);
    let mut problems = load_problems(&split_path)?;
    let default_q = if a.split == "train" {
        rc.orm.as_ref().map(|o| o.questions)
    } else {
        cs.questions
    };
    if let Some(q) = a.questions.or(default_q) {
        problems.truncate(q);
    }
    let out = ctx.layout.chains_dir(&a.split);
    let cfg = ChainConfig {
        chains: cs.chains,
        steps: cs.steps,
        window: rc.max_attempts,
        temperature: cs.temperature,
        top_p: cs.top_p,
        max_new_tokens: cs.max_new_tokens,
        seed: cs.seed,
        ratio_budget: cs.ratio_budget,
    };
    let key = (&cfg, &a.split, problems.len(), cs.chunk);
    if ctx.force {
        let _ = std::fs::remove_dir_all(&out);
    }
    let started = Instant::now();
    let spec = cs.engine.clone().unwrap_or_default();
    let (model, tok) = ttc_engine::load_model(&mdir, &spec)?;
    let engine =
        ttc_engine::Engine::new(model.as_ref(), &tok)?.with_prompt(PromptTemplate::load(&mdir)?);
    let file = out.join("chains.parquet");
    let parts = ttc_data::shards::Parts::open(&file, cs.chunk, problems.len(), &ctx.fingerprint)?;
    let complete = crate::run::parts::run_parts(ctx, &parts, "revise", |_, r| {
        Ok(revise_questions(
            &engine,
            &problems[r.clone()],
            r.start,
            &cfg,
        )?)
    })?;
    if !complete {
        eprintln!("revise: shard {} done; other shards pending", ctx.shard);
        return Ok(());
    }
    // The ratio budget's extra chains go to their own file, written before chains.parquet:
    // every reader of chains.parquet sees full chains only.
    let mut extra: Vec<ChainRow> = Vec::new();
    let rows: Vec<ChainRow> = parts.merge_with(|all: &mut Vec<ChainRow>| {
        if cfg.ratio_budget > 0 {
            let (full, rest): (Vec<ChainRow>, Vec<ChainRow>) = std::mem::take(all)
                .into_iter()
                .partition(|r| (r.chain as usize) < cs.chains);
            ttc_core::table::write_parquet(&out.join("parallel.parquet"), &rest)?;
            (*all, extra) = (full, rest);
        }
        Ok(())
    })?;
    let stats = chain_stats(&rows);
    ttc_core::atomic::write_atomic(&out.join("stats.json"), &serde_json::to_vec_pretty(&stats)?)?;
    let mut csv = String::from("step,pass_at_1\n");
    for (t, p) in stats.pass_at_1.iter().enumerate() {
        csv.push_str(&format!("{t},{p:.6}\n"));
    }
    ttc_core::atomic::write_atomic(&out.join("pass_at_1_by_step.csv"), csv.as_bytes())?;
    let mut m = Manifest::new("revise", &key, cs.seed);
    m.counts.insert("attempts".into(), rows.len() as u64);
    if cfg.ratio_budget > 0 {
        m.counts
            .insert("ratio_budget_attempts".into(), extra.len() as u64);
    }
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&out)?;
    let p = &stats.pass_at_1;
    if cfg.ratio_budget > 0 {
        eprintln!(
            "revise: the splits of N = {}: {} more chains ({} attempts) in {}",
            cfg.ratio_budget,
            cfg.total_chains() - cs.chains,
            extra.len(),
            out.join("parallel.parquet").display()
        );
    }
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
