//! Pipeline presets (`pipelines/*.toml`): one file configures every stage of a run.
//! Unknown keys and wrong types fail at load, naming the file, line and key.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use ttc_model::engine_spec::EngineSpec;
use ttc_search::select::Aggregation;
use ttc_task::arith::ArithConfig;
use ttc_task::tokenizer::TokenizerConfig;

pub mod engine_choice;
mod extends;
mod load;
mod policy;
mod prm;
mod revision;
mod search_verifier;
mod slurm;
mod verifier;
pub use policy::PolicyConfig;
pub use prm::{PRM_INIT_NAMES, PrmConfig, PrmHead, PrmVariant};
pub use revision::{ChainsConfig, OrmConfig, RevisionConfig};
pub use search_verifier::{LIKELIHOOD_SUFFIX, SearchVerifier};
pub use slurm::{JobResources, SlurmSection};
pub use verifier::{VerifierConfig, VerifierInit, likelihood_name};

/// A whole run's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Run name: outputs go to `datasets/<name>/`, `checkpoints/<name>/`, `reports/<name>/`.
    pub name: String,
    /// The synthetic task and its splits (or `[problems]`).
    #[serde(default)]
    pub data: Option<ArithConfig>,
    /// Problem files in the MATH-500 JSONL schema instead of the synthetic task.
    #[serde(default)]
    pub problems: Option<ProblemFiles>,
    /// Models brought from elsewhere (HF directories) instead of trained here.
    #[serde(default)]
    pub import: Option<ImportSection>,
    /// The BPE tokenizer trained on the train split.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
    /// The policy (SFT from scratch).
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// The ~14× larger policy for the FLOPs-matched comparison.
    #[serde(default)]
    pub policy_large: Option<PolicyConfig>,
    /// A language model trained past the policy, whose likelihood verifies.
    #[serde(default)]
    pub verifier: Option<VerifierConfig>,
    /// Policy samples of train questions, the solutions the MC labels are computed on.
    #[serde(default)]
    pub samples: Option<SamplesConfig>,
    /// Monte Carlo step labels.
    #[serde(default)]
    pub labels: Option<LabelsConfig>,
    /// The process reward model.
    #[serde(default)]
    pub prm: Option<PrmConfig>,
    /// Policy samples of test questions (PRM evaluation, best-of-N, majority, bins).
    #[serde(default)]
    pub test_samples: Option<SamplesConfig>,
    /// Search strategies over the PRM (`ttc search`).
    #[serde(default)]
    pub search: Option<SearchRunsConfig>,
    /// High-temperature samples of train questions for revision data (paper: 64 at T=1).
    #[serde(default)]
    pub revision_samples: Option<SamplesConfig>,
    /// Revision trajectories and the revision model's fine-tuning.
    #[serde(default)]
    pub revision: Option<RevisionConfig>,
    /// The analysis stages' knobs (sweep seeds, difficulty bins, the CV seed).
    #[serde(default)]
    pub analysis: AnalysisSection,
    /// How `ttc pipeline run` treats this preset's stages.
    #[serde(default)]
    pub pipeline: PipelineSection,
    /// The backend every generating and scoring stage runs on unless its section names
    /// its own (`engine = { … }` in `[samples]`, `[labels]`, `[search]`, …).
    #[serde(default)]
    pub engine: Option<EngineSpec>,
    /// What each job asks a Slurm cluster for (`ttc pipeline submit --executor slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmSection>,
}

/// `[analysis]`: how the sweep, the difficulty bins and compute-optimal selection run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSection {
    /// Random subsets per budget for the sampling strategies (sweep).
    #[serde(default = "default_sweep_seeds")]
    pub seeds: u64,
    /// Difficulty bins (bins, compute-optimal, exchange).
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Equal-width bins of pass@1 (≥0.8, ≥0.6, …) instead of quantiles.
    #[serde(default)]
    pub absolute: bool,
    /// Seeds the two-fold split of questions in compute-optimal selection.
    #[serde(default = "default_cv_seed")]
    pub cv_seed: u64,
    /// The same for the sequential:parallel revision ratios.
    #[serde(default = "default_revision_cv_seed")]
    pub revision_cv_seed: u64,
    /// Seeds the report's paired bootstrap intervals (the findings' verdicts).
    #[serde(
        default = "default_bootstrap_seed",
        skip_serializing_if = "is_default_bootstrap_seed"
    )]
    pub bootstrap_seed: u64,
}

impl AnalysisSection {
    /// This section with a command line's overrides: seeds and bins where given, absolute
    /// bins when asked for.
    pub fn overridden(&self, seeds: Option<u64>, bins: Option<usize>, absolute: bool) -> Self {
        let mut a = self.clone();
        a.seeds = seeds.unwrap_or(a.seeds);
        a.bins = bins.unwrap_or(a.bins);
        a.absolute |= absolute;
        a
    }
}

fn default_bootstrap_seed() -> u64 {
    17
}

fn is_default_bootstrap_seed(s: &u64) -> bool {
    *s == default_bootstrap_seed()
}

impl Default for AnalysisSection {
    fn default() -> Self {
        AnalysisSection {
            seeds: default_sweep_seeds(),
            bins: default_bins(),
            absolute: false,
            cv_seed: default_cv_seed(),
            revision_cv_seed: default_revision_cv_seed(),
            bootstrap_seed: default_bootstrap_seed(),
        }
    }
}

fn default_sweep_seeds() -> u64 {
    8
}
fn default_bins() -> usize {
    5
}
fn default_cv_seed() -> u64 {
    17
}
fn default_revision_cv_seed() -> u64 {
    19
}

/// What a PRM trains on: `soft` / `hard` Monte Carlo labels, or `truth` (the step
/// checker's verdicts; the synthetic task's upper-bound ablation).
pub use ttc_train::prm::StepTarget as LabelKind;

/// The PRM ablation a stage works on: `labels` unless they are the preset's own `[prm]
/// labels` (those are the PRM of `prm/`).
pub fn prm_ablation(preset: &Preset, labels: Option<LabelKind>) -> Option<LabelKind> {
    let own = preset.prm.as_ref().map(|c| c.labels).unwrap_or_default();
    labels.filter(|&l| l != own)
}

/// A search strategy of `[[search.runs]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    Majority,
    Bon,
    WeightedBon,
    Beam,
    Lookahead,
    Dvts,
    /// Particle filtering (`iterations` > 1: particle Gibbs).
    Pf,
    Rebase,
    /// Adaptive voting, early-stopping self-consistency's rule.
    Esc,
    /// Adaptive voting, Adaptive-Consistency's Beta rule.
    Adaptive,
    /// DeepConf: confidence-filtered, confidence-weighted voting.
    Deepconf,
}

impl StrategyName {
    /// The name `ttc search --strategy` takes.
    pub fn name(self) -> &'static str {
        match self {
            StrategyName::Majority => "majority",
            StrategyName::Bon => "bon",
            StrategyName::WeightedBon => "weighted-bon",
            StrategyName::Beam => "beam",
            StrategyName::Lookahead => "lookahead",
            StrategyName::Dvts => "dvts",
            StrategyName::Pf => "pf",
            StrategyName::Rebase => "rebase",
            StrategyName::Esc => "esc",
            StrategyName::Adaptive => "adaptive",
            StrategyName::Deepconf => "deepconf",
        }
    }
}

/// `[problems]`: JSONL files with `problem, solution, answer, subject, level, unique_id`
/// rows (MATH-500's schema); paths relative to the preset file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemFiles {
    pub test: PathBuf,
    pub train: Option<PathBuf>,
    pub val: Option<PathBuf>,
}

impl ProblemFiles {
    /// (split, file) of every split given.
    pub fn splits(&self) -> Vec<(&'static str, &Path)> {
        [
            ("train", self.train.as_deref()),
            ("val", self.val.as_deref()),
            ("test", Some(self.test.as_path())),
        ]
        .into_iter()
        .filter_map(|(s, p)| p.map(|p| (s, p)))
        .collect()
    }
}

/// `[import]`: a user's HF checkpoints (`config.json`, `model.safetensors`,
/// `tokenizer.json`), used as they are; paths relative to the preset file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSection {
    /// The policy: a `…ForCausalLM` directory.
    pub policy: PathBuf,
    /// The policy's prompt, `{problem}` standing for the problem (an instruct model's chat
    /// template, say). Default: ttc's `Problem: …\nSolution:\n`.
    pub prompt: Option<String>,
    /// A process reward model: a one-label score-head directory (ttc's PRM format).
    pub prm: Option<PathBuf>,
    /// The PRM's prompt (default: `prompt`).
    pub prm_prompt: Option<String>,
    /// A larger policy of the same family for the FLOPs-matched exchange (e.g. 14B–32B
    /// beside a 1.5B policy): greedy pass@1 on the test split, prompted as the policy.
    pub policy_large: Option<PathBuf>,
    /// Prompt the policy with its tokenizer's own chat template (`tokenizer_config.json`),
    /// the problem as the user's turn: `chat = { system = "…", kwargs = { … } }` (both
    /// optional). Instead of `prompt`.
    pub chat: Option<ttc_task::chat_template::ChatOptions>,
    /// The PRM's chat prompt (default: `chat`, when neither `prm_prompt` nor this is given).
    pub prm_chat: Option<ttc_task::chat_template::ChatOptions>,
    /// How the PRM reads steps: `ttc` (default; a one-label score head), `math-shepherd`,
    /// `rlhflow` or `qwen2.5-math-prm` (each with its own text and prompt by default).
    pub prm_format: Option<ttc_jobs::prm_format::PrmFormat>,
}

/// `[pipeline]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Stages `ttc pipeline run` never runs itself (e.g. `policy-large`, hours on a CPU):
    /// run them by hand (`just stage policy-large`); until they are done, the stages that need
    /// them wait and the report leaves them out.
    #[serde(default)]
    pub manual: Vec<String>,
}

/// Knobs of `ttc search` (DESIGN §8 defaults); the strategy and N come from the CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRunsConfig {
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    #[serde(default = "default_eval_tokens")]
    pub max_new_tokens: usize,
    /// Beam-search / DVTS rounds before unfinished paths end.
    #[serde(default = "default_max_rounds")]
    pub max_rounds: usize,
    /// Beam width M (0: √N).
    #[serde(default = "default_width")]
    pub width: usize,
    /// Step-score aggregation: last, min, prod or mean.
    #[serde(default = "default_aggregation")]
    pub aggregation: Aggregation,
    #[serde(default)]
    pub seed: u64,
    /// Use only the first this many test questions (all when absent).
    pub questions: Option<usize>,
    /// Questions searched together (one batch; one resumable part).
    #[serde(default = "default_search_chunk")]
    pub chunk: usize,
    /// The searches `ttc pipeline run` performs (`[[search.runs]]`); majority and
    /// best-of-N need none (the sweep subsamples the test samples for them).
    #[serde(default)]
    pub runs: Vec<SearchRun>,
    /// The policy's engine (the preset's `[engine]` when absent).
    #[serde(default, skip_serializing_if = "is_default_engine")]
    pub engine: Option<EngineSpec>,
    /// The PRM's engine (this section's `engine` when absent): the verifier may run on
    /// another backend or device than the policy.
    #[serde(default, skip_serializing_if = "is_default_engine")]
    pub verifier_engine: Option<EngineSpec>,
}

/// One strategy of the pipeline's search stage, run at each of `budgets`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRun {
    /// majority, bon, weighted-bon, beam, lookahead, dvts, pf, rebase, esc, adaptive or
    /// deepconf.
    pub strategy: StrategyName,
    /// Generation budgets N.
    pub budgets: Vec<usize>,
    /// Beam width M (0: √N); the section's `width` when absent.
    pub width: Option<usize>,
    /// Lookahead steps k (strategy `lookahead`).
    #[serde(default = "default_lookahead")]
    pub lookahead: usize,
    /// Drop candidates whose text repeats an earlier candidate's.
    #[serde(default)]
    pub dedup: bool,
    /// What scores the steps: `prm` (the default) or `likelihood` (the policy's own).
    #[serde(default, skip_serializing_if = "SearchVerifier::is_prm")]
    pub verifier: SearchVerifier,
    /// Particle filtering's / REBASE's weight temperature (defaults 1 and 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_temperature: Option<f32>,
    /// Particle filtering's resampling: `multinomial` (its_hub's) or `systematic`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resampling: ttc_search::Resampling,
    /// Particle Gibbs iterations (1: particle filtering); N = particles × iterations.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub iterations: usize,
    /// Particle filtering answers with its highest-weight particle, not a weighted vote.
    #[serde(default, skip_serializing_if = "is_default")]
    pub best_particle: bool,
    /// Adaptive voting: samples drawn per question before each stopping check.
    #[serde(default = "default_window", skip_serializing_if = "is_default_window")]
    pub window: usize,
    /// Adaptive voting (`adaptive`): stop once P(leading answer leads) ≥ this.
    #[serde(
        default = "default_confidence",
        skip_serializing_if = "is_default_confidence"
    )]
    pub confidence: f64,
    /// DeepConf: tokens per sliding confidence window (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// DeepConf: the share of traces, most confident first, that vote (default 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<f32>,
    /// DeepConf: log-probabilities per token its confidence averages (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<usize>,
    /// DeepConf online: warm-up traces that set the early-stop threshold (0: offline).
    #[serde(default, skip_serializing_if = "is_default")]
    pub warmup: usize,
    /// DeepConf online: where a trace stops once below the threshold — `"token"` (the
    /// default: at that token, in a local decode; a server stops at step boundaries) or
    /// `"step"` (at the next step boundary on every engine, so local and served runs agree).
    #[serde(default, skip_serializing_if = "is_default")]
    pub stop_at: StopAt,
}

/// Where DeepConf online stops a trace below its threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopAt {
    #[default]
    Token,
    Step,
}

impl SearchRun {
    /// The strategy knobs this run sets (the width is resolved against `[search]`).
    pub fn knobs(&self) -> ttc_search::Knobs {
        let d = ttc_search::Knobs::default();
        ttc_search::Knobs {
            group: self.group.unwrap_or(d.group),
            keep: self.keep.unwrap_or(d.keep),
            top_logprobs: self.top_logprobs.unwrap_or(d.top_logprobs),
            warmup: self.warmup,
            stop_at_steps: self.stop_at == StopAt::Step,
            width: self.width.unwrap_or(0),
            lookahead: self.lookahead,
            dedup: self.dedup,
            temperature: self.weight_temperature,
            resampling: self.resampling,
            iterations: self.iterations,
            pick_best: self.best_particle,
            window: self.window,
            confidence: self.confidence,
        }
    }
}

fn default_lookahead() -> usize {
    2
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

fn default_window() -> usize {
    ttc_search::Knobs::default().window
}

fn is_default_window(v: &usize) -> bool {
    *v == default_window()
}

fn default_confidence() -> f64 {
    ttc_search::Knobs::default().confidence
}

fn is_default_confidence(v: &f64) -> bool {
    *v == default_confidence()
}

impl Default for SearchRunsConfig {
    fn default() -> Self {
        SearchRunsConfig {
            temperature: default_temperature(),
            top_p: default_top_p(),
            max_new_tokens: default_eval_tokens(),
            max_rounds: default_max_rounds(),
            width: default_width(),
            aggregation: default_aggregation(),
            seed: 0,
            questions: None,
            chunk: default_search_chunk(),
            runs: Vec::new(),
            engine: None,
            verifier_engine: None,
        }
    }
}

fn default_max_rounds() -> usize {
    40
}
fn default_width() -> usize {
    4
}
fn default_aggregation() -> Aggregation {
    Aggregation::Last
}
fn default_search_chunk() -> usize {
    50
}

/// A sampling stage: `n` solutions per question of (the first `questions` of) a split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesConfig {
    pub n: usize,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    #[serde(default = "default_eval_tokens")]
    pub max_new_tokens: usize,
    #[serde(default)]
    pub seed: u64,
    /// Use only the first this many questions of the split (all when absent).
    pub questions: Option<usize>,
    /// Questions per resumable part (and per `--shard` unit).
    #[serde(default = "default_chunk")]
    pub chunk: usize,
    /// This stage's engine (`{ backend, device, dtype }`); the preset's `[engine]` when absent.
    #[serde(default, skip_serializing_if = "is_default_engine")]
    pub engine: Option<EngineSpec>,
}

impl SamplesConfig {
    /// The solutions it samples: `n` for each of its questions (each of the split's
    /// `split_rows` when it names no number).
    pub fn solutions(&self, split_rows: usize) -> usize {
        self.questions.unwrap_or(split_rows) * self.n
    }

    pub fn sampling(&self) -> ttc_jobs::sampling::SampleConfig {
        ttc_jobs::sampling::SampleConfig {
            n: self.n,
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            seed: self.seed,
        }
    }
}

/// MC labelling: `rollouts_per_step` continuations from every step prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    pub rollouts_per_step: usize,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    #[serde(default = "default_eval_tokens")]
    pub max_new_tokens: usize,
    #[serde(default)]
    pub seed: u64,
    /// Questions per resumable part.
    #[serde(default = "default_chunk")]
    pub chunk: usize,
    /// Roll out only the samples of the first this many questions (default: every sampled
    /// question). With `[prm] outcome_labels`, the others still train the PRM's last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questions: Option<usize>,
    /// This stage's engine (`{ backend, device, dtype }`); the preset's `[engine]` when absent.
    #[serde(default, skip_serializing_if = "is_default_engine")]
    pub engine: Option<EngineSpec>,
}

impl LabelsConfig {
    pub fn sampling(&self) -> ttc_jobs::sampling::SampleConfig {
        ttc_jobs::sampling::SampleConfig {
            n: self.rollouts_per_step,
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            seed: self.seed,
        }
    }
}

/// No engine choice, or the default (cpu) one: left out of a serialized section, so presets
/// without `[engine]` keep their fingerprints.
pub fn is_default_engine(e: &Option<EngineSpec>) -> bool {
    e.as_ref().is_none_or(|e| *e == EngineSpec::cpu())
}

pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn default_temperature() -> f32 {
    ttc_core::sampling_rules::DEFAULT_TEMPERATURE
}
fn default_top_p() -> f32 {
    ttc_core::sampling_rules::DEFAULT_TOP_P
}
fn default_chunk() -> usize {
    16
}
pub(crate) fn default_label_kind() -> LabelKind {
    LabelKind::Soft
}
fn default_eval_tokens() -> usize {
    320
}
pub(crate) fn default_val_fraction() -> f64 {
    0.1
}

/// `[section] key`, when given, must be at least 1 (zero work is a mistake, not a no-op).
pub fn nonzero(section: &str, key: &str, v: Option<usize>) -> Result<()> {
    if v == Some(0) {
        anyhow::bail!("[{section}] {key}: must be at least 1");
    }
    Ok(())
}
