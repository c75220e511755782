//! A small LaTeX math-expression parser and complex evaluator, enough for MATH answers:
//! numbers (`.5`, `1.25`), variables (letters, Greek, subscripts), `i`, `\pi`, `\infty`,
//! `+ - * / ^ !`, `\cdot \times \div`, implicit multiplication, `\frac` (also `\frac12`),
//! `\sqrt`, `\sqrt[n]`, trig/log/exp functions, `|x|`, and mixed numbers (`1\frac{4}{5}`).
//!
//! Two expressions are equal when they agree at several fixed pseudo-random points for
//! their free variables — a numeric identity test that needs no computer algebra system.
//! Work is bounded: at most [`MAX_TOKENS`] tokens and [`MAX_DEPTH`] nesting.

use std::collections::BTreeSet;

use num_complex::Complex64;

pub const MAX_TOKENS: usize = 400;
pub const MAX_DEPTH: usize = 40;
/// Relative tolerance of a numeric match (floating-point noise only: 0.333 ≠ 1/3).
pub const REL_TOL: f64 = 1e-8;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(String),
    Ident(String),
    Cmd(String),
    Op(char),
    Open(char),
    Close(char),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Num(f64),
    Var(String),
    Imag,
    Pi,
    Inf,
    Neg(Box<Node>),
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Mul(Box<Node>, Box<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    Fact(Box<Node>),
    Abs(Box<Node>),
    Func(String, Box<Node>),
}

const FUNCS: &[&str] = &[
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "log", "ln", "exp",
];
const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "phi", "psi", "omega",
    "rho", "sigma", "tau",
];

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if out.len() > MAX_TOKENS {
            return None;
        }
        match ch {
            ' ' | '\t' | '\n' => i += 1,
            '0'..='9' | '.' => {
                let st = i;
                let mut dot = false;
                while i < c.len() && (c[i].is_ascii_digit() || (c[i] == '.' && !dot)) {
                    dot |= c[i] == '.';
                    i += 1;
                }
                let t: String = c[st..i].iter().collect();
                if t == "." {
                    return None;
                }
                out.push(Tok::Num(t));
            }
            'a'..='z' | 'A'..='Z' => {
                out.push(Tok::Ident(ch.to_string()));
                i += 1
            }
            '\\' => {
                let st = i + 1;
                i += 1;
                while i < c.len() && c[i].is_ascii_alphabetic() {
                    i += 1;
                }
                if i == st {
                    // `\{`, `\|` and the like.
                    let nx = *c.get(i)?;
                    out.push(match nx {
                        '{' => Tok::Open('{'),
                        '}' => Tok::Close('}'),
                        _ => return None,
                    });
                    i += 1;
                } else {
                    let name: String = c[st..i].iter().collect();
                    out.push(match name.as_str() {
                        "cdot" | "times" => Tok::Op('*'),
                        "div" => Tok::Op('/'),
                        _ => Tok::Cmd(name),
                    });
                }
            }
            '+' | '-' | '*' | '/' | '^' | '!' | '_' => {
                out.push(Tok::Op(ch));
                i += 1
            }
            '(' | '[' | '{' => {
                out.push(Tok::Open(ch));
                i += 1
            }
            ')' | ']' | '}' => {
                out.push(Tok::Close(ch));
                i += 1
            }
            '|' => {
                out.push(Tok::Op('|'));
                i += 1
            }
            'π' => {
                out.push(Tok::Cmd("pi".into()));
                i += 1
            }
            '√' => {
                out.push(Tok::Cmd("sqrt".into()));
                i += 1
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser {
    t: Vec<Tok>,
    p: usize,
    depth: usize,
}

type P = Option<Node>;

fn b(n: Node) -> Box<Node> {
    Box::new(n)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.p)
    }
    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.p += 1;
            true
        } else {
            false
        }
    }
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn expr(&mut self) -> P {
        self.enter()?;
        let mut lhs = self.term()?;
        loop {
            if self.eat(&Tok::Op('+')) {
                lhs = Node::Add(b(lhs), b(self.term()?));
            } else if self.eat(&Tok::Op('-')) {
                lhs = Node::Sub(b(lhs), b(self.term()?));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Some(lhs)
    }

    fn starts_primary(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_) | Tok::Ident(_)) => true,
            Some(Tok::Open(c)) => *c == '(' || *c == '{' || *c == '[',
            Some(Tok::Cmd(c)) => c != "pm" && c != "mp",
            _ => false,
        }
    }

    fn term(&mut self) -> P {
        let mut lhs = self.unary()?;
        loop {
            if self.eat(&Tok::Op('*')) {
                lhs = Node::Mul(b(lhs), b(self.unary()?));
            } else if self.eat(&Tok::Op('/')) {
                lhs = Node::Div(b(lhs), b(self.unary()?));
            } else if self.starts_primary() {
                let mixed = matches!(lhs, Node::Num(v) if v.fract() == 0.0)
                    && self.peek() == Some(&Tok::Cmd("frac".into()));
                let rhs = self.power()?;
                lhs = match (&lhs, &rhs) {
                    (Node::Num(_), Node::Div(n, d)) if mixed && is_int(n) && is_int(d) => {
                        Node::Add(b(lhs), b(rhs))
                    }
                    _ => Node::Mul(b(lhs), b(rhs)),
                };
            } else {
                break;
            }
        }
        Some(lhs)
    }

    fn unary(&mut self) -> P {
        self.enter()?;
        let r = if self.eat(&Tok::Op('-')) {
            Some(Node::Neg(b(self.unary()?)))
        } else if self.eat(&Tok::Op('+')) {
            self.unary()
        } else {
            self.power()
        };
        self.depth -= 1;
        r
    }

    fn power(&mut self) -> P {
        let base = self.postfix()?;
        if self.eat(&Tok::Op('^')) {
            let exp = self.script()?;
            return Some(Node::Pow(b(base), b(exp)));
        }
        Some(base)
    }

    /// An exponent or a one-token argument: `{…}`, `-1`, `2`, `x`.
    fn script(&mut self) -> P {
        self.enter()?;
        let r = if self.eat(&Tok::Open('{')) {
            let e = self.expr()?;
            self.eat(&Tok::Close('}')).then_some(e)
        } else if self.eat(&Tok::Op('-')) {
            Some(Node::Neg(b(self.single()?)))
        } else {
            self.single()
        };
        self.depth -= 1;
        r
    }

    /// One token's worth: a single digit of a number run (`\frac12`), a letter, a command.
    fn single(&mut self) -> P {
        if let Some(Tok::Num(s)) = self.peek().cloned()
            && s.len() > 1
            && !s.contains('.')
        {
            let (first, rest) = s.split_at(1);
            self.t[self.p] = Tok::Num(rest.to_string());
            return first.parse().ok().map(Node::Num);
        }
        self.primary()
    }

    fn postfix(&mut self) -> P {
        let mut n = self.primary()?;
        while self.eat(&Tok::Op('!')) {
            n = Node::Fact(b(n));
        }
        Some(n)
    }

    fn group(&mut self, close: char) -> P {
        let e = self.expr()?;
        self.eat(&Tok::Close(close)).then_some(e)
    }

    fn primary(&mut self) -> P {
        self.enter()?;
        let tok = self.peek()?.clone();
        self.p += 1;
        let r = match tok {
            Tok::Num(s) => s.parse().ok().map(Node::Num),
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::Op('_')) {
                    self.p += 1;
                    let sub = self.script()?;
                    Some(Node::Var(format!("{name}_{sub:?}")))
                } else if name == "i" {
                    Some(Node::Imag)
                } else {
                    Some(Node::Var(name))
                }
            }
            Tok::Open('(') => self.group(')'),
            Tok::Open('{') => self.group('}'),
            Tok::Open('[') => self.group(']'),
            Tok::Op('|') => {
                let e = self.expr()?;
                self.eat(&Tok::Op('|')).then(|| Node::Abs(b(e)))
            }
            Tok::Cmd(c) => self.command(&c),
            _ => None,
        };
        self.depth -= 1;
        r
    }

    fn command(&mut self, c: &str) -> P {
        match c {
            "pi" => Some(Node::Pi),
            "infty" | "infinity" => Some(Node::Inf),
            "frac" | "cfrac" => {
                let n = self.script()?;
                let d = self.script()?;
                Some(Node::Div(b(n), b(d)))
            }
            "sqrt" => {
                if self.eat(&Tok::Open('[')) {
                    let k = self.group(']')?;
                    let x = self.script()?;
                    Some(Node::Pow(b(x), b(Node::Div(b(Node::Num(1.0)), b(k)))))
                } else {
                    Some(Node::Func("sqrt".into(), b(self.script()?)))
                }
            }
            f if FUNCS.contains(&f) => {
                // `\sin^2 x`, `\log_2 8`, `\sin(x)`, `\cos x`.
                let mut power = None;
                let mut base = None;
                if self.eat(&Tok::Op('^')) {
                    power = Some(self.script()?);
                }
                if self.eat(&Tok::Op('_')) {
                    base = Some(self.script()?);
                }
                let arg = if matches!(self.peek(), Some(Tok::Open(_))) {
                    self.primary()?
                } else {
                    self.power()?
                };
                let mut n = match base {
                    Some(bs) => Node::Div(
                        b(Node::Func("ln".into(), b(arg))),
                        b(Node::Func("ln".into(), b(bs))),
                    ),
                    None => Node::Func(f.to_string(), b(arg)),
                };
                if let Some(p) = power {
                    n = Node::Pow(b(n), b(p));
                }
                Some(n)
            }
            g if GREEK.contains(&g) => Some(Node::Var(g.to_string())),
            _ => None,
        }
    }
}

fn is_int(n: &Node) -> bool {
    matches!(n, Node::Num(v) if v.fract() == 0.0)
}

/// Parse a whole string as one expression; `None` if it is not one.
pub fn parse(s: &str) -> Option<Node> {
    let t = tokenize(s)?;
    if t.is_empty() {
        return None;
    }
    let mut p = Parser { t, p: 0, depth: 0 };
    let n = p.expr()?;
    (p.p == p.t.len()).then_some(n)
}

impl Node {
    /// Free variables, sorted.
    pub fn vars(&self, out: &mut BTreeSet<String>) {
        match self {
            Node::Var(v) => {
                out.insert(v.clone());
            }
            Node::Num(_) | Node::Imag | Node::Pi | Node::Inf => {}
            Node::Neg(a) | Node::Fact(a) | Node::Abs(a) | Node::Func(_, a) => a.vars(out),
            Node::Add(a, c)
            | Node::Sub(a, c)
            | Node::Mul(a, c)
            | Node::Div(a, c)
            | Node::Pow(a, c) => {
                a.vars(out);
                c.vars(out);
            }
        }
    }

    /// Evaluate at point `k` (each variable gets a fixed pseudo-random value per point).
    pub fn eval(&self, k: usize) -> Option<Complex64> {
        let c = |x: f64| Complex64::new(x, 0.0);
        Some(match self {
            Node::Num(v) => c(*v),
            Node::Var(name) => c(point_value(name, k)),
            Node::Imag => Complex64::i(),
            Node::Pi => c(std::f64::consts::PI),
            Node::Inf => c(f64::INFINITY),
            Node::Neg(a) => -a.eval(k)?,
            Node::Add(a, d) => a.eval(k)? + d.eval(k)?,
            Node::Sub(a, d) => a.eval(k)? - d.eval(k)?,
            Node::Mul(a, d) => a.eval(k)? * d.eval(k)?,
            Node::Div(a, d) => {
                let den = d.eval(k)?;
                if den.norm() == 0.0 {
                    return None;
                }
                a.eval(k)? / den
            }
            Node::Pow(a, d) => pow(a.eval(k)?, d.eval(k)?)?,
            Node::Fact(a) => {
                let v = a.eval(k)?;
                if v.im != 0.0 || v.re < 0.0 || v.re.fract() != 0.0 || v.re > 170.0 {
                    return None;
                }
                c((1..=v.re as u64).map(|x| x as f64).product())
            }
            Node::Abs(a) => c(a.eval(k)?.norm()),
            Node::Func(f, a) => {
                let x = a.eval(k)?;
                match f.as_str() {
                    "sqrt" => x.sqrt(),
                    "sin" => x.sin(),
                    "cos" => x.cos(),
                    "tan" => x.tan(),
                    "cot" => x.tan().inv(),
                    "sec" => x.cos().inv(),
                    "csc" => x.sin().inv(),
                    "arcsin" => x.asin(),
                    "arccos" => x.acos(),
                    "arctan" => x.atan(),
                    "sinh" => x.sinh(),
                    "cosh" => x.cosh(),
                    "tanh" => x.tanh(),
                    "ln" => x.ln(),
                    "log" => x.log10(),
                    "exp" => x.exp(),
                    _ => return None,
                }
            }
        })
    }
}

/// Integer powers exactly (so `(-8)^3` stays real); others through the principal branch,
/// except real odd roots of negative reals (`\sqrt[3]{-8} = -2`, as a student means it).
fn pow(a: Complex64, e: Complex64) -> Option<Complex64> {
    if e.im == 0.0 && e.re.fract() == 0.0 && e.re.abs() <= 1e4 {
        return Some(a.powi(e.re as i32));
    }
    if a.im == 0.0 && a.re < 0.0 && e.im == 0.0 {
        let inv = 1.0 / e.re;
        if (inv - inv.round()).abs() < 1e-12 && (inv.round() as i64) % 2 != 0 {
            return Some(Complex64::new(-(-a.re).powf(e.re), 0.0));
        }
    }
    if a.norm() == 0.0 {
        return (e.re > 0.0).then_some(Complex64::new(0.0, 0.0));
    }
    Some(a.powc(e))
}

/// The value of variable `name` at point `k`: a fixed pseudo-random number in [0.6, 2.3),
/// positive so roots and logs stay real, and never a small integer.
fn point_value(name: &str, k: usize) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain([k as u8]) {
        h ^= byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 29;
    0.6 + 1.7 * ((h % 1_000_003) as f64 / 1_000_003.0) + 1e-3 * std::f64::consts::E
}

/// Number of evaluation points.
pub const POINTS: usize = 3;

/// Two complex values are the same number (or the same signed infinity).
pub fn close(a: Complex64, b: Complex64) -> bool {
    if !a.is_finite() || !b.is_finite() {
        return a.re.is_infinite()
            && b.re.is_infinite()
            && a.re.signum() == b.re.signum()
            && a.im == 0.0
            && b.im == 0.0;
    }
    let scale = a.norm().max(b.norm());
    (a - b).norm() <= REL_TOL * scale + 1e-12
}

/// Numerically equal at every point where both evaluate (and at least one).
pub fn equal(a: &Node, b: &Node) -> bool {
    let mut checked = 0;
    for k in 0..POINTS {
        match (a.eval(k), b.eval(k)) {
            (Some(x), Some(y)) if x.is_nan() || y.is_nan() => return false,
            (Some(x), Some(y)) => {
                if !close(x, y) {
                    return false;
                }
                checked += 1;
            }
            (None, None) => {}
            _ => return false,
        }
    }
    checked > 0
}

/// `a = c·b` for one non-zero constant `c` at every point (the same equation).
pub fn proportional(a: &Node, b: &Node) -> bool {
    let mut ratio: Option<Complex64> = None;
    for k in 0..POINTS {
        let (Some(x), Some(y)) = (a.eval(k), b.eval(k)) else {
            return false;
        };
        if y.norm() < 1e-12 {
            if x.norm() > 1e-9 {
                return false;
            }
            continue;
        }
        let r = x / y;
        if !r.is_finite() || r.norm() < 1e-12 {
            return false;
        }
        match ratio {
            None => ratio = Some(r),
            Some(r0) if !close(r, r0) => return false,
            _ => {}
        }
    }
    ratio.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Complex64 {
        parse(s)
            .unwrap_or_else(|| panic!("parse {s}"))
            .eval(0)
            .unwrap()
    }

    #[test]
    fn values() {
        assert!(close(v("\\frac{1}{2}"), Complex64::new(0.5, 0.0)));
        assert!(close(v("\\frac12"), Complex64::new(0.5, 0.0)));
        assert!(close(v("\\frac 34"), Complex64::new(0.75, 0.0)));
        assert!(close(v("\\frac9{19}"), Complex64::new(9.0 / 19.0, 0.0)));
        assert!(close(v("1\\frac{4}{5}"), Complex64::new(1.8, 0.0)));
        assert!(close(
            v("11\\sqrt2"),
            Complex64::new(11.0 * 2f64.sqrt(), 0.0)
        ));
        assert!(close(v("\\sqrt[3]{-8}"), Complex64::new(-2.0, 0.0)));
        assert!(close(v("-2+7i"), Complex64::new(-2.0, 7.0)));
        assert!(close(v("2^{-1}"), Complex64::new(0.5, 0.0)));
        assert!(close(v("5!"), Complex64::new(120.0, 0.0)));
        assert!(close(v(".35625"), Complex64::new(0.35625, 0.0)));
        assert!(close(v("|-3|"), Complex64::new(3.0, 0.0)));
        assert!(close(v("\\log_2 8"), Complex64::new(3.0, 0.0)));
        assert!(close(v("\\sin^2 x+\\cos^2 x"), Complex64::new(1.0, 0.0)));
    }

    #[test]
    fn identities_and_bounds() {
        let e = |a: &str, c: &str| equal(&parse(a).unwrap(), &parse(c).unwrap());
        assert!(e("(a+5)(b+2)", "ab+2a+5b+10"));
        assert!(e("2k+2", "2(k+1)"));
        assert!(!e("x^2", "x^3"));
        assert!(!e("\\frac{1}{3}", "0.333"));
        assert!(parse("1+").is_none());
        assert!(parse(&"(".repeat(1000)).is_none());
        assert!(parse(&"1+".repeat(1000)).is_none());
        assert!(parse("\\foo{3}").is_none());
    }
}
