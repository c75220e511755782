//! Model config in Hugging Face `config.json` terms (DESIGN §4), so our checkpoints load in
//! `transformers` and theirs load here. Covers `LlamaForCausalLM` (and Mistral),
//! `Qwen2ForCausalLM`, `Qwen3ForCausalLM` (q/k norms) and their `…ForTokenClassification`
//! (one-label score head: PRM / ORM).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which head sits on the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// `lm_head`: next-token logits over the vocabulary.
    CausalLm,
    /// `score`: one scalar per position (PRM / ORM), as `…ForTokenClassification`.
    Score,
    /// `score.0` (d→d, ReLU) then `score.2` (d→labels): Qwen2.5-Math-PRM's
    /// `Qwen2ForProcessRewardModel`.
    ProcessReward,
}

/// HF-compatible decoder config. Unknown HF fields are ignored on load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub architectures: Vec<String>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Top-level in transformers 4.x configs; 5.x moves it into `rope_parameters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// transformers 5.x: `{"rope_theta", "rope_type", …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    /// transformers 4.x: `{"rope_type": "llama3", "factor", …}` or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    pub vocab_size: usize,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama: bias on q/k/v/o. (Qwen2 always has q/k/v bias and no o bias.)
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Token classification: number of labels (1 for a PRM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Mistral: attention sees at most this many positions back (ttc's context stops there,
    /// so every position attends to all before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    #[serde(default = "default_dtype")]
    pub torch_dtype: String,
    /// transformers 5.x writes the weights' dtype here instead of `torch_dtype`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// The EOS ids of the checkpoint's `generation_config.json` (what transformers'
    /// `generate` stops on; instruct models list their turn-end token there), read beside
    /// `config.json` by [`LlamaConfig::load`]; not part of `config.json`.
    #[serde(skip)]
    pub generation_eos: Vec<u32>,
}

fn default_model_type() -> String {
    "llama".into()
}
fn default_eps() -> f64 {
    1e-6
}
const DEFAULT_THETA: f64 = 10_000.0;

/// How RoPE frequencies are set: plain θ, or Llama 3's long-context rescaling.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}
fn default_max_pos() -> usize {
    2048
}
fn default_act() -> String {
    "silu".into()
}
fn default_dtype() -> String {
    "float32".into()
}

/// Token ids given as a number or a list (`eos_token_id`); nothing for anything else.
fn token_ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|v| vec![v as u32]).unwrap_or_default()
        }
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect(),
        _ => vec![],
    }
}

impl LlamaConfig {
    /// A Llama of the given shape with ttc's defaults (untied, no bias, θ = 10 000).
    pub fn llama(
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
    ) -> Self {
        LlamaConfig {
            architectures: vec!["LlamaForCausalLM".into()],
            model_type: default_model_type(),
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: Some(num_key_value_heads),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: Some(DEFAULT_THETA),
            rope_parameters: None,
            rope_scaling: None,
            vocab_size,
            max_position_embeddings: 1024,
            tie_word_embeddings: false,
            attention_bias: false,
            hidden_act: default_act(),
            bos_token_id: None,
            eos_token_id: None,
            pad_token_id: None,
            num_labels: None,
            sliding_window: None,
            torch_dtype: default_dtype(),
            dtype: None,
            generation_eos: Vec::new(),
        }
    }

    /// The embedded default policy (≈1.7M parameters at vocab 320): d 192, 4 layers,
    /// 6 heads (2 kv), SwiGLU 512.
    pub fn policy_default(vocab_size: usize) -> Self {
        Self::llama(vocab_size, 192, 512, 4, 6, 2)
    }

    /// The ~14× larger policy for the FLOPs-matched comparison (≈24M at vocab 320):
    /// d 512, 8 layers, 8 heads (4 kv), SwiGLU 1408.
    pub fn policy_large(vocab_size: usize) -> Self {
        Self::llama(vocab_size, 512, 1408, 8, 8, 4)
    }

    /// A named size: `tiny`, `default`, `large`.
    pub fn named(name: &str, vocab_size: usize) -> Result<Self> {
        match name {
            "tiny" => Ok(Self::tiny(vocab_size)),
            "default" => Ok(Self::policy_default(vocab_size)),
            "large" => Ok(Self::policy_large(vocab_size)),
            other => Err(Error::Config(format!(
                "model size `{other}`: use tiny, default or large (or a config.json)"
            ))),
        }
    }

    /// A tiny model for tests (≈0.1M parameters).
    pub fn tiny(vocab_size: usize) -> Self {
        Self::llama(vocab_size, 64, 128, 2, 4, 2)
    }

    /// RoPE base θ, wherever the config keeps it.
    pub fn theta(&self) -> f64 {
        self.rope_theta
            .or_else(|| {
                self.rope_parameters
                    .as_ref()
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(|v| v.as_f64())
            })
            .unwrap_or(DEFAULT_THETA)
    }

    /// The RoPE frequency rule; an unsupported `rope_type` is an error naming it.
    pub fn rope_scaling(&self) -> Result<RopeScaling> {
        let spec = self
            .rope_scaling
            .as_ref()
            .filter(|v| !v.is_null())
            .or(self.rope_parameters.as_ref());
        let Some(spec) = spec else {
            return Ok(RopeScaling::None);
        };
        let kind = spec
            .get("rope_type")
            .or_else(|| spec.get("type"))
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let num = |k: &str| {
            spec.get(k).and_then(|v| v.as_f64()).ok_or_else(|| {
                Error::Config(format!("rope_scaling.{k}: missing for rope_type {kind}"))
            })
        };
        match kind {
            "default" => Ok(RopeScaling::None),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            }),
            other => Err(Error::Config(format!(
                "rope_scaling.rope_type: {other} is not supported (default, llama3 are)"
            ))),
        }
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// Qwen2 family: q/k/v carry a bias, o does not.
    pub fn is_qwen2(&self) -> bool {
        self.model_type == "qwen2" || self.architectures.iter().any(|a| a.starts_with("Qwen2"))
    }

    /// Qwen3 family: an RMSNorm over each head's queries and keys (`q_norm`, `k_norm`,
    /// weights of `head_dim`) before RoPE.
    pub fn qk_norm(&self) -> bool {
        self.model_type == "qwen3" || self.architectures.iter().any(|a| a.starts_with("Qwen3"))
    }

    pub fn qkv_bias(&self) -> bool {
        self.is_qwen2() || self.attention_bias
    }

    pub fn o_bias(&self) -> bool {
        !self.is_qwen2() && self.attention_bias
    }

    pub fn head(&self) -> Head {
        if self
            .architectures
            .iter()
            .any(|a| a.ends_with("ForProcessRewardModel"))
        {
            return Head::ProcessReward;
        }
        if self.architectures.iter().any(|a| {
            a.ends_with("ForTokenClassification") || a.ends_with("ForSequenceClassification")
        }) {
            Head::Score
        } else {
            Head::CausalLm
        }
    }

    /// The same backbone with a one-label score head (PRM / ORM).
    pub fn with_score_head(&self) -> Self {
        let family = if self.is_qwen2() {
            "Qwen2"
        } else if self.qk_norm() {
            "Qwen3"
        } else {
            "Llama"
        };
        LlamaConfig {
            architectures: vec![format!("{family}ForTokenClassification")],
            num_labels: Some(1),
            ..self.clone()
        }
    }

    /// Labels of a score head (1 for ttc's PRM, 2 for a process-reward head).
    pub fn labels(&self) -> usize {
        match self.head() {
            Head::ProcessReward => self.num_labels.unwrap_or(2),
            _ => self.num_labels.unwrap_or(1),
        }
    }

    /// Positions a sequence may have: the context, or a Mistral's sliding window when it is
    /// shorter (up to which sliding-window attention equals full attention).
    pub fn context(&self) -> usize {
        match self.sliding_window {
            Some(w) if self.model_type == "mistral" && w > 0 => w.min(self.max_position_embeddings),
            _ => self.max_position_embeddings,
        }
    }

    /// EOS ids: `config.json`'s (HF allows a number or a list), then those only the
    /// checkpoint's `generation_config.json` names.
    pub fn eos_ids(&self) -> Vec<u32> {
        let mut ids = token_ids(self.eos_token_id.as_ref());
        for &id in &self.generation_eos {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// The weights' dtype as the config names it (`dtype`, else `torch_dtype`).
    pub fn weights_dtype(&self) -> &str {
        self.dtype.as_deref().unwrap_or(&self.torch_dtype)
    }

    /// Parameter count (embeddings and head included; tied weights counted once).
    pub fn num_params(&self) -> usize {
        let d = self.hidden_size;
        let hd = self.head_dim();
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        let qkv = d * (h + 2 * kv) * hd
            + if self.qkv_bias() {
                (h + 2 * kv) * hd
            } else {
                0
            };
        let o = h * hd * d + if self.o_bias() { d } else { 0 };
        let mlp = 3 * d * self.intermediate_size;
        let qk_norm = if self.qk_norm() { 2 * hd } else { 0 };
        let layer = qkv + o + mlp + 2 * d + qk_norm;
        let emb = self.vocab_size * d;
        let head = match self.head() {
            Head::CausalLm if self.tie_word_embeddings => 0,
            Head::CausalLm => self.vocab_size * d,
            Head::Score => d * self.labels(),
            Head::ProcessReward => d * d + d + (d + 1) * self.labels(),
        };
        emb + self.num_hidden_layers * layer + d + head
    }

    /// Check the shape makes sense; the message names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(Error::Config(format!("{f}: {m}")));
        if self.hidden_size == 0 || self.num_hidden_layers == 0 || self.vocab_size == 0 {
            return bad(
                "hidden_size/num_hidden_layers/vocab_size",
                "must be > 0".into(),
            );
        }
        if self.num_attention_heads == 0
            || self.kv_heads() == 0
            || !self.num_attention_heads.is_multiple_of(self.kv_heads())
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} attention heads are not a multiple of {} kv heads",
                    self.num_attention_heads,
                    self.kv_heads()
                ),
            );
        }
        // Sizes are bounded before anything is allocated from them (a 2^40 hidden size
        // must be an error, not an abort).
        for (field, v, max) in [
            ("hidden_size", self.hidden_size, 1 << 16),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            ("num_hidden_layers", self.num_hidden_layers, 1024),
            ("num_attention_heads", self.num_attention_heads, 1024),
            ("vocab_size", self.vocab_size, 1 << 22),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 20,
            ),
        ] {
            if v == 0 || v > max {
                return bad(field, format!("must be in 1..={max}, got {v}"));
            }
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(
                "hidden_size",
                format!(
                    "{} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            );
        }
        if self.head_dim() == 0 || self.head_dim() > 1024 {
            return bad(
                "head_dim",
                format!("must be in 1..=1024, got {}", self.head_dim()),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("RoPE needs an even head_dim, got {}", self.head_dim()),
            );
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return bad(
                "rms_norm_eps",
                format!("must be a positive number, got {}", self.rms_norm_eps),
            );
        }
        let theta = self.theta();
        if !(theta > 0.0 && theta.is_finite()) {
            return bad(
                "rope_theta",
                format!("must be a positive number, got {theta}"),
            );
        }
        if let Some(a) = self.architectures.iter().find(|a| {
            let family = ["Llama", "Qwen2", "Qwen3", "Mistral"]
                .iter()
                .any(|f| a.starts_with(f));
            // Mixture-of-experts variants (Qwen2Moe, Qwen3Moe) have other MLPs.
            !family || a.contains("Moe")
        }) {
            return bad(
                "architectures",
                format!(
                    "{a} is not a Llama, Mistral, Qwen2 or Qwen3 (dense) model (the architectures ttc runs)"
                ),
            );
        }
        let vocab = self.vocab_size as u64;
        for (field, id) in self
            .eos_ids()
            .into_iter()
            .map(|i| ("eos_token_id", i))
            .chain(self.bos_token_id.map(|i| ("bos_token_id", i)))
            .chain(self.pad_token_id.map(|i| ("pad_token_id", i)))
        {
            if u64::from(id) >= vocab {
                return bad(
                    field,
                    format!("{id} is not below vocab_size {}", self.vocab_size),
                );
            }
        }
        self.rope_scaling()?;
        if self.hidden_act != "silu" {
            return bad(
                "hidden_act",
                format!("only silu is supported, got {}", self.hidden_act),
            );
        }
        Ok(())
    }

    /// `config.json` at `path`, with the EOS ids of a `generation_config.json` beside it.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
        let mut cfg: LlamaConfig = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let generation = path.with_file_name("generation_config.json");
        if generation.exists() {
            let text = std::fs::read_to_string(&generation)
                .map_err(|e| ttc_core::Error::io(&generation, e))?;
            let g: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", generation.display())))?;
            cfg.generation_eos = token_ids(g.get("eos_token_id"));
        }
        cfg.validate().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_families_run_and_mixtures_of_experts_are_refused_by_name() {
        for (arch, ok) in [
            ("Qwen3ForCausalLM", true),
            ("Qwen3ForTokenClassification", true),
            ("Qwen3MoeForCausalLM", false),
            ("Qwen2MoeForCausalLM", false),
            ("GPT2LMHeadModel", false),
        ] {
            let mut c = LlamaConfig::tiny(100);
            c.architectures = vec![arch.into()];
            let r = c.validate();
            assert_eq!(r.is_ok(), ok, "{arch}: {r:?}");
            if !ok {
                assert!(r.unwrap_err().to_string().contains(arch));
            }
        }
    }

    #[test]
    fn hf_names_roundtrip_and_counts() {
        let c = LlamaConfig::tiny(100);
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"num_key_value_heads\":2") && j.contains("\"hidden_size\":64"));
        let back: LlamaConfig = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
        // emb 6400 + 2 layers × (64·128 qkv + 64·64 o + 3·64·128 mlp + 128 norms) + 64 + head 6400
        assert_eq!(
            c.num_params(),
            6400 + 2 * (8192 + 4096 + 24576 + 128) + 64 + 6400
        );
        assert_eq!(c.with_score_head().head(), Head::Score);
        let mut bad = c.clone();
        bad.num_key_value_heads = Some(3);
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("num_key_value_heads")
        );
    }
}
