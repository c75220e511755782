//! Answer extraction and equivalence for MATH-style answers (DESIGN §3).
//!
//! [`extract_answer`] takes the last `\boxed{…}` (brace-matched; also `\fbox`), falling
//! back to "The answer is X". [`is_equivalent`] normalises both sides' LaTeX
//! ([`normalize`]), compares them as strings, then structurally ([`answer`]: tuples,
//! intervals, unions, unordered lists, `±`, matrices, equations) with scalars compared
//! numerically over the complex numbers at fixed random points for their free variables
//! ([`latex_expr`]). Work per pair is bounded: inputs are capped in length, parsing is
//! linear with a nesting limit, evaluation is a few points.

pub mod answer;
pub mod extract;
pub mod latex_expr;
pub mod normalize;

pub use answer::is_equivalent;
pub use extract::{extract_answer, extract_boxed};
