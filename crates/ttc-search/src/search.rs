//! The search driver: every strategy over a batch of questions in lockstep rounds.
//!
//! Documented rules (pinned by `tests/scripted.rs`):
//! - **Order and ties.** Candidates are ordered by (parent's rank, sample index); every
//!   "best" / "top k" is a stable sort on score, so equal scores keep that order. Final
//!   answers use `select` (ties → the answer group seen first).
//! - **Empty steps.** A continuation that adds no non-empty step gets no new score (its
//!   aggregated score is its parent's); a prefix ending in `"\n\n"` is never scored as an
//!   extra empty step.
//! - **Beam search.** Round 1 samples N first steps; each round keeps the top N/M unfinished
//!   candidates and samples M next steps from each. Finished candidates join the pool; the
//!   search stops when the pool holds N solutions, no candidate is left, or after
//!   `max_rounds`. Beams still unfinished then are dropped — unless the pool is empty, in
//!   which case they are finished greedily (so every question gets an answer). Selection:
//!   weighted best-of-N over the N best-scoring finished beams.
//! - **Lookahead k.** As beam search, but an unfinished candidate is ranked by the score at
//!   the end of a greedy rollout of up to k more steps (the rollout is then discarded).
//! - **DVTS.** N/M subtrees, each sampling M next steps from its current prefix and keeping
//!   the best one. A subtree ends when its best candidate is finished (or at `max_rounds`);
//!   its M last candidates are then its solutions, the unfinished ones completed by sampling
//!   to the end. So exactly N finished solutions come out; never an unfinished sibling.
//! - **Particle filtering** (`particles.rs`). N particles take one step a round; every
//!   particle's log-weight is logit(its aggregated score) (its_hub's rule), softmaxed at the
//!   weight temperature over all particles, finished ones included, and N are redrawn
//!   (multinomial or systematic). A finished particle stays finished; copies of an open one
//!   are its children next round. At `max_rounds` the open ones are sampled to the end. The
//!   answer: weighted vote over the final particles (copies vote again), or the best one.
//! - **Particle Gibbs** (`iterations` = I > 1): I filters of N/I particles; from the second
//!   on, one reference particle (drawn from the previous final set by weight) competes with
//!   its final weight every round and, when drawn, restarts from its prefix at that depth.
//!   Budget N = particles × iterations.
//! - **REBASE** (`rebase.rs`). Round 1 samples N first steps; each later round splits the
//!   remaining budget (N less the solutions finished) over the live nodes in proportion to
//!   softmax(score / T), exact integers by largest remainder (ties: sample order); a node
//!   given 0 is pruned. At `max_rounds` live nodes are sampled to the end, within the budget.
//!   The answer: weighted vote over the finished solutions.
//! - **Adaptive voting** (`adaptive.rs`). Windows of w full samples until the stop rule holds
//!   (ESC: one window unanimous; Beta: P(p₁ > p₂) ≥ confidence) or N samples; majority
//!   vote. The accounting's `continuations` is what was drawn, `generations` the cap N.
//! - **DeepConf** (`deepconf.rs`, offline). N full samples, each token's confidence the
//!   negative mean of its top-k log-probabilities; a trace's confidence is its lowest mean
//!   over `group` consecutive tokens; the `keep` share most confident (at least one; ties:
//!   sample order) vote, weighted by confidence; the others score 0. Online (W = `warmup`,
//!   W ≥ 1): W full traces first; the threshold is the lowest confidence among their `keep`
//!   most confident; the other N − W traces advance one step per round and stop — never
//!   continued again, and never voting — at the first step boundary where a full window
//!   falls below it. Every survivor and warm-up trace votes, weighted by confidence.
//! - **Seeds.** A request's seed derives from (config seed, question, round, slot, phase), so
//!   results do not depend on which other questions share the batch.

use crate::adaptive::adaptive;
use crate::beam::beam;
use crate::deepconf::{deepconf, deepconf_online, lowest_group_confidence, vote_weights};
use crate::dvts::dvts;
use crate::particles::particles;
use crate::rebase::rebase;
use crate::select::{best_of_n, majority, weighted_best_of_n};

use crate::ctx::{Ctx, EXPAND};
use crate::strategy::{SearchConfig, Selection, Strategy};
use crate::tree::{Accounting, Tree};
use crate::{Generator, Result, Until, Verifier};

/// One finished solution a question's answer was chosen from.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub text: String,
    pub steps: usize,
    pub answer: Option<String>,
    /// Aggregated verifier score (0 without a verifier).
    pub score: f32,
    /// The verifier's score of each step (empty without a verifier).
    pub step_scores: Vec<f32>,
}

/// The result of searching one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub question: usize,
    pub solutions: Vec<Solution>,
    /// Index into `solutions` of the chosen one.
    pub chosen: Option<usize>,
    pub accounting: Accounting,
    /// Search rounds the question took (1 for sampling strategies).
    pub rounds: usize,
}

impl Outcome {
    pub fn answer(&self) -> Option<&str> {
        self.chosen
            .and_then(|i| self.solutions[i].answer.as_deref())
    }
}

/// Search every question of `questions` (ids the generator and verifier understand) with
/// `strategy`. Majority and adaptive voting need no verifier; every other strategy does.
pub fn run(
    strategy: &Strategy,
    cfg: &SearchConfig,
    questions: &[usize],
    generator: &mut dyn Generator,
    ver: Option<&mut dyn Verifier>,
) -> Result<Vec<Outcome>> {
    cfg.validate(strategy)?;
    if ver.is_none() && strategy.needs_verifier() {
        return Err(crate::Error::Config(format!(
            "strategy {} needs a verifier (a PRM)",
            strategy.label()
        )));
    }
    let mut ctx = Ctx {
        cfg,
        tree: Tree::default(),
        generator,
        ver,
    };
    let (pools, rounds) = match *strategy {
        Strategy::Majority | Strategy::BestOfN { .. } => {
            let verify = *strategy != Strategy::Majority;
            let reqs = questions
                .iter()
                .map(|&q| {
                    let seed = ctx.seed(q, 0, 0, EXPAND);
                    ctx.request(q, None, cfg.n, Until::End, false, seed)
                })
                .collect();
            let pools = ctx.grow(reqs, verify)?;
            (pools, vec![1; questions.len()])
        }
        Strategy::Beam {
            width,
            lookahead,
            dedup,
        } => beam(&mut ctx, questions, width, lookahead, dedup)?,
        Strategy::Dvts { width } => dvts(&mut ctx, questions, width)?,
        Strategy::Particles {
            iterations,
            resampling,
            temperature,
            ..
        } => particles(
            &mut ctx,
            questions,
            iterations,
            resampling,
            f64::from(temperature),
        )?,
        Strategy::Rebase { temperature } => rebase(&mut ctx, questions, f64::from(temperature))?,
        Strategy::Adaptive { window, rule } => adaptive(&mut ctx, questions, window, rule)?,
        Strategy::DeepConf {
            top: k, warmup: 0, ..
        } => deepconf(&mut ctx, questions, k)?,
        Strategy::DeepConf {
            group,
            keep,
            top,
            warmup,
            at_steps,
        } => deepconf_online(&mut ctx, questions, (group, keep, top), warmup, at_steps)?,
    };
    let mut out = Vec::with_capacity(questions.len());
    for ((&q, pool), rounds) in questions.iter().zip(pools).zip(rounds) {
        ctx.release(&pool);
        ctx.generator.finish_question(q);
        if let Some(v) = ctx.ver.as_deref_mut() {
            v.finish_question(q);
        }
        let mut solutions: Vec<Solution> = pool
            .iter()
            .map(|&id| {
                let n = &ctx.tree.nodes[id];
                Solution {
                    text: n.text.clone(),
                    steps: n.steps.len(),
                    answer: n.answer(),
                    score: ctx.score(id),
                    step_scores: n.scores.clone(),
                }
            })
            .collect();
        // DeepConf scores a trace by its confidence; only the most confident share votes.
        if let Strategy::DeepConf { group, keep, .. } = *strategy {
            let conf: Vec<f32> = pool
                .iter()
                .map(|&id| lowest_group_confidence(&ctx.tree.nodes[id].token_confidence, group))
                .collect();
            for (s, w) in solutions
                .iter_mut()
                .zip(vote_weights(&conf, f64::from(keep)))
            {
                s.score = w;
            }
        }
        let answers: Vec<Option<&str>> = solutions.iter().map(|s| s.answer.as_deref()).collect();
        let scores: Vec<f32> = solutions.iter().map(|s| s.score).collect();
        let chosen = match strategy.selection() {
            Selection::Majority => majority(&answers),
            Selection::BestOfN => best_of_n(&answers, &scores),
            Selection::Weighted => weighted_best_of_n(&answers, &scores),
        };
        let mut accounting = ctx.tree.accounting.get(&q).copied().unwrap_or_default();
        accounting.generations = strategy.generations(cfg.n) as u64;
        accounting.flops = ctx.generator.flops_per_token() * accounting.computed_tokens as f64
            + ctx.ver.as_deref().map_or(0.0, |v| v.flops_per_token())
                * accounting.verifier_tokens as f64;
        out.push(Outcome {
            question: q,
            solutions,
            chosen,
            accounting,
            rounds,
        });
    }
    Ok(out)
}
