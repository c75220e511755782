//! Beam search and lookahead search over a step verifier (DESIGN §8; rules in `search.rs`).

use crate::ctx::{COMPLETE, Ctx, EXPAND, ROLLOUT};
use crate::tree::NodeId;
use crate::{Result, Until};

/// Beam search (with optional lookahead); returns each question's solution pool and rounds.
pub(crate) fn beam(
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
