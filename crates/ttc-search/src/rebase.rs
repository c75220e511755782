//! REBASE, reward-balanced search (Wu et al. 2024; DESIGN §13; rules in `search.rs`).

use crate::ctx::{COMPLETE, Ctx, EXPAND};
use crate::resample::{softmax, split_budget};
use crate::tree::NodeId;
use crate::{Result, Until};

/// Each question's finished solutions (at most N) and its rounds.
pub(crate) fn rebase(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    temperature: f64,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let nq = questions.len();
    let n = ctx.cfg.n;
    let mut pool: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut live: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut rounds = vec![0; nq];
    for round in 0..ctx.cfg.max_rounds {
        let mut reqs = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            if round == 0 {
                rounds[i] = 1;
                let seed = ctx.seed(q, 0, 0, EXPAND);
                reqs.push(ctx.request(q, None, n, Until::Step, false, seed));
                owner.push(i);
                continue;
            }
            let nodes = std::mem::take(&mut live[i]);
            // The remaining budget: N less the solutions already finished.
            let budget = n - pool[i].len();
            if nodes.is_empty() || budget == 0 {
                ctx.release(&nodes);
                continue;
            }
            rounds[i] = round + 1;
            let scores: Vec<f64> = nodes.iter().map(|&c| f64::from(ctx.score(c))).collect();
            let alloc = split_budget(&softmax(&scores, temperature), budget);
            let mut pruned = Vec::new();
            for (slot, (&node, &k)) in nodes.iter().zip(&alloc).enumerate() {
                if k == 0 {
                    pruned.push(node);
                    continue;
                }
                let seed = ctx.seed(q, round, slot, EXPAND);
                reqs.push(ctx.request(q, Some(node), k, Until::Step, false, seed));
                owner.push(i);
            }
            ctx.release(&pruned);
        }
        if reqs.is_empty() {
            break;
        }
        for (i, kids) in owner.into_iter().zip(ctx.grow(reqs, true)?) {
            for c in kids {
                if ctx.tree.nodes[c].finished {
                    pool[i].push(c);
                } else {
                    live[i].push(c);
                }
            }
        }
    }
    // Round limit: each node still live is sampled to the end once (within the budget).
    let mut reqs = Vec::new();
    let mut owner = Vec::new();
    for (i, &q) in questions.iter().enumerate() {
        let nodes = std::mem::take(&mut live[i]);
        let budget = n - pool[i].len();
        let (go, stop) = nodes.split_at(budget.min(nodes.len()));
        ctx.release(stop);
        for (slot, &node) in go.iter().enumerate() {
            let seed = ctx.seed(q, ctx.cfg.max_rounds, slot, COMPLETE);
            reqs.push(ctx.request(q, Some(node), 1, Until::End, false, seed));
            owner.push(i);
        }
    }
    Ok((ctx.complete_pools(reqs, owner, pool)?, rounds))
}
