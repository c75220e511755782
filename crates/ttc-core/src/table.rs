//! Tables a user can open: parquet (the stage outputs) and CSV (report tables), written
//! atomically with polars.
//!
//! Rows are plain serde structs. They cross into polars through JSON Lines (polars infers
//! the schema over *all* rows, lists and nested structs included), so every stage keeps
//! typed rows and no stage hand-writes column builders; the tables we write are at most a
//! few hundred thousand rows, where the detour costs well under a second.

use std::io::Cursor;
use std::num::NonZeroUsize;
use std::path::Path;

use polars::prelude::{
    CsvWriter, DataFrame, JsonFormat, JsonReader, JsonWriter, ParquetCompression, ParquetReader,
    ParquetWriter, SerReader, SerWriter,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::write_atomic_with;
use crate::{Error, Result};

fn table_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Json {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// Rows → DataFrame (schema inferred over every row). No rows → an empty frame.
pub fn to_frame<T: Serialize>(rows: &[T]) -> std::result::Result<DataFrame, String> {
    if rows.is_empty() {
        return Ok(DataFrame::empty());
    }
    let mut buf = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut buf, r).map_err(|e| e.to_string())?;
        buf.push(b'\n');
    }
    JsonReader::new(Cursor::new(buf))
        .with_json_format(JsonFormat::JsonLines)
        .infer_schema_len(NonZeroUsize::new(usize::MAX))
        .finish()
        .map_err(|e| e.to_string())
}

/// DataFrame → rows; a row that does not fit `T` is an error naming the row and column.
pub fn from_frame<T: DeserializeOwned>(df: &mut DataFrame) -> std::result::Result<Vec<T>, String> {
    if df.width() == 0 || df.height() == 0 {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::JsonLines)
        .finish(df)
        .map_err(|e| e.to_string())?;
    buf.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| format!("row {i}: {e}")))
        .collect()
}

/// Write `rows` as a zstd-compressed parquet file, atomically.
pub fn write_parquet<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut df = to_frame(rows).map_err(|e| table_err(path, e))?;
    write_frame_parquet(path, &mut df)
}

/// Write a DataFrame as parquet, atomically.
pub fn write_frame_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    write_atomic_with(path, |w| {
        ParquetWriter::new(w)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
}

/// Read a parquet file written by [`write_parquet`] back into rows.
pub fn read_parquet<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut df = read_frame_parquet(path)?;
    from_frame(&mut df).map_err(|e| table_err(path, e))
}

/// Read a parquet file as a DataFrame; a truncated or foreign file is an error naming it.
pub fn read_frame_parquet(path: &Path) -> Result<DataFrame> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(f)
        .finish()
        .map_err(|e| table_err(path, format!("not a readable parquet file: {e}")))
}

/// Write `rows` as CSV with a header, atomically.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut df = to_frame(rows).map_err(|e| table_err(path, e))?;
    write_atomic_with(path, |w| {
        CsvWriter::new(w)
            .include_header(true)
            .finish(&mut df)
            .map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Row {
        id: String,
        n: i64,
        x: f64,
        ok: bool,
        steps: Vec<String>,
        opt: Option<u32>,
    }

    fn rows() -> Vec<Row> {
        (0..50)
            .map(|i| Row {
                id: format!("q{i}"),
                n: i * 7 - 100,
                x: i as f64 / 3.0,
                ok: i % 2 == 0,
                steps: (0..(i % 4)).map(|k| format!("s{k}\n\n")).collect(),
                opt: (i % 3 == 0).then_some(i as u32),
            })
            .collect()
    }

    #[test]
    fn parquet_round_trips_rows_exactly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        write_parquet(&p, &rows()).unwrap();
        let back: Vec<Row> = read_parquet(&p).unwrap();
        assert_eq!(back, rows());
        write_parquet::<Row>(&p, &[]).unwrap();
        assert!(read_parquet::<Row>(&p).unwrap().is_empty());
    }

    #[test]
    fn truncated_parquet_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        write_parquet(&p, &rows()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_parquet::<Row>(&p).unwrap_err().to_string();
        assert!(e.contains("t.parquet"), "{e}");
    }

    #[test]
    fn csv_has_a_header_and_every_row() {
        #[derive(Serialize)]
        struct Flat {
            a: u32,
            b: f64,
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        write_csv(&p, &[Flat { a: 1, b: 0.5 }, Flat { a: 2, b: 1.5 }]).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        assert_eq!(s.lines().collect::<Vec<_>>(), vec!["a,b", "1,0.5", "2,1.5"]);
    }
}
