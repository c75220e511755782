//! The within-question AUROC block of `prm_eval.json` (its bootstrap interval, per level,
//! per step aggregation), shared by the PRM's evaluation and the likelihood verifier's; the
//! statistics are `ttc_eval::verifier_metrics`'s.

use std::collections::HashMap;

use ttc_data::rows::ScoredSample;
use ttc_eval::verifier_metrics::{last_step_auroc_per_question, within_question_auroc};

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
