//! A backend-generic batched decoder in burn with a real KV cache (DESIGN §11): the same
//! weights as [`crate::model::Transformer`], run one engine step at a time against a paged
//! cache — per layer, one preallocated K pool and one V pool `[kv_heads, rows, head_dim]` on
//! the device. A step writes its new K/V rows in place (`scatter_nd` with `Assign`: in place
//! on burn-cuda; flex copies the pool, see the note below) and gathers each sequence's rows
//! for attention; the cache never grows by concatenation, and forks share rows
//! ([`crate::burn_decoder::paged_cache`]). Runs on flex (CPU, tests) and burn-cuda (`--features cuda`), in
//! the backend's float type (f32, or bf16/f16 on a GPU).
//!
//! Per step, rows are grouped by sequence and padded to `[sequences, longest query run]`;
//! keys are padded to `[sequences, longest context]` with an additive mask (causal within a
//! run, nothing past a sequence's own length). Each padded query row attends to key 0 only,
//! so no row is fully masked; padded rows are dropped before the output projection.
//!
//! Flex's `scatter_nd` copies its input, so on the CPU a step costs a pool copy per layer;
//! the pool holds just the live rows (it grows by doubling), so that is of the order of the
//! gather attention does anyway. The cpu backend ([`crate::cpu`]) stays the fast CPU path.

pub mod paged_cache;

use std::sync::{Arc, Mutex};

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

use crate::burn_decoder::paged_cache::{PagedSeq, SlotAllocator};
use crate::config::LlamaConfig;
use crate::cpu::Row;
use crate::decoder::{Decoder, KvCache, check_rows};
use crate::model::Transformer;
use crate::model::fused::{rms_norm, swiglu};
use crate::{Error, Result};

/// Pool rows allocated up front (grows by doubling).
const INITIAL_ROWS: usize = 1024;

struct Inner<B: Backend> {
    model: Transformer<B>,
    /// `[max_pos, head_dim]`, both halves filled (HF rotate-halves convention).
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    /// Per layer: `[kv_heads, rows, head_dim]` (a gather of rows is contiguous per head).
    k: Vec<Tensor<B, 3>>,
    v: Vec<Tensor<B, 3>>,
    rows: usize,
}

/// The burn decoder over a loaded [`Transformer`].
pub struct BurnDecoder<B: Backend> {
    cfg: LlamaConfig,
    dev: B::Device,
    head_out: usize,
    max_pos: usize,
    label: String,
    alloc: Arc<SlotAllocator>,
    inner: Mutex<Inner<B>>,
}

fn ints<B: Backend>(v: Vec<i64>, dev: &B::Device) -> Tensor<B, 1, Int> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), dev)
}

/// HF `rotate_half` on the last dim: `[x1, x2] → [-x2, x1]`.
fn rotate_half<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [r, h, d] = x.dims();
    let half = d / 2;
    let x1 = x.clone().slice([0..r, 0..h, 0..half]);
    let x2 = x.slice([0..r, 0..h, half..d]);
    Tensor::cat(vec![x2.neg(), x1], 2)
}

impl<B: Backend> BurnDecoder<B> {
    /// `label` says what runs it (e.g. "burn-flex", "burn-cuda:0 bf16").
    pub fn new(model: Transformer<B>, dev: B::Device, label: impl Into<String>) -> Self {
        let cfg = model.config().clone();
        let r = &model.rope;
        let half = r.half;
        let max_pos = r.max_pos();
        let full = |t: &[f32]| {
            let mut out = Vec::with_capacity(max_pos * 2 * half);
            for p in 0..max_pos {
                for _ in 0..2 {
                    out.extend_from_slice(&t[p * half..(p + 1) * half]);
                }
            }
            Tensor::<B, 2>::from_data(TensorData::new(out, [max_pos, 2 * half]), &dev)
        };
        let (cos, sin) = (full(&r.cos), full(&r.sin));
        let head_out = match (&model.score, &model.lm_head) {
            (Some(s), _) => s.weight.val().dims()[1],
            _ => cfg.vocab_size,
        };
        let (kv, hd) = (cfg.kv_heads(), cfg.head_dim());
        let layers = cfg.num_hidden_layers;
        let pool = || Tensor::<B, 3>::zeros([kv, INITIAL_ROWS, hd], &dev);
        let inner = Inner {
            k: (0..layers).map(|_| pool()).collect(),
            v: (0..layers).map(|_| pool()).collect(),
            rows: INITIAL_ROWS,
            model,
            cos,
            sin,
        };
        BurnDecoder {
            head_out,
            max_pos,
            label: label.into(),
            alloc: SlotAllocator::new(INITIAL_ROWS),
            inner: Mutex::new(inner),
            dev,
            cfg,
        }
    }

    /// Pool rows in use (live cached positions across all sequences).
    pub fn rows_in_use(&self) -> usize {
        self.alloc.used()
    }
}

/// One sequence's run of rows in a step.
struct Run {
    seq: usize,
    first_row: usize,
    count: usize,
    /// Cached positions before the run.
    base: usize,
}

fn runs_of(rows: &[Row]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match runs.last_mut() {
            Some(last) if last.seq == r.seq => last.count += 1,
            _ => runs.push(Run {
                seq: r.seq,
                first_row: i,
                count: 1,
                base: r.pos,
            }),
        }
    }
    runs
}

impl<B: Backend> Decoder for BurnDecoder<B> {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }
    fn head_outputs(&self) -> usize {
        self.head_out
    }
    fn max_positions(&self) -> usize {
        self.max_pos
    }
    fn new_cache(&self) -> KvCache {
        KvCache::Paged(PagedSeq::new(&self.alloc))
    }
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn forward(
        &self,
        caches: &mut [KvCache],
        rows: &[Row],
        out_rows: &[usize],
    ) -> Result<Vec<f32>> {
        check_rows(caches, rows, out_rows, self.max_pos)?;
        if let Some(i) = caches.iter().position(|c| match c {
            KvCache::Paged(p) => !p.uses(&self.alloc),
            KvCache::Host(_) | KvCache::Remote(_) => true,
        }) {
            return Err(Error::Config(format!(
                "sequence {i} holds another backend's cache; the burn backend needs its own"
            )));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let dev = &self.dev;
        let runs = runs_of(rows);
        // Pool rows for the new positions, in row order.
        let mut slots: Vec<i64> = Vec::with_capacity(rows.len());
        for run in &runs {
            let KvCache::Paged(p) = &mut caches[run.seq] else {
                unreachable!("checked above")
            };
            slots.extend(p.grow(run.count).iter().map(|&s| s as i64));
        }
        // Padded layouts: queries [runs, qm], keys [runs, lm].
        let s = runs.len();
        let qm = runs.iter().map(|r| r.count).max().unwrap_or(1);
        let lm = runs.iter().map(|r| r.base + r.count).max().unwrap_or(1);
        let mut q_gather = vec![0i64; s * qm];
        let mut back = vec![0i64; rows.len()];
        let mut key_idx = vec![0i64; s * lm];
        let cfg = &self.cfg;
        let (h, kv, hd) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        let g = h / kv;
        // Grouped-query attention: the g query heads of one KV head are stacked as g·qm
        // query rows, so keys and values are never repeated per head.
        let mut bias = vec![f32::NEG_INFINITY; s * g * qm * lm];
        for (si, run) in runs.iter().enumerate() {
            let KvCache::Paged(p) = &caches[run.seq] else {
                unreachable!("checked above")
            };
            for (j, slot) in p.rows().take(run.base + run.count).enumerate() {
                key_idx[si * lm + j] = slot as i64;
            }
            for qi in 0..qm {
                if qi < run.count {
                    q_gather[si * qm + qi] = (run.first_row + qi) as i64;
                    back[run.first_row + qi] = (si * qm + qi) as i64;
                }
                for gi in 0..g {
                    let at = ((si * g + gi) * qm + qi) * lm;
                    let row = &mut bias[at..at + lm];
                    if qi < run.count {
                        row[..=run.base + qi].fill(0.0);
                    } else {
                        row[0] = 0.0;
                    }
                }
            }
        }
        let n = rows.len();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *inner;
        // Grow the pools if the allocator handed out rows past them.
        let need = self.alloc.capacity();
        if need > inner.rows {
            let extra = need - inner.rows;
            for t in inner.k.iter_mut().chain(inner.v.iter_mut()) {
                let z = Tensor::<B, 3>::zeros([kv, extra, hd], dev);
                *t = Tensor::cat(vec![t.clone(), z], 1);
            }
            inner.rows = need;
        }
        // (kv head, pool row) of every new K/V vector, in the order of `[n, kv, hd]`.
        let pairs: Vec<i64> = slots
            .iter()
            .flat_map(|&r| (0..kv as i64).flat_map(move |j| [j, r]))
            .collect();
        let slot_idx: Tensor<B, 2, Int> = ints::<B>(pairs, dev).reshape([n * kv, 2]);
        let key_idx = ints::<B>(key_idx, dev);
        let q_gather = ints::<B>(q_gather, dev);
        let back = ints::<B>(back, dev);
        let bias = Tensor::<B, 3>::from_data(TensorData::new(bias, [s, g * qm, lm]), dev)
            .unsqueeze_dim::<4>(0);
        let pos = ints::<B>(rows.iter().map(|r| r.pos as i64).collect(), dev);
        let cos = inner
            .cos
            .clone()
            .select(0, pos.clone())
            .unsqueeze_dim::<3>(1);
        let sin = inner.sin.clone().select(0, pos).unsqueeze_dim::<3>(1);
        // Qwen3's per-head RMSNorm of queries and keys, then RoPE.
        let rope = |x: Tensor<B, 2>, heads: usize, norm: &Option<burn::nn::RmsNorm<B>>| {
            let x = x.reshape([n, heads, hd]);
            let x = match norm {
                Some(g) => rms_norm(g, x),
                None => x,
            };
            (x.clone() * cos.clone() + rotate_half(x) * sin.clone()).reshape([n, heads * hd])
        };
        let tokens = ints::<B>(rows.iter().map(|r| r.token as i64).collect(), dev);
        let m = &inner.model;
        let mut x = m.embed_tokens.weight.val().select(0, tokens); // [n, d]
        let d = cfg.hidden_size;
        let scale = 1.0 / (hd as f64).sqrt();
        for (li, l) in m.layers.iter().enumerate() {
            let a = &l.self_attn;
            let hn = rms_norm(&l.input_layernorm, x.clone().reshape([1, n, d])).reshape([n, d]);
            let q = rope(a.q_proj.forward(hn.clone()), h, &a.q_norm);
            let k = rope(a.k_proj.forward(hn.clone()), kv, &a.k_norm);
            let v = a.v_proj.forward(hn);
            let write = |pool: &mut Tensor<B, 3>, x: Tensor<B, 2>| {
                let old = std::mem::replace(pool, Tensor::empty([0, 0, 0], dev));
                *pool = old.scatter_nd(
                    slot_idx.clone(),
                    x.reshape([n * kv, hd]),
                    IndexingUpdateOp::Assign,
                );
            };
            write(&mut inner.k[li], k);
            write(&mut inner.v[li], v);
            // [kv, s, lm, hd]: contiguous straight from the gather.
            let keys = |pool: &Tensor<B, 3>| {
                pool.clone()
                    .select(1, key_idx.clone())
                    .reshape([kv, s, lm, hd])
            };
            let (kk, vv) = (keys(&inner.k[li]), keys(&inner.v[li]));
            // [kv, s, g·qm, hd]; head = kv head · g + group index (HF's repeat_kv).
            let qq = q
                .select(0, q_gather.clone())
                .reshape([s, qm, kv, g, hd])
                .permute([2, 0, 3, 1, 4])
                .reshape([kv, s, g * qm, hd]);
            let scores = qq.matmul(kk.swap_dims(2, 3)) * scale + bias.clone();
            let y = softmax(scores, 3)
                .matmul(vv) // [kv, s, g·qm, hd]
                .reshape([kv, s, g, qm, hd])
                .permute([1, 3, 0, 2, 4]) // [s, qm, kv, g, hd]
                .reshape([s * qm, h * hd])
                .select(0, back.clone());
            x = x + a.o_proj.forward(y);
            let hn = rms_norm(&l.post_attention_layernorm, x.clone().reshape([1, n, d]));
            let mlp = &l.mlp;
            let g = swiglu(mlp.gate_proj.forward(hn.clone()), mlp.up_proj.forward(hn));
            x = x + mlp.down_proj.forward(g).reshape([n, d]);
        }
        if out_rows.is_empty() {
            return Ok(Vec::new());
        }
        let outs = ints::<B>(out_rows.iter().map(|&o| o as i64).collect(), dev);
        let o = out_rows.len();
        let xo = rms_norm(&m.norm, x.select(0, outs).reshape([1, o, d])).reshape([o, d]);
        let y = match (&m.score, &m.lm_head) {
            (Some(sc), _) => match &m.score_hidden {
                // Qwen2.5-Math-PRM: score.0, ReLU, then score.2.
                Some(hidden) => sc.forward(burn::tensor::activation::relu(hidden.forward(xo))),
                None => sc.forward(xo),
            },
            (None, Some(head)) => head.forward(xo),
            (None, None) => xo.matmul(m.embed_tokens.weight.val().transpose()),
        };
        y.into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| Error::Config(format!("{}: reading outputs: {e:?}", self.label)))
    }
}
