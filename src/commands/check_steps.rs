//! `ttc check-steps`: the arith step checker over a JSONL file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Map, Value};
use ttc_task::step_checker::ArithProblem;

use super::grade::field;

#[derive(Args)]
pub struct CheckStepsArgs {
    /// JSONL input; every row is an object with `problem` (arith text) and `solution`.
    #[arg(long)]
    pub input: PathBuf,
    /// JSONL output: each row unchanged plus `verdicts` (correct|wrong|malformed per step),
    /// `first_error` (step index or null) and `answer_correct`.
    /// `-` writes to stdout; an existing symlink, FIFO or device is refused, not replaced.
    #[arg(long)]
    pub output: PathBuf,
    /// Field holding the solution text.
    #[arg(long, default_value = "solution")]
    pub solution_key: String,
}

pub fn run(a: CheckStepsArgs) -> Result<()> {
    let rows: Vec<(usize, Map<String, Value>)> = ttc_core::jsonl::read_jsonl_numbered(&a.input)
        .with_context(|| "reading rows to check (each line must be a JSON object)")?;
    let pb = crate::progress::bar(rows.len() as u64, "check-steps");
    let mut out = Vec::with_capacity(rows.len());
    let (mut all_correct, mut steps) = (0usize, 0usize);
    // A row that is not an arith problem gets an `error` field; the others are checked.
    let mut failed: Vec<String> = Vec::new();
    for (line, mut row) in rows {
        let problem = field(&row, "problem", line, &a.input)?;
        let solution = field(&row, &a.solution_key, line, &a.input)?;
        let parsed = match ArithProblem::parse(&problem) {
            Ok(p) => p,
            Err(e) => {
                let msg = short(&e.to_string());
                failed.push(format!("{}:{line}: {msg}", a.input.display()));
                row.insert("error".into(), Value::String(msg));
                out.push(row);
                pb.inc(1);
                continue;
            }
        };
        let c = parsed.check(&solution);
        steps += c.verdicts.len();
        all_correct += (c.first_error.is_none() && c.answer_correct) as usize;
        row.insert("verdicts".into(), serde_json::to_value(&c.verdicts)?);
        row.insert("first_error".into(), serde_json::to_value(c.first_error)?);
        row.insert("answer_correct".into(), Value::Bool(c.answer_correct));
        out.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    if failed.len() == out.len() {
        anyhow::bail!(
            "no row holds an arith problem ({} of {}); first: {}",
            failed.len(),
            out.len(),
            failed.first().map_or("-", String::as_str)
        );
    }
    crate::output::write_rows(&a.output, &out)?;
    if let Some(first) = failed.first() {
        eprintln!(
            "check-steps: {} rows are not arith problems (marked with `error`); first: {first}",
            failed.len()
        );
    }
    eprintln!(
        "check-steps: {} solutions, {} steps, {} fully correct -> {}",
        out.len(),
        steps,
        all_correct,
        a.output.display()
    );
    Ok(())
}

/// At most 120 characters of a message (a parse error may quote a whole problem).
fn short(msg: &str) -> String {
    match msg.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &msg[..i]),
        None => msg.to_string(),
    }
}
