//! The hand-written grader table (`grader_cases.tsv`): formatting variants that must be
//! equivalent and near misses that must not (DESIGN §3).

use ttc_task::grader::is_equivalent;

#[test]
fn grader_table() {
    let text = include_str!("grader_cases.tsv");
    let mut wrong = Vec::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols.len(),
            3,
            "grader_cases.tsv:{}: need 3 tab-separated columns",
            i + 1
        );
        let want = cols[2].trim() == "1";
        n += 1;
        if is_equivalent(cols[0], cols[1]) != want {
            wrong.push(format!(
                "line {}: {:?} vs {:?}: expected {want}",
                i + 1,
                cols[0],
                cols[1]
            ));
        }
        // Symmetry: the verdict must not depend on which side is gold.
        if is_equivalent(cols[1], cols[0]) != want {
            wrong.push(format!("line {} (swapped): expected {want}", i + 1));
        }
    }
    assert!(n >= 150, "only {n} cases");
    assert!(
        wrong.is_empty(),
        "{} of {n} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Random LaTeX-ish strings: the grader returns a verdict for every pair, never a panic.
#[test]
fn grader_never_panics_on_noise() {
    use rand::rngs::StdRng;
    use rand::seq::IndexedRandom;
    use rand::{RngExt, SeedableRng};
    let pieces = [
        "\\frac",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "\\{",
        "\\}",
        ",",
        "1",
        "23",
        ".",
        "-",
        "+",
        "^",
        "_",
        "\\sqrt",
        "x",
        "i",
        "\\pi",
        "\\pm",
        "\\cup",
        "=",
        " ",
        "\\text{",
        "cm",
        "\\\\",
        "&",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "π",
        "°",
        "!",
        "|",
        "\\infty",
        "\\left(",
        "\\right)",
        "\\$",
        "%",
        "0",
        "\\cdot",
        "\\sin",
        "\\log_",
        "e",
        "\\!",
    ];
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..20_000 {
        let mut make = || {
            let n = rng.random_range(0..12);
            (0..n)
                .map(|_| *pieces.choose(&mut rng).unwrap())
                .collect::<String>()
        };
        let (a, b) = (make(), make());
        let _ = is_equivalent(&a, &b);
    }
}
