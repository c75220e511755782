//! Policy examples and greedy pass@1: the prompt every stage uses, the SFT target
//! (reference solution + EOS), and accuracy per difficulty level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;
use ttc_engine::Engine;
use ttc_model::decoder::Decoder;
use ttc_model::sampling::SamplingParams;
use ttc_task::Problem;
use ttc_task::grader::{extract_answer, is_equivalent};
use ttc_task::tokenizer::prompt_text;

use crate::sft_data::Example;
use crate::{Error, Result};

fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    tok.encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| Error::Config(format!("tokenizer: {e}")))
}

/// Prompt + reference solution + EOS; loss on the solution and EOS.
pub fn policy_example(tok: &Tokenizer, p: &Problem, eos: u32) -> Result<Example> {
    prompt_example(tok, &prompt_text(&p.problem), &p.solution, eos)
}

/// `prompt` (no loss) then `target` and EOS (loss): one SFT example.
pub fn prompt_example(tok: &Tokenizer, prompt: &str, target: &str, eos: u32) -> Result<Example> {
    example_after(tok, encode(tok, prompt)?, target, eos)
}

/// The prompt's ids (no loss), then `target` and EOS (loss).
fn example_after(tok: &Tokenizer, prompt: Vec<u32>, target: &str, eos: u32) -> Result<Example> {
    let mut tokens = prompt.clone();
    tokens.extend(encode(tok, target)?);
    tokens.push(eos);
    Ok(Example {
        group: None,
        tokens,
        prompt_len: prompt.len(),
        scores: vec![],
    })
}

/// An SFT example whose prompt is `problem` in `template` (encoded as the engine encodes
/// it: a format string with the tokenizer's special tokens), then `target` and EOS.
pub fn template_example(
    tok: &Tokenizer,
    template: &ttc_task::tokenizer::PromptTemplate,
    problem: &str,
    target: &str,
    eos: u32,
) -> Result<Example> {
    let prompt = template
        .encode(tok, problem)
        .map_err(|e| Error::Config(format!("prompt: {e}")))?;
    example_after(tok, prompt, target, eos)
}

/// Accuracy of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub correct: usize,
    pub total: usize,
}

impl Accuracy {
    pub fn rate(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Greedy pass@1 overall and per level, with every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassAtOne {
    pub overall: Accuracy,
    pub per_level: BTreeMap<u8, Accuracy>,
    /// (unique_id, extracted answer, correct) per problem.
    pub answers: Vec<(String, Option<String>, bool)>,
}

/// Greedy-decode every problem (batched) and grade the extracted answers.
pub fn greedy_pass_at_1(
    model: &dyn Decoder,
    tok: &Tokenizer,
    prompt: &ttc_task::tokenizer::PromptTemplate,
    long_prompts: ttc_engine::LongPrompts,
    problems: &[Problem],
    max_new_tokens: usize,
    on_done: &mut dyn FnMut(usize),
) -> Result<PassAtOne> {
    let engine = Engine::new(model, tok)?
        .with_prompt(prompt.clone())
        .with_long_prompts(long_prompts);
    let mut out = PassAtOne {
        overall: Accuracy::default(),
        per_level: BTreeMap::new(),
        answers: Vec::with_capacity(problems.len()),
    };
    for chunk in problems.chunks(256) {
        let prompts = chunk
            .iter()
            .map(|p| engine.encode_prompt(&p.problem))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(e.to_string()))?;
        let gens = engine.generate(&prompts, 1, &SamplingParams::greedy(max_new_tokens), 0)?;
        for (p, g) in chunk.iter().zip(gens) {
            let ans = extract_answer(&g[0].text);
            let ok = ans.as_deref().is_some_and(|a| is_equivalent(a, &p.answer));
            out.overall.total += 1;
            out.overall.correct += ok as usize;
            let l = out.per_level.entry(p.level).or_default();
            l.total += 1;
            l.correct += ok as usize;
            out.answers.push((p.unique_id.clone(), ans, ok));
        }
        on_done(chunk.len());
    }
    Ok(out)
}
