//! Particle filtering and particle Gibbs over a step verifier (Puri et al. 2025; DESIGN §13;
//! rules in `search.rs`).

use std::collections::{BTreeSet, HashSet};

use crate::ctx::{COMPLETE, Ctx, EXPAND, RESAMPLE};
use crate::resample::{Resampling, logit, softmax};
use crate::tree::NodeId;
use crate::{Request, Result, Until};

/// Each question's final particles (duplicates included: a particle drawn twice votes
/// twice) and its rounds.
pub(crate) fn particles(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    iterations: usize,
    resampling: Resampling,
    temperature: f64,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let nq = questions.len();
    let per_iteration = ctx.cfg.n / iterations;
    let gibbs = iterations > 1;
    let rounds_cap = ctx.cfg.max_rounds;
    let mut rounds = vec![0; nq];
    // The reference particle (a finished node) each question carries into an iteration.
    let mut reference: Vec<Option<NodeId>> = vec![None; nq];
    let mut last: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    for it in 0..iterations {
        let first_node = ctx.tree.nodes.len();
        let free = per_iteration - usize::from(it > 0);
        // Current free particles; empty before the first round.
        let mut cur: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
        let mut active = vec![true; nq];
        for round in 0..rounds_cap {
            let r_seed = it * rounds_cap + round;
            let mut reqs = Vec::new();
            let mut owner = Vec::new();
            for (i, &q) in questions.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                rounds[i] += 1;
                if round == 0 {
                    let seed = ctx.seed(q, r_seed, 0, EXPAND);
                    reqs.push(ctx.request(q, None, free, Until::Step, false, seed));
                    owner.push(i);
                } else {
                    for (slot, (node, count)) in open_groups(ctx, &cur[i]).into_iter().enumerate() {
                        let seed = ctx.seed(q, r_seed, slot, EXPAND);
                        reqs.push(ctx.request(q, Some(node), count, Until::Step, false, seed));
                        owner.push(i);
                    }
                }
            }
            if reqs.is_empty() {
                break;
            }
            let kids = if gibbs {
                ctx.grow_keeping_parents(reqs, true)?
            } else {
                ctx.grow(reqs, true)?
            };
            let mut born: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
            for (i, k) in owner.into_iter().zip(kids) {
                born[i].extend(k);
            }
            for (i, &q) in questions.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                // The finished particles stay as they are; the open ones were replaced by
                // their children.
                let mut pool: Vec<NodeId> = cur[i]
                    .iter()
                    .copied()
                    .filter(|&p| ctx.tree.nodes[p].finished)
                    .collect();
                pool.extend(born[i].iter().copied());
                // The reference competes with its final weight; drawn, it restarts from its
                // prefix at this depth (its_hub's rule).
                let mut weights: Vec<f64> = pool.iter().map(|&p| logit(ctx.score(p))).collect();
                if let Some(r) = reference[i] {
                    weights.push(logit(ctx.score(r)));
                }
                let w = softmax(&weights, temperature);
                let seed = ctx.seed(q, r_seed, 0, RESAMPLE);
                let drawn: Vec<NodeId> = resampling
                    .draw(&w, free, seed)
                    .into_iter()
                    .map(|j| match pool.get(j) {
                        Some(&p) => p,
                        None => ancestor_at(ctx, reference[i].expect("drawn"), round + 1),
                    })
                    .collect();
                if !gibbs {
                    let keep: HashSet<NodeId> = drawn.iter().copied().collect();
                    let gone: Vec<NodeId> =
                        pool.iter().copied().filter(|p| !keep.contains(p)).collect();
                    ctx.release(&gone);
                }
                active[i] = drawn.iter().any(|&p| !ctx.tree.nodes[p].finished);
                cur[i] = drawn;
            }
            if !active.iter().any(|&a| a) {
                break;
            }
        }
        // Round limit: the open particles are sampled to the end.
        let mut reqs: Vec<Request> = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            for (slot, (node, count)) in open_groups(ctx, &cur[i]).into_iter().enumerate() {
                let seed = ctx.seed(q, it * rounds_cap + rounds_cap, slot, COMPLETE);
                reqs.push(ctx.request(q, Some(node), count, Until::End, false, seed));
                owner.push((i, node));
            }
        }
        let kids = if gibbs {
            ctx.grow_keeping_parents(reqs, true)?
        } else {
            ctx.grow(reqs, true)?
        };
        for ((i, node), k) in owner.into_iter().zip(kids) {
            let mut k = k.into_iter();
            for p in cur[i].iter_mut().filter(|p| **p == node) {
                *p = k.next().expect("one child per copy");
            }
        }
        for (i, &q) in questions.iter().enumerate() {
            let mut fin = std::mem::take(&mut cur[i]);
            fin.extend(reference[i]);
            if gibbs {
                // The next reference: one draw over the final particles' weights.
                let weights: Vec<f64> = fin.iter().map(|&p| logit(ctx.score(p))).collect();
                let w = softmax(&weights, temperature);
                let seed = ctx.seed(q, it * rounds_cap + rounds_cap, 1, RESAMPLE);
                let next = fin[resampling.draw(&w, 1, seed)[0]];
                let keep = path(ctx, next);
                let mut gone: BTreeSet<NodeId> = (first_node..ctx.tree.nodes.len())
                    .filter(|&n| ctx.tree.nodes[n].question == q)
                    .collect();
                if let Some(old) = reference[i] {
                    gone.extend(path(ctx, old));
                }
                let gone: Vec<NodeId> = gone.into_iter().filter(|n| !keep.contains(n)).collect();
                ctx.release(&gone);
                reference[i] = Some(next);
            }
            last[i] = fin;
        }
    }
    for (i, p) in last.iter_mut().enumerate() {
        if let Some(r) = reference[i] {
            // The reference kept its path live for another iteration that will not come.
            let path: Vec<NodeId> = path(ctx, r).into_iter().collect();
            ctx.release(&path);
        }
        p.sort_unstable();
    }
    Ok((last, rounds))
}

/// The distinct open particles of `cur` with how many copies each has, in first-seen order.
fn open_groups(ctx: &Ctx<'_, '_, '_>, cur: &[NodeId]) -> Vec<(NodeId, usize)> {
    let mut groups: Vec<(NodeId, usize)> = Vec::new();
    for &p in cur {
        if ctx.tree.nodes[p].finished {
            continue;
        }
        match groups.iter_mut().find(|(n, _)| *n == p) {
            Some(g) => g.1 += 1,
            None => groups.push((p, 1)),
        }
    }
    groups
}

/// The node of `node`'s path at `depth` rounds (`node` itself when it is not deeper).
fn ancestor_at(ctx: &Ctx<'_, '_, '_>, node: NodeId, depth: usize) -> NodeId {
    let mut n = node;
    while ctx.tree.nodes[n].depth > depth {
        match ctx.tree.nodes[n].parent {
            Some(p) => n = p,
            None => break,
        }
    }
    n
}

/// `node` and its ancestors.
fn path(ctx: &Ctx<'_, '_, '_>, node: NodeId) -> HashSet<NodeId> {
    std::iter::successors(Some(node), |&n| ctx.tree.nodes[n].parent).collect()
}
