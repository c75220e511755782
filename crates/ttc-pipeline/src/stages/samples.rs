//! `ttc sample --split train|test|revision`: N policy samples per question (DESIGN §5, §7),
//! graded and step-checked, written as parquet in resumable parts, `--shard i/n`-able,
//! merged when complete.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ttc_core::manifest::Manifest;
use ttc_data::rows::SampleRow;
use ttc_data::shards::Parts;
use ttc_engine::Engine;
use ttc_jobs::sampling::sample_questions;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

use crate::preset::{Preset, SamplesConfig, nonzero};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs, prompt_files};
use crate::run::parts::run_parts;
use crate::run::stage::{Ctx, Stage};
use ttc_engine::load_model;

/// Which samples: of train questions for MC labels (`[samples]`), of test questions for
/// PRM evaluation and best-of-N (`[test_samples]`), or high-temperature samples of train
/// questions for revision data (`[revision_samples]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSplit {
    Train,
    Test,
    Revision,
}

impl SampleSplit {
    pub fn parse(s: &str) -> Result<SampleSplit> {
        Ok(match s {
            "train" => SampleSplit::Train,
            "test" => SampleSplit::Test,
            "revision" => SampleSplit::Revision,
            other => bail!("--split: expected train, test or revision, got {other:?}"),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            SampleSplit::Train => "train",
            SampleSplit::Test => "test",
            SampleSplit::Revision => "revision",
        }
    }
    /// The dataset split its questions come from (`revision` samples train questions).
    pub fn data_split(self) -> &'static str {
        match self {
            SampleSplit::Test => "test",
            _ => "train",
        }
    }
    /// The preset section that configures it.
    pub fn section(self) -> &'static str {
        match self {
            SampleSplit::Train => "samples",
            SampleSplit::Test => "test_samples",
            SampleSplit::Revision => "revision_samples",
        }
    }
    /// The stage id (`samples`, `test-samples`, `revision-samples`).
    pub fn stage_id(self) -> &'static str {
        match self {
            SampleSplit::Train => "samples",
            SampleSplit::Test => "test-samples",
            SampleSplit::Revision => "revision-samples",
        }
    }
}

pub struct SamplesStage {
    split: SampleSplit,
    config: SamplesConfig,
}

impl SamplesStage {
    /// The stage of `split`; an error when the preset lacks or misconfigures its section.
    pub fn new(preset: &Preset, split: SampleSplit) -> Result<SamplesStage> {
        let s = match split {
            SampleSplit::Train => &preset.samples,
            SampleSplit::Test => &preset.test_samples,
            SampleSplit::Revision => &preset.revision_samples,
        };
        let mut config = s
            .clone()
            .with_context(|| format!("preset has no [{}] section", split.section()))?;
        config.engine = Some(crate::preset::engine_choice::resolve(
            preset,
            &config.engine,
        ));
        config.sampling().validate(split.section())?;
        nonzero(split.section(), "questions", config.questions)?;
        nonzero(split.section(), "chunk", Some(config.chunk))?;
        Ok(SamplesStage { split, config })
    }
}

impl Stage for SamplesStage {
    fn id(&self) -> String {
        self.split.stage_id().into()
    }
    /// `n` solutions of each of its questions.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let solutions = self.config.solutions(shape.rows(self.split.data_split()));
        Some(shape.policy_work(WorkKind::Generate, shape.generated(solutions as f64)))
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ self.split.section(): self.config, "split": self.split.name() })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = checkpoint_inputs(&layout.policy_dir(false));
        i.push(layout.split_file(self.split.data_split()));
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        prompt_files(&layout.policy_dir(false))
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.samples_file(self.split.name())]
    }
    fn command(&self) -> String {
        format!("sample --split {}", self.split.name())
    }
    fn sharded(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let st = &self.config;
        let pdir = ctx.layout.policy_dir(false);
        let split_path = ctx.layout.split_file(self.split.data_split());
        let mut problems = load_problems(&split_path)?;
        if let Some(q) = st.questions {
            problems.truncate(q);
        }
        let out = ctx.layout.samples_dir(self.split.name());
        if ctx.force {
            let _ = std::fs::remove_dir_all(&out);
        }
        let started = Instant::now();
        let spec = self.config.engine.clone().unwrap_or_default();
        let (model, tok) = load_model(&pdir, &spec)?;
        let engine = Engine::new(model.as_ref(), &tok)?
            .with_prompt(PromptTemplate::load(&pdir)?)
            .with_long_prompts(spec.long_prompts);
        let file = out.join("samples.parquet");
        let parts = Parts::open(&file, st.chunk, problems.len(), &ctx.fingerprint)?;
        let sampling = st.sampling();
        let complete = run_parts(ctx, &parts, "sample", |_, r| {
            Ok(sample_questions(
                &engine,
                &problems[r.clone()],
                r.start,
                &sampling,
            )?)
        })?;
        if !complete {
            eprintln!(
                "sample: shard {} done; other shards pending (then `ttc merge`)",
                ctx.shard
            );
            return Ok(());
        }
        let rows: Vec<SampleRow> = parts.merge()?;
        let mut m = Manifest::new("sample", &self.config(), st.seed);
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
}
