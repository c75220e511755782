//! A solution's steps as text: split at the step delimiter `"\n\n"`, empty pieces dropped,
//! so a text ending in the delimiter never opens an empty step (the search-and-learn pitfall).

use crate::STEP_DELIMITER;

/// Non-empty steps of `text`, trimmed of surrounding whitespace.
pub fn split_steps(text: &str) -> Vec<String> {
    text.split(STEP_DELIMITER)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The solution text of `steps` (joined by the delimiter).
pub fn join_steps(steps: &[String]) -> String {
    steps.join(STEP_DELIMITER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_and_doubled_delimiters_open_no_empty_step() {
        assert_eq!(split_steps("a = 1\n\nb = 2\n\n"), vec!["a = 1", "b = 2"]);
        assert_eq!(split_steps("a = 1\n\n\n\nb = 2"), vec!["a = 1", "b = 2"]);
        assert!(split_steps("\n\n").is_empty());
    }
}
