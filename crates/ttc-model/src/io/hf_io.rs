//! HF interop for the burn model: weights by HF name (`model.layers.{i}.self_attn.q_proj.
//! weight`, …, `lm_head.weight`, `score.weight`) in both directions, and checkpoint
//! directories (`config.json` + `model.safetensors`) that `transformers` loads as they are.
//!
//! burn's `Linear` stores `[in, out]`; HF stores `[out, in]`: transposed at the boundary.

use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::config::{Head, LlamaConfig};
use crate::io::checkpoint_files::{
    DEFAULT_MAX_SHARD_BYTES, read_checkpoint_weights, weights_path, write_checkpoint_weights,
};
use crate::io::weights::{HostTensor, WeightMap, take};
use crate::model::Transformer;
use crate::{Error, Result};

fn transpose(t: &HostTensor) -> HostTensor {
    let (r, c) = (t.shape[0], t.shape[1]);
    let mut data = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = t.data[i * c + j];
        }
    }
    HostTensor {
        shape: vec![c, r],
        data,
    }
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> HostTensor {
    let shape = t.dims().to_vec();
    let data = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 data after convert");
    HostTensor { shape, data }
}

fn tensor<B: Backend, const D: usize>(t: HostTensor, dev: &B::Device) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(t.data, t.shape), dev)
}

/// Weight names of layer `i`, with HF `[out, in]` shapes.
struct Names<'a> {
    file: &'a Path,
}

impl Names<'_> {
    fn linear<B: Backend>(
        &self,
        w: &mut WeightMap,
        lin: &mut Linear<B>,
        name: &str,
        out_in: [usize; 2],
        bias: bool,
        dev: &B::Device,
    ) -> Result<()> {
        let t = take(w, &format!("{name}.weight"), &out_in, self.file)?;
        lin.weight = Param::from_tensor(tensor(transpose(&t), dev));
        if bias {
            let b = take(w, &format!("{name}.bias"), &[out_in[0]], self.file)?;
            lin.bias = Some(Param::from_tensor(tensor(b, dev)));
        }
        Ok(())
    }
}

impl<B: Backend> Transformer<B> {
    /// Build from HF-named weights. Every tensor the config implies must be present with
    /// its shape; leftovers (other than rotary buffers) are an error too, since they mean
    /// the config and the weights disagree.
    pub fn from_weights(
        cfg: &LlamaConfig,
        mut w: WeightMap,
        file: &Path,
        dev: &B::Device,
    ) -> Result<Self> {
        cfg.validate()?;
        // Every parameter is replaced below: burn's lazy initialisation never draws them (no
        // random numbers spent, nothing taken from burn's RNG; see `init_seeded`).
        let mut m = cfg.init::<B>(dev);
        let (d, hd, i_sz) = (cfg.hidden_size, cfg.head_dim(), cfg.intermediate_size);
        let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
        let n = Names { file };
        let emb = take(
            &mut w,
            "model.embed_tokens.weight",
            &[cfg.vocab_size, d],
            file,
        )?;
        m.embed_tokens.weight = Param::from_tensor(tensor(emb, dev));
        for (i, l) in m.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            let a = &mut l.self_attn;
            n.linear(
                &mut w,
                &mut a.q_proj,
                &format!("{p}.self_attn.q_proj"),
                [h * hd, d],
                cfg.qkv_bias(),
                dev,
            )?;
            n.linear(
                &mut w,
                &mut a.k_proj,
                &format!("{p}.self_attn.k_proj"),
                [kv * hd, d],
                cfg.qkv_bias(),
                dev,
            )?;
            n.linear(
                &mut w,
                &mut a.v_proj,
                &format!("{p}.self_attn.v_proj"),
                [kv * hd, d],
                cfg.qkv_bias(),
                dev,
            )?;
            n.linear(
                &mut w,
                &mut a.o_proj,
                &format!("{p}.self_attn.o_proj"),
                [d, h * hd],
                cfg.o_bias(),
                dev,
            )?;
            let mlp = &mut l.mlp;
            n.linear(
                &mut w,
                &mut mlp.gate_proj,
                &format!("{p}.mlp.gate_proj"),
                [i_sz, d],
                false,
                dev,
            )?;
            n.linear(
                &mut w,
                &mut mlp.up_proj,
                &format!("{p}.mlp.up_proj"),
                [i_sz, d],
                false,
                dev,
            )?;
            n.linear(
                &mut w,
                &mut mlp.down_proj,
                &format!("{p}.mlp.down_proj"),
                [d, i_sz],
                false,
                dev,
            )?;
            let g = take(&mut w, &format!("{p}.input_layernorm.weight"), &[d], file)?;
            l.input_layernorm.gamma = Param::from_tensor(tensor(g, dev));
            let g = take(
                &mut w,
                &format!("{p}.post_attention_layernorm.weight"),
                &[d],
                file,
            )?;
            l.post_attention_layernorm.gamma = Param::from_tensor(tensor(g, dev));
            for (norm, name) in [
                (&mut l.self_attn.q_norm, "q_norm"),
                (&mut l.self_attn.k_norm, "k_norm"),
            ] {
                if let Some(norm) = norm {
                    let g = take(&mut w, &format!("{p}.self_attn.{name}.weight"), &[hd], file)?;
                    norm.gamma = Param::from_tensor(tensor(g, dev));
                }
            }
        }
        let g = take(&mut w, "model.norm.weight", &[d], file)?;
        m.norm.gamma = Param::from_tensor(tensor(g, dev));
        match cfg.head() {
            Head::CausalLm => {
                if let Some(lm) = m.lm_head.as_mut() {
                    n.linear(&mut w, lm, "lm_head", [cfg.vocab_size, d], false, dev)?;
                } else {
                    // Tied: transformers may still write lm_head.weight; it equals the embedding.
                    w.remove("lm_head.weight");
                }
            }
            Head::ProcessReward => {
                let h = m.score_hidden.as_mut().expect("hidden layer for the head");
                n.linear(&mut w, h, "score.0", [d, d], true, dev)?;
                let s = m
                    .score
                    .as_mut()
                    .expect("score head for a ProcessReward config");
                n.linear(&mut w, s, "score.2", [cfg.labels(), d], true, dev)?;
            }
            Head::Score => {
                let labels = cfg.labels();
                let s = m.score.as_mut().expect("score head for a Score config");
                // transformers' token-classification head has a bias; older files may not.
                let has_bias = w.contains_key("score.bias");
                n.linear(&mut w, s, "score", [labels, d], has_bias, dev)?;
                if !has_bias {
                    s.bias = None;
                }
            }
        }
        w.retain(|k, _| !k.contains("rotary_emb"));
        if let Some(extra) = w.keys().next() {
            return Err(Error::Weights(format!(
                "{}: tensor {extra} is not part of a {} with this config ({} unused tensors)",
                file.display(),
                cfg.architectures
                    .first()
                    .map(String::as_str)
                    .unwrap_or("model"),
                w.len()
            )));
        }
        Ok(m)
    }

    /// HF-named weights (`[out, in]` linears).
    pub fn to_weights(&self) -> WeightMap {
        let mut w = WeightMap::new();
        let mut lin = |name: &str, l: &Linear<B>| {
            w.insert(format!("{name}.weight"), transpose(&host(l.weight.val())));
            if let Some(b) = &l.bias {
                w.insert(format!("{name}.bias"), host(b.val()));
            }
        };
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            lin(&format!("{p}.self_attn.q_proj"), &l.self_attn.q_proj);
            lin(&format!("{p}.self_attn.k_proj"), &l.self_attn.k_proj);
            lin(&format!("{p}.self_attn.v_proj"), &l.self_attn.v_proj);
            lin(&format!("{p}.self_attn.o_proj"), &l.self_attn.o_proj);
            lin(&format!("{p}.mlp.gate_proj"), &l.mlp.gate_proj);
            lin(&format!("{p}.mlp.up_proj"), &l.mlp.up_proj);
            lin(&format!("{p}.mlp.down_proj"), &l.mlp.down_proj);
        }
        if let Some(l) = &self.lm_head {
            lin("lm_head", l);
        }
        match (&self.score_hidden, &self.score) {
            (Some(h), Some(l)) => {
                lin("score.0", h);
                lin("score.2", l);
            }
            (_, Some(l)) => lin("score", l),
            _ => {}
        }
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            w.insert(
                format!("{p}.input_layernorm.weight"),
                host(l.input_layernorm.gamma.val()),
            );
            w.insert(
                format!("{p}.post_attention_layernorm.weight"),
                host(l.post_attention_layernorm.gamma.val()),
            );
            for (norm, name) in [
                (&l.self_attn.q_norm, "q_norm"),
                (&l.self_attn.k_norm, "k_norm"),
            ] {
                if let Some(norm) = norm {
                    w.insert(
                        format!("{p}.self_attn.{name}.weight"),
                        host(norm.gamma.val()),
                    );
                }
            }
        }
        w.insert("model.norm.weight".into(), host(self.norm.gamma.val()));
        w.insert(
            "model.embed_tokens.weight".into(),
            host(self.embed_tokens.weight.val()),
        );
        w
    }
}

/// `config.json` + the weights (`model.safetensors` or shards) of a checkpoint directory.
pub fn load_checkpoint<B: Backend>(dir: &Path, dev: &B::Device) -> Result<Transformer<B>> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    let w = read_checkpoint_weights(dir)?;
    Transformer::from_weights(&cfg, w, &weights_path(dir), dev)
}

/// The checkpoint in `dir` built with `cfg`, which may differ from the checkpoint's own
/// config only in `max_position_embeddings` (RoPE has no weights, so the context can grow —
/// e.g. a revision model whose prompts hold previous attempts).
pub fn load_checkpoint_as<B: Backend>(
    dir: &Path,
    cfg: &LlamaConfig,
    dev: &B::Device,
) -> Result<Transformer<B>> {
    let mut own = LlamaConfig::load(&dir.join("config.json"))?;
    own.max_position_embeddings = cfg.max_position_embeddings;
    if &own != cfg {
        return Err(Error::Weights(format!(
            "{}: the checkpoint's config differs from the requested one beyond max_position_embeddings",
            dir.display()
        )));
    }
    Transformer::from_weights(cfg, read_checkpoint_weights(dir)?, &weights_path(dir), dev)
}

/// A score-head model (PRM / ORM) whose backbone is the causal checkpoint in `dir` and
/// whose head is freshly initialised from `seed` (the policy's LM head is dropped).
pub fn load_backbone_with_score_head<B: Backend>(
    dir: &Path,
    seed: u64,
    dev: &B::Device,
) -> Result<Transformer<B>> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?.with_score_head();
    let file = weights_path(dir);
    let mut w = read_checkpoint_weights(dir)?;
    w.remove("lm_head.weight");
    let fresh = crate::init_seeded::<B>(&cfg, seed, dev).to_weights();
    for (k, v) in fresh {
        if k.starts_with("score.") {
            w.insert(k, v);
        }
    }
    Transformer::from_weights(&cfg, w, &file, dev)
}

/// Write `config.json` and the weights (atomically each): `model.safetensors`, or shards
/// and their index past transformers' default shard size.
pub fn save_checkpoint<B: Backend>(dir: &Path, model: &Transformer<B>) -> Result<()> {
    save_checkpoint_sharded(dir, model, DEFAULT_MAX_SHARD_BYTES)
}

/// [`save_checkpoint`] with shards of at most `max_shard_bytes`.
pub fn save_checkpoint_sharded<B: Backend>(
    dir: &Path,
    model: &Transformer<B>,
    max_shard_bytes: u64,
) -> Result<()> {
    let json = serde_json::to_vec_pretty(model.config()).expect("config serializes");
    ttc_core::atomic::write_atomic(&dir.join("config.json"), &json)?;
    write_checkpoint_weights(dir, &model.to_weights(), max_shard_bytes)
}

/// Copy `tokenizer.json` into a checkpoint and write the `tokenizer_config.json` that lets
/// `AutoTokenizer` load it (fast tokenizer; ttc's special tokens named when present).
pub fn write_tokenizer_files(dir: &Path, tokenizer_json: &Path, max_len: usize) -> Result<()> {
    let bytes =
        std::fs::read(tokenizer_json).map_err(|e| ttc_core::Error::io(tokenizer_json, e))?;
    let tok = tokenizers::Tokenizer::from_bytes(&bytes)
        .map_err(|e| Error::Tokenizer(format!("{}: {e}", tokenizer_json.display())))?;
    ttc_core::atomic::write_atomic(&dir.join("tokenizer.json"), &bytes)?;
    let mut cfg = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": false,
    });
    for (key, name) in [
        ("eos_token", "<|eos|>"),
        ("pad_token", "<|pad|>"),
        ("bos_token", "<|bos|>"),
    ] {
        if tok.token_to_id(name).is_some() {
            cfg[key] = name.into();
        }
    }
    let json = serde_json::to_vec_pretty(&cfg).expect("json");
    ttc_core::atomic::write_atomic(&dir.join("tokenizer_config.json"), &json)?;
    Ok(())
}

/// A checkpoint's files beside its weights that say how to prompt it and when it stops:
/// its tokenizer's config, special tokens and chat template wherever transformers keeps
/// them, its generation config, and ttc's prompt formats.
const CARRIED: [&str; 7] = [
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    ttc_task::tokenizer::PROMPT_FILE,
    ttc_task::tokenizer::CHAT_PROMPT_FILE,
];

/// Copy those of `from`'s [`CARRIED`] files (and of `extra`, e.g. a PRM's format file) that
/// exist into `to`, as they are, atomically each; the names copied. An export of a checkpoint
/// with another project's tokenizer leaves ttc with everything it came with.
pub fn carry_checkpoint_files(from: &Path, to: &Path, extra: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in CARRIED.iter().chain(extra) {
        let src = from.join(f);
        if src.exists() {
            let bytes = std::fs::read(&src).map_err(|e| ttc_core::Error::io(&src, e))?;
            ttc_core::atomic::write_atomic(&to.join(f), &bytes)?;
            out.push(f.to_string());
        }
    }
    Ok(out)
}

/// Fixed input ids for export checks: two rows of 16 ids spread over the vocabulary.
pub fn reference_ids(vocab: usize) -> Vec<Vec<u32>> {
    (0..2u64)
        .map(|r| {
            (0..16u64)
                .map(|i| (ttc_core::seed::derive_seed(7, r, i) % vocab as u64) as u32)
                .collect()
        })
        .collect()
}

/// `reference.json`: [`reference_ids`] and this model's outputs on them, so a Python check
/// (tests/fixtures/make_hf_fixtures.py --check-export) can compare transformers' outputs.
pub fn write_reference<B: Backend>(
    dir: &Path,
    model: &Transformer<B>,
    dev: &B::Device,
) -> Result<()> {
    let ids = reference_ids(model.config().vocab_size);
    let (b, t) = (ids.len(), ids[0].len());
    let flat: Vec<i64> = ids.iter().flatten().map(|&x| x as i64).collect();
    let x = Tensor::<B, 2, burn::tensor::Int>::from_data(TensorData::new(flat, [b, t]), dev);
    let y = host(model.forward(x));
    let json = serde_json::json!({"input_ids": ids, "shape": y.shape, "outputs": y.data});
    ttc_core::atomic::write_atomic(&dir.join("reference.json"), json.to_string().as_bytes())?;
    Ok(())
}
