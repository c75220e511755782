//! Sequential vs parallel revisions (Snell et al. §6.2, Table 1): at budget N, p = N/s
//! chains of s attempts each; the answer is picked hierarchically (ORM-weighted best-of-N
//! within each chain, then weighted best-of-N over the chains' winners).

use serde::{Deserialize, Serialize};
use ttc_search::select::weighted_best_of_n;
use ttc_task::grader::is_equivalent;

/// One question answered at one (sequential, parallel) split of a budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatioRow {
    pub question_id: String,
    pub n: u32,
    pub sequential: u32,
    pub parallel: u32,
    pub correct: bool,
}

impl RatioRow {
    /// The method name in compute-optimal tables: `s:p`.
    pub fn method(&self) -> String {
        format!("{}:{}", self.sequential, self.parallel)
    }
}

/// A chain's ORM-weighted winner and the summed score of its answer group.
pub fn chain_pick<'a>(a: &[Option<&'a str>], sc: &[f32]) -> Option<(Option<&'a str>, f32)> {
    let i = weighted_best_of_n(a, sc)?;
    let total: f32 = (0..a.len())
        .filter(|&j| a[j].is_some_and(|x| a[i].is_some_and(|y| is_equivalent(x, y))))
        .map(|j| sc[j])
        .sum();
    Some((a[i], total))
}

/// Weighted best-of-N over the winners of `chains` (answers, ORM scores).
pub fn hierarchical<'a>(chains: &[(Vec<Option<&'a str>>, &[f32])]) -> Option<&'a str> {
    let winners: Vec<(Option<&str>, f32)> = chains
        .iter()
        .filter_map(|(a, sc)| chain_pick(a, sc))
        .collect();
    let wa: Vec<Option<&str>> = winners.iter().map(|w| w.0).collect();
    let ws: Vec<f32> = winners.iter().map(|w| w.1).collect();
    weighted_best_of_n(&wa, &ws).and_then(|i| wa[i])
}

/// Every split s·p = N (N = 1, 2, 4, …) that the chains allow, for one question whose
/// chains are `(answers, scores)` in step order; the first p chains, their first s attempts.
pub fn ratio_rows(
    question_id: &str,
    chains: &[(Vec<Option<String>>, Vec<f32>)],
    right: &dyn Fn(Option<&str>) -> bool,
) -> Vec<RatioRow> {
    let max_s = chains.iter().map(|c| c.0.len()).min().unwrap_or(0);
    let max_p = chains.len();
    let mut out = Vec::new();
    let mut n = 1;
    while n <= max_s * max_p {
        for s in (1..=max_s).filter(|s| n % s == 0 && n / s <= max_p) {
            let p = n / s;
            let sub: Vec<(Vec<Option<&str>>, &[f32])> = chains[..p]
                .iter()
                .map(|(a, sc)| (a[..s].iter().map(|x| x.as_deref()).collect(), &sc[..s]))
                .collect();
            out.push(RatioRow {
                question_id: question_id.to_string(),
                n: n as u32,
                sequential: s as u32,
                parallel: p as u32,
                correct: right(hierarchical(&sub)),
            });
        }
        n *= 2;
    }
    out
}

/// Two-fold CV compute-optimal sequential:parallel ratio per difficulty bin and budget
/// (oracle and predicted bins), from `revisions/ratios.parquet`; writes
/// `compute_optimal/revisions_per_bin.csv` and `revisions_efficiency.csv` (against
/// parallel sampling, 1:N). `Ok(false)` when there are no revision results.
pub fn compute_optimal_revisions(
    base: &std::path::Path,
    bins: &[ttc_data::rows::BinRow],
    cv_seed: u64,
) -> anyhow::Result<bool> {
    use std::collections::{BTreeMap, HashMap};
    use ttc_data::rows::{ComputeOptimalRow, CsvRow, EfficiencyRow, SplitAccuracyRow};
    use ttc_eval::cv::{Cell, compute_optimal};
    let f = base.join("revisions").join("ratios.parquet");
    if !f.exists() {
        return Ok(false);
    }
    let rows: Vec<RatioRow> = ttc_core::table::read_parquet(&f)?;
    let (mut per_bin, mut eff, mut splits) = (Vec::new(), Vec::new(), Vec::new());
    for kind in ["oracle", "predicted"] {
        let bin_of: HashMap<&str, u8> = bins
            .iter()
            .map(|b| {
                let bin = if kind == "oracle" {
                    b.oracle_bin
                } else {
                    b.predicted_bin
                };
                (b.question_id.as_str(), bin)
            })
            .collect();
        let cells: Vec<Cell> = rows
            .iter()
            .filter_map(|r| {
                bin_of.get(r.question_id.as_str()).map(|&bin| Cell {
                    question: r.question_id.clone(),
                    bin,
                    method: r.method(),
                    budget: r.n,
                    accuracy: f64::from(u8::from(r.correct)),
                })
            })
            .collect();
        // Accuracy of every split per bin: what the compute-optimal choice picks among.
        let mut by_split: BTreeMap<(u8, u32, String), (f64, usize)> = BTreeMap::new();
        for c in &cells {
            let e = by_split
                .entry((c.bin, c.budget, c.method.clone()))
                .or_default();
            e.0 += c.accuracy;
            e.1 += 1;
        }
        for ((bin, n, m), (sum, q)) in &by_split {
            splits.push(SplitAccuracyRow {
                bins: kind.to_string(),
                bin: *bin,
                n: *n,
                split: m.clone(),
                accuracy: sum / *q as f64,
                questions: *q as u64,
            });
        }
        let co = compute_optimal(&cells, cv_seed);
        let mut par: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for c in cells
            .iter()
            .filter(|c| c.method == format!("1:{}", c.budget))
        {
            let e = par.entry(c.budget).or_default();
            e.0 += c.accuracy;
            e.1 += 1;
        }
        let par: Vec<(u32, f64)> = par.iter().map(|(&n, &(s, q))| (n, s / q as f64)).collect();
        let (p, e) = ttc_eval::co_tables::co_tables(kind, &co, &par);
        per_bin.extend(p);
        eff.extend(e);
    }
    let out = base.join("compute_optimal");
    use super::analysis::write_table;
    write_table(
        &out,
        "revisions_per_bin",
        ComputeOptimalRow::HEADER,
        &per_bin,
    )?;
    write_table(&out, "revisions_by_bin", SplitAccuracyRow::HEADER, &splits)?;
    write_table(
        &out,
        "revisions_efficiency",
        &EfficiencyRow::header("parallel"),
        &eff,
    )?;
    eprintln!("eval compute-optimal: revisions (sequential:parallel ratios)");
    for r in &eff {
        eprintln!("  {}", r.fields().join(","));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_hierarchical_choice() {
        // Two chains of 2 attempts; the right answer "7" wins only with both attempts of
        // chain 1 or with both chains.
        let chains = vec![
            (
                vec![Some("7".to_string()), Some("3".to_string())],
                vec![0.2, 0.9],
            ),
            (
                vec![Some("7".to_string()), Some("7".to_string())],
                vec![0.6, 0.6],
            ),
        ];
        let rows = ratio_rows("q", &chains, &|a| a == Some("7"));
        let got: Vec<(u32, u32, u32, bool)> = rows
            .iter()
            .map(|r| (r.n, r.sequential, r.parallel, r.correct))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1, 1, true),  // chain 0, attempt 0: "7"
                (2, 1, 2, true),  // "7" (0.2) vs "7" (0.6): both 7
                (2, 2, 1, false), // chain 0: "3" 0.9 beats "7" 0.2
                (4, 2, 2, true),  // winners "3" 0.9 vs "7" 1.2
            ]
        );
        assert_eq!(rows[2].method(), "2:1");
    }
}
