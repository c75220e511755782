//! `ttc eval prm`'s second verifier: a language model's likelihood of each test sample
//! ([`ttc_jobs::likelihood_scorer`]) — the policy's own, or the `[verifier]` model's
//! trained past the policy — scored and judged exactly as the PRM is: the within-question
//! AUROC with its interval and per level, the paired difference to the PRM over the same
//! questions, the step AUROC against the step checker, best-of-N weighted by it, and the
//! one-slip pairs. A PRM fine-tuned from the policy should at least keep what the policy
//! knows; this says whether it does. Calibrated on the PRM's held-out Monte Carlo labels,
//! the likelihood becomes a probability that a step is right, the weight the sweep's
//! weighted best-of-N over it votes with.

use std::collections::HashMap;

use anyhow::Result;
use ttc_data::rows::{SampleRow, ScoredSample};
use ttc_eval::prm_selection::selection_table;
use ttc_jobs::likelihood_scorer::LikelihoodScorer;

use crate::run::stage::Ctx;
use crate::stages::prm_eval::metrics::within_question;
use crate::stages::prm_eval::scoring::score_samples;
use crate::stages::shared::prm_data::{HeldOut, label_pairs};
use ttc_engine::load_model;
use ttc_eval::logistic::{fit_logistic, sigmoid};
use ttc_eval::verifier_metrics::{
    first_error_over, judged_samples, last_step_auroc_per_question, steps_vs_truth,
};

/// The likelihood block of `prm_eval.json` (`policy_likelihood`) and the test samples
/// (`split`'s questions, their `samples`) scored by the likelihood of the model in `dir`
/// (the PRM's row type) for
/// `likelihood_scores.parquet`; `{"skipped": why}` and no rows where the model gives no
/// logits here (a model on a server). A step's score is `exp(mean log p)` up to its end,
/// calibrated to `sigmoid(a·mean log p + b)` when `held_out` (the PRM's validation
/// questions and their Monte Carlo labels) is there to fit `a, b` on; the block's
/// `calibrated` is null without it.
pub fn evaluate(
    ctx: &Ctx,
    dir: &std::path::Path,
    engine: &ttc_model::engine_spec::EngineSpec,
    (split, samples): (&[ttc_task::Problem], &[SampleRow]),
    prm_scored: &[ScoredSample],
    ns: &[usize],
    held_out: Option<&HeldOut>,
) -> Result<(serde_json::Value, Vec<ScoredSample>)> {
    let (model, tok) = load_model(dir, engine)?;
    let prompt = ttc_task::tokenizer::PromptTemplate::load(dir)?;
    let scorer = match LikelihoodScorer::new(model.as_ref(), &tok, prompt) {
        Ok(s) => s,
        Err(e) if model.remote().is_some() => {
            return Ok((serde_json::json!({ "skipped": e.to_string() }), Vec::new()));
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
    let judged = judged_samples(samples);
    let (step_scores, step_ok) = steps_vs_truth(&scored, &judged);
    // A threshold for first errors: the likelihood is no probability of being right, so
    // calibrate it on the held-out questions' Monte Carlo labels first.
    let mut val_within = None;
    let fit = match held_out {
        Some(h) => {
            let val = score_samples(ctx, &|i| scorer.score(i), &h.problems, &h.samples)?;
            val_within = Some(within_question(&val, seed));
            let (x, y, _) = label_pairs(&val, &h.labels);
            let x: Vec<f64> = x.iter().map(|&p| (p as f64).ln()).collect();
            let y: Vec<f64> = y.iter().map(|&t| t as f64).collect();
            fit_logistic(&x, &y).map(|ab| (ab, x.len()))
        }
        None => None,
    };
    let (calibrated, scored) = match fit {
        Some(((a, b), val_steps)) => {
            let calibrate = |p: f32| sigmoid(a * (p as f64).ln() + b) as f32;
            let block = serde_json::json!({
                "a": a, "b": b, "val_steps": val_steps,
                "first_error": first_error_over(&scored, &judged, &calibrate),
            });
            (Some(block), calibrated_rows(scored, &calibrate))
        }
        None => (None, scored),
    };
    let block = serde_json::json!({
        "model": dir.display().to_string(),
        "test_step_auroc_vs_true": ttc_eval::verifier_metrics::auroc(&step_scores, &step_ok),
        "calibrated": calibrated,
        "val_within_question_auroc": val_within,
        "within_question_auroc": within,
        "minus_prm_within_question_auroc": vs_prm,
        "selection": selection_table(&scored, ns),
        "reward_hacking": ns.last().and_then(|&n| {
            ttc_eval::reward_hacking::reward_hacking(&scored, &judged, n)
        }),
        "slip_pairs": crate::stages::prm_eval::slip_pairs::slip_pairs(&|i| scorer.score(i), split, seed)?,
    });
    Ok((block, scored))
}

/// `rows` with every step score passed through `calibrate` (monotone: rankings, and so
/// best-of-N and every AUROC, stay as they were; the weighted vote's weights change).
fn calibrated_rows(
    mut rows: Vec<ScoredSample>,
    calibrate: &dyn Fn(f32) -> f32,
) -> Vec<ScoredSample> {
    for r in &mut rows {
        for s in &mut r.step_scores {
            *s = calibrate(*s);
        }
    }
    rows
}

/// The within-question AUROC of the last step's score, `a` minus `b`, over the questions
/// both can be judged on: mean and paired bootstrap 95% interval.
fn paired_vs(a: &[ScoredSample], b: &[ScoredSample], seed: u64) -> serde_json::Value {
    let per_q = |s: &[ScoredSample]| -> HashMap<u32, f64> {
        last_step_auroc_per_question(s).into_iter().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_maps_every_step_score_and_keeps_the_rest() {
        let row = ScoredSample {
            question_id: "q".into(),
            question_index: 3,
            sample_id: 1,
            level: 2,
            correct: true,
            answer: Some("7".into()),
            first_error: None,
            step_scores: vec![1.0, 0.5, 0.25],
        };
        let out = calibrated_rows(vec![row.clone()], &|p| {
            sigmoid(2.0 * (p as f64).ln() + 1.0) as f32
        });
        let want: Vec<f32> = row
            .step_scores
            .iter()
            .map(|&p| sigmoid(2.0 * (p as f64).ln() + 1.0) as f32)
            .collect();
        assert_eq!(out[0].step_scores, want);
        assert!(want[0] > want[1] && want[1] > want[2], "monotone: {want:?}");
        assert_eq!(
            (&out[0].question_id, out[0].sample_id, out[0].correct),
            (&row.question_id, 1, true)
        );
    }
}
