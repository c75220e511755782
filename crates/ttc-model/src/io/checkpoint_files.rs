//! A checkpoint's weights on disk, as transformers lays them out: one `model.safetensors`,
//! or shards (`model-00001-of-00003.safetensors`, …) listed by
//! `model.safetensors.index.json` (`{"metadata": {"total_size": …}, "weight_map":
//! {tensor: shard}}`). Reading checks the index against the shards (a missing shard, a
//! tensor the index places in a shard that lacks it, a tensor in two shards: errors naming
//! the files); writing splits at `max_shard_bytes` and writes every file atomically, the
//! index last, and removes the other layout's files so a directory never holds both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::tensor_files::TensorFiles;
use crate::io::weights::{WeightMap, read_safetensors, safetensors_header, write_safetensors};
use crate::{Error, Result};

/// The single-file layout.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The index of the sharded layout.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// transformers' historical default shard size (`max_shard_size="5GB"`).
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 5_000_000_000;

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    metadata: serde_json::Value,
    weight_map: BTreeMap<String, String>,
}

fn read_index(path: &Path) -> Result<Index> {
    let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Weights(format!(
            "{}: not a safetensors index ({e}; expected {{\"weight_map\": {{tensor: file}}}})",
            path.display()
        ))
    })
}

/// An index file and what it says.
type IndexAt = (PathBuf, Index);

/// The safetensors files of checkpoint `dir`, in shard order; with the index's tensor →
/// file map when the checkpoint is sharded.
fn layout(dir: &Path) -> Result<(Vec<PathBuf>, Option<IndexAt>)> {
    let index_path = dir.join(INDEX_FILE);
    if index_path.exists() {
        let index = read_index(&index_path)?;
        let names: BTreeSet<&String> = index.weight_map.values().collect();
        if names.is_empty() {
            return Err(Error::Weights(format!(
                "{}: the weight_map is empty",
                index_path.display()
            )));
        }
        let mut files = Vec::new();
        for n in names {
            let f = dir.join(n);
            if n.contains('/') || n.contains("..") || !f.exists() {
                return Err(Error::Weights(format!(
                    "{}: names shard {n}, which is not in {}",
                    index_path.display(),
                    dir.display()
                )));
            }
            files.push(f);
        }
        return Ok((files, Some((index_path, index))));
    }
    let single = dir.join(SINGLE_FILE);
    if !single.exists() {
        return Err(Error::Weights(format!(
            "{}: no {SINGLE_FILE} and no {INDEX_FILE}",
            dir.display()
        )));
    }
    Ok((vec![single], None))
}

/// The safetensors files holding checkpoint `dir`'s weights (one, or every shard).
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    layout(dir).map(|(files, _)| files)
}

/// The tensors of checkpoint `dir`, from whichever layout it has, read one at a time.
pub fn open_tensors(dir: &Path) -> Result<TensorFiles> {
    TensorFiles::open_all(&weight_files(dir)?)
}

/// The file named in errors about `dir`'s weights: the index or the single file.
pub fn weights_path(dir: &Path) -> PathBuf {
    let index = dir.join(INDEX_FILE);
    if index.exists() {
        index
    } else {
        dir.join(SINGLE_FILE)
    }
}

/// Every tensor of checkpoint `dir`, from whichever layout it has.
pub fn read_checkpoint_weights(dir: &Path) -> Result<WeightMap> {
    let (files, index) = layout(dir)?;
    let mut all = WeightMap::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in &files {
        for (name, t) in read_safetensors(f)? {
            if let Some(other) = seen.insert(name.clone(), f.clone()) {
                return Err(Error::Weights(format!(
                    "tensor {name} is in both {} and {}",
                    other.display(),
                    f.display()
                )));
            }
            all.insert(name, t);
        }
    }
    if let Some((path, index)) = index {
        for (name, shard) in &index.weight_map {
            match seen.get(name) {
                Some(f) if f.file_name().is_some_and(|n| n == shard.as_str()) => {}
                Some(f) => {
                    return Err(Error::Weights(format!(
                        "{}: places tensor {name} in {shard}, but it is in {}",
                        path.display(),
                        f.display()
                    )));
                }
                None => {
                    return Err(Error::Weights(format!(
                        "{}: lists tensor {name} in {shard}, which does not hold it (a truncated or mismatched shard)",
                        path.display()
                    )));
                }
            }
        }
    }
    Ok(all)
}

/// Write `weights` into checkpoint `dir` as f32 safetensors: one file when they fit in
/// `max_shard_bytes`, else shards of at most that size (a tensor larger than it gets a
/// shard of its own) and the index.
pub fn write_checkpoint_weights(
    dir: &Path,
    weights: &WeightMap,
    max_shard_bytes: u64,
) -> Result<()> {
    let size = |t: &crate::io::weights::HostTensor| t.data.len() as u64 * 4;
    let total: u64 = weights.values().map(size).sum();
    let mut shards: Vec<WeightMap> = vec![WeightMap::new()];
    let mut current = 0u64;
    for (name, t) in weights {
        if current > 0 && current + size(t) > max_shard_bytes {
            shards.push(WeightMap::new());
            current = 0;
        }
        shards
            .last_mut()
            .expect("one shard at least")
            .insert(name.clone(), t.clone());
        current += size(t);
    }
    let stale = existing_shards(dir);
    if shards.len() == 1 {
        write_safetensors(&dir.join(SINGLE_FILE), &shards[0])?;
        remove(&dir.join(INDEX_FILE))?;
        for f in stale {
            remove(&f)?;
        }
        return Ok(());
    }
    let n = shards.len();
    let mut map = BTreeMap::new();
    let mut written = BTreeSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        write_safetensors(&dir.join(&name), shard)?;
        for k in shard.keys() {
            map.insert(k.clone(), name.clone());
        }
        written.insert(dir.join(&name));
    }
    let index = Index {
        metadata: serde_json::json!({ "total_size": total }),
        weight_map: map,
    };
    let json = serde_json::to_vec_pretty(&index).expect("index serializes");
    ttc_core::atomic::write_atomic(&dir.join(INDEX_FILE), &json)?;
    remove(&dir.join(SINGLE_FILE))?;
    for f in stale.into_iter().filter(|f| !written.contains(f)) {
        remove(&f)?;
    }
    Ok(())
}

fn existing_shards(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("model-") && n.ends_with(".safetensors"))
        })
        .collect()
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ttc_core::Error::io(path, e).into())
        }
        _ => Ok(()),
    }
}

/// What a checkpoint's weight files hold, from their headers alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsSummary {
    pub files: Vec<String>,
    pub bytes_on_disk: u64,
    pub tensors: usize,
    /// Stored values per dtype ("BF16", "F32", …).
    pub values_by_dtype: BTreeMap<String, u64>,
}

/// Summarise checkpoint `dir`'s weight files without reading the tensors.
pub fn summarize_weights(dir: &Path) -> Result<WeightsSummary> {
    let mut s = WeightsSummary {
        files: Vec::new(),
        bytes_on_disk: 0,
        tensors: 0,
        values_by_dtype: BTreeMap::new(),
    };
    for f in weight_files(dir)? {
        s.bytes_on_disk += std::fs::metadata(&f)
            .map_err(|e| ttc_core::Error::io(&f, e))?
            .len();
        for (dtype, values) in safetensors_header(&f)? {
            *s.values_by_dtype.entry(dtype).or_default() += values;
            s.tensors += 1;
        }
        s.files.push(
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    Ok(s)
}

/// Hash of every weight file of checkpoint `dir`, in order (the fingerprint of a
/// checkpoint that a later stage depends on).
pub fn hash_weights(dir: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for f in weight_files(dir)? {
        parts.push(ttc_core::hash::hash_file(&f)?);
    }
    Ok(parts.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::weights::HostTensor;

    fn weights() -> WeightMap {
        (0..5)
            .map(|i| {
                (
                    format!("t{i}.weight"),
                    HostTensor {
                        shape: vec![2, 3],
                        data: (0..6).map(|j| (i * 6 + j) as f32).collect(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn shards_roundtrip_and_layouts_replace_each_other() {
        let d = tempfile::tempdir().unwrap();
        let w = weights();
        write_checkpoint_weights(d.path(), &w, 50).unwrap();
        assert!(d.path().join(INDEX_FILE).exists());
        assert!(!d.path().join(SINGLE_FILE).exists());
        assert_eq!(weight_files(d.path()).unwrap().len(), 3);
        assert_eq!(read_checkpoint_weights(d.path()).unwrap(), w);
        let s = summarize_weights(d.path()).unwrap();
        assert_eq!((s.tensors, s.values_by_dtype["F32"]), (5, 30));
        write_checkpoint_weights(d.path(), &w, 1 << 20).unwrap();
        assert!(!d.path().join(INDEX_FILE).exists());
        assert_eq!(
            weight_files(d.path()).unwrap(),
            vec![d.path().join(SINGLE_FILE)]
        );
        assert_eq!(existing_shards(d.path()), Vec::<PathBuf>::new());
        assert_eq!(read_checkpoint_weights(d.path()).unwrap(), w);
    }

    #[test]
    fn a_bad_index_names_the_file_and_tensor() {
        let d = tempfile::tempdir().unwrap();
        write_checkpoint_weights(d.path(), &weights(), 50).unwrap();
        let ip = d.path().join(INDEX_FILE);
        let mut index: Index = read_index(&ip).unwrap();
        index.weight_map.insert(
            "t9.weight".into(),
            "model-00001-of-00003.safetensors".into(),
        );
        std::fs::write(&ip, serde_json::to_vec(&index).unwrap()).unwrap();
        let e = read_checkpoint_weights(d.path()).unwrap_err().to_string();
        assert!(e.contains(INDEX_FILE) && e.contains("t9.weight"), "{e}");
        index.weight_map.insert(
            "t9.weight".into(),
            "model-00009-of-00009.safetensors".into(),
        );
        std::fs::write(&ip, serde_json::to_vec(&index).unwrap()).unwrap();
        let e = read_checkpoint_weights(d.path()).unwrap_err().to_string();
        assert!(e.contains("model-00009-of-00009.safetensors"), "{e}");
        std::fs::write(&ip, "{not json").unwrap();
        let e = read_checkpoint_weights(d.path()).unwrap_err().to_string();
        assert!(
            e.contains(INDEX_FILE) && e.contains("not a safetensors index"),
            "{e}"
        );
        std::fs::remove_file(&ip).unwrap();
        let e = read_checkpoint_weights(d.path()).unwrap_err().to_string();
        assert!(e.contains("no model.safetensors"), "{e}");
    }
}
