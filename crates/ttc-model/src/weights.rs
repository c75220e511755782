//! Host-side weights by HF name, and `model.safetensors` IO (DESIGN §4).
//!
//! Reading accepts F32, F16 and BF16 (HF checkpoints are often half precision) and
//! converts to f32; writing is F32 with `{"format": "pt"}` metadata so `transformers`
//! loads the file. Every failure names the file and, where there is one, the tensor.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::{Error, Result};

/// A dense row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors by HF name.
pub type WeightMap = BTreeMap<String, HostTensor>;

/// The file memory-mapped (read-only): its pages are read as the tensors are converted,
/// not copied into a buffer first.
fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let f = std::fs::File::open(path).map_err(|e| ttc_core::Error::io(path, e))?;
    // SAFETY: the map is read-only and dropped before this module returns; a checkpoint
    // rewritten while it is read (ttc writes by rename, never in place) is the one hazard.
    unsafe { memmap2::Mmap::map(&f) }.map_err(|e| ttc_core::Error::io(path, e).into())
}

/// (dtype, values) of every tensor in a safetensors file, from its header alone.
pub fn safetensors_header(path: &Path) -> Result<Vec<(String, u64)>> {
    let bytes = map_file(path)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        Error::Weights(format!(
            "{}: not a valid safetensors file ({e})",
            path.display()
        ))
    })?;
    Ok(meta
        .tensors()
        .values()
        .map(|info| {
            (
                format!("{:?}", info.dtype),
                info.shape.iter().product::<usize>() as u64,
            )
        })
        .collect())
}

/// Read every tensor of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<WeightMap> {
    let bytes = map_file(path)?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::Weights(format!(
            "{}: not a valid safetensors file ({e})",
            path.display()
        ))
    })?;
    let mut out = WeightMap::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::Weights(format!(
                    "{}: tensor {name}: unsupported dtype {other:?}",
                    path.display()
                )));
            }
        };
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::Weights(format!(
                "{}: tensor {name} holds a non-finite value ({}) at element {i}; the checkpoint is corrupt (a diverged or damaged run)",
                path.display(),
                data[i]
            )));
        }
        out.insert(
            name,
            HostTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

/// Write tensors as F32 safetensors, atomically.
pub fn write_safetensors(path: &Path, weights: &WeightMap) -> Result<()> {
    write_as(path, weights, Dtype::F32)
}

/// [`write_safetensors`] in bf16 (each value rounded to the nearest bf16, ties to even),
/// as transformers saves a half-precision checkpoint.
pub fn write_safetensors_bf16(path: &Path, weights: &WeightMap) -> Result<()> {
    write_as(path, weights, Dtype::BF16)
}

/// [`write_safetensors`] in f16 (each value rounded to the nearest f16).
pub fn write_safetensors_f16(path: &Path, weights: &WeightMap) -> Result<()> {
    write_as(path, weights, Dtype::F16)
}

fn write_as(path: &Path, weights: &WeightMap, dtype: Dtype) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = weights
        .iter()
        .map(|(n, t)| {
            let b: Vec<u8> = match dtype {
                Dtype::BF16 => t
                    .data
                    .iter()
                    .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                    .collect(),
                Dtype::F16 => t
                    .data
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect(),
                _ => t.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            };
            (n.clone(), b, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, b, s)| {
            let v = safetensors::tensor::TensorView::new(dtype, s.clone(), b)
                .expect("shape matches data length by construction");
            (n.clone(), v)
        })
        .collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let buf = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Weights(format!("{}: {e}", path.display())))?;
    ttc_core::atomic::write_atomic(path, &buf)?;
    Ok(())
}

/// Take tensor `name` with the expected shape, or say what is wrong with it.
pub fn take(w: &mut WeightMap, name: &str, shape: &[usize], file: &Path) -> Result<HostTensor> {
    let t = w.remove(name).ok_or_else(|| {
        Error::Weights(format!(
            "{}: missing tensor {name} (shape {shape:?})",
            file.display()
        ))
    })?;
    if t.shape != shape {
        return Err(Error::Weights(format!(
            "{}: tensor {name} has shape {:?}, config expects {shape:?}",
            file.display(),
            t.shape
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors_name_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let mut w = WeightMap::new();
        w.insert(
            "a.weight".into(),
            HostTensor {
                shape: vec![2, 3],
                data: vec![1., 2., 3., 4., 5., 6.],
            },
        );
        write_safetensors(&p, &w).unwrap();
        let mut back = read_safetensors(&p).unwrap();
        assert_eq!(back, w);
        let e = take(&mut back.clone(), "a.weight", &[3, 2], &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.weight") && e.contains("[2, 3]"), "{e}");
        let e = take(&mut back, "b.weight", &[1], &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing tensor b.weight"), "{e}");
        // Truncated file.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let e = read_safetensors(&p).unwrap_err().to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("not a valid"),
            "{e}"
        );
    }
}
