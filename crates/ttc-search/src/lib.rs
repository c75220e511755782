//! ttc-search: test-time search over a step verifier (DESIGN §8; Snell et al. §5) and the
//! newer strategies (§13): particle filtering / Gibbs, REBASE, adaptive voting, DeepConf.
//!
//! The algorithms see the world through two traits:
//! - a [`Generator`] continues a batch of prefixes by one step, by up to k steps, or to the
//!   end (the policy on the forkable-KV sampler, or a scripted one in tests);
//! - a [`Verifier`] scores the new steps of a batch of partial solutions (the PRM with its own
//!   per-node KV cache, so a step is computed once however many children share it).
//!
//! [`search::run`] drives every question of a batch in lockstep: each round, all questions'
//! beams / subtrees go to the generator as one batch and to the verifier as one batch.
//! Every result carries its compute accounting ([`Accounting`]).

mod adaptive;
mod beam;
mod ctx;
mod deepconf;
mod dvts;
pub mod error;
mod particles;
mod rebase;
pub mod resample;
pub mod search;
pub mod select;
pub mod strategy;
pub mod tree;

pub use error::{Error, Result};
pub use resample::{Resampling, StopRule};
pub use search::{Outcome, run};
pub use strategy::{Knobs, STRATEGY_NAMES, SearchConfig, Selection, Strategy};
pub use tree::{Accounting, NodeId};

/// How far a continuation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// One step: up to and including the next step delimiter.
    Step,
    /// Up to k steps (fewer when the solution ends first).
    Steps(usize),
    /// To the end of the solution.
    End,
}

/// Continue `parent` (or the question's prompt when `None`) `children.len()` times; child
/// `j` becomes node `children[j]` and is sampled with seed `derive_seed(seed, j, ·)`.
#[derive(Debug, Clone)]
pub struct Request {
    pub question: usize,
    pub parent: Option<NodeId>,
    pub children: Vec<NodeId>,
    pub until: Until,
    /// Temperature 0 (argmax) instead of the configured sampling.
    pub greedy: bool,
    /// Tokens the path may still generate.
    pub budget: usize,
    pub seed: u64,
    /// Ask for each generated token's confidence from its top this-many log-probabilities
    /// (DeepConf); 0: none.
    pub confidence_top: usize,
    /// (window, threshold): stop a child at the token where the mean confidence of its
    /// last `window` generated tokens falls below `threshold` (DeepConf online; needs
    /// `confidence_top` > 0). Honoured by generators whose `stops_mid_step` is true.
    pub stop_below: Option<(usize, f32)>,
}

/// One sampled continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuation {
    /// Raw text appended to the parent (delimiters included).
    pub text: String,
    /// The solution ended (end-of-sequence or token budget); it is never continued.
    pub finished: bool,
    pub generated_tokens: usize,
    /// Tokens this continuation ran through the model.
    pub computed_tokens: usize,
    /// Per generated token, when the request asked (`confidence_top` = k > 0): DeepConf's
    /// token confidence −(1/k) Σ of the top-k log-probabilities (higher: more peaked).
    pub token_confidence: Vec<f32>,
}

/// The continuations of one [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// Tokens computed once for the request's shared prefix (a question's prompt the first
    /// time it is used).
    pub prefix_computed: usize,
    pub children: Vec<Continuation>,
}

/// Continues prefixes. Implementations keep per-node state (a KV cache) until released.
pub trait Generator {
    fn expand(&mut self, reqs: &[Request]) -> Result<Vec<Expansion>>;
    /// Nodes that will never be continued again.
    fn release(&mut self, nodes: &[NodeId]);
    /// Drop everything kept for a question.
    fn finish_question(&mut self, question: usize);
    /// Forward FLOPs per computed token (≈ 2 × parameters).
    fn flops_per_token(&self) -> f64;
    /// Whether [`Request::stop_below`] stops a child at its token (a local decode); when
    /// false, DeepConf online checks its traces at step boundaries instead.
    fn stops_mid_step(&self) -> bool {
        false
    }
}

/// Score the steps `steps[new_from..]` of `node` (whose parent is `parent`, `None` for the
/// prompt); the parent's steps were scored by an earlier call.
#[derive(Debug, Clone)]
pub struct ScoreRequest<'a> {
    pub question: usize,
    pub node: NodeId,
    pub parent: Option<NodeId>,
    pub steps: &'a [String],
    pub new_from: usize,
}

/// Scores of one [`ScoreRequest`]'s new steps, in (0, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub scores: Vec<f32>,
    pub computed_tokens: usize,
}

/// Scores steps. Implementations may keep per-node state until released.
pub trait Verifier {
    fn score(&mut self, reqs: &[ScoreRequest<'_>]) -> Result<Vec<Scored>>;
    fn release(&mut self, nodes: &[NodeId]);
    fn finish_question(&mut self, question: usize);
    fn flops_per_token(&self) -> f64;
}
