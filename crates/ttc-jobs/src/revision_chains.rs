//! Revision chains at inference (DESIGN §7; Snell et al. §6): each attempt conditioned on
//! the chain's last `window` attempts (fewer when the model's context cannot hold them and
//! the new attempt: the oldest leave first).

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;
use ttc_data::judge::judge;
use ttc_data::revision::{fitting_window, revision_prompt_head, revision_prompt_in};
use ttc_data::rows::ChainRow;
use ttc_engine::{Engine, Sequence};

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
    /// The budget N (a power of two) at which every sequential:parallel split s·p = N is to
    /// be compared, parallel-only 1:N included: chains beyond `chains` are drawn only as
    /// long as those splits need (`chain_length`). 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ratio_budget: usize,
}

fn is_zero(x: &usize) -> bool {
    *x == 0
}

/// Seeds of the chains beyond `chains` (a stream apart from the full chains', whose seeds
/// do not change with the budget).
const RATIO_STREAM: u64 = 0x5041_5241_4c4c_454c;

impl ChainConfig {
    /// Chains per question: the full ones, then those the ratio budget adds.
    pub fn total_chains(&self) -> usize {
        self.chains.max(self.ratio_budget)
    }

    /// Attempts of chain `c`: `steps + 1` for the first `chains`; beyond them, the longest
    /// s of a split s:p of the ratio budget whose p chains include `c` (p the smallest power
    /// of two above `c`, s = N / p), so 1:N, 2:N/2, … all exist at the least cost.
    pub fn chain_length(&self, c: usize) -> usize {
        if c < self.chains {
            return self.steps + 1;
        }
        let p = (c + 1).next_power_of_two();
        (self.ratio_budget / p).clamp(1, self.steps + 1)
    }

    fn seed_of(&self, q: u64, c: usize, step: usize) -> u64 {
        if c < self.chains {
            derive_seed(self.seed, q * self.chains as u64 + c as u64, step as u64)
        } else {
            derive_seed(
                self.seed ^ RATIO_STREAM,
                q * self.total_chains() as u64 + c as u64,
                step as u64,
            )
        }
    }
}

/// Revision chains for `problems` (split indices from `first_index`): every step, all
/// questions' chains generate together, each conditioned on its last `window` attempts.
/// Chain `c` of question `q` samples step `t` with seed derive_seed(seed, q·chains + c, t)
/// (the ratio budget's extra chains: from their own stream), so results do not depend on
/// batching or on the budget.
pub fn revise_questions(
    engine: &Engine,
    problems: &[ttc_task::Problem],
    first_index: usize,
    cfg: &ChainConfig,
) -> crate::Result<Vec<ChainRow>> {
    let params = ttc_model::sampling::SamplingParams::sampled(
        cfg.temperature,
        cfg.top_p,
        cfg.max_new_tokens,
    );
    // One lane per (question, chain), with its length.
    let per_q = cfg.total_chains();
    let lanes: Vec<(usize, usize, usize)> = (0..problems.len())
        .flat_map(|i| (0..per_q).map(move |c| (i, c, cfg.chain_length(c))))
        .collect();
    let max_pos = engine.model.max_positions();
    let mut history: Vec<Vec<String>> = vec![Vec::new(); lanes.len()];
    let mut rows = Vec::with_capacity(lanes.iter().map(|l| l.2).sum());
    // Each chain keeps its prompt up to the end of its attempts computed: while the
    // window has room, the next prompt starts with it, so only the new attempt and the
    // closing line are run (the whole context is not prefilled again at every step).
    let mut kept: Vec<Option<Sequence>> = lanes.iter().map(|_| None).collect();
    for step in 0..=cfg.steps {
        let active: Vec<usize> = (0..lanes.len()).filter(|&k| lanes[k].2 > step).collect();
        if active.is_empty() {
            break;
        }
        let mut full = Vec::with_capacity(active.len());
        let mut head = Vec::with_capacity(active.len());
        for &k in &active {
            let p = &problems[lanes[k].0];
            // The window's attempts that leave room to generate `max_new_tokens` (the oldest
            // leave first; `fitting_window`, as the ORM trains and scores attempts).
            let attempts = fitting_window(&history[k], cfg.window, &mut |w| {
                let text = revision_prompt_in(engine.prompt(), &p.problem, w)?;
                Ok::<_, crate::Error>(
                    engine.encode_prompt_text(&text)?.len() + cfg.max_new_tokens <= max_pos,
                )
            })?;
            let text = revision_prompt_in(engine.prompt(), &p.problem, &attempts)?;
            let f = engine.encode_prompt_text(&text)?;
            let cut = revision_prompt_head(&text, &p.problem, &attempts)
                .map(|end| engine.encode_prompt_text(&text[..end]))
                .transpose()?
                .filter(|t| !t.is_empty() && f.starts_with(t))
                .map_or(f.len(), |t| t.len());
            head.push(cut);
            full.push(f);
        }
        let mut kept_active: Vec<Option<Sequence>> =
            active.iter().map(|&k| kept[k].take()).collect();
        let seqs = bring_up(engine, &mut kept_active, &full, &head)?;
        for (&k, s) in active.iter().zip(kept_active) {
            kept[k] = s;
        }
        let seeds: Vec<u64> = active
            .iter()
            .map(|&k| cfg.seed_of((first_index + lanes[k].0) as u64, lanes[k].1, step))
            .collect();
        for (&k, (_, g)) in active.iter().zip(engine.decode(seqs, &params, &seeds)?) {
            let (i, c, _) = lanes[k];
            let p = &problems[i];
            crate::require_finite(&g, || {
                format!("question {} chain {c} step {step}", p.unique_id)
            })?;
            let j = judge(p, None, &g.text);
            rows.push(ChainRow {
                question_id: p.unique_id.clone(),
                question_index: (first_index + i) as u32,
                level: p.level,
                chain: c as u32,
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

/// Sequences holding `full[k]`: from chain `k`'s kept prefix where it starts `full[k]`,
/// else prefilled; `full[k][..head[k]]` (problem and attempts) is kept for the next step
/// when it is shorter than the whole prompt.
fn bring_up(
    engine: &Engine,
    kept: &mut [Option<Sequence>],
    full: &[Vec<u32>],
    head: &[usize],
) -> crate::Result<Vec<Sequence>> {
    let n = full.len();
    let mut seqs: Vec<Option<Sequence>> = (0..n).map(|_| None).collect();
    let mut fresh = Vec::new();
    for k in 0..n {
        let target = &full[k][..head[k]];
        match kept[k].take() {
            Some(s) if s.pending.is_none() && target.starts_with(&s.tokens) => seqs[k] = Some(s),
            _ => fresh.push(k),
        }
    }
    let prompts: Vec<Vec<u32>> = fresh.iter().map(|&k| full[k][..head[k]].to_vec()).collect();
    for (&k, s) in fresh.iter().zip(engine.prefill(&prompts)?) {
        seqs[k] = Some(s);
    }
    let mut seqs: Vec<Sequence> = seqs.into_iter().map(|s| s.expect("set above")).collect();
    let have: Vec<usize> = seqs.iter().map(|s| s.tokens.len()).collect();
    let up: Vec<(usize, &[u32])> = (0..n)
        .filter(|&k| have[k] < head[k])
        .map(|k| (k, &full[k][have[k]..head[k]]))
        .collect();
    engine.extend(&mut seqs, &up)?;
    for k in 0..n {
        if head[k] < full[k].len() {
            kept[k] = Some(seqs[k].fork());
        }
    }
    let rest: Vec<(usize, &[u32])> = (0..n)
        .filter(|&k| head[k] < full[k].len())
        .map(|k| (k, &full[k][head[k]..]))
        .collect();
    engine.extend(&mut seqs, &rest)?;
    Ok(seqs)
}
