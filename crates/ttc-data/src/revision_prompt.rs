//! The prompt that shows a model its previous attempts (DESIGN §7), shared by training and
//! inference: the attempt marks, the window of attempts in context, and the rule that fits
//! it to a model's context. Re-exported by [`crate::revision`].

/// Opening and closing marks of one previous attempt in a revision prompt. The arith
/// task never writes `<`, and MATH solutions do not use these tags.
pub const ATTEMPT_OPEN: &str = "<attempt>";
pub const ATTEMPT_CLOSE: &str = "</attempt>";

/// The prompt of a revision: the problem, each previous attempt between attempt marks
/// (oldest first), then the solution header. With no attempts it is exactly the policy's
/// prompt, so revision step 0 is a plain sample.
pub fn revision_prompt(problem: &str, attempts: &[&str]) -> String {
    let mut s = format!("Problem: {problem}\n");
    for a in attempts {
        s.push_str(ATTEMPT_OPEN);
        s.push('\n');
        s.push_str(a.trim_end());
        s.push('\n');
        s.push_str(ATTEMPT_CLOSE);
        s.push('\n');
    }
    s.push_str("Solution:\n");
    s
}

/// The problem a revision shows a model: the problem, then each previous attempt between
/// attempt marks (oldest first). Rendered by a checkpoint's prompt template
/// ([`revision_prompt_in`]); with ttc's own template this gives [`revision_prompt`].
pub fn revision_problem(problem: &str, attempts: &[&str]) -> String {
    let mut s = problem.to_string();
    for a in attempts {
        s.push('\n');
        s.push_str(ATTEMPT_OPEN);
        s.push('\n');
        s.push_str(a.trim_end());
        s.push('\n');
        s.push_str(ATTEMPT_CLOSE);
    }
    s
}

/// The prompt of a revision in a model's prompt format (an imported policy's chat template
/// shows the attempts inside the user's turn).
pub fn revision_prompt_in(
    template: &ttc_task::tokenizer::PromptTemplate,
    problem: &str,
    attempts: &[&str],
) -> crate::Result<String> {
    template
        .render(&revision_problem(problem, attempts))
        .map_err(|e| crate::Error::Input(format!("prompt: {e}")))
}

/// Where the part of a revision prompt that the next revision's prompt starts with ends:
/// after the revision problem and the newlines that follow it (the text after it, e.g.
/// ttc's `"Solution:\n"` or a chat turn's end, changes when an attempt is added).
pub fn revision_prompt_head(prompt: &str, problem: &str, attempts: &[&str]) -> Option<usize> {
    let x = revision_problem(problem, attempts);
    let end = prompt.rfind(&x)? + x.len();
    Some(end + prompt[end..].len() - prompt[end..].trim_start_matches('\n').len())
}

/// The last `window` attempts of a chain (the context a revision is conditioned on).
pub fn context_window(chain: &[String], window: usize) -> Vec<&str> {
    chain[chain.len().saturating_sub(window)..]
        .iter()
        .map(String::as_str)
        .collect()
}

/// The last `window` attempts of a chain that the model's context holds: the oldest
/// attempt is dropped while `fits` says a row with these attempts in context does not fit,
/// down to none (the one rule for generating a revision, training the ORM on an attempt in
/// its context and scoring it there: a long chain's oldest attempts leave the context first,
/// as they leave the window).
pub fn fitting_window<'c, E>(
    chain: &'c [String],
    window: usize,
    fits: &mut dyn FnMut(&[&str]) -> Result<bool, E>,
) -> Result<Vec<&'c str>, E> {
    let mut w = context_window(chain, window);
    while !w.is_empty() && !fits(&w)? {
        w.remove(0);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_attempts_leave_a_context_that_cannot_hold_them() {
        let chain: Vec<String> = ["aaaa", "bb", "cccccc", "d"].map(String::from).to_vec();
        let len = |w: &[&str]| w.iter().map(|a| a.len()).sum::<usize>();
        // Room for 9 characters: the window of 3 (bb, cccccc, d = 9) fits as it is.
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(len(w) <= 9)).unwrap();
        assert_eq!(got, ["bb", "cccccc", "d"]);
        // Room for 7: bb leaves, then cccccc + d = 7 fits.
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(len(w) <= 7)).unwrap();
        assert_eq!(got, ["cccccc", "d"]);
        // Room for nothing: no attempt in context (the question alone).
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(w.is_empty())).unwrap();
        assert!(got.is_empty());
        // An error from the check is passed on.
        assert_eq!(
            fitting_window(&chain, 2, &mut |_| Err("tokenizer")),
            Err("tokenizer")
        );
    }

    /// The paper's recipe (every previous attempt wrong).
    #[test]
    fn prompt_marks_attempts_and_window_keeps_the_last_four() {
        assert_eq!(revision_prompt("P", &[]), "Problem: P\nSolution:\n");
        // ttc's own template renders the revision problem into the same prompt.
        let ttc = ttc_task::tokenizer::PromptTemplate::default();
        for attempts in [&[][..], &["a\n\nb", "c"][..]] {
            let p = revision_prompt("P", attempts);
            assert_eq!(revision_prompt_in(&ttc, "P", attempts).unwrap(), p);
            let head = revision_prompt_head(&p, "P", attempts).unwrap();
            assert_eq!(&p[head..], "Solution:\n");
        }
        // A chat template shows the attempts inside the user's turn; the part the next
        // revision's prompt starts with ends with the last attempt.
        let src = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
        let chat =
            ttc_task::tokenizer::PromptTemplate::Chat(Box::new(ttc_task::tokenizer::ChatPrompt {
                template: ttc_task::chat_template::ChatTemplate::new(src, Default::default())
                    .unwrap(),
                options: Default::default(),
            }));
        let p = revision_prompt_in(&chat, "P", &["a"]).unwrap();
        assert_eq!(p, "<|user|>P\n<attempt>\na\n</attempt><|end|><|assistant|>");
        let head = revision_prompt_head(&p, "P", &["a"]).unwrap();
        let next = revision_prompt_in(&chat, "P", &["a", "b"]).unwrap();
        assert!(next.starts_with(&p[..head]) && p[head..].starts_with("<|end|>"));
        assert_eq!(
            revision_prompt("P", &["a\n\nb", "c"]),
            "Problem: P\n<attempt>\na\n\nb\n</attempt>\n<attempt>\nc\n</attempt>\nSolution:\n"
        );
        let chain: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        assert_eq!(context_window(&chain, 4), ["2", "3", "4", "5"]);
        assert_eq!(context_window(&chain[..2], 4), ["0", "1"]);
    }
}
