//! Structured answers and the equivalence verdict (DESIGN §3).
//!
//! After [`normalize`], an answer is read as one of: a union of intervals (`\cup`), a
//! matrix (`pmatrix`/`bmatrix`), a set (`\{…\}`, unordered), a tuple or interval (brackets
//! kept, ordered), a bare comma list (unordered, as MATH lists roots), a `±` pair, an
//! equation, a scalar expression, or text. Equal structure is compared element-wise;
//! scalars numerically ([`latex_expr::equal`]); equations up to a constant factor.

use super::latex_expr::{self, Node};
use super::normalize::{MAX_ANSWER_LEN, normalize};

#[derive(Debug, Clone)]
enum Answer {
    Scalar(Node),
    Equation(Node),
    /// Tuple or interval: opening and closing bracket kept.
    Seq(char, char, Vec<Answer>),
    Set(Vec<Answer>),
    Union(Vec<Answer>),
    Matrix(Vec<Vec<Answer>>),
    Text(String),
}

/// Is `pred` the same answer as `gold`? Never panics; bounded work.
pub fn is_equivalent(pred: &str, gold: &str) -> bool {
    if pred.len() > MAX_ANSWER_LEN || gold.len() > MAX_ANSWER_LEN {
        return pred.trim() == gold.trim();
    }
    let (p, g) = (normalize(pred), normalize(gold));
    if p.is_empty() || g.is_empty() {
        return false;
    }
    if p == g || (is_word(&p) && is_word(&g) && p.eq_ignore_ascii_case(&g)) {
        return true;
    }
    // Integers and exact decimals compare exactly: the numeric tolerance is for values that
    // cannot be written exactly (π, √2), not for an 11th digit.
    if let (Some(a), Some(b)) = (exact_decimal(&p), exact_decimal(&g)) {
        return a == b;
    }
    same(&read(&p, 0), &read(&g, 0))
}

/// A plain decimal literal (`-12`, `3.50`, `7.`) in canonical form (`-12`, `3.5`, `7`).
fn exact_decimal(s: &str) -> Option<String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && out != "0" {
        out.insert(0, '-');
    }
    Some(out)
}

fn is_word(s: &str) -> bool {
    s.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && s.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-')
}

const MAX_NEST: usize = 8;

fn read(s: &str, depth: usize) -> Answer {
    let s = s.trim();
    if depth > MAX_NEST {
        return Answer::Text(s.to_string());
    }
    let parts = split_top(s, "\\cup");
    if parts.len() > 1 {
        return Answer::Union(parts.iter().map(|p| read(p, depth + 1)).collect());
    }
    if let Some(m) = read_matrix(s, depth) {
        return m;
    }
    if let Some(inner) = s.strip_prefix("\\{").and_then(|r| r.strip_suffix("\\}")) {
        return Answer::Set(list_items(inner, depth));
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= 2
        && matches!(chars[0], '(' | '[')
        && matches!(chars[chars.len() - 1], ')' | ']')
        && wraps_whole(s)
    {
        let inner: String = chars[1..chars.len() - 1].iter().collect();
        let items = split_top(&inner, ",");
        if items.len() > 1 {
            return Answer::Seq(
                chars[0],
                chars[chars.len() - 1],
                items.iter().map(|p| read(p, depth + 1)).collect(),
            );
        }
    }
    if split_top(s, ",").len() > 1 {
        return Answer::Set(list_items(s, depth));
    }
    if let Some(pm) = read_pm(s) {
        return pm;
    }
    let eq = split_top(s, "=");
    if eq.len() == 2 {
        return match (latex_expr::parse(eq[0]), latex_expr::parse(eq[1])) {
            (Some(l), Some(r)) => Answer::Equation(Node::Sub(Box::new(l), Box::new(r))),
            _ => Answer::Text(s.to_string()),
        };
    }
    match latex_expr::parse(s) {
        Some(n) => Answer::Scalar(n),
        None => Answer::Text(s.to_string()),
    }
}

/// Items of a comma list; an item with `±` contributes both of its values.
fn list_items(s: &str, depth: usize) -> Vec<Answer> {
    let mut out = Vec::new();
    for item in split_top(s, ",") {
        match read(item, depth + 1) {
            Answer::Set(inner) => out.extend(inner),
            a => out.push(a),
        }
    }
    out
}

/// `a \pm b` → the set {a + b, a − b}.
fn read_pm(s: &str) -> Option<Answer> {
    for pm in ["\\pm", "\\mp"] {
        let parts = split_top(s, pm);
        if parts.len() == 2 {
            let plus = format!("{}+({})", parts[0], parts[1]);
            let minus = format!("{}-({})", parts[0], parts[1]);
            let (a, b) = (latex_expr::parse(&plus)?, latex_expr::parse(&minus)?);
            return Some(Answer::Set(vec![Answer::Scalar(a), Answer::Scalar(b)]));
        }
    }
    None
}

fn read_matrix(s: &str, depth: usize) -> Option<Answer> {
    for env in ["pmatrix", "bmatrix", "matrix", "vmatrix"] {
        let begin = format!("\\begin{{{env}}}");
        let end = format!("\\end{{{env}}}");
        if let Some(body) = s
            .strip_prefix(begin.as_str())
            .and_then(|r| r.strip_suffix(end.as_str()))
        {
            let rows = body
                .split("\\\\")
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| r.split('&').map(|c| read(c, depth + 1)).collect())
                .collect();
            return Some(Answer::Matrix(rows));
        }
    }
    None
}

/// True when the bracket opening `s` closes only at its last character (`(a)(b)` is not
/// wrapped). `(` and `[` close with either `)` or `]`, so half-open intervals count.
fn wraps_whole(s: &str) -> bool {
    let mut depth = 0i32;
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 && i + 1 != n {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Split at `sep` where no bracket is open (`\{`/`\}` count as brackets).
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut skip_to = 0;
    for (i, c) in s.char_indices() {
        if i < skip_to {
            continue;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && s[i..].starts_with(sep) {
            // `\cup` must not match inside a longer command name.
            let after = s[i + sep.len()..].chars().next();
            if !sep.starts_with('\\') || !after.is_some_and(|c| c.is_ascii_alphabetic()) {
                out.push(s[start..i].trim());
                skip_to = i + sep.len();
                start = skip_to;
            }
        }
    }
    out.push(s[start..].trim());
    out
}

fn same(a: &Answer, b: &Answer) -> bool {
    use Answer::*;
    match (a, b) {
        (Scalar(x), Scalar(y)) => latex_expr::equal(x, y),
        (Equation(x), Equation(y)) => latex_expr::proportional(x, y),
        (Seq(o1, c1, x), Seq(o2, c2, y)) => o1 == o2 && c1 == c2 && same_ordered(x, y),
        // A bare list against a tuple: read the list in order (`2, 4` vs `(2,4)`).
        (Set(x), Seq('(', ')', y)) | (Seq('(', ')', y), Set(x)) => same_ordered(x, y),
        (Set(x), Set(y)) | (Union(x), Union(y)) => same_unordered(x, y),
        (Matrix(x), Matrix(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(r, s)| same_ordered(r, s))
        }
        // A column vector written as a tuple.
        (Matrix(m), Seq('(', ')', y)) | (Seq('(', ')', y), Matrix(m)) => {
            m.iter().all(|r| r.len() == 1)
                && same_ordered(&m.iter().map(|r| r[0].clone()).collect::<Vec<_>>(), y)
        }
        (Text(x), Text(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

fn same_ordered(x: &[Answer], y: &[Answer]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
}

fn same_unordered(x: &[Answer], y: &[Answer]) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut used = vec![false; y.len()];
    x.iter().all(|a| {
        (0..y.len())
            .find(|&j| !used[j] && same(a, &y[j]))
            .map(|j| used[j] = true)
            .is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure() {
        assert!(is_equivalent(
            "(3, \\frac{\\pi}{2})",
            "\\left( 3, \\frac{\\pi}{2} \\right)"
        ));
        assert!(!is_equivalent(
            "(3, \\frac{\\pi}{2}]",
            "\\left( 3, \\frac{\\pi}{2} \\right)"
        ));
        assert!(is_equivalent("7, 3, 5", "3, 5, 7"));
        assert!(is_equivalent(
            "1+\\sqrt{19}, 1-\\sqrt{19}",
            "1 \\pm \\sqrt{19}"
        ));
        assert!(is_equivalent(
            "(3,\\infty)\\cup(-\\infty,2)",
            "(-\\infty, 2) \\cup (3, \\infty)"
        ));
        assert!(is_equivalent("10x-14y+22z+8=0", "5x - 7y + 11z + 4 = 0"));
        assert!(!is_equivalent("5x-7y+11z-4=0", "5x - 7y + 11z + 4 = 0"));
        assert!(is_equivalent("(a+5)(b+2)", "(b+2)(a+5)"));
        assert!(!is_equivalent("", "1"));
        assert!(!is_equivalent(&"(".repeat(5000), "1"));
    }
}
