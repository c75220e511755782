//! What every strategy works with (DESIGN §8): the config, the search tree, the generator
//! and the verifier, and the moves they share — request, grow, verify, release, rank.

use ttc_core::seed::derive_seed;

use crate::strategy::SearchConfig;
use crate::tree::{NodeId, Tree};
use crate::{Generator, Request, Result, ScoreRequest, Until, Verifier};

/// Phases of a round, for seeds.
pub(crate) const EXPAND: u64 = 0;
pub(crate) const ROLLOUT: u64 = 1;
pub(crate) const COMPLETE: u64 = 2;
/// Particle filtering's resampling draws.
pub(crate) const RESAMPLE: u64 = 3;

/// What every strategy works with: the config, the tree, the generator and the verifier.
pub(crate) struct Ctx<'c, 'g, 'v> {
    pub(crate) cfg: &'c SearchConfig,
    pub(crate) tree: Tree,
    pub(crate) generator: &'g mut dyn Generator,
    pub(crate) ver: Option<&'v mut dyn Verifier>,
}

impl Ctx<'_, '_, '_> {
    pub(crate) fn seed(&self, q: usize, round: usize, slot: usize, phase: u64) -> u64 {
        derive_seed(
            derive_seed(self.cfg.seed, q as u64, round as u64),
            slot as u64,
            phase,
        )
    }

    pub(crate) fn request(
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
            confidence_top: 0,
            stop_below: None,
        }
    }

    /// Generate, attach and (with `verify`) score the children of `reqs`; then release the
    /// parents, which are never continued again.
    pub(crate) fn grow(&mut self, reqs: Vec<Request>, verify: bool) -> Result<Vec<Vec<NodeId>>> {
        let parents: Vec<NodeId> = reqs.iter().filter_map(|r| r.parent).collect();
        let kids = self.grow_keeping_parents(reqs, verify)?;
        self.release(&parents);
        Ok(kids)
    }

    /// [`Self::grow`] without releasing the parents: for a strategy that may continue a
    /// node again later (particle Gibbs' reference path).
    pub(crate) fn grow_keeping_parents(
        &mut self,
        reqs: Vec<Request>,
        verify: bool,
    ) -> Result<Vec<Vec<NodeId>>> {
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
        Ok(reqs.into_iter().map(|r| r.children).collect())
    }

    pub(crate) fn verify(&mut self, reqs: &[Request]) -> Result<()> {
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

    pub(crate) fn release(&mut self, nodes: &[NodeId]) {
        if nodes.is_empty() {
            return;
        }
        self.generator.release(nodes);
        if let Some(v) = self.ver.as_deref_mut() {
            v.release(nodes);
        }
    }

    pub(crate) fn score(&self, id: NodeId) -> f32 {
        self.tree.score(id, self.cfg.aggregation)
    }

    /// `ids` stably sorted by descending `value`.
    pub(crate) fn ranked(&self, ids: &[NodeId], value: impl Fn(NodeId) -> f32) -> Vec<NodeId> {
        let mut v: Vec<(f32, NodeId)> = ids.iter().map(|&i| (value(i), i)).collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v.into_iter().map(|(_, i)| i).collect()
    }

    /// Grow the completions `reqs` (request j for question slot `owner[j]`), add their
    /// children to the owners' pools, and put every pool back in creation order (so
    /// answer-group ties follow sample order).
    pub(crate) fn complete_pools(
        &mut self,
        reqs: Vec<Request>,
        owner: Vec<usize>,
        mut pool: Vec<Vec<NodeId>>,
    ) -> Result<Vec<Vec<NodeId>>> {
        for (i, k) in owner.into_iter().zip(self.grow(reqs, true)?) {
            pool[i].extend(k);
        }
        for p in &mut pool {
            p.sort_unstable();
        }
        Ok(pool)
    }
}
