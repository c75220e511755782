//! The dedicated CPU decode path (DESIGN §4): the same weights as the burn model, laid out
//! for batched single-token steps — fused q/k/v and gate/up projections through one GEMM
//! each (the `gemm` crate burn-flex uses), RoPE from precomputed tables, attention straight
//! over the [`SeqCache`] blocks, rows spread over threads with rayon. It exists because
//! burn's per-op overhead dominates at these model sizes (BURN-NOTES); a test pins it
//! token-exact to the burn model under greedy decoding.

use rayon::prelude::*;

pub mod bf16_dot;
pub mod kv_cache;
mod load;
pub mod matrix;

use matrix::Matrix;

use crate::config::LlamaConfig;
use crate::cpu::kv_cache::SeqCache;
use crate::rope::RopeTables;

/// `out[n, m] (+)= a[n, k] · w[k, m]` for a weight stored input-major (`[in, out]`, the
/// transpose of HF's layout). In this layout gemm uses the weight as it is, without
/// repacking it on every call (measured: 1.2× on a decode step).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    w: &[f32],
    out: &mut [f32],
    n: usize,
    k: usize,
    m: usize,
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        a.len() >= n * k && w.len() >= m * k && out.len() >= n * m,
        "matmul shapes"
    );
    if n == 0 {
        return;
    }
    if n == 1 {
        // gemm takes its own (gemv) path for a single row, which rounds differently from
        // the multi-row kernel: a sequence's logits would then depend on whether it decodes
        // alone or in a batch (and `ttc serve` batches whatever arrives together). Run it
        // as two rows so every row of every batch size goes through the same kernel.
        let mut a2 = Vec::with_capacity(2 * k);
        a2.extend_from_slice(&a[..k]);
        a2.extend_from_slice(&a[..k]);
        let mut o2 = vec![0.0; 2 * m];
        if accumulate {
            o2[..m].copy_from_slice(&out[..m]);
            o2[m..].copy_from_slice(&out[..m]);
        }
        matmul(&a2, w, &mut o2, 2, k, m, accumulate, parallel);
        out[..m].copy_from_slice(&o2[..m]);
        return;
    }
    let par = if parallel && n * k * m >= 1 << 20 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assert above bounds every index gemm touches: dst is n×m with row stride
    // m, lhs n×k with row stride k, rhs k×m with row stride m.
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
            1,
            m as isize,
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
    /// `d → (h + 2kv)·hd`: q, k, v outputs side by side.
    wqkv: Matrix,
    bqkv: Option<Vec<f32>>,
    /// Qwen3: RMSNorm weights (`head_dim`) over each head's queries and keys, before RoPE.
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    wo: Matrix,
    bo: Option<Vec<f32>>,
    mlp_norm: Vec<f32>,
    /// `d → 2·i`: gate outputs then up outputs.
    wgu: Matrix,
    wd: Matrix,
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
    /// `[vocab, d]` (HF's layout).
    embed: Matrix,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// `d → outputs`: lm_head or the score head; `None`: the tied embedding.
    head: Option<Matrix>,
    head_bias: Option<Vec<f32>>,
    /// Qwen2.5-Math-PRM's head: `relu(x·W + b)` (`d → d`) before `head`.
    head_hidden: Option<(Matrix, Vec<f32>)>,
    head_out: usize,
    rope: RopeTables,
}

impl CpuModel {
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
        let cuts = group_cuts(rows);
        if cuts.len() <= 2 {
            return self.forward_inner(caches, rows, out_rows, true);
        }
        // Many rows: the batch is cut at sequence boundaries into groups of about
        // `GROUP_ROWS` rows, and each group's whole forward runs as one task. No
        // synchronisation inside the step, which beats per-operation parallelism at these
        // sizes (measured: 1.2×). The cuts depend on the rows alone, never on the thread
        // count, so a row's bytes are the same on 1 thread or 64.
        let mut jobs = Vec::new();
        let mut rest: &mut [SeqCache] = caches;
        let mut seq_base = 0;
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            let seq_hi = rows[hi - 1].seq + 1;
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(seq_hi - seq_base);
            rest = tail;
            let local: Vec<Row> = rows[lo..hi]
                .iter()
                .map(|r| Row {
                    seq: r.seq - seq_base,
                    ..*r
                })
                .collect();
            let outs: Vec<usize> = out_rows
                .iter()
                .filter(|&&o| (lo..hi).contains(&o))
                .map(|&o| o - lo)
                .collect();
            jobs.push((mine, local, outs));
            seq_base = seq_hi;
        }
        let parts: Vec<Vec<f32>> = jobs
            .into_par_iter()
            .map(|(c, r, o)| self.forward_inner(c, &r, &o, false))
            .collect();
        parts.concat()
    }

    fn forward_inner(
        &self,
        caches: &mut [SeqCache],
        rows: &[Row],
        out_rows: &[usize],
        parallel: bool,
    ) -> Vec<f32> {
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
            self.embed.append_row(t, &mut x);
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
            l.wqkv.matmul(&h, &mut qkv, n, false, parallel);
            if let Some(b) = &l.bqkv {
                for row in qkv.chunks_exact_mut(qkv_w) {
                    row.iter_mut().zip(b).for_each(|(v, bb)| *v += bb);
                }
            }
            if let (Some(qn), Some(kn)) = (&l.q_norm, &l.k_norm) {
                for row in qkv.chunks_exact_mut(qkv_w) {
                    let (q, rest) = row.split_at_mut(q_w);
                    let k = &mut rest[..kv_w];
                    for (part, g) in [(q, qn), (k, kn)] {
                        for head in part.chunks_exact_mut(hd) {
                            let ms = head.iter().map(|v| v * v).sum::<f32>() / hd as f32;
                            let r = 1.0 / (ms + eps).sqrt();
                            head.iter_mut().zip(g).for_each(|(v, w)| *v = *v * r * w);
                        }
                    }
                }
            }
            for (row, r) in qkv.chunks_exact_mut(qkv_w).zip(rows) {
                for hh in 0..nh + nkv {
                    self.rope.apply(&mut row[hh * hd..(hh + 1) * hd], r.pos);
                }
                caches[r.seq].push(li, &row[q_w..q_w + kv_w], &row[q_w + kv_w..]);
            }
            let caches_ro: &[SeqCache] = caches;
            let one = |scores: &mut Vec<f32>, ((out, q), r): ((&mut [f32], &[f32]), &Row)| {
                let c = &caches_ro[r.seq];
                attend(
                    c,
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
            };
            if parallel {
                att.par_chunks_mut(q_w)
                    .zip(qkv.par_chunks(qkv_w))
                    .zip(rows.par_iter())
                    .for_each_init(Vec::new, one);
            } else {
                let mut scores = Vec::new();
                att.chunks_mut(q_w)
                    .zip(qkv.chunks(qkv_w))
                    .zip(rows.iter())
                    .for_each(|x| one(&mut scores, x));
            }
            l.wo.matmul(&att, &mut x, n, true, parallel);
            if let Some(b) = &l.bo {
                for row in x.chunks_exact_mut(d) {
                    row.iter_mut().zip(b).for_each(|(v, bb)| *v += bb);
                }
            }
            rmsnorm(&x, &l.mlp_norm, eps, &mut h);
            l.wgu.matmul(&h, &mut gu, n, false, parallel);
            for (g, a) in gu.chunks_exact(2 * isz).zip(act.chunks_exact_mut(isz)) {
                for j in 0..isz {
                    let gv = g[j];
                    a[j] = gv / (1.0 + (-gv).exp()) * g[isz + j];
                }
            }
            l.wd.matmul(&act, &mut x, n, true, parallel);
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
        if let Some((w, b)) = &self.head_hidden {
            let mut h = vec![0.0f32; normed.len()];
            w.matmul(&normed, &mut h, out_rows.len(), false, parallel);
            for row in h.chunks_exact_mut(d) {
                row.iter_mut()
                    .zip(b)
                    .for_each(|(v, bb)| *v = (*v + bb).max(0.0));
            }
            normed = h;
        }
        let mut out = vec![0.0f32; out_rows.len() * self.head_out];
        self.head.as_ref().unwrap_or(&self.embed).matmul(
            &normed,
            &mut out,
            out_rows.len(),
            false,
            parallel,
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
/// Dispatches at run time to an AVX2+FMA build of the same code where the CPU has it
/// (the portable build only gets SSE2); this loop is the decoder's hottest.
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
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the features the function is compiled for were just detected.
        unsafe { attend_avx2(cache, li, q, limit, nh, nkv, hd, group, scale, scores, out) };
        return;
    }
    attend_body(cache, li, q, limit, nh, nkv, hd, group, scale, scores, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_avx2(
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
    attend_body(cache, li, q, limit, nh, nkv, hd, group, scale, scores, out)
}

/// Eight independent accumulators so the compiler can vectorise the reduction.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// One sequential pass over the keys (all heads of a position at once, so memory streams
/// front to back), softmax per head, one sequential pass over the values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_body(
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
    debug_assert_eq!(nh, nkv * group);
    // scores: [head][limit]
    scores.clear();
    scores.resize(nh * limit, 0.0);
    let mut p0 = 0;
    for (k, _) in cache.segments(li) {
        let n = (k.len() / kv_w).min(limit - p0);
        for (p, kp) in k.chunks_exact(kv_w).take(n).enumerate() {
            for h in 0..nh {
                let kk = &kp[(h / group) * hd..(h / group + 1) * hd];
                scores[h * limit + p0 + p] = dot(&q[h * hd..(h + 1) * hd], kk) * scale;
            }
        }
        p0 += n;
        if p0 == limit {
            break;
        }
    }
    for row in scores.chunks_exact_mut(limit) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for s in row.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|s| *s *= inv);
    }
    let mut p0 = 0;
    for (_, v) in cache.segments(li) {
        let n = (v.len() / kv_w).min(limit - p0);
        for (p, vp) in v.chunks_exact(kv_w).take(n).enumerate() {
            for h in 0..nh {
                let w = scores[h * limit + p0 + p];
                let vv = &vp[(h / group) * hd..(h / group + 1) * hd];
                let oh = &mut out[h * hd..(h + 1) * hd];
                for i in 0..hd {
                    oh[i] = w.mul_add(vv[i], oh[i]);
                }
            }
        }
        p0 += n;
        if p0 == limit {
            break;
        }
    }
}

/// Rows per group when a forward splits its batch into tasks (see `Model::forward`).
const GROUP_ROWS: usize = 32;

/// Where `Model::forward` cuts `rows` into groups: `[0, c₁, …, rows.len()]`, each cut at the
/// first sequence boundary at or after `GROUP_ROWS` rows past the previous cut. Rows not
/// ordered by sequence are one group.
fn group_cuts(rows: &[Row]) -> Vec<usize> {
    let mut cuts = vec![0];
    if rows.windows(2).all(|w| w[0].seq <= w[1].seq) {
        let mut c = GROUP_ROWS;
        while c < rows.len() {
            while c < rows.len() && rows[c].seq == rows[c - 1].seq {
                c += 1;
            }
            if c < rows.len() {
                cuts.push(c);
            }
            c += GROUP_ROWS;
        }
    }
    cuts.push(rows.len());
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grouped forward (groups of about `GROUP_ROWS` rows, one task each) gives the
    /// unsplit forward's outputs (to rounding: a group's products run at another shape), and
    /// the same bytes at 1, 2 and 4 threads.
    #[test]
    fn grouped_forward_matches_unsplit_at_any_thread_count() {
        let cfg = LlamaConfig::tiny(64);
        let m =
            CpuModel::from_weights(&cfg, &crate::init_cpu_seeded(&cfg, 1).to_weights()).unwrap();
        // 40 sequences: 3-token prefill each (120 rows: 4 groups).
        let rows: Vec<Row> = (0..40)
            .flat_map(|s| {
                (0..3).map(move |p| Row {
                    seq: s,
                    token: ((s * 7 + p) % 64) as u32,
                    pos: p,
                })
            })
            .collect();
        assert_eq!(group_cuts(&rows), vec![0, 33, 66, 99, 120]);
        let outs: Vec<usize> = (0..40).map(|s| s * 3 + 2).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut caches: Vec<SeqCache> = (0..40).map(|_| m.new_cache()).collect();
            let out = pool.install(|| m.forward(&mut caches, &rows, &outs));
            assert!(caches.iter().all(|c| c.len() == 3));
            out
        };
        let one = run(1);
        for threads in [2, 4] {
            let other = run(threads);
            assert!(
                one.iter()
                    .zip(&other)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{threads} threads"
            );
        }
        let mut b: Vec<SeqCache> = (0..40).map(|_| m.new_cache()).collect();
        let whole = m.forward_inner(&mut b, &rows, &outs, true);
        assert_eq!(one.len(), whole.len());
        let err = one
            .iter()
            .zip(&whole)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "max abs diff {err}");
    }

    /// Cuts fall on sequence boundaries; a long sequence is never split; unordered rows and
    /// small batches are one group.
    #[test]
    fn group_cuts_follow_sequences() {
        let rows = |seqs: &[usize]| -> Vec<Row> {
            seqs.iter()
                .map(|&seq| Row {
                    seq,
                    token: 0,
                    pos: 0,
                })
                .collect()
        };
        let small: Vec<usize> = (0..32).collect();
        assert_eq!(group_cuts(&rows(&small)), vec![0, 32]);
        let long = vec![0; 100];
        assert_eq!(group_cuts(&rows(&long)), vec![0, 100]);
        let mut mixed = vec![0; 40];
        mixed.extend(1..=30);
        assert_eq!(group_cuts(&rows(&mixed)), vec![0, 40, 70]);
        let mut unordered: Vec<usize> = (0..70).collect();
        unordered.swap(3, 50);
        assert_eq!(group_cuts(&rows(&unordered)), vec![0, 70]);
    }
}
