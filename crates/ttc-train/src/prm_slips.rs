//! PRM examples from slipped solutions (arith only, `ttc_task::arith_slips`): each question
//! gives two — its reference solution and the same solution with one arithmetic slip.
//!
//! Their targets keep what the PRM's labels mean. Under Monte Carlo labels (soft, hard) a
//! step's target is the chance of reaching the right answer from it, which nobody knows for a
//! hand-made solution's early steps; two things are certain: a solution's answer step is
//! worth its graded answer (1 for the reference), and a step after a wrong value leads only
//! to wrong answers (0 from the slip on). Under truth labels every step has its verdict.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokenizers::Tokenizer;
use ttc_task::Problem;
use ttc_task::arith_slips::{reference_steps, slipped_solution};
use ttc_task::tokenizer::PromptTemplate;

use crate::prm::{StepTarget, scored_layout};
use crate::sft_data::Example;
use crate::{Error, Result};

/// Two examples per problem of `problems` that has step truth and draws a slip (seeded):
/// the reference and the slipped solution, targets as the module says.
pub fn slip_examples(
    tok: &Tokenizer,
    template: &PromptTemplate,
    problems: &[Problem],
    target: StepTarget,
    seed: u64,
    eos: u32,
) -> Result<Vec<Example>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(2 * problems.len());
    for p in problems {
        let Some(slipped) = slipped_solution(p, &mut rng) else {
            continue;
        };
        let prompt = template
            .encode(tok, &p.problem)
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut example = |steps: &[String], first_error: Option<usize>| -> Result<()> {
            let l = scored_layout(tok, &prompt, steps, eos)
                .map_err(|e| Error::Config(format!("{}: {e}", p.unique_id)))?;
            let last = l.step_ends.len() - 1;
            let scores = l
                .step_ends
                .iter()
                .enumerate()
                .filter_map(|(i, &pos)| {
                    let wrong = first_error.is_some_and(|e| i >= e);
                    match target {
                        StepTarget::Truth => Some((pos, f32::from(u8::from(!wrong)))),
                        StepTarget::Soft | StepTarget::Hard if wrong => Some((pos, 0.0)),
                        StepTarget::Soft | StepTarget::Hard => (i == last).then_some((pos, 1.0)),
                    }
                })
                .collect();
            out.push(Example {
                group: None,
                tokens: l.tokens,
                prompt_len: l.prompt_len,
                scores,
            });
            Ok(())
        };
        example(&reference_steps(p), None)?;
        example(&slipped.steps, Some(slipped.first_error))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ttc_task::arith::{ArithConfig, generate};

    use super::*;

    fn tokenizer(problems: &[Problem]) -> Tokenizer {
        use ttc_task::tokenizer::{TokenizerConfig, corpus_text, train_tokenizer};
        let texts: Vec<String> = problems.iter().map(corpus_text).collect();
        train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap()
    }

    #[test]
    fn references_end_right_and_slips_are_wrong_from_the_slip_on() {
        let splits = generate(&ArithConfig::tiny()).unwrap();
        let problems = &splits.train[..20];
        let tok = tokenizer(&splits.train);
        let template = PromptTemplate::default();
        let soft = slip_examples(&tok, &template, problems, StepTarget::Soft, 1, 0).unwrap();
        let truth = slip_examples(&tok, &template, problems, StepTarget::Truth, 1, 0).unwrap();
        assert!(
            soft.len() >= 30 && soft.len().is_multiple_of(2),
            "{}",
            soft.len()
        );
        assert_eq!(soft.len(), truth.len());
        for (pair, tpair) in soft.chunks(2).zip(truth.chunks(2)) {
            let (reference, slipped) = (&pair[0], &pair[1]);
            // Soft: the reference teaches only its answer step, at the last position scored.
            assert_eq!(reference.scores.len(), 1);
            assert_eq!(reference.scores[0].1, 1.0);
            assert!(slipped.scores.iter().all(|&(_, y)| y == 0.0));
            let slipped_steps = tpair[1].scores.len();
            assert!(!slipped.scores.is_empty() && slipped.scores.len() <= slipped_steps);
            // Truth: every step, 1 until the slip and 0 after, in order.
            assert!(tpair[0].scores.iter().all(|&(_, y)| y == 1.0));
            let ys: Vec<f32> = tpair[1].scores.iter().map(|s| s.1).collect();
            let ones = ys.iter().take_while(|&&y| y == 1.0).count();
            assert_eq!(ones + slipped.scores.len(), ys.len());
            assert!(ys[ones..].iter().all(|&y| y == 0.0));
            // The two differ only from the slip on: same prompt and same first tokens.
            assert_eq!(reference.prompt_len, slipped.prompt_len);
            assert_eq!(
                reference.tokens[..reference.prompt_len],
                slipped.tokens[..slipped.prompt_len]
            );
        }
    }
}
