//! Revision chains at inference (DESIGN §7; Snell et al. §6): each attempt conditioned on
//! the chain's last `window` attempts.

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;
use ttc_data::judge::judge;
use ttc_data::revision::{context_window, revision_prompt};
use ttc_data::rows::ChainRow;

/// Knobs of revision chains at inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// Independent chains per question.
    pub chains: usize,
    /// Revisions per chain after the first attempt (the chain holds `steps + 1` answers).
    pub steps: usize,
    /// Previous attempts in context (the paper: 4).
    pub window: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub max_new_tokens: usize,
    pub seed: u64,
}

/// Revision chains for `problems` (split indices from `first_index`): every step, all
/// questions' chains generate together, each conditioned on its last `window` attempts.
/// Chain `c` of question `q` samples step `t` with seed derive_seed(seed, q·chains + c, t),
/// so results do not depend on batching.
pub fn revise_questions(
    engine: &ttc_model::generate::Engine,
    problems: &[ttc_task::Problem],
    first_index: usize,
    cfg: &ChainConfig,
) -> crate::Result<Vec<ChainRow>> {
    let params = ttc_model::sampling::SamplingParams::sampled(
        cfg.temperature,
        cfg.top_p,
        cfg.max_new_tokens,
    );
    let n = problems.len() * cfg.chains;
    let mut history: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut rows = Vec::with_capacity(n * (cfg.steps + 1));
    for step in 0..=cfg.steps {
        let prompts = (0..n)
            .map(|k| {
                let p = &problems[k / cfg.chains];
                let ctx = context_window(&history[k], cfg.window);
                engine.encode(&revision_prompt(&p.problem, &ctx))
            })
            .collect::<ttc_model::Result<Vec<_>>>()?;
        let seeds: Vec<u64> = (0..n)
            .map(|k| {
                let q = (first_index + k / cfg.chains) as u64;
                derive_seed(
                    cfg.seed,
                    q * cfg.chains as u64 + (k % cfg.chains) as u64,
                    step as u64,
                )
            })
            .collect();
        let seqs = engine.prefill(&prompts)?;
        for (k, (_, g)) in engine
            .decode(seqs, &params, &seeds)?
            .into_iter()
            .enumerate()
        {
            let p = &problems[k / cfg.chains];
            crate::require_finite(&g, || {
                format!(
                    "question {} chain {} step {step}",
                    p.unique_id,
                    k % cfg.chains
                )
            })?;
            let j = judge(p, None, &g.text);
            rows.push(ChainRow {
                question_id: p.unique_id.clone(),
                question_index: (first_index + k / cfg.chains) as u32,
                level: p.level,
                chain: (k % cfg.chains) as u32,
                step: step as u32,
                text: g.text.clone(),
                answer: j.answer,
                correct: j.correct,
                generated_tokens: g.generated_tokens as u32,
            });
            history[k].push(g.text);
        }
    }
    Ok(rows)
}
