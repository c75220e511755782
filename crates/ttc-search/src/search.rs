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
//! - **Seeds.** A request's seed derives from (config seed, question, round, slot, phase), so
//!   results do not depend on which other questions share the batch.

use crate::select::{best_of_n, majority, weighted_best_of_n};
use ttc_core::seed::derive_seed;

use crate::strategy::{SearchConfig, Selection, Strategy};
use crate::tree::{Accounting, NodeId, Tree};
use crate::{Generator, Request, Result, ScoreRequest, Until, Verifier};

/// One finished solution a question's answer was chosen from.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub text: String,
    pub steps: usize,
    pub answer: Option<String>,
    /// Aggregated verifier score (0 without a verifier).
    pub score: f32,
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

/// Phases of a round, for seeds.
const EXPAND: u64 = 0;
const ROLLOUT: u64 = 1;
const COMPLETE: u64 = 2;

struct Ctx<'c, 'g, 'v> {
    cfg: &'c SearchConfig,
    tree: Tree,
    generator: &'g mut dyn Generator,
    ver: Option<&'v mut dyn Verifier>,
}

impl Ctx<'_, '_, '_> {
    fn seed(&self, q: usize, round: usize, slot: usize, phase: u64) -> u64 {
        derive_seed(
            derive_seed(self.cfg.seed, q as u64, round as u64),
            slot as u64,
            phase,
        )
    }

    fn request(
        &mut self,
        q: usize,
        parent: Option<NodeId>,
        k: usize,
        until: Until,
        greedy: bool,
        seed: u64,
    ) -> Request {
        Request {
            question: q,
            parent,
            children: self.tree.reserve(q, parent, k),
            until,
            greedy,
            budget: self.tree.budget(parent, self.cfg.max_new_tokens),
            seed,
        }
    }

    /// Generate, attach and (with `verify`) score the children of `reqs`; then release the
    /// parents, which are never continued again.
    fn grow(&mut self, reqs: Vec<Request>, verify: bool) -> Result<Vec<Vec<NodeId>>> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let exps = self.generator.expand(&reqs)?;
        for (r, e) in reqs.iter().zip(&exps) {
            self.tree.attach(r, e, self.cfg.max_new_tokens);
        }
        if verify {
            self.verify(&reqs)?;
        }
        let parents: Vec<NodeId> = reqs.iter().filter_map(|r| r.parent).collect();
        self.release(&parents);
        Ok(reqs.into_iter().map(|r| r.children).collect())
    }

    fn verify(&mut self, reqs: &[Request]) -> Result<()> {
        let Some(ver) = self.ver.as_deref_mut() else {
            return Ok(());
        };
        let nodes = &self.tree.nodes;
        let mut items = Vec::new();
        for r in reqs {
            let from = r.parent.map_or(0, |p| nodes[p].steps.len());
            for &c in &r.children {
                if nodes[c].steps.len() > from {
                    items.push(ScoreRequest {
                        question: r.question,
                        node: c,
                        parent: r.parent,
                        steps: &nodes[c].steps,
                        new_from: from,
                    });
                }
            }
        }
        let ids: Vec<(usize, NodeId)> = items.iter().map(|i| (i.question, i.node)).collect();
        let scored = ver.score(&items)?;
        for ((q, id), s) in ids.into_iter().zip(scored) {
            self.tree.nodes[id].scores.extend(s.scores);
            self.tree.accounting.entry(q).or_default().verifier_tokens += s.computed_tokens as u64;
        }
        Ok(())
    }

    fn release(&mut self, nodes: &[NodeId]) {
        if nodes.is_empty() {
            return;
        }
        self.generator.release(nodes);
        if let Some(v) = self.ver.as_deref_mut() {
            v.release(nodes);
        }
    }

    fn score(&self, id: NodeId) -> f32 {
        self.tree.score(id, self.cfg.aggregation)
    }

    /// `ids` stably sorted by descending `value`.
    fn ranked(&self, ids: &[NodeId], value: impl Fn(NodeId) -> f32) -> Vec<NodeId> {
        let mut v: Vec<(f32, NodeId)> = ids.iter().map(|&i| (value(i), i)).collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v.into_iter().map(|(_, i)| i).collect()
    }
}

/// Search every question of `questions` (ids the generator and verifier understand) with
/// `strategy`. Majority voting needs no verifier; every other strategy does.
pub fn run(
    strategy: &Strategy,
    cfg: &SearchConfig,
    questions: &[usize],
    generator: &mut dyn Generator,
    ver: Option<&mut dyn Verifier>,
) -> Result<Vec<Outcome>> {
    cfg.validate(strategy)?;
    if ver.is_none() && *strategy != Strategy::Majority {
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
    };
    let mut out = Vec::with_capacity(questions.len());
    for ((&q, pool), rounds) in questions.iter().zip(pools).zip(rounds) {
        ctx.release(&pool);
        ctx.generator.finish_question(q);
        if let Some(v) = ctx.ver.as_deref_mut() {
            v.finish_question(q);
        }
        let solutions: Vec<Solution> = pool
            .iter()
            .map(|&id| {
                let n = &ctx.tree.nodes[id];
                Solution {
                    text: n.text.clone(),
                    steps: n.steps.len(),
                    answer: n.answer(),
                    score: ctx.score(id),
                }
            })
            .collect();
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

/// Beam search (with optional lookahead); returns each question's solution pool and rounds.
fn beam(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    width: usize,
    lookahead: usize,
    dedup: bool,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let n = ctx.cfg.n;
    let keep = n / width;
    let nq = questions.len();
    let mut frontier: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut pool: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut active: Vec<bool> = vec![true; nq];
    let mut rounds = vec![0; nq];
    for round in 0..ctx.cfg.max_rounds {
        // Expand every active question's beams in one batch.
        let mut reqs = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            if !active[i] {
                continue;
            }
            rounds[i] = round + 1;
            if round == 0 {
                let seed = ctx.seed(q, round, 0, EXPAND);
                reqs.push(ctx.request(q, None, n, Until::Step, false, seed));
                owner.push(i);
            } else {
                for (slot, &p) in frontier[i].clone().iter().enumerate() {
                    let seed = ctx.seed(q, round, slot, EXPAND);
                    reqs.push(ctx.request(q, Some(p), width, Until::Step, false, seed));
                    owner.push(i);
                }
            }
        }
        if reqs.is_empty() {
            break;
        }
        let kids = ctx.grow(reqs, true)?;
        let mut cands: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
        for (i, k) in owner.into_iter().zip(kids) {
            cands[i].extend(k);
        }
        // Lookahead: value of an unfinished candidate = score after a greedy rollout.
        let mut value: std::collections::HashMap<NodeId, f32> = Default::default();
        if lookahead > 0 {
            let mut rreqs = Vec::new();
            let mut of = Vec::new();
            for (i, &q) in questions.iter().enumerate() {
                for (slot, &c) in cands[i].iter().enumerate() {
                    if !ctx.tree.nodes[c].finished {
                        let seed = ctx.seed(q, round, slot, ROLLOUT);
                        rreqs.push(ctx.request(q, Some(c), 1, Until::Steps(lookahead), true, seed));
                        of.push(c);
                    }
                }
            }
            // Rollout parents are candidates still in play: grow releases parents, so the
            // rollouts are generated and scored without it, and only the rollouts released.
            let exps = ctx.generator.expand(&rreqs)?;
            for (r, e) in rreqs.iter().zip(&exps) {
                ctx.tree.attach(r, e, ctx.cfg.max_new_tokens);
            }
            ctx.verify(&rreqs)?;
            let rolled: Vec<NodeId> = rreqs.iter().map(|r| r.children[0]).collect();
            for (&c, &r) in of.iter().zip(&rolled) {
                value.insert(c, ctx.score(r));
            }
            ctx.release(&rolled);
        }
        for i in 0..nq {
            if !active[i] {
                continue;
            }
            let mut seen = std::collections::HashSet::new();
            let mut open = Vec::new();
            let mut dropped = Vec::new();
            for &c in &cands[i] {
                let node = &ctx.tree.nodes[c];
                if dedup && !seen.insert(node.text.clone()) {
                    dropped.push(c);
                } else if node.finished {
                    pool[i].push(c);
                    dropped.push(c);
                } else {
                    open.push(c);
                }
            }
            let ranked = ctx.ranked(&open, |c| {
                value.get(&c).copied().unwrap_or_else(|| ctx.score(c))
            });
            let kept: Vec<NodeId> = ranked.iter().take(keep).copied().collect();
            dropped.extend(ranked.iter().skip(keep));
            ctx.release(&dropped);
            if pool[i].len() >= n || kept.is_empty() {
                active[i] = false;
                ctx.release(&kept);
                frontier[i].clear();
            } else {
                frontier[i] = kept;
            }
        }
    }
    // Round limit: unfinished beams are dropped, unless nothing finished at all.
    let mut reqs = Vec::new();
    let mut owner = Vec::new();
    for (i, &q) in questions.iter().enumerate() {
        if !active[i] {
            continue;
        }
        let beams = std::mem::take(&mut frontier[i]);
        if pool[i].is_empty() {
            for (slot, &p) in beams.iter().enumerate() {
                let seed = ctx.seed(q, ctx.cfg.max_rounds, slot, COMPLETE);
                reqs.push(ctx.request(q, Some(p), 1, Until::End, true, seed));
                owner.push(i);
            }
        } else {
            ctx.release(&beams);
        }
    }
    for (i, k) in owner.into_iter().zip(ctx.grow(reqs, true)?) {
        pool[i].extend(k);
    }
    let pools = pool
        .into_iter()
        .map(|p| {
            let mut best = ctx.ranked(&p, |c| ctx.score(c));
            best.truncate(n);
            // Back to creation order, so answer-group ties follow sample order.
            best.sort_unstable();
            best
        })
        .collect();
    Ok((pools, rounds))
}

/// Diverse verifier tree search; returns each question's N solutions and rounds.
fn dvts(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    width: usize,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let subtrees = ctx.cfg.n / width;
    let nq = questions.len();
    let last = ctx.cfg.max_rounds - 1;
    // (question slot, subtree) → current prefix (None: the prompt); None entry = ended.
    let mut cur: Vec<Vec<Option<Option<NodeId>>>> = vec![vec![Some(None); subtrees]; nq];
    let mut pool: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut rounds = vec![0; nq];
    let mut to_complete: Vec<(usize, NodeId)> = Vec::new();
    for round in 0..ctx.cfg.max_rounds {
        let mut reqs = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            for (s, c) in cur[i].iter().enumerate() {
                if let Some(prefix) = *c {
                    rounds[i] = round + 1;
                    let seed = ctx.seed(q, round, s, EXPAND);
                    reqs.push(ctx.request(q, prefix, width, Until::Step, false, seed));
                    owner.push((i, s));
                }
            }
        }
        if reqs.is_empty() {
            break;
        }
        for ((i, s), kids) in owner.into_iter().zip(ctx.grow(reqs, true)?) {
            let best = ctx.ranked(&kids, |c| ctx.score(c))[0];
            if ctx.tree.nodes[best].finished || round == last {
                cur[i][s] = None;
                for &c in &kids {
                    if ctx.tree.nodes[c].finished {
                        pool[i].push(c);
                    } else {
                        to_complete.push((i, c));
                    }
                }
            } else {
                cur[i][s] = Some(Some(best));
                let others: Vec<NodeId> = kids.into_iter().filter(|&c| c != best).collect();
                ctx.release(&others);
            }
        }
    }
    let mut reqs = Vec::new();
    let mut owner = Vec::new();
    let mut per_question = vec![0usize; nq];
    for &(i, c) in &to_complete {
        let slot = per_question[i];
        per_question[i] += 1;
        let seed = ctx.seed(questions[i], ctx.cfg.max_rounds, slot, COMPLETE);
        reqs.push(ctx.request(questions[i], Some(c), 1, Until::End, false, seed));
        owner.push(i);
    }
    for (i, k) in owner.into_iter().zip(ctx.grow(reqs, true)?) {
        pool[i].extend(k);
    }
    for p in &mut pool {
        p.sort_unstable();
    }
    Ok((pool, rounds))
}
