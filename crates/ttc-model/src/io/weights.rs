//! Host-side weights by HF name, and `model.safetensors` IO (DESIGN §4).
//!
//! Reading accepts F32, F16 and BF16 (HF checkpoints are often half precision) and
//! converts to f32; writing is F32 with `{"format": "pt"}` metadata so `transformers`
//! loads the file. Every failure names the file and, where there is one, the tensor.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::Dtype;

use crate::io::tensor_files::TensorFiles;

use crate::{Error, Result};

/// A dense row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors by HF name.
pub type WeightMap = BTreeMap<String, HostTensor>;

/// (dtype, values) of every tensor in a safetensors file, from its header alone.
pub fn safetensors_header(path: &Path) -> Result<Vec<(String, u64)>> {
    Ok(TensorFiles::open_file(path)?.dtypes())
}

/// Every tensor of a safetensors file as f32, read one tensor at a time
/// ([`TensorFiles`]: the header checked, non-finite values named by tensor).
pub fn read_safetensors(path: &Path) -> Result<WeightMap> {
    let mut files = TensorFiles::open_file(path)?;
    let names: Vec<String> = files.remaining().cloned().collect();
    let mut out = WeightMap::new();
    for name in names {
        let shape = files.shape(&name).expect("listed").to_vec();
        let data = files.take(&name, false)?.expect("listed").into_f32();
        out.insert(name, HostTensor { shape, data });
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
