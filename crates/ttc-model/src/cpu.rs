//! The dedicated CPU decode path (DESIGN §4): the same weights as the burn model, laid out
//! for batched single-token steps — fused q/k/v and gate/up projections through one GEMM
//! each (the `gemm` crate burn-flex uses), RoPE from precomputed tables, attention straight
//! over the [`SeqCache`] blocks, rows spread over threads with rayon. It exists because
//! burn's per-op overhead dominates at these model sizes (BURN-NOTES); a test pins it
//! token-exact to the burn model under greedy decoding.

use rayon::prelude::*;

use crate::config::{Head, LlamaConfig};
use crate::kv_cache::SeqCache;
use crate::rope::RopeTables;
use crate::weights::{HostTensor, WeightMap};
use crate::{Error, Result};

/// `out[n, m] (+)= a[n, k] · w[m, k]ᵀ` (HF `[out, in]` weights, no copy).
pub fn matmul_t(
    a: &[f32],
    w: &[f32],
    out: &mut [f32],
    n: usize,
    k: usize,
    m: usize,
    accumulate: bool,
) {
    assert!(
        a.len() >= n * k && w.len() >= m * k && out.len() >= n * m,
        "matmul_t shapes"
    );
    if n == 0 {
        return;
    }
    let par = if n * k * m >= 1 << 20 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assert above bounds every index gemm touches: dst is n×m with row stride
    // m, lhs n×k with row stride k, rhs k×m read as w transposed (row stride 1, col k).
    unsafe {
        gemm::gemm(
            n,
            m,
            k,
            out.as_mut_ptr(),
            1,
            m as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

fn rmsnorm(x: &[f32], g: &[f32], eps: f32, out: &mut [f32]) {
    let d = g.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let ms = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let r = 1.0 / (ms + eps).sqrt();
        for i in 0..d {
            or[i] = xr[i] * r * g[i];
        }
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    /// `[(h + 2kv)·hd, d]`: q, k, v rows stacked.
    wqkv: Vec<f32>,
    bqkv: Option<Vec<f32>>,
    wo: Vec<f32>,
    bo: Option<Vec<f32>>,
    mlp_norm: Vec<f32>,
    /// `[2·i, d]`: gate rows then up rows.
    wgu: Vec<f32>,
    wd: Vec<f32>,
}

/// One row of a forward step: token `token` of sequence `seq` at position `pos`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub seq: usize,
    pub token: u32,
    pub pos: usize,
}

/// The decoder over host weights.
pub struct CpuModel {
    pub cfg: LlamaConfig,
    embed: Vec<f32>,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// `[outputs, d]`: lm_head (or the tied embedding) or the score head.
    head: Vec<f32>,
    head_bias: Option<Vec<f32>>,
    head_out: usize,
    rope: RopeTables,
}

fn get(w: &WeightMap, name: &str) -> Result<Vec<f32>> {
    w.get(name)
        .map(|t: &HostTensor| t.data.clone())
        .ok_or_else(|| Error::Weights(format!("missing tensor {name}")))
}

impl CpuModel {
    /// From HF-named weights (as `read_safetensors` or `Transformer::to_weights` give).
    /// Shapes are checked by the burn loader; here names must exist.
    pub fn from_weights(cfg: &LlamaConfig, w: &WeightMap) -> Result<Self> {
        cfg.validate()?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = |n: &str| get(w, &format!("{p}.self_attn.{n}"));
            let mut wqkv = a("q_proj.weight")?;
            wqkv.extend(a("k_proj.weight")?);
            wqkv.extend(a("v_proj.weight")?);
            let bqkv = if cfg.qkv_bias() {
                let mut b = a("q_proj.bias")?;
                b.extend(a("k_proj.bias")?);
                b.extend(a("v_proj.bias")?);
                Some(b)
            } else {
                None
            };
            let mut wgu = get(w, &format!("{p}.mlp.gate_proj.weight"))?;
            wgu.extend(get(w, &format!("{p}.mlp.up_proj.weight"))?);
            layers.push(Layer {
                attn_norm: get(w, &format!("{p}.input_layernorm.weight"))?,
                wqkv,
                bqkv,
                wo: a("o_proj.weight")?,
                bo: if cfg.o_bias() {
                    Some(a("o_proj.bias")?)
                } else {
                    None
                },
                mlp_norm: get(w, &format!("{p}.post_attention_layernorm.weight"))?,
                wgu,
                wd: get(w, &format!("{p}.mlp.down_proj.weight"))?,
            });
        }
        let embed = get(w, "model.embed_tokens.weight")?;
        let (head, head_out) = match cfg.head() {
            Head::Score => (get(w, "score.weight")?, cfg.num_labels.unwrap_or(1)),
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
            head,
            head_bias: w.get("score.bias").map(|t| t.data.clone()),
            head_out,
            rope: RopeTables::new(
                cfg.head_dim(),
                cfg.max_position_embeddings,
                cfg.theta(),
                &cfg.rope_scaling()?,
            ),
        })
    }

    /// Outputs per row of the head (vocab for a causal LM, labels for a score head).
    pub fn head_outputs(&self) -> usize {
        self.head_out
    }

    pub fn new_cache(&self) -> SeqCache {
        SeqCache::new(self.cfg.num_hidden_layers)
    }

    pub fn max_positions(&self) -> usize {
        self.rope.max_pos()
    }

    /// Run `rows` through the model, appending their K/V to `caches[row.seq]`, and return
    /// head outputs for the rows listed in `out_rows`, `[out_rows.len(), head_outputs]`.
    ///
    /// Rows of one sequence must be consecutive with consecutive positions starting at that
    /// cache's length (a prefill is several rows of one sequence; a decode step one row for
    /// each of many). Each row attends causally to its cache up to its own position.
    pub fn forward(&self, caches: &mut [SeqCache], rows: &[Row], out_rows: &[usize]) -> Vec<f32> {
        let c = &self.cfg;
        let (d, hd, nh, nkv) = (
            c.hidden_size,
            c.head_dim(),
            c.num_attention_heads,
            c.kv_heads(),
        );
        let (q_w, kv_w) = (nh * hd, nkv * hd);
        let qkv_w = q_w + 2 * kv_w;
        let isz = c.intermediate_size;
        let eps = c.rms_norm_eps as f32;
        let n = rows.len();
        for r in rows {
            assert!(
                r.pos < self.max_positions(),
                "position {} exceeds max_position_embeddings {}",
                r.pos,
                self.max_positions()
            );
        }
        let mut x = Vec::with_capacity(n * d);
        for r in rows {
            let t = r.token as usize;
            x.extend_from_slice(&self.embed[t * d..(t + 1) * d]);
        }
        let mut h = vec![0.0f32; n * d];
        let mut qkv = vec![0.0f32; n * qkv_w];
        let mut att = vec![0.0f32; n * q_w];
        let mut gu = vec![0.0f32; n * 2 * isz];
        let mut act = vec![0.0f32; n * isz];
        let scale = 1.0 / (hd as f32).sqrt();
        let group = nh / nkv;
        for (li, l) in self.layers.iter().enumerate() {
            rmsnorm(&x, &l.attn_norm, eps, &mut h);
            matmul_t(&h, &l.wqkv, &mut qkv, n, d, qkv_w, false);
            if let Some(b) = &l.bqkv {
                for row in qkv.chunks_exact_mut(qkv_w) {
                    row.iter_mut().zip(b).for_each(|(v, bb)| *v += bb);
                }
            }
            for (row, r) in qkv.chunks_exact_mut(qkv_w).zip(rows) {
                for hh in 0..nh + nkv {
                    self.rope.apply(&mut row[hh * hd..(hh + 1) * hd], r.pos);
                }
                caches[r.seq].push(li, &row[q_w..q_w + kv_w], &row[q_w + kv_w..]);
            }
            let caches_ro: &[SeqCache] = caches;
            att.par_chunks_mut(q_w)
                .zip(qkv.par_chunks(qkv_w))
                .zip(rows.par_iter())
                .for_each_init(Vec::new, |scores, ((out, q), r)| {
                    attend(
                        &caches_ro[r.seq],
                        li,
                        &q[..q_w],
                        r.pos + 1,
                        nh,
                        nkv,
                        hd,
                        group,
                        scale,
                        scores,
                        out,
                    );
                });
            matmul_t(&att, &l.wo, &mut x, n, q_w, d, true);
            if let Some(b) = &l.bo {
                for row in x.chunks_exact_mut(d) {
                    row.iter_mut().zip(b).for_each(|(v, bb)| *v += bb);
                }
            }
            rmsnorm(&x, &l.mlp_norm, eps, &mut h);
            matmul_t(&h, &l.wgu, &mut gu, n, d, 2 * isz, false);
            for (g, a) in gu.chunks_exact(2 * isz).zip(act.chunks_exact_mut(isz)) {
                for j in 0..isz {
                    let gv = g[j];
                    a[j] = gv / (1.0 + (-gv).exp()) * g[isz + j];
                }
            }
            matmul_t(&act, &l.wd, &mut x, n, isz, d, true);
        }
        // Commit positions per sequence.
        let mut i = 0;
        while i < n {
            let s = rows[i].seq;
            let mut j = i;
            while j < n && rows[j].seq == s {
                j += 1;
            }
            caches[s].commit(j - i);
            i = j;
        }
        let mut sel = Vec::with_capacity(out_rows.len() * d);
        for &r in out_rows {
            sel.extend_from_slice(&x[r * d..(r + 1) * d]);
        }
        let mut normed = vec![0.0f32; sel.len()];
        rmsnorm(&sel, &self.norm, eps, &mut normed);
        let mut out = vec![0.0f32; out_rows.len() * self.head_out];
        matmul_t(
            &normed,
            &self.head,
            &mut out,
            out_rows.len(),
            d,
            self.head_out,
            false,
        );
        if let Some(b) = &self.head_bias {
            for row in out.chunks_exact_mut(self.head_out) {
                row.iter_mut().zip(b).for_each(|(v, bb)| *v += bb);
            }
        }
        out
    }
}

/// Causal attention of one row over the first `limit` cached positions of layer `li`.
#[allow(clippy::too_many_arguments)]
fn attend(
    cache: &SeqCache,
    li: usize,
    q: &[f32],
    limit: usize,
    nh: usize,
    nkv: usize,
    hd: usize,
    group: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let kv_w = nkv * hd;
    out.fill(0.0);
    for h in 0..nh {
        let kvh = h / group;
        let qh = &q[h * hd..(h + 1) * hd];
        scores.clear();
        let mut left = limit;
        for (k, _) in cache.segments(li) {
            let n = (k.len() / kv_w).min(left);
            for p in 0..n {
                let kk = &k[p * kv_w + kvh * hd..p * kv_w + (kvh + 1) * hd];
                let mut s = 0.0f32;
                for i in 0..hd {
                    s += qh[i] * kk[i];
                }
                scores.push(s * scale);
            }
            left -= n;
        }
        let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        let oh = &mut out[h * hd..(h + 1) * hd];
        let mut idx = 0;
        let mut left = limit;
        for (_, v) in cache.segments(li) {
            let n = (v.len() / kv_w).min(left);
            for p in 0..n {
                let w = scores[idx] * inv;
                idx += 1;
                let vv = &v[p * kv_w + kvh * hd..p * kv_w + (kvh + 1) * hd];
                for i in 0..hd {
                    oh[i] += w * vv[i];
                }
            }
            left -= n;
        }
    }
}
