//! Building the CPU model from HF-named weights: each tensor is taken out of the map and
//! laid out input-major as it is read, so loading never holds two whole copies.

use crate::config::{Head, LlamaConfig};
use crate::rope::RopeTables;
use crate::weights::{HostTensor, WeightMap};
use crate::{Error, Result};

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

/// Take tensor `name` out of the map (loading never holds two whole copies).
fn get(w: &mut WeightMap, name: &str) -> Result<Vec<f32>> {
    w.remove(name)
        .map(|t: HostTensor| t.data)
        .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))
}

impl CpuModel {
    /// From HF-named weights (as `read_safetensors` or `Transformer::to_weights` give).
    /// Shapes are checked by the burn loader; here names must exist.
    pub fn from_weights(cfg: &LlamaConfig, w: &WeightMap) -> Result<Self> {
        CpuModel::from_weights_owned(cfg, w.clone())
    }

    /// [`CpuModel::from_weights`], consuming the map (peak: the map plus one tensor).
    pub fn from_weights_owned(cfg: &LlamaConfig, mut weights: WeightMap) -> Result<Self> {
        let w = &mut weights;
        cfg.validate()?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = |w: &mut WeightMap, n: &str| get(w, &format!("{p}.self_attn.{n}"));
            let mut wqkv = a(w, "q_proj.weight")?;
            wqkv.extend(a(w, "k_proj.weight")?);
            wqkv.extend(a(w, "v_proj.weight")?);
            let bqkv = if cfg.qkv_bias() {
                let mut b = a(w, "q_proj.bias")?;
                b.extend(a(w, "k_proj.bias")?);
                b.extend(a(w, "v_proj.bias")?);
                Some(b)
            } else {
                None
            };
            let mut wgu = get(w, &format!("{p}.mlp.gate_proj.weight"))?;
            wgu.extend(get(w, &format!("{p}.mlp.up_proj.weight"))?);
            let (d, hd) = (cfg.hidden_size, cfg.head_dim());
            let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
            layers.push(Layer {
                attn_norm: get(w, &format!("{p}.input_layernorm.weight"))?,
                wqkv: to_input_major(&wqkv, (h + 2 * kv) * hd),
                bqkv,
                wo: to_input_major(&a(w, "o_proj.weight")?, d),
                bo: if cfg.o_bias() {
                    Some(a(w, "o_proj.bias")?)
                } else {
                    None
                },
                mlp_norm: get(w, &format!("{p}.post_attention_layernorm.weight"))?,
                wgu: to_input_major(&wgu, 2 * cfg.intermediate_size),
                wd: to_input_major(&get(w, &format!("{p}.mlp.down_proj.weight"))?, d),
            });
        }
        let embed = get(w, "model.embed_tokens.weight")?;
        let (head, head_out) = match cfg.head() {
            Head::Score => (get(w, "score.weight")?, cfg.labels()),
            Head::ProcessReward => (get(w, "score.2.weight")?, cfg.labels()),
            Head::CausalLm if cfg.tie_word_embeddings => (embed.clone(), cfg.vocab_size),
            Head::CausalLm => (get(w, "lm_head.weight")?, cfg.vocab_size),
        };
        if embed.len() != cfg.vocab_size * cfg.hidden_size {
            return Err(Error::Weights(
                "model.embed_tokens.weight: shape disagrees with config".into(),
            ));
        }
        Ok(CpuModel {
            cfg: cfg.clone(),
            embed,
            layers,
            norm: get(w, "model.norm.weight")?,
            head: to_input_major(&head, head_out),
            head_bias: w
                .remove("score.bias")
                .or_else(|| w.remove("score.2.bias"))
                .map(|t| t.data),
            head_hidden: match cfg.head() {
                Head::ProcessReward => Some((
                    to_input_major(&get(w, "score.0.weight")?, cfg.hidden_size),
                    get(w, "score.0.bias")?,
                )),
                _ => None,
            },
            head_out,
            rope: RopeTables::new(
                cfg.head_dim(),
                cfg.context(),
                cfg.theta(),
                &cfg.rope_scaling()?,
            ),
        })
    }
}
