//! `ttc grade`: answer equivalence over a JSONL file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Map, Value};
use ttc_task::grader::{extract_answer, is_equivalent};

#[derive(Args)]
pub struct GradeArgs {
    /// JSONL input; every row is an object with string (or number) fields `pred` and `gold`.
    #[arg(long)]
    pub input: PathBuf,
    /// JSONL output: each input row unchanged, plus `"equivalent": true|false`.
    /// `-` writes to stdout; an existing symlink, FIFO or device is refused, not replaced.
    #[arg(long)]
    pub output: PathBuf,
    /// Field holding the prediction.
    #[arg(long, default_value = "pred")]
    pub pred_key: String,
    /// Field holding the reference answer.
    #[arg(long, default_value = "gold")]
    pub gold_key: String,
    /// `pred` is a whole solution: grade its last `\boxed{}` (or "The answer is …").
    #[arg(long)]
    pub extract: bool,
}

pub fn field(row: &Map<String, Value>, key: &str, line: usize, path: &Path) -> Result<String> {
    match row.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => anyhow::bail!(
            "{}:{line}: field `{key}` must be a string or number, got {other}",
            path.display()
        ),
        None => anyhow::bail!("{}:{line}: missing field `{key}`", path.display()),
    }
}

pub fn run(a: GradeArgs) -> Result<()> {
    let rows: Vec<(usize, Map<String, Value>)> = ttc_core::jsonl::read_jsonl_numbered(&a.input)
        .with_context(|| "reading rows to grade (each line must be a JSON object)")?;
    let pb = crate::progress::bar(rows.len() as u64, "grade");
    let mut out = Vec::with_capacity(rows.len());
    let mut n_eq = 0usize;
    for (line, mut row) in rows {
        let pred = field(&row, &a.pred_key, line, &a.input)?;
        let gold = field(&row, &a.gold_key, line, &a.input)?;
        let pred = if a.extract {
            extract_answer(&pred).unwrap_or_default()
        } else {
            pred
        };
        let eq = is_equivalent(&pred, &gold);
        n_eq += eq as usize;
        row.insert("equivalent".into(), Value::Bool(eq));
        out.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    crate::output::write_rows(&a.output, &out)?;
    eprintln!(
        "grade: {} rows, {} equivalent ({:.1}%) -> {}",
        out.len(),
        n_eq,
        100.0 * n_eq as f64 / out.len().max(1) as f64,
        a.output.display()
    );
    Ok(())
}
