//! Integer expressions of the arith task: `+ - * div mod`, single-letter variables,
//! parentheses, unary minus on numbers. Shared by the generator (which renders the
//! step-by-step trace) and the step checker (which parses any text).
//!
//! Semantics: `*`, `div`, `mod` bind tighter than `+`, `-`; all left-associative.
//! `div` is floor division and `mod` the non-negative remainder (Python's `//` and `%`
//! for a positive divisor). All arithmetic is checked: overflow or division by zero is
//! an evaluation error, never a panic.

use std::collections::HashMap;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "div",
            Op::Mod => "mod",
        }
    }

    /// Parse a config name: `+`, `-`, `*`, `div`, `mod`.
    pub fn from_symbol(s: &str) -> Option<Op> {
        Some(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "div" => Op::Div,
            "mod" => Op::Mod,
            _ => return None,
        })
    }

    fn binds_tight(self) -> bool {
        matches!(self, Op::Mul | Op::Div | Op::Mod)
    }

    /// Checked application; `None` on overflow or a non-positive divisor.
    pub fn apply(self, a: i64, b: i64) -> Option<i64> {
        match self {
            Op::Add => a.checked_add(b),
            Op::Sub => a.checked_sub(b),
            Op::Mul => a.checked_mul(b),
            Op::Div if b > 0 => Some(a.div_euclid(b)),
            Op::Mod if b > 0 => Some(a.rem_euclid(b)),
            Op::Div | Op::Mod => None,
        }
    }
}

/// An operand of a flat expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    Num(i64),
    Var(char),
}

/// A parenthesis-free expression `a0 op0 a1 op1 a2 …`, the form the generator builds and
/// reduces one operation at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatExpr {
    pub atoms: Vec<Atom>,
    pub ops: Vec<Op>,
}

impl FlatExpr {
    /// Replace variables by their values.
    pub fn substitute(&self, env: &HashMap<char, i64>) -> Option<FlatExpr> {
        let atoms = self
            .atoms
            .iter()
            .map(|a| match a {
                Atom::Num(n) => Some(Atom::Num(*n)),
                Atom::Var(v) => env.get(v).map(|n| Atom::Num(*n)),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FlatExpr {
            atoms,
            ops: self.ops.clone(),
        })
    }

    /// Index of the operation evaluated next: the leftmost tight one, else the leftmost.
    fn next_op(&self) -> Option<usize> {
        if self.ops.is_empty() {
            return None;
        }
        Some(self.ops.iter().position(|o| o.binds_tight()).unwrap_or(0))
    }

    /// Evaluate one operation (numbers only). `None` if done, non-numeric or invalid.
    pub fn reduce_once(&self) -> Option<FlatExpr> {
        self.reduce_once_off_by(0)
    }

    /// [`FlatExpr::reduce_once`] with the result off by `delta`: an arithmetic slip.
    pub fn reduce_once_off_by(&self, delta: i64) -> Option<FlatExpr> {
        let i = self.next_op()?;
        let (Atom::Num(a), Atom::Num(b)) = (&self.atoms[i], &self.atoms[i + 1]) else {
            return None;
        };
        let v = self.ops[i].apply(*a, *b)? + delta;
        let mut atoms = self.atoms.clone();
        let mut ops = self.ops.clone();
        atoms.splice(i..=i + 1, [Atom::Num(v)]);
        ops.remove(i);
        Some(FlatExpr { atoms, ops })
    }

    /// Full evaluation with variable values.
    pub fn eval(&self, env: &HashMap<char, i64>) -> Option<i64> {
        let mut e = self.substitute(env)?;
        while !e.ops.is_empty() {
            e = e.reduce_once()?;
        }
        match e.atoms[0] {
            Atom::Num(n) => Some(n),
            Atom::Var(_) => None,
        }
    }

    /// Render as text; a negative number after the first position is parenthesised so
    /// that `3 - (-7)` never reads as `3 - -7`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (i, a) in self.atoms.iter().enumerate() {
            if i > 0 {
                s.push(' ');
                s.push_str(self.ops[i - 1].symbol());
                s.push(' ');
            }
            match a {
                Atom::Var(v) => s.push(*v),
                Atom::Num(n) if *n < 0 && i > 0 => s.push_str(&format!("({n})")),
                Atom::Num(n) => s.push_str(&n.to_string()),
            }
        }
        s
    }
}

/// A parsed expression tree (what the checker reads from arbitrary text).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(i64),
    Var(char),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Evaluate; `None` on an unknown variable, overflow or bad divisor.
    pub fn eval(&self, env: &HashMap<char, i64>) -> Option<i64> {
        match self {
            Expr::Num(n) => Some(*n),
            Expr::Var(v) => env.get(v).copied(),
            Expr::Neg(e) => e.eval(env)?.checked_neg(),
            Expr::Bin(op, a, b) => op.apply(a.eval(env)?, b.eval(env)?),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Var(char),
    Op(Op),
    LParen,
    RParen,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = s[start..i]
                    .parse::<i64>()
                    .map_err(|_| format!("number too large: {}", &s[start..i]))?;
                out.push(Tok::Num(n));
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b'+' | b'-' | b'*' => {
                out.push(Tok::Op(Op::from_symbol(&s[i..i + 1]).expect("ascii op")));
                i += 1
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let word = &s[start..i];
                match word {
                    "div" => out.push(Tok::Op(Op::Div)),
                    "mod" => out.push(Tok::Op(Op::Mod)),
                    w if w.len() == 1 && w.as_bytes()[0].is_ascii_lowercase() => {
                        out.push(Tok::Var(w.as_bytes()[0] as char))
                    }
                    w => return Err(format!("unexpected word `{w}`")),
                }
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character `{ch}`"));
            }
        }
    }
    Ok(out)
}

/// Nesting limit: bounded work on adversarial input.
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, String> {
        let mut lhs = self.term(depth)?;
        while let Some(Tok::Op(op @ (Op::Add | Op::Sub))) = self.peek().cloned() {
            self.pos += 1;
            let rhs = self.term(depth)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn term(&mut self, depth: usize) -> Result<Expr, String> {
        let mut lhs = self.unary(depth)?;
        while let Some(Tok::Op(op @ (Op::Mul | Op::Div | Op::Mod))) = self.peek().cloned() {
            self.pos += 1;
            let rhs = self.unary(depth)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err("expression nested too deeply".into());
        }
        match self.peek().cloned() {
            Some(Tok::Op(Op::Sub)) => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Var(v)) => {
                self.pos += 1;
                Ok(Expr::Var(v))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of expression".into()),
        }
    }
}

/// Parse a whole string as one expression.
pub fn parse_expr(s: &str) -> Result<Expr, String> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(format!("trailing input at token {}", p.pos));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_semantics() {
        let env = HashMap::from([('a', 47), ('b', 123)]);
        assert_eq!(parse_expr("a * 3 - 18").unwrap().eval(&env), Some(123));
        assert_eq!(parse_expr("b mod 7 + a").unwrap().eval(&env), Some(51));
        assert_eq!(parse_expr("-7 div 2").unwrap().eval(&env), Some(-4));
        assert_eq!(parse_expr("(-7) mod 3").unwrap().eval(&env), Some(2));
        assert_eq!(parse_expr("3 - (-7)").unwrap().eval(&env), Some(10));
        assert_eq!(parse_expr("5 div 0").unwrap().eval(&env), None);
        assert_eq!(parse_expr("z + 1").unwrap().eval(&env), None);
        assert!(parse_expr("3 +").is_err());
        assert!(parse_expr("3 ** 2").is_err());
        assert!(parse_expr("99999999999999999999999").is_err());
        assert!(parse_expr(&"(".repeat(500)).is_err());
    }

    #[test]
    fn flat_reduction_trace() {
        let e = FlatExpr {
            atoms: vec![Atom::Var('b'), Atom::Num(7), Atom::Var('a')],
            ops: vec![Op::Mod, Op::Add],
        };
        let env = HashMap::from([('a', 47), ('b', 123)]);
        let s = e.substitute(&env).unwrap();
        assert_eq!(s.render(), "123 mod 7 + 47");
        let r = s.reduce_once().unwrap();
        assert_eq!(r.render(), "4 + 47");
        assert_eq!(r.reduce_once().unwrap().render(), "51");
        let neg = FlatExpr {
            atoms: vec![Atom::Num(3), Atom::Num(-7)],
            ops: vec![Op::Sub],
        };
        assert_eq!(neg.render(), "3 - (-7)");
        assert_eq!(parse_expr(&neg.render()).unwrap().eval(&env), Some(10));
    }
}
