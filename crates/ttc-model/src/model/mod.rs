//! The Llama / Qwen2 / Qwen3 decoder in burn (DESIGN §4): RMSNorm, HF-style RoPE, SwiGLU MLP,
//! grouped-query attention, optional q/k/v bias, optional tied embeddings, and either an
//! `lm_head` or a one-label `score` head (PRM / ORM, as `LlamaForTokenClassification`).
//!
//! This is the training and reference path (full-sequence causal forward, any backend,
//! autodiff). Fast CPU sampling over the same weights lives in [`crate::cpu`].

pub mod attention;
pub mod dropout;
pub mod fused;

use burn::module::Module;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, RmsNorm, RmsNormConfig,
};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::config::{Head, LlamaConfig};
use crate::rope::RopeTables;
use attention::{AttnShape, attention, causal_bias};
use fused::{rms_norm, swiglu};

fn linear<B: Backend>(i: usize, o: usize, bias: bool, dev: &B::Device) -> Linear<B> {
    LinearConfig::new(i, o)
        .with_bias(bias)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(dev)
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    /// Qwen3: RMSNorm over each head's queries / keys (`head_dim` weights) before RoPE.
    pub q_norm: Option<RmsNorm<B>>,
    pub k_norm: Option<RmsNorm<B>>,
    pub n_heads: usize,
    pub n_kv: usize,
    pub head_dim: usize,
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Linear<B>,
    pub up_proj: Linear<B>,
    pub down_proj: Linear<B>,
}

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub input_layernorm: RmsNorm<B>,
    pub self_attn: Attention<B>,
    pub post_attention_layernorm: RmsNorm<B>,
    pub mlp: Mlp<B>,
}

/// Backbone + head. `lm_head` is `None` when embeddings are tied or the head is `score`.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    pub lm_head: Option<Linear<B>>,
    pub score: Option<Linear<B>>,
    /// Qwen2.5-Math-PRM's first head layer (`score.0`, then ReLU, then `score` = `score.2`).
    pub score_hidden: Option<Linear<B>>,
    #[module(skip)]
    pub config: LlamaConfig,
    #[module(skip)]
    pub rope: RopeTables,
}

impl LlamaConfig {
    /// A freshly initialised model (N(0, 0.02) weights, unit norms). Seed the backend first.
    pub fn init<B: Backend>(&self, dev: &B::Device) -> Transformer<B> {
        let d = self.hidden_size;
        let hd = self.head_dim();
        let (h, kv) = (self.num_attention_heads, self.kv_heads());
        let norm = || {
            RmsNormConfig::new(d)
                .with_epsilon(self.rms_norm_eps)
                .init(dev)
        };
        let head_norm = || {
            self.qk_norm().then(|| {
                RmsNormConfig::new(hd)
                    .with_epsilon(self.rms_norm_eps)
                    .init(dev)
            })
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| DecoderLayer {
                input_layernorm: norm(),
                self_attn: Attention {
                    q_proj: linear(d, h * hd, self.qkv_bias(), dev),
                    k_proj: linear(d, kv * hd, self.qkv_bias(), dev),
                    v_proj: linear(d, kv * hd, self.qkv_bias(), dev),
                    o_proj: linear(h * hd, d, self.o_bias(), dev),
                    q_norm: head_norm(),
                    k_norm: head_norm(),
                    n_heads: h,
                    n_kv: kv,
                    head_dim: hd,
                },
                post_attention_layernorm: norm(),
                mlp: Mlp {
                    gate_proj: linear(d, self.intermediate_size, false, dev),
                    up_proj: linear(d, self.intermediate_size, false, dev),
                    down_proj: linear(self.intermediate_size, d, false, dev),
                },
            })
            .collect();
        let (lm_head, score) = match self.head() {
            Head::CausalLm if self.tie_word_embeddings => (None, None),
            Head::CausalLm => (Some(linear(d, self.vocab_size, false, dev)), None),
            // As transformers' `…ForTokenClassification`: a biased linear.
            Head::Score | Head::ProcessReward => (None, Some(linear(d, self.labels(), true, dev))),
        };
        let score_hidden = (self.head() == Head::ProcessReward).then(|| linear(d, d, true, dev));
        Transformer {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, d)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(dev),
            layers,
            norm: norm(),
            lm_head,
            score,
            score_hidden,
            config: self.clone(),
            rope: RopeTables::new(
                hd,
                self.context(),
                self.theta(),
                &self.rope_scaling().expect("validated config"),
            ),
        }
    }
}

/// Full-shape `[b·n, t, head_dim]` cos and sin (both halves filled, so
/// `x·cos + rot(x)·sin` works) for `n` heads in the head-major layout attention uses: RoPE
/// then is same-shape, contiguous elementwise work. A broadcast `[t, head_dim]` table, or
/// a table applied before the heads-first transpose, would make flex walk the tensor (in the
/// forward or the backward) element by element with strided indices.
fn rope_tensors<B: Backend>(
    r: &RopeTables,
    b: usize,
    t: usize,
    n: usize,
    dev: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let h = r.half;
    let mut cos = Vec::with_capacity(b * n * t * 2 * h);
    let mut sin = Vec::with_capacity(b * n * t * 2 * h);
    for _ in 0..b * n {
        for p in 0..t {
            for _ in 0..2 {
                cos.extend_from_slice(&r.cos[p * h..(p + 1) * h]);
                sin.extend_from_slice(&r.sin[p * h..(p + 1) * h]);
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [b * n, t, 2 * h]), dev),
        Tensor::from_data(TensorData::new(sin, [b * n, t, 2 * h]), dev),
    )
}

/// HF `rotate_half` (`[x1, x2] → [-x2, x1]` on the last dim) as one 2-D product with a fixed
/// signed permutation: a contiguous matmul instead of two strided slices and a concat, which
/// flex (and its backward) would walk element by element.
fn rotate_half<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let dims = x.dims();
    let d = dims[2];
    let h = d / 2;
    let mut r = vec![0.0f32; d * d];
    for i in 0..h {
        r[(i + h) * d + i] = -1.0;
        r[i * d + i + h] = 1.0;
    }
    let r = Tensor::<B, 2>::from_data(TensorData::new(r, [d, d]), &x.device());
    x.reshape([dims[0] * dims[1], d]).matmul(r).reshape(dims)
}

impl<B: Backend> Attention<B> {
    fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeFull<B>,
        bias: Option<&Tensor<B, 4>>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        let (h, kv, hd) = (self.n_heads, self.n_kv, self.head_dim);
        // Queries and keys head-major, made contiguous by the reshape to `[b·n, t, hd]` (one
        // copy each way) so that RoPE, forward and backward, sees contiguous tensors only.
        let heads = |y: Tensor<B, 3>, n: usize| {
            y.reshape([b, t, n, hd])
                .swap_dims(1, 2)
                .reshape([b * n, t, hd])
        };
        let head_norm = |y: Tensor<B, 3>, norm: &Option<RmsNorm<B>>| match norm {
            Some(n) => rms_norm(n, y),
            None => y,
        };
        let q = head_norm(heads(self.q_proj.forward(x.clone()), h), &self.q_norm);
        let k = head_norm(heads(self.k_proj.forward(x.clone()), kv), &self.k_norm);
        let q = q.clone() * rope.cos_q.clone() + rotate_half(q) * rope.sin_q.clone();
        let (cos_k, sin_k) = rope.k();
        let k = k.clone() * cos_k.clone() + rotate_half(k) * sin_k.clone();
        let s = AttnShape { b, h, kv, t, hd };
        // Values stay token-major `[b, t, kv·hd]`; so is the output.
        let y = attention(q, k, self.v_proj.forward(x), s, bias);
        self.o_proj.forward(y)
    }
}

/// Full-shape RoPE tables for one forward: queries' and (with grouped-query attention) keys'.
struct RopeFull<B: Backend> {
    cos_q: Tensor<B, 3>,
    sin_q: Tensor<B, 3>,
    kv: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
}

impl<B: Backend> RopeFull<B> {
    fn new(r: &RopeTables, b: usize, t: usize, h: usize, kv: usize, dev: &B::Device) -> Self {
        let (cos_q, sin_q) = rope_tensors::<B>(r, b, t, h, dev);
        let kv = (kv != h).then(|| rope_tensors::<B>(r, b, t, kv, dev));
        RopeFull { cos_q, sin_q, kv }
    }

    fn k(&self) -> (&Tensor<B, 3>, &Tensor<B, 3>) {
        match &self.kv {
            Some((c, s)) => (c, s),
            None => (&self.cos_q, &self.sin_q),
        }
    }
}

impl<B: Backend> Transformer<B> {
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Final hidden states, `[batch, seq, hidden]`. Causal; right padding does not affect
    /// earlier positions, so padded batches need no attention mask.
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, t] = tokens.dims();
        let dev = tokens.device();
        assert!(
            t <= self.rope.max_pos(),
            "sequence of {t} tokens exceeds max_position_embeddings {}",
            self.rope.max_pos()
        );
        let c = &self.config;
        let rope = RopeFull::new(&self.rope, b, t, c.num_attention_heads, c.kv_heads(), &dev);
        // The additive causal mask, shared by the layers, only where attention is composed.
        let bias =
            (!fused::fused::<B>()).then(|| causal_bias::<B>(b, c.num_attention_heads, t, &dev));
        let mut x = self.embed_tokens.forward(tokens); // [b, t, d]
        for l in &self.layers {
            let a = l.self_attn.forward(
                rms_norm(&l.input_layernorm, x.clone()),
                &rope,
                bias.as_ref(),
            );
            x = x + a;
            let h = rms_norm(&l.post_attention_layernorm, x.clone());
            let m = &l.mlp;
            let g = swiglu(m.gate_proj.forward(h.clone()), m.up_proj.forward(h));
            x = x + m.down_proj.forward(g);
        }
        rms_norm(&self.norm, x)
    }

    /// Score-head outputs with dropout on the final hidden states (HF's token-classification
    /// dropout), its mask drawn from `seed` ([`dropout::dropout`]); dropout acts only under
    /// autodiff, i.e. in training.
    pub fn forward_dropout(&self, tokens: Tensor<B, 2, Int>, p: f64, seed: u64) -> Tensor<B, 3> {
        match &self.score {
            Some(s) if p > 0.0 => {
                let x = dropout::dropout(self.hidden(tokens), p, seed);
                s.forward(self.score_input(x))
            }
            _ => self.forward(tokens),
        }
    }

    /// What the score head's last layer sees: the hidden states, through `score.0` and a
    /// ReLU for a process-reward head.
    fn score_input(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.score_hidden {
            Some(h) => burn::tensor::activation::relu(h.forward(x)),
            None => x,
        }
    }

    /// Head outputs: `[batch, seq, vocab]` logits for a causal LM, `[batch, seq, labels]`
    /// scores for a score head.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = self.hidden(tokens);
        if let Some(s) = &self.score {
            return s.forward(self.score_input(x));
        }
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => {
                let w = self.embed_tokens.weight.val(); // [vocab, d]
                let [b, t, d] = x.dims();
                let v = w.dims()[0];
                x.reshape([b * t, d])
                    .matmul(w.transpose())
                    .reshape([b, t, v])
            }
        }
    }
}
