//! Building the CPU model from HF-named weights, each tensor taken from its source and
//! laid out as it is read (loading never holds two whole copies): an f32 weight map (ttc's
//! own models, as `Transformer::to_weights` gives them) or a checkpoint's files read one
//! tensor at a time, f16 / bf16 matrices kept as stored.

use std::path::Path;

use crate::config::{Head, LlamaConfig};
use crate::io::tensor_files::{Raw, TensorFiles};
use crate::io::weights::WeightMap;
use crate::rope::RopeTables;
use crate::{Error, Result};

use super::matrix::{Matrix, Store};
use super::{CpuModel, Layer};

/// `[out, in]` row-major (HF) → `[in, out]` row-major.
fn to_input_major(w: &[f32], out: usize) -> Vec<f32> {
    let inp = w.len() / out;
    let mut t = vec![0.0; w.len()];
    for o in 0..out {
        for i in 0..inp {
            t[i * out + o] = w[o * inp + i];
        }
    }
    t
}

/// Rows `o0..` of an HF `[out, k]` weight (`src`, whole rows) into their columns of an
/// input-major `[k, m]` one.
fn scatter<T: Copy>(src: &[T], dst: &mut [T], k: usize, m: usize, o0: usize) {
    for (o, row) in src.chunks_exact(k).enumerate() {
        for (i, &x) in row.iter().enumerate() {
            dst[i * m + o0 + o] = x;
        }
    }
}

fn missing(name: &str) -> Error {
    Error::Weights(format!("missing tensor {name}"))
}

/// Where the loader takes tensors from.
trait Source {
    /// Tensor `name` as f32 (norms, biases); `None` when absent.
    fn vector(&mut self, name: &str) -> Result<Option<Vec<f32>>>;
    /// Tensors `names` (HF `[out_i, k]`) stacked along their outputs as one weight.
    fn linear(&mut self, names: &[String], k: usize) -> Result<Matrix>;
    /// An embedding `[rows, k]`, kept in HF's layout.
    fn rows(&mut self, name: &str, k: usize) -> Result<Matrix>;

    fn need(&mut self, name: &str) -> Result<Vec<f32>> {
        self.vector(name)?.ok_or_else(|| missing(name))
    }
}

fn check_len(name: &str, len: usize, k: usize) -> Result<usize> {
    if k == 0 || !len.is_multiple_of(k) {
        return Err(Error::Weights(format!(
            "{name}: {len} values are not rows of {k} (shape disagrees with config)"
        )));
    }
    Ok(len / k)
}

impl Source for WeightMap {
    fn vector(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.remove(name).map(|t| t.data))
    }
    fn linear(&mut self, names: &[String], k: usize) -> Result<Matrix> {
        let mut w = Vec::new();
        for n in names {
            let t = self.need(n)?;
            check_len(n, t.len(), k)?;
            w.extend(t);
        }
        let m = w.len() / k;
        Ok(Matrix::input_major(to_input_major(&w, m), k, m))
    }
    fn rows(&mut self, name: &str, k: usize) -> Result<Matrix> {
        let t = self.need(name)?;
        let m = check_len(name, t.len(), k)?;
        Ok(Matrix::output_major(Store::F32(t), k, m))
    }
}

/// A checkpoint's files; `keep_half` keeps f16 / bf16 matrices as stored.
struct Files {
    files: TensorFiles,
    keep_half: bool,
}

impl Source for Files {
    fn vector(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.files.take(name, false)?.map(Raw::into_f32))
    }
    fn linear(&mut self, names: &[String], k: usize) -> Result<Matrix> {
        // Laid out input-major as read, a chunk of rows at a time (no second copy).
        let mut outs = Vec::with_capacity(names.len());
        for n in names {
            let shape = self.files.shape(n).ok_or_else(|| missing(n))?;
            let len: usize = shape.iter().product();
            outs.push(check_len(n, len, k)?);
        }
        let m: usize = outs.iter().sum();
        let dtype = self.files.dtype(&names[0]).unwrap_or("F32").to_string();
        let half = self.keep_half
            && dtype != "F32"
            && names.iter().all(|n| self.files.dtype(n) == Some(&dtype));
        let mut lay = |keep: bool, dst: &mut dyn FnMut(usize, Raw)| -> Result<()> {
            let chunk = (1 << 20) / k.max(1) + 1;
            let mut o0 = 0;
            for (n, &rows) in names.iter().zip(&outs) {
                self.files.take_rows(n, keep, chunk, |r0, raw| {
                    dst(o0 + r0, raw);
                    Ok(())
                })?;
                o0 += rows;
            }
            Ok(())
        };
        if half && dtype == "BF16" {
            // Kept as HF stores it (`[m, k]`, rows appended): the bf16 dot-product kernel
            // streams each output's weight row.
            let mut bits = vec![0u16; m * k];
            lay(true, &mut |o, raw| {
                if let Raw::Bf16(v) = raw {
                    bits[o * k..o * k + v.len()].copy_from_slice(&v);
                }
            })?;
            return Ok(Matrix::output_major(Store::Bf16(bits), k, m));
        }
        if half {
            let mut vals = vec![half::f16::ZERO; m * k];
            lay(true, &mut |o, raw| {
                if let Raw::F16(v) = raw {
                    scatter(&v, &mut vals, k, m, o);
                }
            })?;
            return Ok(Matrix::half_input_major(Store::F16(vals), k, m));
        }
        let mut w = vec![0f32; m * k];
        lay(false, &mut |o, raw| {
            scatter(&raw.into_f32(), &mut w, k, m, o)
        })?;
        Ok(Matrix::input_major(w, k, m))
    }
    fn rows(&mut self, name: &str, k: usize) -> Result<Matrix> {
        let r = self
            .files
            .take(name, self.keep_half)?
            .ok_or_else(|| missing(name))?;
        let m = check_len(name, r.len(), k)?;
        Ok(match r {
            Raw::Bf16(v) => Matrix::output_major(Store::Bf16(v), k, m),
            Raw::F16(v) => Matrix::output_major(Store::F16(v), k, m),
            Raw::F32(v) => Matrix::output_major(Store::F32(v), k, m),
        })
    }
}

impl CpuModel {
    /// From HF-named weights (as `read_safetensors` or `Transformer::to_weights` give).
    /// Shapes are checked by the burn loader; here names must exist.
    pub fn from_weights(cfg: &LlamaConfig, w: &WeightMap) -> Result<Self> {
        CpuModel::from_weights_owned(cfg, w.clone())
    }

    /// [`CpuModel::from_weights`], consuming the map (peak: the map plus one tensor).
    pub fn from_weights_owned(cfg: &LlamaConfig, mut weights: WeightMap) -> Result<Self> {
        build(cfg, &mut weights)
    }

    /// The checkpoint in `dir` (single file or shards), read one tensor at a time; with
    /// `keep_half` its f16 / bf16 matrices stay half precision in memory (half the bytes of f32; products
    /// widen them a cache-sized block at a time), else every weight is f32.
    pub fn load(dir: &Path, cfg: &LlamaConfig, keep_half: bool) -> Result<Self> {
        let mut files = Files {
            files: crate::io::checkpoint_files::open_tensors(dir)?,
            keep_half,
        };
        let file = crate::io::checkpoint_files::weights_path(dir);
        build(cfg, &mut files).map_err(|e| match e {
            // Name the checkpoint in errors that do not yet.
            Error::Weights(m) if !m.contains(&*dir.to_string_lossy()) => {
                Error::Weights(format!("{}: {m}", file.display()))
            }
            other => other,
        })
    }

    /// Whether some weight matrix is kept in bf16.
    pub fn has_half_weights(&self) -> bool {
        self.embed.is_half() || self.layers.iter().any(|l| l.wqkv.is_half())
    }

    /// Bytes the weights hold in memory.
    pub fn weight_bytes(&self) -> usize {
        let v = |x: &Vec<f32>| x.len() * 4;
        let mut b = self.embed.bytes() + v(&self.norm);
        b += self.head.as_ref().map_or(0, Matrix::bytes);
        b += self.head_bias.as_ref().map_or(0, v);
        b += self
            .head_hidden
            .as_ref()
            .map_or(0, |(w, bias)| w.bytes() + v(bias));
        for l in &self.layers {
            b += l.wqkv.bytes() + l.wo.bytes() + l.wgu.bytes() + l.wd.bytes();
            b += v(&l.attn_norm) + v(&l.mlp_norm);
            b += l.bqkv.as_ref().map_or(0, v) + l.bo.as_ref().map_or(0, v);
            b += l.q_norm.as_ref().map_or(0, v) + l.k_norm.as_ref().map_or(0, v);
        }
        b
    }
}

/// A Qwen3 head norm (`head_dim` weights), `None` for families without one.
fn head_norm(w: &mut dyn Source, cfg: &LlamaConfig, name: &str) -> Result<Option<Vec<f32>>> {
    if !cfg.qk_norm() {
        return Ok(None);
    }
    let g = w.need(name)?;
    if g.len() != cfg.head_dim() {
        return Err(Error::Weights(format!(
            "{name}: {} values, but head_dim is {} (shape disagrees with config)",
            g.len(),
            cfg.head_dim()
        )));
    }
    Ok(Some(g))
}

fn build(cfg: &LlamaConfig, w: &mut dyn Source) -> Result<CpuModel> {
    cfg.validate()?;
    let d = cfg.hidden_size;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        let a = |n: &str| format!("{p}.self_attn.{n}");
        let qkv = ["q_proj", "k_proj", "v_proj"];
        let bqkv = if cfg.qkv_bias() {
            let mut b = Vec::new();
            for n in qkv {
                b.extend(w.need(&a(&format!("{n}.bias")))?);
            }
            Some(b)
        } else {
            None
        };
        let weights: Vec<String> = qkv.iter().map(|n| a(&format!("{n}.weight"))).collect();
        layers.push(Layer {
            attn_norm: w.need(&format!("{p}.input_layernorm.weight"))?,
            wqkv: w.linear(&weights, d)?,
            bqkv,
            q_norm: head_norm(w, cfg, &a("q_norm.weight"))?,
            k_norm: head_norm(w, cfg, &a("k_norm.weight"))?,
            wo: w.linear(
                &[a("o_proj.weight")],
                cfg.num_attention_heads * cfg.head_dim(),
            )?,
            bo: if cfg.o_bias() {
                Some(w.need(&a("o_proj.bias"))?)
            } else {
                None
            },
            mlp_norm: w.need(&format!("{p}.post_attention_layernorm.weight"))?,
            wgu: w.linear(
                &[
                    format!("{p}.mlp.gate_proj.weight"),
                    format!("{p}.mlp.up_proj.weight"),
                ],
                d,
            )?,
            wd: w.linear(
                &[format!("{p}.mlp.down_proj.weight")],
                cfg.intermediate_size,
            )?,
        });
    }
    let embed = w.rows("model.embed_tokens.weight", d)?;
    if embed.m != cfg.vocab_size {
        return Err(Error::Weights(
            "model.embed_tokens.weight: shape disagrees with config".into(),
        ));
    }
    // A tied head is the embedding itself (`None`), not a second copy.
    let head = match cfg.head() {
        Head::Score => Some(w.linear(&["score.weight".into()], d)?),
        Head::ProcessReward => Some(w.linear(&["score.2.weight".into()], d)?),
        Head::CausalLm if cfg.tie_word_embeddings => {
            w.vector("lm_head.weight")?;
            None
        }
        Head::CausalLm => Some(w.linear(&["lm_head.weight".into()], d)?),
    };
    let head_out = head.as_ref().map_or(cfg.vocab_size, |h| h.m);
    let expected = match cfg.head() {
        Head::CausalLm => cfg.vocab_size,
        _ => cfg.labels(),
    };
    if head_out != expected {
        return Err(Error::Weights(format!(
            "the head has {head_out} outputs, the config says {expected}"
        )));
    }
    let head_bias = match w.vector("score.bias")? {
        Some(b) => Some(b),
        None => w.vector("score.2.bias")?,
    };
    let head_hidden = match cfg.head() {
        Head::ProcessReward => Some((
            w.linear(&["score.0.weight".into()], d)?,
            w.need("score.0.bias")?,
        )),
        _ => None,
    };
    Ok(CpuModel {
        cfg: cfg.clone(),
        embed,
        layers,
        norm: w.need("model.norm.weight")?,
        head,
        head_bias,
        head_hidden,
        head_out,
        rope: RopeTables::new(
            cfg.head_dim(),
            cfg.context(),
            cfg.theta(),
            &cfg.rope_scaling()?,
        ),
    })
}
