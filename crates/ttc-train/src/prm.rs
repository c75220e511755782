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
pub fn scored_layout(
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
    let lay = |problem: &str, steps: &[String]| -> Result<StepLayout> {
        let prompt = template
            .encode(tok, problem)
            .map_err(|e| Error::Config(e.to_string()))?;
        let l = scored_layout(tok, &prompt, steps, eos)?;
        Ok(StepLayout {
            tokens: l.tokens,
            prompt_len: l.prompt_len,
            reads: l.step_ends,
        })
    };
    prm_examples_in(&lay, problems, samples, labels, target, outcome)
}

/// A labelled sample's tokens in some PRM format and the token each step's score is read at
/// (before the last token, which is never an input).
pub struct StepLayout {
    pub tokens: Vec<u32>,
    pub prompt_len: usize,
    pub reads: Vec<usize>,
}

/// [`prm_examples`] in any layout: `layout(problem, steps)` gives a sample's tokens and
/// where each step is read (ttc's format: each step's last token; Math-Shepherd's: each
/// step's tag).
pub fn prm_examples_in(
    layout: &dyn Fn(&str, &[String]) -> Result<StepLayout>,
    problems: &HashMap<String, String>,
    samples: &[SampleRow],
    labels: &[LabelRow],
    target: StepTarget,
    outcome: bool,
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
        let l = layout(problem, &s.steps)?;
        let Some(ls) = ls else {
            let last = *l.reads.last().expect("a sample with steps");
            out.push((
                s.question_index,
                Example {
                    group: None,
                    tokens: l.tokens,
                    prompt_len: l.prompt_len,
                    scores: vec![(last, f32::from(u8::from(s.correct)))],
                },
            ));
            continue;
        };
        let ys = step_targets(ls, target)?;
        let mut scores = Vec::with_capacity(ls.len());
        for (r, y) in ls.iter().zip(ys) {
            let Some(&pos) = l.reads.get(r.step_index as usize) else {
                return Err(Error::Config(format!(
                    "label for {} sample {} step {} but the sample has {} steps",
                    s.question_id,
                    s.sample_id,
                    r.step_index,
                    l.reads.len()
                )));
            };
            scores.push((pos, y));
        }
        out.push((
            s.question_index,
            Example {
                group: None,
                tokens: l.tokens,
                prompt_len: l.prompt_len,
                scores,
            },
        ));
    }
    Ok(out)
}

/// Keep only the target of `e`'s last step (the last-step loss of `[prm] last_step_loss`).
pub fn keep_last_step(e: &mut Example) {
    if let Some(&last) = e.scores.iter().max_by_key(|s| s.0) {
        e.scores = vec![last];
    }
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
        group: None,
        tokens,
        prompt_len: l.prompt_len,
        scores: vec![(last, f32::from(u8::from(correct)))],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_step_loss_keeps_the_last_steps_target() {
        let mut e = Example {
            group: None,
            tokens: vec![0; 16],
            prompt_len: 3,
            scores: vec![(9, 0.5), (14, 0.25), (5, 1.0)],
        };
        keep_last_step(&mut e);
        assert_eq!(e.scores, vec![(14, 0.25)]);
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
}
