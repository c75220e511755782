//! What every report section shares: accuracy cells with intervals, series per strategy,
//! and the note for a table not computed yet.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use ttc_eval::stats::wilson95;

use super::doc::Block;
use super::figures::Series;

/// (strategy, x) → (right, total).
pub type Counts = BTreeMap<(String, u32), (u64, u64)>;

/// Per strategy: (x, right, total) in x order.
pub fn group(c: &Counts) -> BTreeMap<&str, Vec<(u32, u64, u64)>> {
    let mut by_s: BTreeMap<&str, Vec<(u32, u64, u64)>> = BTreeMap::new();
    for ((s, x), &(k, t)) in c {
        by_s.entry(s.as_str()).or_default().push((*x, k, t));
    }
    by_s
}

/// One accuracy line per strategy, with Wilson intervals.
pub fn series_of(c: &Counts) -> Vec<Series> {
    group(c)
        .into_iter()
        .map(|(s, v)| Series {
            label: s.to_string(),
            points: v
                .iter()
                .map(|&(x, k, t)| (f64::from(x), k as f64 / t as f64))
                .collect(),
            intervals: v.iter().map(|&(_, k, t)| wilson95(k, t)).collect(),
        })
        .collect()
}

/// The rows of a table a stage wrote; none when it has not run (the section says so).
pub fn read_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(ttc_core::table::read_parquet(path)?)
}

/// The header of an efficiency table, `baseline` naming its third column.
pub fn efficiency_header(baseline: &str) -> Vec<String> {
    [
        "bins",
        "verifier",
        "against",
        "N",
        baseline,
        "compute-optimal",
        "matching N'",
        "N/N'",
        "questions",
        "lo95",
        "hi95",
        "N/N' lo95",
        "N/N' hi95",
    ]
    .map(String::from)
    .to_vec()
}

/// The rows whose question (`question(row)`) lies in one of `bins` (`bin_of`: question → bin).
pub fn in_bins<T: Clone>(
    rows: &[T],
    bin_of: &BTreeMap<&str, u8>,
    bins: &[u8],
    question: impl Fn(&T) -> &str,
) -> Vec<T> {
    rows.iter()
        .filter(|r| bin_of.get(question(r)).is_some_and(|b| bins.contains(b)))
        .cloned()
        .collect()
}

pub fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Accuracy with a Wilson interval and its count.
pub fn acc_cell(k: u64, n: u64) -> String {
    let (lo, hi) = wilson95(k, n);
    format!(
        "{} [{:.1}, {:.1}] (n={n})",
        pct(k as f64 / n.max(1) as f64),
        100.0 * lo,
        100.0 * hi
    )
}

pub fn missing(blocks: &mut Vec<Block>, what: &str, how: &str) {
    blocks.push(Block::Para(format!(
        "{what}: not computed yet — run `{how}`."
    )));
}
