//! `ttc label`: Monte Carlo step labels of the train samples (DESIGN §5): rollouts from
//! every step prefix (prefix-shared KV cache); soft = fraction right, hard = any right.
//! Resumable parts, `--shard i/n`-able.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ttc_core::manifest::Manifest;
use ttc_data::rows::{LabelRow, SampleRow, group_by_question};
use ttc_data::shards::Parts;
use ttc_engine::Engine;
use ttc_jobs::mc_labels::{LabelStats, label_questions};
use ttc_task::Problem;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

use crate::preset::{LabelsConfig, Preset, SamplesConfig};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs, prompt_files};
use crate::run::parts::run_parts;
use crate::run::stage::{Ctx, Stage};
use ttc_engine::load_model;

pub struct LabelsStage {
    config: LabelsConfig,
    /// `[samples]` (for the cost model).
    samples: Option<SamplesConfig>,
}

impl LabelsStage {
    pub fn new(preset: &Preset) -> Result<LabelsStage> {
        let mut config = preset
            .labels
            .clone()
            .context("preset has no [labels] section")?;
        config.engine = Some(crate::preset::engine_choice::resolve(
            preset,
            &config.engine,
        ));
        if config.rollouts_per_step == 0 {
            anyhow::bail!("[labels] rollouts_per_step: must be at least 1");
        }
        config.sampling().validate("labels")?;
        crate::preset::nonzero("labels", "chunk", Some(config.chunk))?;
        crate::preset::nonzero("labels", "questions", config.questions)?;
        Ok(LabelsStage {
            config,
            samples: preset.samples.clone(),
        })
    }
}

impl Stage for LabelsStage {
    fn id(&self) -> String {
        "labels".into()
    }
    /// `rollouts_per_step` rollouts from every step but the last of each sample, each
    /// taken to finish half a solution.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let s = self.samples.as_ref()?;
        let q = self
            .config
            .questions
            .or(s.questions)
            .unwrap_or(shape.rows("train"));
        let rollouts =
            (q * s.n * self.config.rollouts_per_step) as f64 * (shape.steps - 1.0).max(0.0);
        let tokens = shape.generated(rollouts) / 2.0;
        Some(shape.policy_work(WorkKind::Generate, tokens))
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "labels": self.config })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![layout.split_file("train"), layout.samples_file("train")];
        i.extend(checkpoint_inputs(&layout.policy_dir(false)));
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        prompt_files(&layout.policy_dir(false))
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.labels_file()]
    }
    fn command(&self) -> String {
        "label".into()
    }
    fn sharded(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let ls = &self.config;
        let pdir = ctx.layout.policy_dir(false);
        let sdir = ctx.layout.samples_dir("train");
        let sfile = sdir.join("samples.parquet");
        let split_path = ctx.layout.split_file("train");
        let problems: Vec<Problem> = load_problems(&split_path)?;
        let samples: Vec<SampleRow> = ttc_core::table::read_parquet(&sfile)?;
        let n_q = samples
            .iter()
            .map(|r| r.question_index as usize + 1)
            .max()
            .unwrap_or(0);
        let n_q = ls.questions.map_or(n_q, |q| q.min(n_q));
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
        let out = ctx.layout.labels_dir();
        if ctx.force {
            let _ = std::fs::remove_dir_all(&out);
        }
        let started = Instant::now();
        let spec = ls.engine.clone().unwrap_or_default();
        let (model, tok) = load_model(&pdir, &spec)?;
        let engine = Engine::new(model.as_ref(), &tok)?
            .with_prompt(PromptTemplate::load(&pdir)?)
            .with_long_prompts(spec.long_prompts);
        let file = out.join("labels.parquet");
        let parts = Parts::open(&file, ls.chunk, n_q, &ctx.fingerprint)?;
        let sampling = ls.sampling();
        // Each chunk's token counts sit beside its part (written first, so a finished part
        // always has them).
        let stats_path = |c: usize| parts.sidecar(c, "stats", "json");
        let complete = run_parts(ctx, &parts, "label", |c, r| {
            let (rows, s) = label_questions(&engine, &problems[r.clone()], &grouped[r], &sampling)?;
            ttc_core::atomic::write_atomic(&stats_path(c), &serde_json::to_vec(&s)?)?;
            Ok(rows)
        })?;
        if !complete {
            eprintln!(
                "label: shard {} done; other shards pending (then `ttc merge`)",
                ctx.shard
            );
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
        let mut m = Manifest::new("label", &self.config(), ls.seed);
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
}
