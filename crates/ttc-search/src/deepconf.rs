//! DeepConf (Fu et al. 2025): N samples with each token's confidence (the negative mean of
//! its top-k log-probabilities); a trace's confidence is its lowest sliding-window group
//! mean; the top `keep` share of traces by it vote, weighted by it. Online, warm-up traces
//! set a threshold and the others stop once a window falls below it: at that very token
//! where the generator decodes locally, else at the next step boundary (DESIGN §13).

use crate::ctx::{COMPLETE, Ctx, EXPAND};
use crate::tree::NodeId;
use crate::{Result, Until};

/// Each question's N samples (with token confidences) and 1 round.
pub(crate) fn deepconf(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    top: usize,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let reqs = questions
        .iter()
        .map(|&q| {
            let seed = ctx.seed(q, 0, 0, EXPAND);
            let mut r = ctx.request(q, None, ctx.cfg.n, Until::End, false, seed);
            r.confidence_top = top;
            r
        })
        .collect();
    let pools = ctx.grow(reqs, false)?;
    Ok((pools, vec![1; questions.len()]))
}

/// DeepConf online: `warmup` full traces per question set its threshold (the lowest
/// confidence among their `keep` most confident); the other N − warmup traces advance one
/// step a round and are stopped — released, never voting — at the first step boundary where
/// they hold a full window below it. Returns the warm-up traces and the survivors.
pub(crate) fn deepconf_online(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    (group, keep, top): (usize, f32, usize),
    warmup: usize,
    at_steps: bool,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let nq = questions.len();
    let n = ctx.cfg.n;
    let conf = |ctx: &Ctx<'_, '_, '_>, id: NodeId| {
        lowest_group_confidence(&ctx.tree.nodes[id].token_confidence, group)
    };
    let mut reqs = Vec::new();
    for &q in questions {
        let seed = ctx.seed(q, 0, 0, EXPAND);
        let mut r = ctx.request(q, None, warmup, Until::End, false, seed);
        r.confidence_top = top;
        reqs.push(r);
    }
    let mut pool = ctx.grow(reqs, false)?;
    let threshold: Vec<f32> = pool
        .iter()
        .map(|p| {
            let mut c: Vec<f32> = p.iter().map(|&id| conf(ctx, id)).collect();
            c.sort_by(|a, b| b.total_cmp(a));
            let k = ((f64::from(keep) * c.len() as f64).ceil() as usize).clamp(1, c.len());
            c[k - 1]
        })
        .collect();
    let stopped_below = |ctx: &Ctx<'_, '_, '_>, id: NodeId, threshold: f32| {
        ctx.tree.nodes[id].token_confidence.len() >= group && conf(ctx, id) < threshold
    };
    // A local decode stops each trace at the token whose window falls below the threshold
    // (the paper's online mode): the traces run to the end in one request per question.
    if !at_steps && ctx.generator.stops_mid_step() {
        let mut reqs = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            let seed = ctx.seed(q, 1, 0, EXPAND);
            let mut r = ctx.request(q, None, n - warmup, Until::End, false, seed);
            r.confidence_top = top;
            r.stop_below = Some((group, threshold[i]));
            reqs.push(r);
        }
        let mut stopped = Vec::new();
        for (i, kids) in ctx.grow(reqs, false)?.into_iter().enumerate() {
            for c in kids {
                if stopped_below(ctx, c, threshold[i]) {
                    stopped.push(c);
                } else {
                    pool[i].push(c);
                }
            }
        }
        ctx.release(&stopped);
        for p in &mut pool {
            p.sort_unstable();
        }
        return Ok((pool, vec![1; nq]));
    }
    let mut open: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut rounds = vec![1; nq];
    for round in 1..=ctx.cfg.max_rounds {
        let mut reqs = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            let parents: Vec<Option<NodeId>> = if round == 1 {
                vec![None]
            } else {
                std::mem::take(&mut open[i]).into_iter().map(Some).collect()
            };
            for (slot, p) in parents.into_iter().enumerate() {
                let k = if p.is_none() { n - warmup } else { 1 };
                let seed = ctx.seed(q, round, slot, EXPAND);
                let mut r = ctx.request(q, p, k, Until::Step, false, seed);
                r.confidence_top = top;
                reqs.push(r);
                owner.push(i);
                rounds[i] = round + 1;
            }
        }
        if reqs.is_empty() {
            break;
        }
        let mut stopped = Vec::new();
        for (i, kids) in owner.into_iter().zip(ctx.grow(reqs, false)?) {
            for c in kids {
                if stopped_below(ctx, c, threshold[i]) {
                    stopped.push(c);
                } else if ctx.tree.nodes[c].finished {
                    pool[i].push(c);
                } else {
                    open[i].push(c);
                }
            }
        }
        ctx.release(&stopped);
    }
    // Round limit: the survivors still open are sampled to the end.
    let mut reqs = Vec::new();
    let mut owner = Vec::new();
    for (i, &q) in questions.iter().enumerate() {
        for (slot, p) in std::mem::take(&mut open[i]).into_iter().enumerate() {
            let seed = ctx.seed(q, ctx.cfg.max_rounds + 1, slot, COMPLETE);
            let mut r = ctx.request(q, Some(p), 1, Until::End, false, seed);
            r.confidence_top = top;
            reqs.push(r);
            owner.push(i);
        }
    }
    for (i, k) in owner.into_iter().zip(ctx.grow(reqs, false)?) {
        pool[i].extend(k);
    }
    for p in &mut pool {
        p.sort_unstable();
    }
    Ok((pool, rounds))
}

pub(crate) use ttc_core::confidence::lowest_group_confidence;

/// The vote weights of traces whose confidences are `conf`: the top `keep` share
/// (at least one; ties: earlier first) keep their confidence, the rest weigh 0.
pub fn vote_weights(conf: &[f32], keep: f64) -> Vec<f32> {
    let k = ((keep * conf.len() as f64).ceil() as usize).clamp(1.min(conf.len()), conf.len());
    let mut order: Vec<usize> = (0..conf.len()).collect();
    order.sort_by(|&a, &b| conf[b].total_cmp(&conf[a]).then(a.cmp(&b)));
    let mut w = vec![0.0; conf.len()];
    for &i in order.iter().take(k) {
        w[i] = conf[i];
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_most_confident_share_votes() {
        let w = vote_weights(&[3.0, 9.0, 1.0, 9.0, 5.0], 0.4);
        // ceil(0.4 · 5) = 2 kept: the two 9s (the earlier first on the tie).
        assert_eq!(w, vec![0.0, 9.0, 0.0, 9.0, 0.0]);
        assert_eq!(vote_weights(&[2.0, 1.0], 0.01), vec![2.0, 0.0]);
        assert_eq!(vote_weights(&[2.0, 1.0], 1.0), vec![2.0, 1.0]);
    }
}
