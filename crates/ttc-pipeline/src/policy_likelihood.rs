//! `ttc eval prm`'s baseline verifier: the policy's own likelihood of each test sample
//! ([`ttc_engine::likelihood_scorer`]), scored and judged exactly as the PRM is — the
//! within-question AUROC with its interval and per level, the paired difference to the PRM
//! over the same questions, the step AUROC against the step checker, best-of-N weighted by
//! it, and the one-slip pairs. A PRM fine-tuned from the policy should at least keep what the
//! policy knows; this says whether it does.

use std::collections::HashMap;

use anyhow::Result;
use ttc_data::rows::{SampleRow, ScoredSample};
use ttc_engine::likelihood_scorer::LikelihoodScorer;
use ttc_eval::prm_selection::selection_table;
use ttc_train::prm::within_question_auroc;

use crate::checkpoint::load_model;
use crate::scoring::score_samples;
use crate::stage::Ctx;
use crate::stages::prm_eval::{judged_samples, steps_vs_truth, within_question};

/// The policy-likelihood block of `prm_eval.json`: `null` with a reason where the policy
/// gives no logits here (a model on a server).
pub fn evaluate(
    ctx: &Ctx,
    engine: &ttc_model::engine_spec::EngineSpec,
    split: &[ttc_task::Problem],
    samples: &[SampleRow],
    prm_scored: &[ScoredSample],
    ns: &[usize],
) -> Result<serde_json::Value> {
    let dir = ctx.layout.policy_dir(false);
    let (model, tok) = load_model(&dir, engine)?;
    let prompt = ttc_task::tokenizer::PromptTemplate::load(&dir)?;
    let scorer = match LikelihoodScorer::new(model.as_ref(), &tok, prompt) {
        Ok(s) => s,
        Err(e) if model.remote().is_some() => {
            return Ok(serde_json::json!({ "skipped": e.to_string() }));
        }
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", dir.display())),
    };
    let problems: HashMap<String, String> = split
        .iter()
        .map(|p| (p.unique_id.clone(), p.problem.clone()))
        .collect();
    let scored = score_samples(ctx, &|i| scorer.score(i), &problems, samples)?;
    let seed = ctx.preset.analysis.bootstrap_seed;
    let within = within_question(&scored, seed);
    let vs_prm = paired_vs(&scored, prm_scored, seed);
    let (step_scores, step_ok) = steps_vs_truth(&scored, &judged_samples(samples));
    Ok(serde_json::json!({
        "policy": dir.display().to_string(),
        "test_step_auroc_vs_true": ttc_train::prm::auroc(&step_scores, &step_ok),
        "within_question_auroc": within,
        "minus_prm_within_question_auroc": vs_prm,
        "selection": selection_table(&scored, ns),
        "slip_pairs": crate::slip_pairs::slip_pairs(&|i| scorer.score(i), split, seed)?,
    }))
}

/// The within-question AUROC of the last step's score, `a` minus `b`, over the questions
/// both can be judged on: mean and paired bootstrap 95% interval.
fn paired_vs(a: &[ScoredSample], b: &[ScoredSample], seed: u64) -> serde_json::Value {
    let per_q = |s: &[ScoredSample]| -> HashMap<u32, f64> {
        let rows: Vec<(u32, f32, bool)> = s
            .iter()
            .map(|x| {
                (
                    x.question_index,
                    x.step_scores.last().copied().unwrap_or(0.0),
                    x.correct,
                )
            })
            .collect();
        within_question_auroc(&rows).into_iter().collect()
    };
    let (pa, pb) = (per_q(a), per_q(b));
    let mut qs: Vec<&u32> = pa.keys().filter(|q| pb.contains_key(q)).collect();
    qs.sort();
    let d: Vec<f64> = qs.iter().map(|q| pa[q] - pb[q]).collect();
    match ttc_eval::paired::paired(&d, seed) {
        Some(ci) => serde_json::json!({
            "mean": ci.diff, "lo": ci.lo, "hi": ci.hi, "questions": ci.questions,
            "verdict": match ci.verdict() {
                ttc_eval::paired::Verdict::Ahead => "the policy's likelihood ranks better",
                ttc_eval::paired::Verdict::Behind => "the PRM ranks better",
                ttc_eval::paired::Verdict::NotSignificant => "not significant",
            },
        }),
        None => serde_json::Value::Null,
    }
}
