//! Where a utility writes its rows: a file (atomically; never over a symlink, FIFO or
//! device) or, for `-`, standard output.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

/// Write `rows` as JSON Lines to `path`, or to stdout when `path` is `-`.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        ttc_core::jsonl::write_jsonl_to(&mut out, rows)?;
        out.flush()?;
        return Ok(());
    }
    Ok(ttc_core::jsonl::write_jsonl(path, rows)?)
}
