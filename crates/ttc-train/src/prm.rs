//! PRM data and evaluation (DESIGN §6): training examples from MC labels, step AUROC,
//! ProcessBench-style first-error F1, calibration, best-of-N vs majority.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;
use ttc_data::rows::LabelRow;
use ttc_data::rows::SampleRow;
use ttc_data::steps::layout;
use ttc_task::tokenizer::PromptTemplate;

use crate::sft_data::Example;
use crate::{Error, Result};

/// What a PRM learns at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepTarget {
    /// Monte Carlo: the fraction of rollouts from the step that reach the right answer.
    #[default]
    Soft,
    /// Monte Carlo: whether any rollout reaches it.
    Hard,
    /// The step checker's exact verdicts (arith only): 1 while every step so far is
    /// correct. No real task has them; on the synthetic task they bound what Monte Carlo
    /// labels can teach (the ablation of DESIGN §6).
    Truth,
}

impl StepTarget {
    pub const ALL: [StepTarget; 3] = [StepTarget::Soft, StepTarget::Hard, StepTarget::Truth];

    /// `soft`, `hard` or `truth`.
    pub fn name(self) -> &'static str {
        match self {
            StepTarget::Soft => "soft",
            StepTarget::Hard => "hard",
            StepTarget::Truth => "truth",
        }
    }

    pub fn parse(s: &str) -> Option<StepTarget> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// `prompt` + `steps` laid out as a score head reads them (`ttc_data::steps::layout`), EOS
/// appended to the tokens: where each step ends is where its score is read.
pub(crate) fn scored_layout(
    tok: &Tokenizer,
    prompt: &[u32],
    steps: &[String],
    eos: u32,
) -> Result<ttc_data::steps::StepLayout> {
    let encode = |s: &str| -> ttc_data::Result<ttc_data::steps::Encoded> {
        ttc_task::tokenizer::encode_with_offsets(tok, s)
            .map_err(|e| ttc_data::Error::Input(e.to_string()))
    };
    let mut l = layout(&encode, prompt, steps, false).map_err(|e| Error::Config(e.to_string()))?;
    l.tokens.push(eos);
    Ok(l)
}

/// Each label's target under `target`, in `labels`' order. Truth needs every step's verdict:
/// a sample with a step the checker did not judge is an error naming it.
fn step_targets(labels: &[&LabelRow], target: StepTarget) -> Result<Vec<f32>> {
    match target {
        StepTarget::Soft => Ok(labels.iter().map(|r| r.soft).collect()),
        StepTarget::Hard => Ok(labels.iter().map(|r| f32::from(u8::from(r.hard))).collect()),
        StepTarget::Truth => {
            let mut first_wrong = u32::MAX;
            for r in labels {
                match r.verdict.as_deref() {
                    Some("correct") => {}
                    Some(_) => first_wrong = first_wrong.min(r.step_index),
                    None => {
                        return Err(Error::Config(format!(
                            "truth labels need the step checker's verdicts: {} sample {} step {} has none (arith only)",
                            r.question_id, r.sample_id, r.step_index
                        )));
                    }
                }
            }
            Ok(labels
                .iter()
                .map(|r| f32::from(u8::from(r.step_index < first_wrong)))
                .collect())
        }
    }
}

/// One PRM training example per labelled sample: prompt (in the policy's `template`) +
/// steps + EOS, a target at each step's last token (`target`). With `outcome`, a sample
/// without labels still makes an example, its one target the graded answer at the last
/// step's last token (the last step's Monte Carlo label is that answer anyway).
/// Returns (question index, example).
#[allow(clippy::too_many_arguments)]
pub fn prm_examples(
    tok: &Tokenizer,
    template: &PromptTemplate,
    problems: &HashMap<String, String>,
    samples: &[SampleRow],
    labels: &[LabelRow],
    target: StepTarget,
    outcome: bool,
    eos: u32,
) -> Result<Vec<(u32, Example)>> {
    let mut by_sample: HashMap<(&str, u32), Vec<&LabelRow>> = HashMap::new();
    for l in labels {
        by_sample
            .entry((l.question_id.as_str(), l.sample_id))
            .or_default()
            .push(l);
    }
    let mut out = Vec::new();
    for s in samples {
        let ls = by_sample.get(&(s.question_id.as_str(), s.sample_id));
        if ls.is_none() && (!outcome || s.steps.is_empty()) {
            continue;
        }
        let problem = problems.get(&s.question_id).ok_or_else(|| {
            Error::Config(format!(
                "labels name question {} not in the split",
                s.question_id
            ))
        })?;
        let prompt = template
            .encode(tok, problem)
            .map_err(|e| Error::Config(e.to_string()))?;
        let l = scored_layout(tok, &prompt, &s.steps, eos)?;
        let tokens = l.tokens;
        let Some(ls) = ls else {
            let last = *l.step_ends.last().expect("a sample with steps");
            out.push((
                s.question_index,
                Example {
                    tokens,
                    prompt_len: l.prompt_len,
                    scores: vec![(last, f32::from(u8::from(s.correct)))],
                },
            ));
            continue;
        };
        let ys = step_targets(ls, target)?;
        let mut scores = Vec::with_capacity(ls.len());
        for (r, y) in ls.iter().zip(ys) {
            let Some(&pos) = l.step_ends.get(r.step_index as usize) else {
                return Err(Error::Config(format!(
                    "label for {} sample {} step {} but the sample has {} steps",
                    s.question_id,
                    s.sample_id,
                    r.step_index,
                    l.step_ends.len()
                )));
            };
            scores.push((pos, y));
        }
        out.push((
            s.question_index,
            Example {
                tokens,
                prompt_len: l.prompt_len,
                scores,
            },
        ));
    }
    Ok(out)
}

/// An outcome-model (ORM) example: `prompt` (e.g. a revision prompt holding the previous
/// attempts) + the solution's steps + EOS, with one target — the solution's correctness —
/// at its last step's last token. `None` for a solution without steps.
pub fn orm_example(
    tok: &Tokenizer,
    prompt: &[u32],
    steps: &[String],
    correct: bool,
    eos: u32,
) -> Result<Option<Example>> {
    if steps.is_empty() {
        return Ok(None);
    }
    let l = scored_layout(tok, prompt, steps, eos)?;
    let tokens = l.tokens;
    let last = *l.step_ends.last().expect("non-empty steps");
    Ok(Some(Example {
        tokens,
        prompt_len: l.prompt_len,
        scores: vec![(last, f32::from(u8::from(correct)))],
    }))
}

/// Area under the ROC curve of `scores` for `positive` (ties count half); `None` when one
/// class is absent.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0f64, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    let np = positive.iter().filter(|&&p| p).count() as f64;
    let nn = positive.len() as f64 - np;
    if np == 0.0 || nn == 0.0 {
        return None;
    }
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// Within-question AUROC: for each question whose samples are both right and wrong, the
/// AUROC of the score between its own right and wrong samples. This is what choosing among
/// one question's samples needs (a pooled AUROC mostly separates easy questions from hard
/// ones). `samples`: (question, score, correct); returns (question, AUROC) in question order.
pub fn within_question_auroc(samples: &[(u32, f32, bool)]) -> Vec<(u32, f64)> {
    let mut by_q: std::collections::BTreeMap<u32, (Vec<f32>, Vec<bool>)> = Default::default();
    for &(q, s, ok) in samples {
        let e = by_q.entry(q).or_default();
        e.0.push(s);
        e.1.push(ok);
    }
    by_q.into_iter()
        .filter_map(|(q, (s, ok))| auroc(&s, &ok).map(|a| (q, a)))
        .collect()
}

/// ProcessBench-style first-error identification.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FirstErrorScore {
    /// Accuracy of the predicted first-error index on solutions with an error.
    pub acc_erroneous: f64,
    pub n_erroneous: usize,
    /// Accuracy of predicting "no error" on solutions without one.
    pub acc_correct: f64,
    pub n_correct: usize,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// Predicted first error = first step scored below `threshold`; truth = the step
/// checker's first non-correct step.
pub fn first_error_f1(
    step_scores: &[Vec<f32>],
    truth: &[Option<u32>],
    threshold: f32,
) -> FirstErrorScore {
    let (mut ok_e, mut n_e, mut ok_c, mut n_c) = (0usize, 0usize, 0usize, 0usize);
    for (s, t) in step_scores.iter().zip(truth) {
        let pred = s.iter().position(|&x| x < threshold).map(|i| i as u32);
        match t {
            Some(_) => {
                n_e += 1;
                ok_e += (pred == *t) as usize;
            }
            None => {
                n_c += 1;
                ok_c += pred.is_none() as usize;
            }
        }
    }
    let ae = ok_e as f64 / n_e.max(1) as f64;
    let ac = ok_c as f64 / n_c.max(1) as f64;
    FirstErrorScore {
        acc_erroneous: ae,
        n_erroneous: n_e,
        acc_correct: ac,
        n_correct: n_c,
        f1: if ae + ac > 0.0 {
            2.0 * ae * ac / (ae + ac)
        } else {
            0.0
        },
    }
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    pub mean_score: f64,
    /// Mean of the reference (MC soft label, or 1/0 step truth) in the bin.
    pub mean_target: f64,
}

/// Equal-width calibration table of `scores` against `targets` over `bins` bins.
pub fn calibration(scores: &[f32], targets: &[f32], bins: usize) -> Vec<CalibrationBin> {
    let mut acc = vec![(0usize, 0.0f64, 0.0f64); bins];
    for (&s, &t) in scores.iter().zip(targets) {
        let b = ((s.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += s as f64;
        acc[b].2 += t as f64;
    }
    acc.into_iter()
        .enumerate()
        .map(|(b, (n, ss, ts))| CalibrationBin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            n,
            mean_score: ss / n.max(1) as f64,
            mean_target: ts / n.max(1) as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_known_rankings() {
        assert_eq!(
            auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // 1 of 4 positive/negative pairs misordered.
        assert_eq!(
            auroc(&[0.1, 0.6, 0.5, 0.9], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn within_question_auroc_ignores_what_separates_questions() {
        // Question 0 scores everything high, question 1 low: a pooled AUROC rewards that,
        // the within-question one sees only each question's own ranking.
        let s = [
            (0, 0.9, true),
            (0, 0.8, false),
            (1, 0.2, false),
            (1, 0.1, true),
            (2, 0.5, true), // only right samples: no AUROC
        ];
        assert_eq!(within_question_auroc(&s), vec![(0, 1.0), (1, 0.0)]);
    }

    fn label(step: u32, verdict: Option<&str>) -> LabelRow {
        LabelRow {
            question_id: "q".into(),
            question_index: 0,
            sample_id: 3,
            step_index: step,
            n_steps: 3,
            prefix_tokens: 0,
            soft: 0.25 * step as f32,
            hard: step > 0,
            rollouts: 4,
            correct_rollouts: step,
            verdict: verdict.map(String::from),
        }
    }

    #[test]
    fn step_targets_of_each_kind() {
        // Steps 0 right, 1 wrong, 2 right again: truth is 1 only before the first error.
        let rows = [
            label(0, Some("correct")),
            label(2, Some("correct")),
            label(1, Some("wrong")),
        ];
        let refs: Vec<&LabelRow> = rows.iter().collect();
        assert_eq!(
            step_targets(&refs, StepTarget::Soft).unwrap(),
            [0.0, 0.5, 0.25]
        );
        assert_eq!(
            step_targets(&refs, StepTarget::Hard).unwrap(),
            [0.0, 1.0, 1.0]
        );
        assert_eq!(
            step_targets(&refs, StepTarget::Truth).unwrap(),
            [1.0, 0.0, 0.0]
        );
        let unjudged = [label(0, Some("correct")), label(1, None)];
        let refs: Vec<&LabelRow> = unjudged.iter().collect();
        let e = step_targets(&refs, StepTarget::Truth)
            .unwrap_err()
            .to_string();
        assert!(e.contains("q sample 3 step 1"), "{e}");
        assert_eq!(StepTarget::parse("truth"), Some(StepTarget::Truth));
        assert_eq!(StepTarget::parse("exact"), None);
    }

    #[test]
    fn unlabelled_samples_teach_only_their_outcome() {
        use ttc_task::arith::{ArithConfig, generate};
        use ttc_task::tokenizer::{TokenizerConfig, corpus_text, train_tokenizer};
        let s = generate(&ArithConfig::tiny()).unwrap();
        let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
        let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
        let problems: HashMap<String, String> =
            [("q".to_string(), "Let a = 1. What is a?".to_string())].into();
        let sample = |id: u32, correct: bool| SampleRow {
            question_id: "q".into(),
            question_index: 0,
            level: 1,
            sample_id: id,
            text: String::new(),
            steps: vec!["b = a + 1 = 2".into(), "The answer is \\boxed{2}.".into()],
            answer: Some("2".into()),
            correct,
            finish: "stop".into(),
            generated_tokens: 0,
            step_verdicts: vec![],
            first_error: None,
        };
        // Sample 3 has labels (two steps), samples 4 and 5 none.
        let samples = [sample(3, true), sample(4, false), sample(5, true)];
        let labels = [label(0, Some("correct")), label(1, Some("correct"))];
        let t = PromptTemplate::default();
        let ex = |outcome| {
            prm_examples(
                &tok,
                &t,
                &problems,
                &samples,
                &labels,
                StepTarget::Truth,
                outcome,
                0,
            )
            .unwrap()
        };
        assert_eq!(ex(false).len(), 1);
        let with = ex(true);
        assert_eq!(with.len(), 3);
        let (full, wrong, right) = (&with[0].1, &with[1].1, &with[2].1);
        assert_eq!(
            full.scores.iter().map(|s| s.1).collect::<Vec<_>>(),
            [1.0, 1.0]
        );
        // The unlabelled ones: one target, at the same last-step position, their outcome.
        assert_eq!(wrong.scores, vec![(full.scores[1].0, 0.0)]);
        assert_eq!(right.scores, vec![(full.scores[1].0, 1.0)]);
    }

    #[test]
    fn first_error_f1_on_a_handmade_set() {
        let scores = vec![
            vec![0.9, 0.2, 0.1], // predicted error at 1
            vec![0.9, 0.8, 0.7], // predicted no error
            vec![0.3, 0.9],      // predicted error at 0
            vec![0.9, 0.9],      // predicted no error
        ];
        let truth = [Some(1), None, Some(1), Some(0)];
        let f = first_error_f1(&scores, &truth, 0.5);
        assert_eq!((f.n_erroneous, f.n_correct), (3, 1));
        assert!((f.acc_erroneous - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(f.acc_correct, 1.0);
        assert!((f.f1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_scores() {
        let c = calibration(&[0.05, 0.15, 0.95, 1.0], &[0.0, 1.0, 1.0, 1.0], 10);
        assert_eq!(c.len(), 10);
        assert_eq!((c[0].n, c[1].n, c[9].n), (1, 1, 2));
        assert_eq!(c[1].mean_target, 1.0);
    }
}
