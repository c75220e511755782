//! The search tree: every node ever created, with its text, steps and step scores, and the
//! per-question compute accounting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ttc_task::grader::extract::{extract_answer, extract_boxed};
use ttc_task::steps::split_steps;

use crate::{Continuation, Expansion, Request};

/// Index of a node in its [`Tree`].
pub type NodeId = usize;

/// A partial or finished solution.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub question: usize,
    pub parent: Option<NodeId>,
    /// Everything generated after the prompt.
    pub text: String,
    /// Non-empty steps of `text`.
    pub steps: Vec<String>,
    /// Verifier score of each step (empty until scored; never for an empty step).
    pub scores: Vec<f32>,
    pub finished: bool,
    /// Tokens generated along the path from the prompt.
    pub tokens: usize,
    /// Depth in steps of search rounds (the prompt's children are 1).
    pub depth: usize,
    /// DeepConf's confidence of every token along the path (empty unless asked for).
    pub token_confidence: Vec<f32>,
}

impl Node {
    pub fn answer(&self) -> Option<String> {
        extract_answer(&self.text)
    }
}

/// Compute spent on one question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    /// The paper's budget unit (N; N·(k+1) for lookahead).
    pub generations: u64,
    /// Continuations sampled (one-step proposals, rollouts, completions, full samples).
    pub continuations: u64,
    pub generated_tokens: u64,
    /// Policy tokens run through the model (prompts, prefixes, generated tokens).
    pub computed_tokens: u64,
    /// Verifier tokens run through the model.
    pub verifier_tokens: u64,
    /// Forward FLOPs of policy and verifier (2 × parameters per computed token).
    pub flops: f64,
}

/// All nodes of a search over a batch of questions.
#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Per question id.
    pub accounting: BTreeMap<usize, Accounting>,
}

impl Tree {
    /// Reserve `k` node ids (filled by [`Tree::attach`]).
    pub fn reserve(&mut self, question: usize, parent: Option<NodeId>, k: usize) -> Vec<NodeId> {
        let depth = parent.map_or(0, |p| self.nodes[p].depth);
        (0..k)
            .map(|_| {
                self.nodes.push(Node {
                    question,
                    parent,
                    text: String::new(),
                    steps: Vec::new(),
                    scores: Vec::new(),
                    finished: false,
                    tokens: 0,
                    depth,
                    token_confidence: Vec::new(),
                });
                self.nodes.len() - 1
            })
            .collect()
    }

    /// Tokens `parent` (or the prompt) may still generate.
    pub fn budget(&self, parent: Option<NodeId>, max_new_tokens: usize) -> usize {
        max_new_tokens.saturating_sub(parent.map_or(0, |p| self.nodes[p].tokens))
    }

    /// Fill the reserved children of `req` from the generator's `exp`. A node is finished
    /// when the generator says so, when its new text holds a final answer (see
    /// [`holds_final_answer`]), or when its
    /// token budget is spent.
    pub fn attach(&mut self, req: &Request, exp: &Expansion, max_new_tokens: usize) {
        let acc = self.accounting.entry(req.question).or_default();
        acc.computed_tokens += exp.prefix_computed as u64;
        let (ptext, ptokens, pscores, pdepth, pconf) = match req.parent {
            Some(p) => {
                let n = &self.nodes[p];
                let c = n.token_confidence.clone();
                (n.text.clone(), n.tokens, n.scores.clone(), n.depth, c)
            }
            None => (String::new(), 0, Vec::new(), 0, Vec::new()),
        };
        for (&id, c) in req.children.iter().zip(&exp.children) {
            let Continuation {
                text,
                finished,
                generated_tokens,
                computed_tokens,
                token_confidence,
            } = c;
            acc.continuations += 1;
            acc.generated_tokens += *generated_tokens as u64;
            acc.computed_tokens += *computed_tokens as u64;
            let full = format!("{ptext}{text}");
            let steps = split_steps(&full);
            let tokens = ptokens + generated_tokens;
            let finished = *finished || holds_final_answer(text) || tokens >= max_new_tokens;
            let rounds = match req.until {
                crate::Until::Step => 1,
                _ => 0,
            };
            self.nodes[id] = Node {
                question: req.question,
                parent: req.parent,
                text: full,
                steps,
                scores: pscores.clone(),
                finished,
                tokens,
                depth: pdepth + rounds,
                token_confidence: [&pconf[..], &token_confidence[..]].concat(),
            };
        }
    }

    /// The aggregated score of a node (0 before any step was scored).
    pub fn score(&self, id: NodeId, agg: crate::select::Aggregation) -> f32 {
        agg.apply(&self.nodes[id].scores)
    }
}

/// Whether new text ends a path: it holds the final-answer form both tasks define, a
/// `\boxed{…}` (the arith task's last step, MATH's convention). A stray "the answer is"
/// mid-solution does not end a path; it is still read as an answer when grading.
pub fn holds_final_answer(text: &str) -> bool {
    extract_boxed(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_boxed_answer_ends_a_path() {
        assert!(holds_final_answer("So the answer is $\\boxed{12}$."));
        assert!(holds_final_answer("The answer is \\boxed{51}."));
        assert!(!holds_final_answer(
            "Note that the answer is not obvious: we first factor."
        ));
        assert!(!holds_final_answer("the answer is 5\n\n"));
        assert!(!holds_final_answer("\\boxed{unclosed"));
    }
}
