//! The sequential:parallel part of `ttc eval compute-optimal`: two-fold CV compute-optimal
//! revision ratios per difficulty bin, from the per-question splits `ttc eval revisions`
//! wrote (the splits themselves: `ttc_eval::revision_ratios`).

/// Two-fold CV compute-optimal sequential:parallel ratio per difficulty bin and budget
/// (oracle and predicted bins), under each selector `ttc eval revisions` wrote splits for
/// (`revisions/ratios.parquet`: the ORM; `ratios_prm.parquet`: the PRM); writes
/// `compute_optimal/revisions{,_prm}_per_bin.csv`, `…_by_bin.csv` and `…_efficiency.csv`
/// (against parallel sampling, 1:N). `Ok(false)` when there are no revision results.
pub fn compute_optimal_revisions(
    base: &std::path::Path,
    bins: &[ttc_data::rows::BinRow],
    cv_seed: u64,
) -> anyhow::Result<bool> {
    use ttc_data::rows::{ComputeOptimalRow, CsvRow, EfficiencyRow, RatioRow, SplitAccuracyRow};
    let mut any = false;
    for sfx in ["", "_prm"] {
        let f = base.join("revisions").join(format!("ratios{sfx}.parquet"));
        if !f.exists() {
            continue;
        }
        any = true;
        let rows: Vec<RatioRow> = ttc_core::table::read_parquet(&f)?;
        let selector = if sfx.is_empty() { "orm" } else { "prm" };
        let (per_bin, eff, splits) =
            ttc_eval::co_tables::ratio_co_tables(&rows, bins, cv_seed, selector);
        let out = base.join("compute_optimal");
        use crate::run::table_io::write_table;
        write_table(
            &out,
            &format!("revisions{sfx}_per_bin"),
            ComputeOptimalRow::HEADER,
            &per_bin,
        )?;
        write_table(
            &out,
            &format!("revisions{sfx}_by_bin"),
            SplitAccuracyRow::HEADER,
            &splits,
        )?;
        write_table(
            &out,
            &format!("revisions{sfx}_efficiency"),
            &EfficiencyRow::header("parallel"),
            &eff,
        )?;
        let who = if sfx.is_empty() { "ORM" } else { "PRM" };
        eprintln!("eval compute-optimal: revisions under the {who} (sequential:parallel ratios)");
        for r in &eff {
            eprintln!("  {}", r.fields().join(","));
        }
    }
    Ok(any)
}
