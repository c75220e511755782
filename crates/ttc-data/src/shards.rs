//! Chunked, resumable stage outputs (DESIGN §1 stage contract, §11 scale-out).
//!
//! A stage's items (questions) are cut into fixed chunks; each finished chunk is written
//! atomically as `<output>.parts/part-NNNNN.parquet`. A rerun skips finished chunks, so a
//! killed stage resumes where it stopped. `--shard i/n` runs only chunks `c` with
//! `c % n == i` (one Slurm array task each); when every chunk exists, [`Parts::merge`]
//! concatenates them in chunk order into the final file and removes the parts. The parts
//! directory remembers the config hash it was made under; a different config clears it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ttc_core::table::{read_parquet, write_parquet};

use crate::{Error, Result};

/// `i/n`: this process runs chunks `c` with `c % n == i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole stage in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn owns(&self, chunk: usize) -> bool {
        chunk % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("shard `{s}`: expected i/n with 0 <= i < n (e.g. 3/16)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The chunk parts of one output file.
#[derive(Debug, Clone)]
pub struct Parts {
    pub output: PathBuf,
    pub dir: PathBuf,
    pub chunk: usize,
    pub n_items: usize,
    /// A short hash of the stage's fingerprint and the chunking, in every part's name: a
    /// part written under another config or other inputs is never taken for one of these.
    stamp: String,
}

impl Parts {
    /// Open (or start) the parts of `output` for `n_items` items in chunks of `chunk`.
    pub fn open(output: &Path, chunk: usize, n_items: usize, config_hash: &str) -> Result<Parts> {
        if chunk == 0 {
            return Err(Error::Config("chunk size must be >= 1".into()));
        }
        let mut name = output.file_name().unwrap_or_default().to_os_string();
        name.push(".parts");
        let dir = output.with_file_name(name);
        let stamp = dir.join("config_hash");
        let key = format!("{config_hash} chunk={chunk} items={n_items}");
        match std::fs::read_to_string(&stamp) {
            Ok(s) if s == key => {}
            Ok(_) => {
                std::fs::remove_dir_all(&dir).map_err(|e| ttc_core::Error::io(&dir, e))?;
            }
            Err(_) => {}
        }
        if !stamp.exists() {
            ttc_core::atomic::write_atomic(&stamp, key.as_bytes())?;
        }
        Ok(Parts {
            output: output.to_path_buf(),
            dir,
            chunk,
            n_items,
            stamp: ttc_core::hash::hash_bytes(key.as_bytes())[..12].to_string(),
        })
    }

    pub fn n_chunks(&self) -> usize {
        self.n_items.div_ceil(self.chunk)
    }

    /// Item range of chunk `c`.
    pub fn range(&self, c: usize) -> std::ops::Range<usize> {
        c * self.chunk..((c + 1) * self.chunk).min(self.n_items)
    }

    pub fn part_path(&self, c: usize) -> PathBuf {
        self.sidecar(c, "part", "parquet")
    }

    /// A file chunk `c` keeps beside its part (e.g. its token counts), stamped like it.
    pub fn sidecar(&self, c: usize, kind: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{kind}-{c:05}-{}.{ext}", self.stamp))
    }

    /// Chunks of `shard` not yet written.
    pub fn pending(&self, shard: Shard) -> Vec<usize> {
        (0..self.n_chunks())
            .filter(|&c| shard.owns(c) && !self.part_path(c).exists())
            .collect()
    }

    pub fn write_part<T: Serialize>(&self, c: usize, rows: &[T]) -> Result<()> {
        Ok(write_parquet(&self.part_path(c), rows)?)
    }

    /// Every chunk written?
    pub fn complete(&self) -> bool {
        (0..self.n_chunks()).all(|c| self.part_path(c).exists())
    }

    /// Concatenate all parts (chunk order) into the output, atomically, then remove them.
    /// An incomplete set is an error naming the missing chunks.
    pub fn merge<T: Serialize + DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.merge_with(|_| Ok(()))
    }

    /// [`Parts::merge`], with `first` seeing the joined rows before the output is written
    /// (e.g. to move some of them to another file): the output holds what it leaves, written
    /// once, and the parts stay until it is.
    pub fn merge_with<T: Serialize + DeserializeOwned>(
        &self,
        first: impl FnOnce(&mut Vec<T>) -> Result<()>,
    ) -> Result<Vec<T>> {
        let missing: Vec<usize> = (0..self.n_chunks())
            .filter(|&c| !self.part_path(c).exists())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Input(format!(
                "{}: {} of {} chunks missing (first: {}); run the remaining shards first",
                self.dir.display(),
                missing.len(),
                self.n_chunks(),
                missing[0]
            )));
        }
        let mut rows = Vec::new();
        for c in 0..self.n_chunks() {
            rows.extend(read_parquet::<T>(&self.part_path(c))?);
        }
        first(&mut rows)?;
        write_parquet(&self.output, &rows)?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct R {
        i: usize,
    }

    fn rows(r: std::ops::Range<usize>) -> Vec<R> {
        r.map(|i| R { i }).collect()
    }

    #[test]
    fn shard_parses_and_rejects_bad_specs() {
        assert_eq!(
            "3/16".parse::<Shard>(),
            Ok(Shard {
                index: 3,
                count: 16
            })
        );
        for bad in ["16/16", "1", "a/b", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_chunks_once_and_merge_in_order() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.parquet");
        let p = Parts::open(&out, 3, 10, "h").unwrap();
        assert_eq!(p.n_chunks(), 4);
        assert_eq!(p.range(3), 9..10);
        let (a, b) = ("0/2".parse().unwrap(), "1/2".parse().unwrap());
        assert_eq!(p.pending(a), vec![0, 2]);
        assert_eq!(p.pending(b), vec![1, 3]);
        for c in p.pending(b) {
            p.write_part(c, &rows(p.range(c))).unwrap();
        }
        assert!(p.merge::<R>().is_err());
        for c in p.pending(a) {
            p.write_part(c, &rows(p.range(c))).unwrap();
        }
        assert!(p.complete());
        assert_eq!(p.merge::<R>().unwrap(), rows(0..10));
        assert!(!p.dir.exists());
    }

    #[test]
    fn merge_with_writes_what_its_first_step_leaves_and_keeps_the_parts_on_error() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.parquet");
        let p = Parts::open(&out, 2, 4, "h").unwrap();
        for c in p.pending(Shard::ALL) {
            p.write_part(c, &rows(p.range(c))).unwrap();
        }
        let failed = p.merge_with::<R>(|_| Err(Error::Input("no".into())));
        assert!(failed.is_err() && !out.exists() && p.complete());
        let kept = p.merge_with(|all: &mut Vec<R>| {
            all.retain(|r| r.i % 2 == 0);
            Ok(())
        });
        assert_eq!(kept.unwrap(), vec![R { i: 0 }, R { i: 2 }]);
        assert_eq!(
            read_parquet::<R>(&out).unwrap(),
            vec![R { i: 0 }, R { i: 2 }]
        );
        assert!(!p.dir.exists());
    }

    #[test]
    fn a_new_config_clears_old_parts() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.parquet");
        let p = Parts::open(&out, 2, 4, "h1").unwrap();
        p.write_part(0, &rows(0..1)).unwrap();
        assert_eq!(
            Parts::open(&out, 2, 4, "h1").unwrap().pending(Shard::ALL),
            vec![1]
        );
        assert_eq!(
            Parts::open(&out, 2, 4, "h2").unwrap().pending(Shard::ALL),
            vec![0, 1]
        );
    }

    #[test]
    fn parts_written_under_another_fingerprint_are_never_merged() {
        // Two runs of one directory with different configs (issue: a concurrent run kept
        // writing its parts after another config had restamped the directory).
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.parquet");
        let old = Parts::open(&out, 2, 4, "config-a").unwrap();
        let new = Parts::open(&out, 2, 4, "config-b").unwrap();
        old.write_part(0, &rows(100..102)).unwrap();
        old.write_part(1, &rows(102..104)).unwrap();
        assert!(!new.complete());
        assert_eq!(new.pending(Shard::ALL), vec![0, 1]);
        assert!(new.merge::<R>().is_err());
        for c in new.pending(Shard::ALL) {
            new.write_part(c, &rows(new.range(c))).unwrap();
        }
        assert_eq!(new.merge::<R>().unwrap(), rows(0..4));
    }
}
