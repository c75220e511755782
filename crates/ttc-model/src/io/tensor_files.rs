//! A checkpoint's tensors read one at a time from its safetensors files (positioned reads,
//! no mapping), so a loader holds at most one raw tensor beside what it builds: loading a
//! bf16 checkpoint into bf16 memory peaks near the checkpoint's own size.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A bf16 bit pattern as the f32 it stands for (exact: bf16 is f32's high half).
#[inline]
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// A tensor's values as read: f32, or a half-precision tensor kept as stored (bf16 as its
/// bit patterns).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    F32(Vec<f32>),
    Bf16(Vec<u16>),
    F16(Vec<half::f16>),
}

impl Raw {
    pub fn len(&self) -> usize {
        match self {
            Raw::F32(v) => v.len(),
            Raw::Bf16(v) => v.len(),
            Raw::F16(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32.
    pub fn into_f32(self) -> Vec<f32> {
        match self {
            Raw::F32(v) => v,
            Raw::Bf16(v) => v.into_iter().map(bf16_to_f32).collect(),
            Raw::F16(v) => v.into_iter().map(half::f16::to_f32).collect(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    file: PathBuf,
    dtype: String,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// The tensors of a checkpoint directory (single file or index + shards), by name.
#[derive(Debug)]
pub struct TensorFiles {
    entries: BTreeMap<String, Entry>,
}

fn bad(path: &Path, m: impl std::fmt::Display) -> Error {
    Error::Weights(format!("{}: {m}", path.display()))
}

/// The header of one safetensors file: `(name, dtype, shape, absolute byte range)`.
fn header(path: &Path) -> Result<Vec<(String, Entry)>> {
    let mut f = std::fs::File::open(path).map_err(|e| ttc_core::Error::io(path, e))?;
    let size = f
        .metadata()
        .map_err(|e| ttc_core::Error::io(path, e))?
        .len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| {
        bad(
            path,
            "not a valid safetensors file (shorter than its header)",
        )
    })?;
    let n = u64::from_le_bytes(n);
    if n > 100_000_000 || 8 + n > size {
        return Err(bad(path, "not a valid safetensors file (header length)"));
    }
    let mut text = vec![0u8; n as usize];
    f.read_exact(&mut text)
        .map_err(|_| bad(path, "not a valid safetensors file (truncated header)"))?;
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text)
        .map_err(|e| bad(path, format!("not a valid safetensors file ({e})")))?;
    let mut out = Vec::new();
    for (name, info) in v {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info["dtype"].as_str().unwrap_or("").to_string();
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone())
            .map_err(|_| bad(path, format!("tensor {name}: no shape")))?;
        let off: [u64; 2] = serde_json::from_value(info["data_offsets"].clone())
            .map_err(|_| bad(path, format!("tensor {name}: no data_offsets")))?;
        let width = match dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            other => {
                return Err(bad(
                    path,
                    format!("tensor {name}: unsupported dtype {other}"),
                ));
            }
        };
        let (start, end) = (8 + n + off[0], 8 + n + off[1]);
        let count: usize = shape.iter().product();
        if off[0] > off[1] || end > size || (end - start) != (count * width) as u64 {
            return Err(bad(
                path,
                format!(
                    "not a valid safetensors file: tensor {name}: its bytes do not fit the file (truncated?)"
                ),
            ));
        }
        out.push((
            name,
            Entry {
                file: path.to_path_buf(),
                dtype,
                shape,
                start,
                end,
            },
        ));
    }
    Ok(out)
}

impl TensorFiles {
    /// Read the headers of a checkpoint's weight files (one, or every shard: see
    /// `checkpoint_files::open_tensors`); a tensor in two files is an error naming both.
    pub fn open_all(files: &[PathBuf]) -> Result<TensorFiles> {
        let mut entries = BTreeMap::new();
        for f in files {
            let f = f.as_path();
            for (name, e) in header(f)? {
                if let Some(prev) = entries.get(&name) {
                    let prev: &Entry = prev;
                    return Err(bad(
                        f,
                        format!("tensor {name} is also in {}", prev.file.display()),
                    ));
                }
                entries.insert(name, e);
            }
        }
        Ok(TensorFiles { entries })
    }

    /// The tensors of one safetensors file.
    pub fn open_file(path: &Path) -> Result<TensorFiles> {
        Ok(TensorFiles {
            entries: header(path)?.into_iter().collect(),
        })
    }

    /// (dtype, values) of every tensor not taken yet.
    pub fn dtypes(&self) -> Vec<(String, u64)> {
        self.entries
            .values()
            .map(|e| (e.dtype.clone(), e.shape.iter().product::<usize>() as u64))
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// Names not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Tensor `name`'s stored dtype (`F32`, `F16`, `BF16`).
    pub fn dtype(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.dtype.as_str())
    }

    /// Read tensor `name` (and forget it): f16 / bf16 kept as stored when `keep_half`, else
    /// f32.
    /// A non-finite value is an error naming the file and tensor.
    pub fn take(&mut self, name: &str, keep_half: bool) -> Result<Option<Raw>> {
        let Some(e) = self.entries.remove(name) else {
            return Ok(None);
        };
        read(&e, &open(&e)?, name, e.start, e.end, keep_half).map(Some)
    }

    /// Read tensor `name` (and forget it) `rows` leading-dimension rows at a time, each
    /// chunk handed to `f` with its first row: a loader laying a large tensor out holds
    /// one chunk beside it, not a second copy. `false` when there is no such tensor.
    pub fn take_rows(
        &mut self,
        name: &str,
        keep_half: bool,
        rows: usize,
        mut f: impl FnMut(usize, Raw) -> Result<()>,
    ) -> Result<bool> {
        let Some(e) = self.entries.remove(name) else {
            return Ok(false);
        };
        let file = open(&e)?;
        let n = e.shape.first().copied().unwrap_or(1).max(1);
        let row_bytes = (e.end - e.start) / n as u64;
        let mut r0 = 0;
        while r0 < n {
            let r1 = (r0 + rows.max(1)).min(n);
            let (a, b) = (
                e.start + r0 as u64 * row_bytes,
                e.start + r1 as u64 * row_bytes,
            );
            f(r0, read(&e, &file, name, a, b, keep_half)?)?;
            r0 = r1;
        }
        Ok(true)
    }
}

fn open(e: &Entry) -> Result<std::fs::File> {
    std::fs::File::open(&e.file).map_err(|x| ttc_core::Error::io(&e.file, x).into())
}

/// Bytes `start..end` of `e`'s file (open as `f`) as values.
fn read(
    e: &Entry,
    f: &std::fs::File,
    name: &str,
    start: u64,
    end: u64,
    keep_half: bool,
) -> Result<Raw> {
    let mut bytes = vec![0u8; (end - start) as usize];
    f.read_exact_at(&mut bytes, start)
        .map_err(|x| ttc_core::Error::io(&e.file, x))?;
    let halves = || {
        bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
    };
    let raw = match e.dtype.as_str() {
        "F32" => Raw::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "F16" if keep_half => Raw::F16(halves().map(half::f16::from_bits).collect()),
        "F16" => Raw::F32(halves().map(|b| half::f16::from_bits(b).to_f32()).collect()),
        _ if keep_half => Raw::Bf16(halves().collect()),
        _ => Raw::F32(halves().map(bf16_to_f32).collect()),
    };
    drop(bytes);
    let bad_at = match &raw {
        Raw::F32(v) => v.iter().position(|x| !x.is_finite()),
        Raw::Bf16(v) => v.iter().position(|b| b & 0x7f80 == 0x7f80),
        Raw::F16(v) => v.iter().position(|x| !x.is_finite()),
    };
    if let Some(i) = bad_at {
        return Err(bad(
            &e.file,
            format!(
                "tensor {name} holds a non-finite value at element {i}; the checkpoint is corrupt (a diverged or damaged run)"
            ),
        ));
    }
    Ok(raw)
}
