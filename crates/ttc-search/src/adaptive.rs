//! Adaptive voting: sample a question in windows until a stopping rule says its majority is
//! settled (ESC, Li et al. 2024; Adaptive-Consistency, Aggarwal et al. 2023; DESIGN §13).

use crate::ctx::{Ctx, EXPAND};
use crate::resample::StopRule;
use crate::select::group_answers;
use crate::tree::NodeId;
use crate::{Result, Until};

/// Each question's samples (a multiple of `window`, at most N) and the windows drawn.
pub(crate) fn adaptive(
    ctx: &mut Ctx<'_, '_, '_>,
    questions: &[usize],
    window: usize,
    rule: StopRule,
) -> Result<(Vec<Vec<NodeId>>, Vec<usize>)> {
    let nq = questions.len();
    let mut samples: Vec<Vec<NodeId>> = vec![Vec::new(); nq];
    let mut active = vec![true; nq];
    let mut rounds = vec![0; nq];
    for round in 0..ctx.cfg.n / window {
        let mut reqs = Vec::new();
        let mut owner = Vec::new();
        for (i, &q) in questions.iter().enumerate() {
            if active[i] {
                rounds[i] = round + 1;
                let seed = ctx.seed(q, round, 0, EXPAND);
                reqs.push(ctx.request(q, None, window, Until::End, false, seed));
                owner.push(i);
            }
        }
        if reqs.is_empty() {
            break;
        }
        // Majority needs no scores: the verifier, if any, is not run.
        for (i, kids) in owner.into_iter().zip(ctx.grow(reqs, false)?) {
            samples[i].extend(kids);
            let answers: Vec<Option<String>> = samples[i]
                .iter()
                .map(|&c| ctx.tree.nodes[c].answer())
                .collect();
            let refs: Vec<Option<&str>> = answers.iter().map(|a| a.as_deref()).collect();
            let groups = group_answers(&refs);
            let mut group_of = vec![None; refs.len()];
            for (g, (_, members)) in groups.iter().enumerate() {
                for &m in members {
                    group_of[m] = Some(g);
                }
            }
            let counts: Vec<usize> = groups.iter().map(|(_, m)| m.len()).collect();
            if rule.stops(&counts, &group_of[group_of.len() - window..]) {
                active[i] = false;
            }
        }
    }
    Ok((samples, rounds))
}
