//! Extracting the final answer from a solution text.

/// Content of the last `\boxed{…}` or `\fbox{…}` (brace-matched), or of `\boxed X` (no
/// braces: up to the next `$` or whitespace). `None` if there is none or it is unclosed.
pub fn extract_boxed(s: &str) -> Option<String> {
    let (start, cmd) = ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|c| s.rfind(c).map(|i| (i, *c)))
        .max_by_key(|(i, _)| *i)?;
    let rest = &s[start + cmd.len()..];
    let trimmed = rest.trim_start();
    if let Some(body) = trimmed.strip_prefix('{') {
        let mut depth = 1usize;
        for (i, ch) in body.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(body[..i].trim().to_string());
                    }
                }
                _ => {}
            }
        }
        None
    } else if rest.starts_with(char::is_whitespace) {
        let ans: String = trimmed
            .chars()
            .take_while(|c| *c != '$' && !c.is_whitespace())
            .collect();
        (!ans.is_empty()).then_some(ans)
    } else {
        None
    }
}

/// The final answer of a solution: the last boxed expression, else the text after the
/// last "the answer is" (case-insensitive) on its line, without `$` and a trailing period.
pub fn extract_answer(s: &str) -> Option<String> {
    if let Some(b) = extract_boxed(s) {
        return Some(b);
    }
    let lower = s.to_ascii_lowercase();
    let key = "the answer is";
    let i = lower.rfind(key)?;
    let tail = s[i + key.len()..].lines().next().unwrap_or("");
    let tail = tail.trim().trim_start_matches(':').trim();
    let tail = tail.trim_matches('$').trim();
    let tail = tail
        .strip_suffix('.')
        .unwrap_or(tail)
        .trim()
        .trim_matches('$')
        .trim();
    (!tail.is_empty()).then(|| tail.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_forms() {
        assert_eq!(
            extract_boxed("so $\\boxed{\\frac{1}{2}}$."),
            Some("\\frac{1}{2}".into())
        );
        assert_eq!(
            extract_boxed("\\boxed{1} then \\boxed{2}"),
            Some("2".into())
        );
        assert_eq!(extract_boxed("\\fbox{7}"), Some("7".into()));
        assert_eq!(extract_boxed("$\\boxed 5$"), Some("5".into()));
        assert_eq!(extract_boxed("\\boxed{\\text{(A)}"), None);
        assert_eq!(extract_boxed("no box"), None);
        assert_eq!(extract_boxed("\\boxed"), None);
        assert_eq!(extract_boxed("\\boxedx"), None);
    }

    #[test]
    fn answer_fallback() {
        assert_eq!(extract_answer("The answer is 42."), Some("42".into()));
        assert_eq!(
            extract_answer("So the answer is: $\\frac12$.\nMore"),
            Some("\\frac12".into())
        );
        assert_eq!(
            extract_answer("The answer is \\boxed{3}."),
            Some("3".into())
        );
        assert_eq!(extract_answer("nothing"), None);
        assert_eq!(extract_answer("The answer is ."), None);
    }
}
