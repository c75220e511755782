//! A verifier's scores of test samples against what they can be checked on (DESIGN §6): the
//! step checker's truth (step AUROC, first-error F1) and the samples' correctness (the
//! within-question AUROC of the last step's score, with its bootstrap interval). Shared by
//! the PRM's evaluation and the likelihood verifier's.

use std::collections::HashMap;

use ttc_data::rows::{SampleRow, ScoredSample};
use ttc_train::prm::{first_error_f1, within_question_auroc};

/// The samples whose steps the step checker judged (arith; MATH has no step truth).
pub fn judged_samples(samples: &[SampleRow]) -> std::collections::HashSet<(u32, u32)> {
    samples
        .iter()
        .filter(|s| !s.step_verdicts.is_empty())
        .map(|s| (s.question_index, s.sample_id))
        .collect()
}

/// Every step score of the judged samples beside its truth: steps before the sample's first
/// error are right.
pub fn steps_vs_truth(
    scored: &[ScoredSample],
    judged: &std::collections::HashSet<(u32, u32)>,
) -> (Vec<f32>, Vec<bool>) {
    let (mut sc, mut ok) = (Vec::new(), Vec::new());
    for s in scored
        .iter()
        .filter(|s| judged.contains(&(s.question_index, s.sample_id)))
    {
        let fe = s.first_error.map(|f| f as usize).unwrap_or(usize::MAX);
        for (k, &x) in s.step_scores.iter().enumerate() {
            sc.push(x);
            ok.push(k < fe);
        }
    }
    (sc, ok)
}

/// First-error F1 (threshold 0.5) over the judged samples with an answer, each step score
/// passed through `calibrate` first.
pub fn first_error_over(
    scored: &[ScoredSample],
    judged: &std::collections::HashSet<(u32, u32)>,
    calibrate: &dyn Fn(f32) -> f32,
) -> ttc_train::prm::FirstErrorScore {
    let with_answer: Vec<&ScoredSample> = scored
        .iter()
        .filter(|s| s.answer.is_some())
        .filter(|s| judged.contains(&(s.question_index, s.sample_id)))
        .collect();
    let scores: Vec<Vec<f32>> = with_answer
        .iter()
        .map(|s| s.step_scores.iter().map(|&p| calibrate(p)).collect())
        .collect();
    let truth: Vec<Option<u32>> = with_answer.iter().map(|s| s.first_error).collect();
    first_error_f1(&scores, &truth, 0.5)
}

/// Each question's within-question AUROC of its samples' last-step scores (a sample
/// without steps scores 0), for the questions with right and wrong samples.
pub fn last_step_auroc_per_question(scored: &[ScoredSample]) -> Vec<(u32, f64)> {
    let rows: Vec<(u32, f32, bool)> = scored
        .iter()
        .map(|s| {
            let last = s.step_scores.last().copied().unwrap_or(0.0);
            (s.question_index, last, s.correct)
        })
        .collect();
    within_question_auroc(&rows)
}

/// The within-question AUROC of each test sample's last-step score (a sample without steps
/// scores 0): the mean over questions with right and wrong samples, its bootstrap 95%
/// interval over those questions, and the mean per level; plus the mean under the other
/// step aggregations (min, prod, mean), for what search could use instead.
pub fn within_question(scored: &[ScoredSample], seed: u64) -> serde_json::Value {
    use ttc_search::select::Aggregation;
    let rows_by = |agg: Aggregation| -> Vec<(u32, f32, bool)> {
        scored
            .iter()
            .map(|s| {
                let score = if s.step_scores.is_empty() {
                    0.0
                } else {
                    agg.apply(&s.step_scores)
                };
                (s.question_index, score, s.correct)
            })
            .collect()
    };
    let by_aggregation: serde_json::Map<String, serde_json::Value> =
        [Aggregation::Min, Aggregation::Prod, Aggregation::Mean]
            .into_iter()
            .map(|a| {
                let v: Vec<f64> = within_question_auroc(&rows_by(a))
                    .iter()
                    .map(|x| x.1)
                    .collect();
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                (a.name().to_string(), serde_json::json!(mean))
            })
            .collect();
    let per_q = last_step_auroc_per_question(scored);
    let level: HashMap<u32, u8> = scored.iter().map(|s| (s.question_index, s.level)).collect();
    let mut per_level: std::collections::BTreeMap<u8, (f64, usize)> = Default::default();
    for (q, a) in &per_q {
        let e = per_level.entry(level[q]).or_default();
        e.0 += a;
        e.1 += 1;
    }
    let values: Vec<f64> = per_q.iter().map(|x| x.1).collect();
    let Some(ci) = ttc_eval::paired::paired(&values, seed) else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "mean": ci.diff,
        "lo": ci.lo,
        "hi": ci.hi,
        "questions": ci.questions,
        "per_level": per_level
            .into_iter()
            .map(|(l, (s, n))| (l.to_string(), serde_json::json!({ "mean": s / n as f64, "questions": n })))
            .collect::<serde_json::Map<_, _>>(),
        "by_aggregation": by_aggregation,
    })
}
