//! The flags of the per-stage subcommands (same names as before the pipeline crate: the
//! justfile, README and users' scripts keep working).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ttc_data::shards::Shard;
use ttc_pipeline::preset::{LabelKind, SearchVerifier};

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
    /// Check `[import] policy_large` (the exchange's larger `…ForCausalLM`) and copy it to
    /// checkpoints/<run>/policy-large/ with the policy's prompt format.
    PolicyLarge(PresetArgs),
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning of the policy on the train split (prompt tokens masked):
    /// AdamW, warmup + cosine, clipping, validation loss; resumes a killed run from its
    /// last checkpoint; ends with greedy pass@1 per level on the validation split.
    /// Writes checkpoints/<run>/policy/ (or policy-large/ with --large).
    Policy(PolicyArgs),
    /// The verifier (`[verifier]`): the policy's architecture trained past the policy
    /// (from its checkpoint for `epochs` more, or from scratch), whose likelihood scores
    /// the policy's solutions in `ttc eval prm` and in searches with `--verifier
    /// likelihood`; ends with greedy pass@1 per level on val. Writes
    /// checkpoints/<run>/verifier/.
    Verifier(PresetArgs),
    /// The process reward model: the policy's backbone with a score head, trained with
    /// BCE at each step's last token on the MC labels; early stopping on the held-out
    /// questions' loss. Writes checkpoints/<run>/prm/ (prm-<labels>/ with another --labels).
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
    /// Train on (eval: the PRM trained on) these labels instead of the preset's `[prm]
    /// labels`: soft (fraction of rollouts right), hard (any rollout right) or truth (the
    /// step checker's verdicts, arith only: the upper bound for Monte Carlo labels). Another
    /// kind than the preset's is an ablation in checkpoints/<run>/prm-<labels>/ (reports/<run>/prm-<labels>/).
    #[arg(long, value_parser = parse_labels, conflicts_with = "variant")]
    pub labels: Option<LabelKind>,
    /// Train (eval) the preset's `[[prm.variants]]` entry of this name instead of `[prm]`:
    /// checkpoints/<run>/prm-<name>/ (reports/<run>/prm-<name>/).
    #[arg(long)]
    pub variant: Option<String>,
}

fn parse_labels(s: &str) -> Result<LabelKind, String> {
    LabelKind::parse(s).ok_or_else(|| format!("expected soft, hard or truth, got {s:?}"))
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
    /// majority | bon | weighted-bon | beam | lookahead | dvts | pf (particle filtering;
    /// particle Gibbs with --iterations > 1) | rebase | esc (early-stopping
    /// self-consistency) | adaptive (Adaptive-Consistency's Beta rule) | deepconf
    /// (confidence-filtered voting from token log-probabilities).
    #[arg(long)]
    pub strategy: String,
    /// Budget N: samples, beams, DVTS leaves, particles × iterations, REBASE's width, or
    /// adaptive voting's cap.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Beam width M (beam, lookahead, dvts); 0 = √N rounded (at least 1). Default: the
    /// preset's (4).
    #[arg(long)]
    pub width: Option<usize>,
    /// Lookahead steps k (strategy `lookahead`).
    #[arg(long, default_value_t = 2)]
    pub lookahead: usize,
    /// Drop beam candidates whose text repeats an earlier candidate's.
    #[arg(long)]
    pub dedup: bool,
    /// Weight temperature of pf (softmax of logit(score) / T; default 1) and rebase
    /// (softmax of score / T; default 0.2).
    #[arg(long)]
    pub weight_temperature: Option<f32>,
    /// pf's resampling: multinomial (its_hub's) | systematic.
    #[arg(long, default_value = "multinomial", value_parser = parse_resampling)]
    pub resampling: ttc_search::Resampling,
    /// pf: particle Gibbs iterations (N particles split over them; 1 = particle filtering).
    #[arg(long, default_value_t = 1)]
    pub iterations: usize,
    /// pf answers with its highest-weight particle instead of a weighted vote.
    #[arg(long)]
    pub best_particle: bool,
    /// esc / adaptive: samples drawn per question before each stopping check.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// adaptive: stop once P(leading answer is the mode) ≥ this (Beta rule).
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// deepconf: tokens per sliding confidence window (a trace's confidence is its lowest
    /// window mean).
    #[arg(long, default_value_t = 16)]
    pub group: usize,
    /// deepconf: the share of traces, most confident first, that vote (0.1 = DeepConf-low,
    /// 0.9 = DeepConf-high).
    #[arg(long, default_value_t = 0.9)]
    pub keep: f32,
    /// deepconf: log-probabilities per token its confidence averages (asked of the engine
    /// or server as `logprobs`).
    #[arg(long, default_value_t = 5)]
    pub top_logprobs: usize,
    /// deepconf online: this many full warm-up traces set the threshold; the other traces
    /// stop where a window falls below it — at that token in a local decode, at the first
    /// step boundary on a server (0 = offline).
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// deepconf online: stop traces at step boundaries even in a local decode (as a server
    /// does), so local and served runs agree.
    #[arg(long)]
    pub stop_at_steps: bool,
    /// Step-score aggregation: last | min | prod | mean. Default: the preset's (last).
    #[arg(long)]
    pub aggregation: Option<String>,
    /// Dataset split to search.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only the first this many questions (default: the preset's, else all).
    #[arg(long)]
    pub questions: Option<usize>,
    /// Search over the PRM trained on these labels (soft, hard or truth;
    /// checkpoints/<run>/prm-<labels>/ when not the preset's `[prm] labels`).
    #[arg(long, value_parser = parse_labels)]
    pub labels: Option<LabelKind>,
    /// What scores the steps: `prm`, or `likelihood` — `exp(mean log p)` of the solution so
    /// far under the `[verifier]` model (checkpoints/<run>/verifier/) when the preset has
    /// one, else under the policy itself (no PRM needed; results in `<label>-likelihood/`).
    #[arg(long, default_value = "prm", value_parser = parse_verifier)]
    pub verifier: SearchVerifier,
    /// Run only chunks c with c % n == i (one Slurm array task).
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

fn parse_resampling(s: &str) -> Result<ttc_search::Resampling, String> {
    ttc_search::Resampling::parse(s)
        .ok_or_else(|| format!("expected multinomial or systematic, got {s:?}"))
}

fn parse_verifier(s: &str) -> Result<SearchVerifier, String> {
    SearchVerifier::parse(s).ok_or_else(|| format!("expected prm or likelihood, got {s:?}"))
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
    /// checker, the within-question AUROC of the last step's score (right vs wrong samples
    /// of one question, with a bootstrap interval), calibration, and best-of-N (vanilla,
    /// weighted) vs majority at N = 1, 4, 16, 64 on the test samples. Writes
    /// reports/<run>/prm/ (prm-<labels>/ for an ablation PRM).
    Prm(PrmArgs),
    /// Selection over revision chains of the test split: last answer, majority and
    /// ORM-weighted best-of-N within a chain, hierarchical and flat majority across chains,
    /// at chain lengths 1, 2, 4, …. Writes reports/<run>/revisions/selection.csv.
    Revisions(PresetArgs),
    /// Accuracy against budget N = 1, 2, 4, … : majority / best-of-N / weighted best-of-N
    /// over random subsets of the test samples (several seeds), plus the results of the
    /// preset's `[[search.runs]]` (other search directories are named and left out). Writes
    /// reports/<run>/sweep/{rows.parquet, accuracy.csv} (95% intervals).
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

/// `ttc report`.
#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: PresetArgs,
}
