//! Steps of a solution and where they sit in the token stream.
//!
//! A solution is split at the step delimiter `"\n\n"`; empty pieces are dropped, so a
//! text ending in the delimiter never opens an empty step (the search-and-learn pitfall).
//! The token layout is prompt, then each step followed by the delimiter (the last step's
//! delimiter only when the solution is still open). Each piece is encoded on its own; the
//! byte-level pre-tokenizer never merges across `"\n"`, so this equals encoding the whole
//! text (checked in the tests). A step's score sits on its last token, before the
//! delimiter: the same position whether or not the delimiter has been generated yet.

use ttc_task::STEP_DELIMITER;

use crate::Result;

/// Prompt + steps as tokens, with each step's last-token index.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLayout {
    pub tokens: Vec<u32>,
    pub prompt_len: usize,
    /// Index into `tokens` of the last token of each step.
    pub step_ends: Vec<usize>,
    /// Index into `tokens` one past each step's delimiter (where the next step starts).
    pub step_starts_next: Vec<usize>,
}

/// Lay out `prompt_tokens` + `steps`; `open` appends a delimiter after the last step too.
pub fn layout(
    encode: &dyn Fn(&str) -> Result<Vec<u32>>,
    prompt_tokens: &[u32],
    steps: &[String],
    open: bool,
) -> Result<StepLayout> {
    let delim = encode(STEP_DELIMITER)?;
    let mut tokens = prompt_tokens.to_vec();
    let mut step_ends = Vec::with_capacity(steps.len());
    let mut next = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let t = encode(s)?;
        if t.is_empty() {
            return Err(crate::Error::Input(format!(
                "step {i} encodes to no tokens"
            )));
        }
        tokens.extend(t);
        step_ends.push(tokens.len() - 1);
        if open || i + 1 < steps.len() {
            tokens.extend_from_slice(&delim);
        }
        next.push(tokens.len());
    }
    Ok(StepLayout {
        tokens,
        prompt_len: prompt_tokens.len(),
        step_ends,
        step_starts_next: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_marks_step_ends_before_delimiters() {
        // A toy "tokenizer": one token per byte.
        let enc = |s: &str| -> Result<Vec<u32>> { Ok(s.bytes().map(u32::from).collect()) };
        let steps = vec!["ab".to_string(), "c".to_string()];
        let l = layout(&enc, &[1, 2], &steps, false).unwrap();
        assert_eq!(l.tokens, vec![1, 2, 97, 98, 10, 10, 99]);
        assert_eq!(l.step_ends, vec![3, 6]);
        assert_eq!(l.step_starts_next, vec![6, 7]);
        let l = layout(&enc, &[1, 2], &steps, true).unwrap();
        assert_eq!(l.tokens.len(), 9);
        assert_eq!(l.step_ends, vec![3, 6]);
    }
}
