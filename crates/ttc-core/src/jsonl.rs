//! JSON Lines: one JSON value per line. Reading names `file:line` for every bad line;
//! writing is atomic.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::write_atomic_with;
use crate::{Error, Result};

/// Read every non-blank line of `path` as a `T`. The first bad line fails the whole read
/// with `path:line: what was wrong` (no row is silently dropped).
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    Ok(read_jsonl_numbered(path)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// Like [`read_jsonl`], with each row's 1-based line number (for later error messages).
pub fn read_jsonl_numbered<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::Jsonl {
            path: path.into(),
            line: i + 1,
            msg: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).map_err(|e| Error::Jsonl {
            path: path.into(),
            line: i + 1,
            msg: e.to_string(),
        })?;
        rows.push((i + 1, row));
    }
    Ok(rows)
}

/// Write rows as JSON Lines, atomically.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    write_atomic_with(path, |w| write_jsonl_to(w, rows))
}

/// `rows` as JSON Lines into `w` (a file being written atomically, or stdout).
pub fn write_jsonl_to<T: Serialize>(w: &mut dyn Write, rows: &[T]) -> std::io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *w, row).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_line_numbered_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        write_jsonl(
            &p,
            &[serde_json::json!({"a": 1}), serde_json::json!({"a": 2})],
        )
        .unwrap();
        let rows: Vec<serde_json::Value> = read_jsonl(&p).unwrap();
        assert_eq!(rows.len(), 2);
        std::fs::write(&p, "{\"a\":1}\n\n{\"a\":\n").unwrap();
        let err = read_jsonl::<serde_json::Value>(&p).unwrap_err().to_string();
        assert!(err.contains("x.jsonl:3:"), "{err}");
    }
}
