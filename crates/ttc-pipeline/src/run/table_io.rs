//! Writing a stage's tables: parquet (the contract later stages and the report read) with
//! its CSV export for people.

use anyhow::Result;
use ttc_data::rows::{CsvRow, csv_text};

/// `dir/<name>.parquet` (the stage contract) and `dir/<name>.csv` (its export for people).
pub fn write_table<R: CsvRow + serde::Serialize>(
    dir: &std::path::Path,
    name: &str,
    header: &str,
    rows: &[R],
) -> Result<()> {
    ttc_core::table::write_parquet(&dir.join(format!("{name}.parquet")), rows)?;
    ttc_core::atomic::write_atomic(
        &dir.join(format!("{name}.csv")),
        csv_text(header, rows).as_bytes(),
    )?;
    Ok(())
}

pub fn write_csv(path: &std::path::Path, header: &str, lines: &[String]) -> Result<()> {
    let mut s = format!("{header}\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    ttc_core::atomic::write_atomic(path, s.as_bytes())?;
    Ok(())
}
