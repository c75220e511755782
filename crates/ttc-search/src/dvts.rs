//! Diverse verifier tree search (DESIGN §8; rules in `search.rs`).

use crate::ctx::{COMPLETE, Ctx, EXPAND};
use crate::tree::NodeId;
use crate::{Result, Until};

/// Diverse verifier tree search; returns each question's N solutions and rounds.
pub(crate) fn dvts(
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
    Ok((ctx.complete_pools(reqs, owner, pool)?, rounds))
}
