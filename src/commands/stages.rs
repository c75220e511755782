//! The per-stage subcommands: each parses its flags into the pipeline crate's stage type
//! and hands it to the runner, which skips it when up to date, runs it and records it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_data::shards::Shard;
use ttc_pipeline::layout::Layout;
use ttc_pipeline::preset::Preset;
use ttc_pipeline::record::Hashes;
use ttc_pipeline::runner::{Options, run_stage};
use ttc_pipeline::stage::{Mode, Stage};
use ttc_pipeline::stages::analysis::{AnalysisArgs, BinsStage, ComputeOptimalStage, SweepStage};
use ttc_pipeline::stages::data::DataStage;
use ttc_pipeline::stages::eval_policy::EvalPolicyStage;
use ttc_pipeline::stages::exchange::ExchangeStage;
use ttc_pipeline::stages::import::ImportStage;
use ttc_pipeline::stages::labels::LabelsStage;
use ttc_pipeline::stages::orm::{OrmTrainStage, RevisionEvalStage};
use ttc_pipeline::stages::policy::PolicyStage;
use ttc_pipeline::stages::prm_eval::PrmEvalStage;
use ttc_pipeline::stages::prm_train::PrmTrainStage;
use ttc_pipeline::stages::revision::{ChainsStage, RevisionTrainStage, RevisionsBuildStage};
use ttc_pipeline::stages::samples::{SampleSplit, SamplesStage};
use ttc_pipeline::stages::search::{SearchArgs as SearchOptions, SearchRunStage};
use ttc_pipeline::stages::tokenizer::TokenizerStage;
use ttc_search::select::Aggregation;

use crate::dirs::Dirs;

/// A preset and whether to start over.
#[derive(Args)]
pub struct PresetArgs {
    /// Pipeline preset (TOML), e.g. pipelines/default.toml.
    #[arg(long)]
    pub preset: PathBuf,
    /// Start over even if the output is up to date (drops finished parts and checkpoints).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Generate `datasets/<run>/{train,val,test}.jsonl` and `manifest.json` from a preset's
    /// `[data]` section (or copy its `[problems]` files, checked row by row). Same seed,
    /// same bytes. Skipped when already up to date.
    Gen(PresetArgs),
}

#[derive(Subcommand)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE (digits one per token, ttc's special tokens) on
    /// `datasets/<run>/train.jsonl`; write `checkpoints/<run>/tokenizer/tokenizer.json`.
    /// Every training row is checked to round-trip exactly.
    Train(PresetArgs),
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Check `[import] policy` (an HF `…ForCausalLM` directory) and copy it to
    /// checkpoints/<run>/policy/ with its prompt format.
    Policy(PresetArgs),
    /// Check `[import] prm` (a one-label score-head directory, ttc's PRM format) and copy
    /// it to checkpoints/<run>/prm/.
    Prm(PresetArgs),
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning of the policy on the train split (prompt tokens masked):
    /// AdamW, warmup + cosine, clipping, validation loss; resumes a killed run from its
    /// last checkpoint; ends with greedy pass@1 per level on the validation split.
    /// Writes checkpoints/<run>/policy/ (or policy-large/ with --large).
    Policy(PolicyArgs),
    /// The process reward model: the policy's backbone with a score head, trained with
    /// soft-label BCE at each step's last token on the MC labels; early stopping on the
    /// held-out questions' loss. Writes checkpoints/<run>/prm/ (prm-hard/ with --hard).
    Prm(PrmArgs),
    /// The revision model: fine-tuned from the policy on revision trajectories (previous
    /// wrong attempts in the prompt, loss on the correct target); keeps the checkpoint at
    /// the validation-loss minimum. Writes checkpoints/<run>/revision/.
    Revision(PresetArgs),
    /// The revision verifier: an outcome model (score head on the revision model) trained
    /// on revision chains of train questions with the previous attempts in context; label =
    /// the attempt's correctness. Writes checkpoints/<run>/orm/.
    Orm(PresetArgs),
}

#[derive(Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Train the ~14× larger policy (`[policy_large]`) instead of `[policy]`.
    #[arg(long)]
    pub large: bool,
}

#[derive(Args)]
pub struct PrmArgs {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Use hard labels (any rollout right) instead of the preset's `[prm] labels`;
    /// writes checkpoints/<run>/prm-hard/.
    #[arg(long)]
    pub hard: bool,
}

#[derive(Args)]
pub struct SampleArgs {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Split: `train` uses the preset's [samples] (for MC labels), `test` its
    /// [test_samples] (for PRM evaluation and best-of-N), `revision` its
    /// [revision_samples] on train questions (high-temperature, for revision data).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Run only chunks c with c % n == i (one Slurm array task); `ttc merge` joins them.
    #[arg(long)]
    pub shard: Option<Shard>,
}

#[derive(Args)]
pub struct LabelArgs {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Run only chunks c with c % n == i; `ttc merge` joins them.
    #[arg(long)]
    pub shard: Option<Shard>,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Pipeline preset (TOML); its optional [search] section sets sampling, rounds, width,
    /// aggregation, seed and how many questions.
    #[arg(long)]
    pub preset: PathBuf,
    /// majority | bon | weighted-bon | beam | lookahead | dvts.
    #[arg(long)]
    pub strategy: String,
    /// Budget N: samples, beams, or DVTS leaves.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Beam width M (beam, lookahead, dvts); 0 = √N. Default: the preset's (4).
    #[arg(long)]
    pub width: Option<usize>,
    /// Lookahead steps k (strategy `lookahead`).
    #[arg(long, default_value_t = 2)]
    pub lookahead: usize,
    /// Drop beam candidates whose text repeats an earlier candidate's.
    #[arg(long)]
    pub dedup: bool,
    /// Step-score aggregation: last | min | prod | mean. Default: the preset's (last).
    #[arg(long)]
    pub aggregation: Option<String>,
    /// Dataset split to search.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only the first this many questions (default: the preset's, else all).
    #[arg(long)]
    pub questions: Option<usize>,
    /// Use the PRM trained on hard labels (checkpoints/<run>/prm-hard).
    #[arg(long)]
    pub hard: bool,
    /// Run only chunks c with c % n == i (one Slurm array task).
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum RevisionsCommand {
    /// Revision trajectories from the high-temperature samples (`ttc sample --split
    /// revision`): for each correct sample, k ~ U{0..max_attempts} previous wrong attempts
    /// (the last the nearest in edit distance), target = the correct sample.
    /// Writes datasets/<run>/revisions/trajectories.parquet.
    Build(PresetArgs),
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
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Greedy pass@1 of the trained policy on a split, overall and per level; writes
    /// checkpoints/<run>/policy/pass_at_1_<split>.json and prints one JSON line.
    Policy(PolicyEvalArgs),
    /// The PRM: step AUROC vs MC labels (held-out questions), first-error F1 vs the step
    /// checker, calibration, and best-of-N (vanilla, weighted) vs majority at N = 1, 4,
    /// 16, 64 on the test samples. Writes reports/<run>/prm/.
    Prm(PrmArgs),
    /// Selection over revision chains of the test split: last answer, majority and
    /// ORM-weighted best-of-N within a chain, hierarchical and flat majority across chains,
    /// at chain lengths 1, 2, 4, …. Writes reports/<run>/revisions/selection.csv.
    Revisions(PresetArgs),
    /// Accuracy against budget N = 1, 2, 4, … : majority / best-of-N / weighted best-of-N
    /// over random subsets of the test samples (several seeds), plus every `ttc search`
    /// result. Writes reports/<run>/sweep/{rows.parquet, accuracy.csv} (95% intervals).
    Sweep(AnalysisFlags),
    /// Difficulty bins of the test questions: oracle pass@1 over the test samples and the
    /// PRM's mean final score (predicted), each cut into quantile bins (1 = easiest).
    /// Writes reports/<run>/bins/.
    Bins(AnalysisFlags),
    /// Two-fold cross-validated compute-optimal accuracy per bin and budget (oracle and
    /// predicted bins) and its efficiency against weighted best-of-N. Writes
    /// reports/<run>/compute_optimal/.
    ComputeOptimal(AnalysisFlags),
    /// FLOPs-matched exchange (Snell §7): the policy with compute-optimal test-time compute
    /// against the ~14× larger policy's greedy answers, per difficulty bin, at
    /// R = D_inference/D_pretrain ∈ {0.16, 0.79, 22}. Needs `ttc eval policy --large`.
    /// Writes reports/<run>/exchange/exchange.csv.
    Exchange(AnalysisFlags),
}

#[derive(Args)]
pub struct PolicyEvalArgs {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate the larger policy (policy-large/).
    #[arg(long)]
    pub large: bool,
}

/// The analysis stages' flags; each overrides the preset's `[analysis]`.
#[derive(Args)]
pub struct AnalysisFlags {
    #[command(flatten)]
    pub common: PresetArgs,
    /// Random subsets per budget for the sampling strategies (sweep). Default: the
    /// preset's `[analysis] seeds` (8).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Difficulty bins (bins, compute-optimal). Default: `[analysis] bins` (5).
    #[arg(long)]
    pub bins: Option<usize>,
    /// Absolute bins (bins): equal-width score ranges (5 bins: ≥0.8, ≥0.6, ≥0.4, ≥0.2, below)
    /// instead of quantiles, so a bin means the same pass@1 range on every run.
    #[arg(long)]
    pub absolute: bool,
}

impl AnalysisFlags {
    fn resolve(&self, preset: &Preset) -> AnalysisArgs {
        let mut a = preset.analysis.clone();
        if let Some(s) = self.seeds {
            a.seeds = s;
        }
        if let Some(b) = self.bins {
            a.bins = b;
        }
        a.absolute |= self.absolute;
        a
    }
}

/// The runner's options for one invocation.
pub fn options<'a>(
    preset: &'a Preset,
    preset_path: &'a Path,
    layout: &'a Layout,
    force: bool,
    shard: Option<Shard>,
    merge_only: bool,
) -> Options<'a> {
    Options {
        preset,
        preset_path,
        layout,
        mode: if merge_only {
            Mode::MergeOnly
        } else {
            Mode::Run
        },
        shard: shard.unwrap_or(Shard::ALL),
        force,
        progress: &crate::progress::Bars,
    }
}

/// Load `preset_path`, build its stage with `make`, and run it through the runner.
pub fn run_one(
    dirs: &Dirs,
    preset_path: &Path,
    force: bool,
    shard: Option<Shard>,
    merge_only: bool,
    make: impl FnOnce(&Preset) -> Result<Box<dyn Stage>>,
) -> Result<()> {
    let preset = Preset::load(preset_path)?;
    let stage = make(&preset)?;
    let layout = dirs.layout(&preset);
    let plan = ttc_pipeline::plan::plan(&preset)?;
    let o = options(&preset, preset_path, &layout, force, shard, merge_only);
    run_stage(stage.as_ref(), &plan, &o, &mut Hashes::default()).map(|_| ())
}

fn boxed<S: Stage + 'static>(s: S) -> Box<dyn Stage> {
    Box::new(s)
}

pub fn data(c: DataCommand, dirs: &Dirs) -> Result<()> {
    let DataCommand::Gen(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(DataStage::new(p)))
    })
}

pub fn tokenizer(c: TokenizerCommand, dirs: &Dirs) -> Result<()> {
    let TokenizerCommand::Train(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(TokenizerStage::new(p)))
    })
}

pub fn import(c: ImportCommand, dirs: &Dirs) -> Result<()> {
    let (a, prm) = match &c {
        ImportCommand::Policy(a) => (a, false),
        ImportCommand::Prm(a) => (a, true),
    };
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        let what = if prm { "prm" } else { "policy" };
        let s = ImportStage::new(p, prm)
            .with_context(|| format!("{}: no [import] {what}", a.preset.display()))?;
        Ok(boxed(s))
    })
}

pub fn train(c: TrainCommand, dirs: &Dirs) -> Result<()> {
    match c {
        TrainCommand::Policy(a) => {
            run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
                let s = PolicyStage::new(p, a.large).with_context(|| {
                    format!(
                        "{}: no [{}] section",
                        a.common.preset.display(),
                        if a.large { "policy_large" } else { "policy" }
                    )
                })?;
                Ok(boxed(s))
            })
        }
        TrainCommand::Prm(a) => run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
            Ok(boxed(PrmTrainStage::new(p, a.hard)?))
        }),
        TrainCommand::Revision(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(RevisionTrainStage::new(p)?))
        }),
        TrainCommand::Orm(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(OrmTrainStage::new(p)?))
        }),
    }
}

pub fn sample(a: &SampleArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    let split = SampleSplit::parse(&a.split)?;
    run_one(
        dirs,
        &a.common.preset,
        a.common.force,
        a.shard,
        merge_only,
        |p| Ok(boxed(SamplesStage::new(p, split)?)),
    )
}

pub fn label(a: &LabelArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    run_one(
        dirs,
        &a.common.preset,
        a.common.force,
        a.shard,
        merge_only,
        |p| Ok(boxed(LabelsStage::new(p)?)),
    )
}

pub fn search(a: &SearchArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    let aggregation = a
        .aggregation
        .as_deref()
        .map(|s| {
            Aggregation::parse(s).with_context(|| {
                format!("aggregation: expected last, min, prod or mean, got {s:?}")
            })
        })
        .transpose()?;
    let opts = SearchOptions {
        strategy: a.strategy.clone(),
        n: a.n,
        width: a.width,
        lookahead: a.lookahead,
        dedup: a.dedup,
        aggregation,
        split: a.split.clone(),
        questions: a.questions,
        hard: a.hard,
    };
    run_one(dirs, &a.preset, a.force, a.shard, merge_only, |p| {
        Ok(boxed(SearchRunStage::new(p, opts)?))
    })
}

pub fn revisions(c: RevisionsCommand, dirs: &Dirs) -> Result<()> {
    let RevisionsCommand::Build(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(RevisionsBuildStage::new(p)?))
    })
}

pub fn revise(a: &ReviseArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    run_one(dirs, &a.preset, a.force, a.shard, merge_only, |p| {
        Ok(boxed(ChainsStage::new(p, &a.split, a.questions)?))
    })
}

pub fn eval(c: EvalCommand, dirs: &Dirs) -> Result<()> {
    match c {
        EvalCommand::Policy(a) => {
            run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
                Ok(boxed(EvalPolicyStage::new(p, a.large, &a.split)?))
            })
        }
        EvalCommand::Prm(a) => run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
            Ok(boxed(PrmEvalStage::new(p, a.hard)))
        }),
        EvalCommand::Revisions(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(RevisionEvalStage::new(p)?))
        }),
        EvalCommand::Sweep(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                Ok(boxed(SweepStage::new(
                    f.resolve(p),
                    ttc_pipeline::plan::searches_of(p)?,
                )))
            })
        }
        EvalCommand::Bins(f) => run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
            Ok(boxed(BinsStage::new(f.resolve(p))))
        }),
        EvalCommand::ComputeOptimal(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                let revisions = p.revision.as_ref().is_some_and(|r| r.orm.is_some())
                    && p.revision_samples.is_some();
                Ok(boxed(ComputeOptimalStage::new(f.resolve(p), revisions)))
            })
        }
        EvalCommand::Exchange(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                Ok(boxed(ExchangeStage::new(f.resolve(p))))
            })
        }
    }
}

/// `ttc report`.
#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: PresetArgs,
}

pub fn report(a: &ReportArgs, dirs: &Dirs) -> Result<()> {
    run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
        Ok(boxed(ttc_pipeline::report::ReportStage::new(
            ttc_pipeline::plan::searches_of(p)?,
        )))
    })
}
