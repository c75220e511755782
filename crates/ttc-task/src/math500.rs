//! Loader for MATH-500 and any JSONL in its schema (`problem, solution, answer, subject,
//! level, unique_id`). A copy of the real set ships in `tests/fixtures/math500/test.jsonl`.

use std::path::Path;

use crate::{Problem, Result};

/// Load every row; a malformed line fails with `file:line: what was wrong`.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>> {
    let rows: Vec<Problem> = ttc_core::jsonl::read_jsonl(path)?;
    for (i, p) in rows.iter().enumerate() {
        let bad = |m: String| {
            Err(crate::Error::Config(format!(
                "{}:{}: {m}",
                path.display(),
                i + 1
            )))
        };
        if !(1..=5).contains(&p.level) {
            return bad(format!("level must be 1 to 5, got {}", p.level));
        }
        if p.answer.trim().is_empty() {
            return bad("empty answer".into());
        }
        if p.problem.trim().is_empty() {
            return bad("empty problem".into());
        }
    }
    if rows.is_empty() {
        return Err(crate::Error::Config(format!(
            "{}: no problems (an empty file)",
            path.display()
        )));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grader::{extract_boxed, is_equivalent};

    fn math500() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/math500/test.jsonl")
    }

    #[test]
    fn all_500_reference_answers_are_equivalent_to_their_boxed_solution() {
        let rows = load_problems(&math500()).unwrap();
        assert_eq!(rows.len(), 500);
        let mut bad = Vec::new();
        for r in &rows {
            let boxed = extract_boxed(&r.solution);
            if !boxed
                .as_deref()
                .is_some_and(|b| is_equivalent(b, &r.answer))
            {
                bad.push((r.unique_id.clone(), boxed, r.answer.clone()));
            }
        }
        assert!(bad.is_empty(), "{} mismatches: {bad:#?}", bad.len());
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"problem\":\"p\",\"solution\":\"s\",\"answer\":\"1\",\"subject\":\"x\",\"level\":\"Level 2\",\"unique_id\":\"u\",\"extra\":1}\n{\"problem\":\"p\"}\n",
        )
        .unwrap();
        let e = load_problems(&p).unwrap_err().to_string();
        assert!(
            e.contains("m.jsonl:2:") && e.contains("missing field"),
            "{e}"
        );
        std::fs::write(&p, "{\"problem\":\"p\",\"solution\":\"s\",\"answer\":\"1\",\"subject\":\"x\",\"level\":\"Level 2\",\"unique_id\":\"u\"}\n").unwrap();
        assert_eq!(load_problems(&p).unwrap()[0].level, 2);
    }
}
