//! String-level normalisation of a LaTeX answer: everything that changes how an answer is
//! written but not what it is (DESIGN §3).
//!
//! `\dfrac`/`\tfrac` → `\frac`; `\left`/`\right`, `\!`, `\,`, `$`, `\$`, `\%`, `^\circ`,
//! `\displaystyle` removed; `\text{…}`/`\mbox{…}` unwrapped, or dropped when they are a unit
//! after a quantity; unit words after a number dropped; a leading `x =` / `x \in` removed;
//! a trailing period dropped; thousands separators removed; spaces removed except where
//! they end a command name (`\cot x`); `_{5}` → `_5`, `^{2}` → `^2`; `(B)` → `B`.

/// Inputs longer than this are compared as plain strings only (bounded work).
pub const MAX_ANSWER_LEN: usize = 1000;

const UNIT_WORDS: &[&str] = &[
    "cm", "mm", "km", "m", "meter", "meters", "metres", "inch", "inches", "in", "foot", "feet",
    "ft", "yard", "yards", "mile", "miles", "unit", "units", "degree", "degrees", "cent", "cents",
    "dollar", "dollars", "second", "seconds", "sec", "minute", "minutes", "min", "hour", "hours",
    "day", "days", "week", "weeks", "year", "years", "mph", "kg", "g", "gram", "grams", "pound",
    "pounds", "lb", "lbs", "liter", "liters", "square", "sq", "cubic", "students", "people",
    "ways", "percent", "radians", "points", "cups", "ounces", "oz",
];

/// Normalise an answer string (see module docs). Idempotent.
pub fn normalize(s: &str) -> String {
    // Protect the matrix row separator `\\` from the `\ ` (backslash-space) rule below.
    let mut s = unwrap_box(s.trim()).replace("\\\\", "\u{1}");
    for (from, to) in [
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\displaystyle", ""),
        ("\\left", ""),
        ("\\right", ""),
        ("\\bigl", ""),
        ("\\bigr", ""),
        ("\\Bigl", ""),
        ("\\Bigr", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\:", ""),
        ("\\quad", " "),
        ("\\ ", " "),
        ("~", " "),
        ("\\$", ""),
        ("$", ""),
        ("\\%", ""),
        ("%", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\circ", ""),
        ("°", ""),
        ("\\degree", ""),
        ("{,}", ","),
        ("\\infty", "\\infty "),
        ("\\cdot", "\\cdot "),
        ("−", "-"),
        ("\\neq", "\\ne"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s = unwrap_text(&s);
    s = strip_unit_words(&s);
    s = s.trim().to_string();
    while let Some(t) = s.strip_suffix('.').or_else(|| s.strip_suffix(',')) {
        s = t.trim_end().to_string();
    }
    s = strip_variable_prefix(&s);
    s = collapse_spaces(&s);
    s = simplify_scripts(&s);
    s = strip_thousands(&s);
    s = s.replace('\u{1}', "\\\\");
    if let Some(letter) = choice_letter(&s) {
        return letter.to_string();
    }
    s
}

/// `\boxed{X}` / `\fbox{X}` as the whole answer → `X`.
fn unwrap_box(s: &str) -> &str {
    for cmd in ["\\boxed{", "\\fbox{"] {
        if let Some(body) = s.strip_prefix(cmd)
            && matching_brace(body) == Some(body.len() - 1)
        {
            return body[..body.len() - 1].trim();
        }
    }
    s
}

/// `\text{…}`, `\textbf{…}`, `\mbox{…}`, `\mathrm{…}`: a trailing one after a quantity is a
/// unit (dropped, with a following `^2`/`^3`); otherwise its content is kept.
fn unwrap_text(s: &str) -> String {
    let cmds = [
        "\\text",
        "\\textbf",
        "\\textit",
        "\\mbox",
        "\\mathrm",
        "\\mathbf",
        "\\operatorname",
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = cmds
            .iter()
            .filter_map(|c| rest.find(&format!("{c}{{")).map(|i| (i, c.len())))
            .min_by_key(|(i, _)| *i);
        let Some((i, clen)) = next else {
            out.push_str(rest);
            break;
        };
        let body_start = i + clen + 1;
        let Some(len) = matching_brace(&rest[body_start..]) else {
            out.push_str(rest);
            break;
        };
        let body = &rest[body_start..body_start + len];
        let mut after = &rest[body_start + len + 1..];
        out.push_str(&rest[..i]);
        let before_has_quantity = out.chars().any(|c| c.is_ascii_digit() || c == '}');
        let is_word = body
            .trim()
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '.')
            && !body.trim().is_empty();
        let ends = after.trim().is_empty() || after.trim_start().starts_with('^');
        if before_has_quantity && is_word && ends {
            // A unit: drop it and a power on it (cm^2).
            after = after.trim_start();
            for p in ["^2", "^3", "^{2}", "^{3}"] {
                if let Some(a) = after.strip_prefix(p) {
                    after = a;
                }
            }
        } else {
            out.push_str(body);
        }
        rest = after;
    }
    out
}

/// Length of the body up to the `}` matching an already-consumed `{`.
pub(crate) fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `12 cm`, `5 square units`, `20 degrees`: drop trailing unit words after a number.
fn strip_unit_words(s: &str) -> String {
    let mut toks: Vec<&str> = s.split_whitespace().collect();
    while toks.len() > 1 {
        let last = toks[toks.len() - 1];
        let word = last
            .trim_end_matches('.')
            .trim_end_matches("^2")
            .trim_end_matches("^3");
        if UNIT_WORDS.contains(&word.to_ascii_lowercase().as_str())
            && toks[..toks.len() - 1]
                .iter()
                .any(|t| t.chars().any(|c| c.is_ascii_digit()))
        {
            toks.pop();
        } else {
            break;
        }
    }
    if toks.len() == s.split_whitespace().count() {
        s.to_string()
    } else {
        toks.join(" ")
    }
}

/// `x = 5` → `5`, `k=2` → `2`, `x \in [1,2]` → `[1,2]`: a single variable (optionally a
/// Greek-letter command or with a subscript) before the first `=` or `\in`.
fn strip_variable_prefix(s: &str) -> String {
    for sep in ["=", "\\in"] {
        if let Some(i) = s.find(sep) {
            let rest = &s[i + sep.len()..];
            // `\in` is the operator only when no letter follows (`\infty`, `\int` are not).
            if sep == "\\in" && rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let lhs = s[..i].trim();
            if is_single_variable(lhs) && !rest.contains('=') {
                return rest.trim().to_string();
            }
        }
    }
    s.to_string()
}

fn is_single_variable(s: &str) -> bool {
    let base = s.split('_').next().unwrap_or("");
    let greek = base.strip_prefix('\\').is_some_and(|g| {
        [
            "alpha", "beta", "gamma", "theta", "phi", "lambda", "mu", "omega", "rho", "sigma",
            "tau",
        ]
        .contains(&g)
    });
    (base.len() == 1 && base.chars().all(|c| c.is_ascii_alphabetic())) || greek
}

/// Remove spaces, keeping one where it ends a command name before a letter (`\cot x`).
fn collapse_spaces(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next_letter = j < chars.len() && chars[j].is_ascii_alphabetic();
            if next_letter && ends_command(&out) {
                out.push(' ');
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn ends_command(s: &str) -> bool {
    let letters = s
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    letters > 0 && s.chars().rev().nth(letters) == Some('\\')
}

/// `_{5}` → `_5`, `^{2}` → `^2` for a single character script.
fn simplify_scripts(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if (chars[i] == '_' || chars[i] == '^')
            && i + 3 < chars.len() + 1
            && chars.get(i + 1) == Some(&'{')
            && chars.get(i + 3) == Some(&'}')
            && chars.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric())
        {
            out.push(chars[i]);
            out.push(chars[i + 2]);
            i += 4;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `58,500` → `58500`, `-1,234.5` → `-1234.5`, only when the whole answer is such a number.
fn strip_thousands(s: &str) -> String {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    let groups: Vec<&str> = int.split(',').collect();
    let ok = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    if ok {
        s.replace(',', "")
    } else {
        s.to_string()
    }
}

/// `(B)`, `B)`, `(b)` as a whole answer → `B` (multiple choice).
fn choice_letter(s: &str) -> Option<char> {
    let t = s.trim_start_matches('(').trim_end_matches(')');
    let mut it = t.chars();
    match (it.next(), it.next()) {
        (Some(c), None) if s.len() > 1 && ('A'..='E').contains(&c.to_ascii_uppercase()) => {
            Some(c.to_ascii_uppercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        let cases = [
            ("\\dfrac{1}{2}", "\\frac{1}{2}"),
            ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
            ("10,\\!080", "10080"),
            ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
            ("\\$32,\\!348", "32348"),
            ("106^\\circ", "106"),
            ("15\\mbox{ cm}^2", "15"),
            ("864 \\mbox{ inches}^2", "864"),
            ("5.4 \\text{ cents}", "5.4"),
            ("\\frac{270}7\\text{ degrees}", "\\frac{270}7"),
            ("\\text{(B)}", "B"),
            ("\\text{Evelyn}", "Evelyn"),
            ("x=5", "5"),
            ("y = 2x + 3", "2x+3"),
            ("x \\in [-2,7]", "[-2,7]"),
            ("\\cot x", "\\cot x"),
            ("4210_{5}", "4210_5"),
            ("50\\%", "50"),
            ("12 cm.", "12"),
            ("5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0"),
            ("1,-2", "1,-2"),
            ("3, 5, 7", "3,5,7"),
        ];
        for (a, want) in cases {
            assert_eq!(normalize(a), want, "{a}");
            assert_eq!(normalize(want), want, "idempotent on {want}");
        }
    }
}
