//! Causal grouped-query attention: one fused kernel on the CPU backend (flex), forward and
//! backward, and the composed burn ops everywhere else (burn-cuda).
//!
//! Composed from burn ops, attention is a dozen passes over `[b, h, t, t]` tensors in the
//! forward and as many in the backward (scores, mask, max, shift, exp, row sums, their
//! gradients), plus copies for the key/value head repeat and the head transposes; on flex
//! those passes, not the matrix products, were most of a training step (`perf`: scalar
//! `expf` over masked entries, strided copies). The fused kernel keeps one `[t, t]` block per
//! (batch, head) task, computes the exponentials of the visible (causal) half only, reads
//! keys and values of a grouped-query head in place (no repeat), reads `v` and writes the
//! output in the token-major `[b, t, heads·hd]` layout the projections use (no transposes),
//! and runs the products through `gemm` (what flex's matmul uses), tasks spread over rayon.
//! Under autodiff it is one graph node with an exact backward from the saved probabilities:
//! `dV = Pᵀ·dO`, `dS = P ∘ (dO·Vᵀ − rowsum(P ∘ dO·Vᵀ))`, `dQ = s·dS·K`, `dK = s·dSᵀ·Q`.
//!
//! How the fused ops reach flex (and why not through a backend extension): [`crate::fused`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::CpuBackend;
use crate::fused::{
    Path, autodiff_op, dot, exp, flex, host, max, path, prim, simd_dispatch, slice, sum, tensor,
};

/// The sizes of one attention call: batch, query heads, key/value heads, tokens, head dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    pub b: usize,
    pub h: usize,
    pub kv: usize,
    pub t: usize,
    pub hd: usize,
}

impl AttnShape {
    fn scale(&self) -> f32 {
        1.0 / (self.hd as f32).sqrt()
    }
    /// Query heads per key/value head.
    fn group(&self) -> usize {
        self.h / self.kv
    }
}

/// Causal attention. `q`: `[b·h, t, hd]`, `k`: `[b·kv, t, hd]` (head-major, RoPE applied),
/// `v`: `[b, t, kv·hd]` (as the projection leaves it). Returns `[b, t, h·hd]`. `bias` is the
/// additive causal mask of the composed path ([`causal_bias`]); the fused path ignores it,
/// and callers that know the backend is fused ([`crate::fused::fused`]) may pass `None`.
pub fn attention<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    s: AttnShape,
    bias: Option<&Tensor<B, 4>>,
) -> Tensor<B, 3> {
    match path::<B>(&[q.dtype(), k.dtype(), v.dtype()]) {
        Path::Flex => {
            let [q, k, v] = [q, k, v].map(|x| host(&prim(x)));
            return tensor(flex_forward(&q, &k, &v, s, false).0);
        }
        Path::Autodiff => {
            let out = autodiff_op(FusedAttention, [q, k, v].map(prim), |[q, k, v], tracked| {
                let (out, p) = flex_forward(&q, &k, &v, s, tracked);
                (out, p.map(|p| AttnState { q, k, v, p, s }))
            });
            return tensor(out);
        }
        Path::Composed => {}
    }
    let built;
    let bias = match bias {
        Some(b) => b,
        None => {
            built = causal_bias::<B>(s.b, s.h, s.t, &q.device());
            &built
        }
    };
    composed(q, k, v, s, bias.clone())
}

/// The composed path: grouped-query repeat, [`causal_attention`], heads back to tokens.
pub fn composed<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    s: AttnShape,
    bias: Tensor<B, 4>,
) -> Tensor<B, 3> {
    let AttnShape { b, h, kv, t, hd } = s;
    let rep = |y: Tensor<B, 4>| {
        if h == kv {
            y
        } else {
            y.unsqueeze_dim::<5>(2)
                .expand([b, kv, h / kv, t, hd])
                .reshape([b, h, t, hd])
        }
    };
    let q = q.reshape([b, h, t, hd]);
    let k = rep(k.reshape([b, kv, t, hd]));
    let v = rep(v.reshape([b, t, kv, hd]).swap_dims(1, 2));
    causal_attention(q, k, v, bias)
        .swap_dims(1, 2)
        .reshape([b, t, h * hd])
}

/// Causal softmax attention built only from matmuls and same-shape elementwise ops (the
/// composed path; `[b, h, t, hd]` in and out).
///
/// burn's fused `attention` is a fallback of broadcasting ops under autodiff (scores minus
/// a `[.., 1]` max, divided by a `[.., 1]` sum, a broadcast causal mask); on flex each
/// broadcast walks `[b, h, t, t]` element by element. Here the mask is a full-shape additive
/// bias, row sums come from a matmul with a ones vector and are spread back with an outer
/// product, so every large op is contiguous; so is the row max, spread back the same way.
/// (Clamping scores instead of shifting them made a row whose visible scores all fell below
/// -87 sum to 0: NaN at learning rates ≥ 3e-3.)
pub fn causal_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    bias: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let [b, h, t, hd] = q.dims();
    let dev = q.device();
    let scale = 1.0 / (hd as f64).sqrt();
    // Scaling q (`[b, h, t, hd]`) costs less than scaling the `[b, h, t, t]` scores.
    let scores = (q * scale).matmul(k.swap_dims(2, 3)) + bias; // [b, h, t, t]
    if !B::ad_enabled(&dev) {
        // No autodiff: burn's softmax, one fused kernel on backends that have it.
        return softmax(scores, 3).matmul(v);
    }
    let ones_col = Tensor::<B, 4>::ones([1, 1, t, 1], &dev).expand([b, h, t, 1]);
    let ones_row = Tensor::<B, 4>::ones([1, 1, 1, t], &dev).expand([b, h, 1, t]);
    // Shift by the detached row max (softmax is shift-invariant, so gradients are exact):
    // the largest term is exp(0) = 1, so no row sum can underflow to 0 and make 1/sum inf.
    let max = scores.clone().detach().max_dim(3).matmul(ones_row.clone());
    let e = (scores - max).exp();
    let inv = e.clone().matmul(ones_col).recip(); // [b, h, t, 1]
    // softmax(s)·v = diag(1/sum)·(e·v): normalise the `[b, h, t, hd]` product rather than
    // the `[b, h, t, t]` weights (two t×t passes fewer forward, two fewer backward).
    let ones_hd = Tensor::<B, 4>::ones([1, 1, 1, hd], &dev).expand([b, h, 1, hd]);
    e.matmul(v) * inv.matmul(ones_hd)
}

/// The additive causal mask of the composed path, `[b, h, t, t]` (0 on and below the
/// diagonal, -inf above). `-inf` rather than a large finite number: glibc's `expf` returns 0
/// for `-inf` at once but sends any finite argument below -104 through its underflow path
/// (errno and all), which was 6% of a training step in `perf`.
pub fn causal_bias<B: Backend>(b: usize, h: usize, t: usize, dev: &B::Device) -> Tensor<B, 4> {
    let mut bias = vec![0.0f32; b * h * t * t];
    for m in 0..b * h {
        for i in 0..t {
            bias[(m * t + i) * t + i + 1..(m * t + i + 1) * t].fill(f32::NEG_INFINITY);
        }
    }
    Tensor::from_data(TensorData::new(bias, [b, h, t, t]), dev)
}

/// Fused forward on contiguous flex tensors: the output `[b, t, h·hd]` and, with `keep_p`, the
/// probabilities `[b·h, t, t]` for the backward.
fn flex_forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    s: AttnShape,
    keep_p: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let (out, p) = forward_host(slice(q), slice(k), slice(v), s, keep_p);
    let p = keep_p.then(|| flex(p, [s.b * s.h, s.t, s.t]));
    (flex(out, [s.b, s.t, s.h * s.hd]), p)
}

#[derive(Debug)]
struct FusedAttention;

/// What the backward needs: the contiguous inputs and the forward's probabilities.
#[derive(Clone, Debug)]
struct AttnState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    p: FlexTensor,
    s: AttnShape,
}

impl Backward<CpuBackend, 3> for FusedAttention {
    type State = AttnState;

    fn backward(self, ops: Ops<AttnState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let AttnState { q, k, v, p, s } = ops.state;
        let d_out = host(&grads.consume::<CpuBackend>(&ops.node));
        let (dq, dk, dv) =
            backward_host(slice(&q), slice(&k), slice(&v), slice(&p), slice(&d_out), s);
        let AttnShape { b, h, kv, t, hd } = s;
        let [pq, pk, pv] = ops.parents;
        for (parent, g, shape) in [
            (pq, dq, [b * h, t, hd]),
            (pk, dk, [b * kv, t, hd]),
            (pv, dv, [b, t, kv * hd]),
        ] {
            if let Some(node) = parent {
                grads.register::<CpuBackend>(node.id, flex(g, shape));
            }
        }
    }
}

/// A strided read-only matrix: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

impl Mat {
    fn rows(x: &[f32], rs: usize) -> Mat {
        Mat {
            ptr: x.as_ptr(),
            rs,
            cs: 1,
        }
    }
    /// The transpose of the row-major matrix at `x` with row stride `rs`.
    fn cols(x: &[f32], rs: usize) -> Mat {
        Mat {
            ptr: x.as_ptr(),
            rs: 1,
            cs: rs,
        }
    }
}

/// A destination several rayon tasks write disjoint parts of.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: every task writes a region no other task touches (see the callers).
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: callers pass offsets inside the buffer this points into.
        unsafe { self.0.add(offset) }
    }
}

/// `dst (m×n, row stride dst_rs) := [dst +] beta · lhs (m×k) · rhs (k×n)`, single-threaded
/// (the tasks are spread over rayon instead).
///
/// # Safety
/// Every element the shapes and strides reach must lie inside the caller's buffers.
#[allow(clippy::too_many_arguments)]
unsafe fn mm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
    beta: f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.ptr,
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.ptr,
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Row-wise causal softmax of a `[t, t]` score block in place: row `i` over columns `0..=i`
/// (shifted by the row max), zeros above the diagonal.
#[inline(always)]
fn causal_softmax_rows(p: &mut [f32], t: usize) {
    for (i, row) in p.chunks_exact_mut(t).enumerate() {
        let (vis, hidden) = row.split_at_mut(i + 1);
        let mx = max(vis);
        for x in vis.iter_mut() {
            *x = exp(*x - mx);
        }
        let inv = 1.0 / sum(vis);
        for x in vis.iter_mut() {
            *x *= inv;
        }
        hidden.fill(0.0);
    }
}

simd_dispatch!(fn causal_softmax(p: &mut [f32], t: usize) => causal_softmax_rows);

/// `dS = P ∘ (dP − rowsum(P ∘ dP))` in place of `dP`, zero above the diagonal.
#[inline(always)]
fn softmax_back_rows(ds: &mut [f32], p: &[f32], t: usize) {
    for (i, (dr, pr)) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
        let (vis, hidden) = dr.split_at_mut(i + 1);
        let pr = &pr[..=i];
        let c = dot(vis, pr);
        for (d, p) in vis.iter_mut().zip(pr) {
            *d = p * (*d - c);
        }
        hidden.fill(0.0);
    }
}

simd_dispatch!(fn softmax_back(ds: &mut [f32], p: &[f32], t: usize) => softmax_back_rows);

fn check_lens(s: AttnShape, q: &[f32], k: &[f32], v: &[f32]) {
    let AttnShape { b, h, kv, t, hd } = s;
    assert!(
        kv > 0 && h % kv == 0,
        "attention: {h} heads over {kv} kv heads"
    );
    assert_eq!(q.len(), b * h * t * hd, "attention: q size");
    assert_eq!(k.len(), b * kv * t * hd, "attention: k size");
    assert_eq!(v.len(), b * t * kv * hd, "attention: v size");
}

/// Host forward: `(out [b, t, h·hd], p [b·h, t, t] or empty)`.
fn forward_host(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttnShape,
    keep_p: bool,
) -> (Vec<f32>, Vec<f32>) {
    check_lens(s, q, k, v);
    let AttnShape { b, h, kv, t, hd } = s;
    let mut out = vec![0.0f32; b * t * h * hd];
    let mut p = vec![0.0f32; if keep_p { b * h * t * t } else { 0 }];
    let o = Dst(out.as_mut_ptr());
    let (scale, r) = (s.scale(), s.group());
    // Task m = (batch bi, head hi): its own [t, t] block, and the output columns
    // hi·hd..(hi+1)·hd of batch bi's rows — disjoint from every other task's.
    let task = |m: usize, pm: &mut [f32]| {
        let (bi, hi) = (m / h, m % h);
        let g = hi / r;
        let qm = Mat::rows(&q[m * t * hd..], hd);
        let kt = Mat::cols(&k[(bi * kv + g) * t * hd..], hd);
        let vm = Mat::rows(&v[bi * t * kv * hd + g * hd..], kv * hd);
        // SAFETY: q block t×hd, k block t×hd, pm t×t; v rows of batch bi (t rows of stride
        // kv·hd, columns g·hd..+hd); out rows of batch bi (stride h·hd, columns hi·hd..+hd).
        unsafe { mm(t, t, hd, pm.as_mut_ptr(), t, false, qm, kt, scale) };
        causal_softmax(pm, t);
        let pmat = Mat::rows(pm, t);
        unsafe {
            mm(
                t,
                hd,
                t,
                o.at(bi * t * h * hd + hi * hd),
                h * hd,
                false,
                pmat,
                vm,
                1.0,
            )
        };
    };
    if keep_p {
        p.par_chunks_mut(t * t)
            .enumerate()
            .for_each(|(m, pm)| task(m, pm));
    } else {
        (0..b * h)
            .into_par_iter()
            .for_each_init(|| vec![0.0f32; t * t], |pm, m| task(m, pm));
    }
    (out, p)
}

/// Host backward: `(dq [b·h, t, hd], dk [b·kv, t, hd], dv [b, t, kv·hd])`.
fn backward_host(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    p: &[f32],
    d_out: &[f32],
    s: AttnShape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check_lens(s, q, k, v);
    let AttnShape { b, h, kv, t, hd } = s;
    assert_eq!(
        p.len(),
        b * h * t * t,
        "attention: saved probabilities size"
    );
    assert_eq!(
        d_out.len(),
        b * t * h * hd,
        "attention: output gradient size"
    );
    let (scale, r) = (s.scale(), s.group());
    let mut dq = vec![0.0f32; b * h * t * hd];
    let mut dk = vec![0.0f32; b * kv * t * hd];
    let mut dv = vec![0.0f32; b * t * kv * hd];
    let dvp = Dst(dv.as_mut_ptr());
    // Task (batch bi, kv head g) owns dk's block, the dq blocks of its r query heads, and
    // dv's columns g·hd..(g+1)·hd of batch bi's rows: disjoint from every other task's.
    dq.par_chunks_mut(r * t * hd)
        .zip(dk.par_chunks_mut(t * hd))
        .enumerate()
        .for_each_init(
            || vec![0.0f32; t * t],
            |ds, (task, (dq_g, dk_g))| {
                let (bi, g) = (task / kv, task % kv);
                let kb = &k[(bi * kv + g) * t * hd..];
                let vb = &v[bi * t * kv * hd + g * hd..];
                let dv_at = dvp.at(bi * t * kv * hd + g * hd);
                for j in 0..r {
                    let m = bi * h + g * r + j;
                    let pm = &p[m * t * t..(m + 1) * t * t];
                    let dom = Mat::rows(&d_out[bi * t * h * hd + (g * r + j) * hd..], h * hd);
                    // SAFETY: as in forward_host; ds is t×t, dq_g r blocks of t×hd, dk_g
                    // one t×hd block.
                    unsafe {
                        // dV += Pᵀ·dO
                        mm(t, hd, t, dv_at, kv * hd, j > 0, Mat::cols(pm, t), dom, 1.0);
                        // dP = dO·Vᵀ
                        let vt = Mat::cols(vb, kv * hd);
                        mm(t, t, hd, ds.as_mut_ptr(), t, false, dom, vt, 1.0);
                    }
                    softmax_back(ds, pm, t);
                    let dq_h = dq_g[j * t * hd..].as_mut_ptr();
                    let dsm = Mat::rows(ds, t);
                    unsafe {
                        // dQ = s·dS·K
                        mm(t, hd, t, dq_h, hd, false, dsm, Mat::rows(kb, hd), scale);
                        // dK += s·dSᵀ·Q
                        let qm = Mat::rows(&q[m * t * hd..], hd);
                        mm(
                            t,
                            hd,
                            t,
                            dk_g.as_mut_ptr(),
                            hd,
                            j > 0,
                            Mat::cols(ds, t),
                            qm,
                            scale,
                        );
                    }
                }
            },
        );
    (dq, dk, dv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuAutodiff;
    use crate::fused::tests::{close, data, values};

    fn inputs<B: Backend>(s: AttnShape, scale: f32) -> [Tensor<B, 3>; 3] {
        let AttnShape { b, h, kv, t, hd } = s;
        let dev = Default::default();
        let mk = |n: usize, off: usize, shape: [usize; 3], sc: f32| {
            Tensor::<B, 3>::from_data(TensorData::new(data(n, off, sc), shape), &dev)
        };
        [
            mk(b * h * t * hd, 0, [b * h, t, hd], scale),
            mk(b * kv * t * hd, 5, [b * kv, t, hd], scale),
            mk(b * t * kv * hd, 9, [b, t, kv * hd], 1.0),
        ]
    }

    const SHAPES: [AttnShape; 3] = [
        AttnShape {
            b: 2,
            h: 6,
            kv: 2,
            t: 9,
            hd: 8,
        },
        AttnShape {
            b: 1,
            h: 2,
            kv: 2,
            t: 1,
            hd: 4,
        },
        AttnShape {
            b: 3,
            h: 4,
            kv: 1,
            t: 17,
            hd: 16,
        },
    ];

    /// The fused inference forward equals the composed ops (grouped-query heads, t = 1 too).
    #[test]
    fn fused_forward_matches_composed_ops() {
        for s in SHAPES {
            for scale in [1.0, 3.0] {
                let [q, k, v] = inputs::<CpuBackend>(s, scale);
                let bias = causal_bias::<CpuBackend>(s.b, s.h, s.t, &q.device());
                let want = values(composed(q.clone(), k.clone(), v.clone(), s, bias));
                let got = values(attention(q, k, v, s, None));
                close(&format!("{s:?} scale {scale}"), &got, &want, 1e-5);
            }
        }
    }

    /// The fused op's backward equals autodiff through the composed ops, for q, k and v,
    /// under a loss that weights every output element differently.
    #[test]
    fn fused_gradients_match_autodiff_of_composed_ops() {
        for s in SHAPES {
            let run = |fused_path: bool| {
                let [q, k, v] = inputs::<CpuAutodiff>(s, 2.0).map(|x| x.require_grad());
                let dev = q.device();
                let y = if fused_path {
                    attention(q.clone(), k.clone(), v.clone(), s, None)
                } else {
                    let bias = causal_bias::<CpuAutodiff>(s.b, s.h, s.t, &dev);
                    composed(q.clone(), k.clone(), v.clone(), s, bias)
                };
                let n = s.b * s.t * s.h * s.hd;
                let w = Tensor::<CpuAutodiff, 3>::from_data(
                    TensorData::new(data(n, 3, 1.0), [s.b, s.t, s.h * s.hd]),
                    &dev,
                );
                let grads = (y.clone() * w).sum().backward();
                let g = |x: &Tensor<CpuAutodiff, 3>| values(x.grad(&grads).unwrap());
                (values(y), g(&q), g(&k), g(&v))
            };
            let (fused, comp) = (run(true), run(false));
            close(&format!("{s:?} y"), &fused.0, &comp.0, 1e-5);
            close(&format!("{s:?} dq"), &fused.1, &comp.1, 1e-4);
            close(&format!("{s:?} dk"), &fused.2, &comp.2, 1e-4);
            close(&format!("{s:?} dv"), &fused.3, &comp.3, 1e-4);
        }
    }

    /// Visible scores all far below -87 (plain `exp` underflows to 0 in every row): the
    /// fused forward still equals the composed one and its gradients stay finite.
    #[test]
    fn fused_attention_survives_scores_that_underflow() {
        let s = SHAPES[0];
        let [q, k, v] = inputs::<CpuAutodiff>(s, 1.0);
        let q = (q.abs().neg() * 500.0 - 0.5).detach().require_grad();
        let k = (k.abs() + 0.5).detach().require_grad();
        let v = v.require_grad();
        let y = attention(q.clone(), k.clone(), v.clone(), s, None);
        let bias = causal_bias::<CpuAutodiff>(s.b, s.h, s.t, &q.device());
        let want = values(composed(q.clone(), k.clone(), v.clone(), s, bias));
        close("underflow forward", &values(y.clone()), &want, 1e-4);
        let grads = (y.clone() * y).sum().backward();
        for (name, x) in [("q", q), ("k", k), ("v", v)] {
            let g = values(x.grad(&grads).unwrap());
            assert!(g.iter().all(|x| x.is_finite()), "d{name} not finite");
        }
    }

    /// Reference on the host in f64: causal softmax(q·kᵀ/√hd)·v.
    fn reference(
        q: &Tensor<CpuBackend, 4>,
        k: &Tensor<CpuBackend, 4>,
        v: &Tensor<CpuBackend, 4>,
    ) -> Vec<f32> {
        let [b, h, t, hd] = q.dims();
        let host = |x: &Tensor<CpuBackend, 4>| x.to_data().to_vec::<f32>().unwrap();
        let (q, k, v) = (host(q), host(k), host(v));
        let at = |x: &[f32], m: usize, i: usize, j: usize| x[(m * t + i) * hd + j] as f64;
        let mut out = vec![0.0f32; b * h * t * hd];
        for m in 0..b * h {
            for i in 0..t {
                let s: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..hd)
                            .map(|d| at(&q, m, i, d) * at(&k, m, j, d))
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    let y: f64 = (0..=i).map(|j| e[j] / z * at(&v, m, j, d)).sum();
                    out[(m * t + i) * hd + d] = y as f32;
                }
            }
        }
        out
    }

    fn qkv(scale: f32) -> [Tensor<CpuBackend, 4>; 3] {
        let dev = Default::default();
        let (b, h, t, hd) = (2, 3, 7, 4);
        let n = b * h * t * hd;
        let mk = |off: usize, s: f32| {
            let x: Vec<f32> = (0..n)
                .map(|i| (((i * 37 + off) % 23) as f32 / 11.0 - 1.0) * s)
                .collect();
            Tensor::<CpuBackend, 4>::from_data(TensorData::new(x, [b, h, t, hd]), &dev)
        };
        // Keys all positive and queries all negative with `scale` large: every visible score
        // of a row is then far below -87, where exp underflows to 0.
        let k = mk(5, 1.0).abs() + 0.5;
        [mk(0, 1.0).abs().neg() * scale - 0.5, k, mk(9, 1.0)]
    }

    /// The composed paths — inference (flex's fused softmax) and autodiff (the contiguous
    /// decomposition) — and the fused kernel against the host reference, at normal scale and with every visible
    /// score far below -87 (where a row sum of plain `exp` underflows to 0).
    #[test]
    fn attention_matches_host_softmax_even_when_every_score_underflows() {
        for scale in [1.0, 500.0] {
            let [q, k, v] = qkv(scale);
            let [b, h, t, _] = q.dims();
            let dev = q.device();
            let want = reference(&q, &k, &v);
            let bias = causal_bias::<CpuBackend>(b, h, t, &dev);
            let inference = causal_attention(q.clone(), k.clone(), v.clone(), bias);
            let lift =
                |x: &Tensor<CpuBackend, 4>| Tensor::<CpuAutodiff, 4>::from_data(x.to_data(), &dev);
            let bias = causal_bias::<CpuAutodiff>(b, h, t, &dev);
            let training = causal_attention(lift(&q), lift(&k), lift(&v), bias);
            // The fused kernel on the same heads, in its layouts.
            let s = AttnShape {
                b,
                h,
                kv: h,
                t,
                hd: q.dims()[3],
            };
            let heads = |x: &Tensor<CpuBackend, 4>| x.clone().reshape([b * h, t, s.hd]);
            let tokens = v.clone().swap_dims(1, 2).reshape([b, t, h * s.hd]);
            let fused = attention(heads(&q), heads(&k), tokens, s, None)
                .reshape([b, t, h, s.hd])
                .swap_dims(1, 2);
            for (path, got) in [
                ("inference", inference.into_data()),
                ("autodiff", training.into_data()),
                ("fused", fused.into_data()),
            ] {
                let got = got.to_vec::<f32>().unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "{path}, scale {scale}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn causal_attention_gradients_stay_finite_when_every_score_underflows() {
        let [q, k, v] = qkv(500.0);
        let [b, h, t, _] = q.dims();
        let dev = q.device();
        let lift = |x: Tensor<CpuBackend, 4>| {
            Tensor::<CpuAutodiff, 4>::from_data(x.into_data(), &dev).require_grad()
        };
        let (q, k, v) = (lift(q), lift(k), lift(v));
        let bias = causal_bias::<CpuAutodiff>(b, h, t, &dev);
        let y = causal_attention(q.clone(), k.clone(), v.clone(), bias);
        let grads = (y.clone() * y).sum().backward();
        for (name, x) in [("q", q), ("k", k), ("v", v)] {
            let g = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
            assert!(
                g.iter().all(|x| x.is_finite()),
                "d{name} has non-finite entries"
            );
        }
    }
}
