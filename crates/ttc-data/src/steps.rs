//! Steps of a solution and where they sit in the token stream.
//!
//! A solution is split at the step delimiter `"\n\n"`; empty pieces are dropped, so a
//! text ending in the delimiter never opens an empty step (the search-and-learn pitfall).
//! The token layout is the prompt, then the solution text — the steps joined by the
//! delimiter, plus one after the last step when the solution is still open — encoded as
//! one text, exactly as the policy's tokenizer splits it. Step boundaries are found on the
//! text and mapped to tokens through the encoder's byte offsets, so they are right
//! whatever the tokenizer merges (Qwen2 and Llama-3 merge `".\n\n"` into one token). A
//! step's score sits on the token holding its last byte — with such a merge, the token that
//! also holds the delimiter.

use ttc_task::STEP_DELIMITER;

use crate::Result;

pub use ttc_task::tokenizer::Encoded;

/// Prompt + steps as tokens, with each step's last-token index.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLayout {
    pub tokens: Vec<u32>,
    pub prompt_len: usize,
    /// Index into `tokens` of the token holding the last byte of each step.
    pub step_ends: Vec<usize>,
    /// Index into `tokens` of the first token wholly after each step's delimiter (where the
    /// next step starts).
    pub step_starts_next: Vec<usize>,
}

/// Lay out `prompt_tokens` + `steps`; `open` appends a delimiter after the last step too.
/// `encode` gives ids and byte offsets (e.g. `tokenizers`' `Encoding::get_offsets`).
pub fn layout(
    encode: &dyn Fn(&str) -> Result<Encoded>,
    prompt_tokens: &[u32],
    steps: &[String],
    open: bool,
) -> Result<StepLayout> {
    let mut text = String::new();
    let mut ends = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        if s.is_empty() {
            return Err(crate::Error::Input(format!("step {i} is empty")));
        }
        text.push_str(s);
        ends.push(text.len());
        if open || i + 1 < steps.len() {
            text.push_str(STEP_DELIMITER);
        }
    }
    let (ids, offsets) = encode(&text)?;
    if ids.len() != offsets.len() {
        return Err(crate::Error::Input(format!(
            "the encoder gave {} ids but {} offsets",
            ids.len(),
            offsets.len()
        )));
    }
    let base = prompt_tokens.len();
    let mut step_ends = Vec::with_capacity(steps.len());
    let mut next = Vec::with_capacity(steps.len());
    for (i, &end) in ends.iter().enumerate() {
        // The last token starting before the step's end holds its last byte.
        let last = offsets.partition_point(|&(start, _)| start < end);
        if last == 0 || step_ends.last().is_some_and(|&p| p >= base + last - 1) {
            return Err(crate::Error::Input(format!(
                "step {i} has no token of its own (the tokenizer merged it into the step before)"
            )));
        }
        step_ends.push(base + last - 1);
        let after = end
            + if open || i + 1 < steps.len() {
                STEP_DELIMITER.len()
            } else {
                0
            };
        next.push(base + offsets.partition_point(|&(start, _)| start < after));
    }
    let mut tokens = prompt_tokens.to_vec();
    tokens.extend(ids);
    Ok(StepLayout {
        tokens,
        prompt_len: base,
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
        let enc = |s: &str| -> Result<Encoded> {
            Ok((
                s.bytes().map(u32::from).collect(),
                (0..s.len()).map(|i| (i, i + 1)).collect(),
            ))
        };
        let steps = vec!["ab".to_string(), "c".to_string()];
        let l = layout(&enc, &[1, 2], &steps, false).unwrap();
        assert_eq!(l.tokens, vec![1, 2, 97, 98, 10, 10, 99]);
        assert_eq!(l.step_ends, vec![3, 6]);
        assert_eq!(l.step_starts_next, vec![6, 7]);
        let l = layout(&enc, &[1, 2], &steps, true).unwrap();
        assert_eq!(l.tokens.len(), 9);
        assert_eq!(l.step_ends, vec![3, 6]);
    }

    #[test]
    fn a_token_merging_a_step_end_with_the_delimiter_holds_the_step_score() {
        // A toy tokenizer that merges ".\n\n" into one token (id 1000), as Qwen2's does.
        let enc = |s: &str| -> Result<Encoded> {
            let (mut ids, mut offs, mut i) = (Vec::new(), Vec::new(), 0);
            while i < s.len() {
                if s[i..].starts_with(".\n\n") {
                    ids.push(1000);
                    offs.push((i, i + 3));
                    i += 3;
                } else {
                    ids.push(s.as_bytes()[i] as u32);
                    offs.push((i, i + 1));
                    i += 1;
                }
            }
            Ok((ids, offs))
        };
        let steps = vec!["a.".to_string(), "b.".to_string()];
        let l = layout(&enc, &[7], &steps, true).unwrap();
        assert_eq!(l.tokens, vec![7, 97, 1000, 98, 1000]);
        assert_eq!(l.step_ends, vec![2, 4]);
        assert_eq!(l.step_starts_next, vec![3, 5]);
        let l = layout(&enc, &[7], &steps, false).unwrap();
        assert_eq!(l.tokens, vec![7, 97, 1000, 98, 46]);
        assert_eq!(l.step_ends, vec![2, 4]);
    }
}
