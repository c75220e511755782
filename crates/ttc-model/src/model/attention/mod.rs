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
//! How the fused ops reach flex (and why not through a backend extension): [`crate::model::fused`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;

use crate::CpuBackend;
use crate::model::fused::{Path, autodiff_op, flex, host, path, prim, slice, tensor};

mod kernel;
#[cfg(test)]
mod tests;

use kernel::{backward_host, forward_host};

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
/// and callers that know the backend is fused ([`crate::model::fused::fused`]) may pass `None`.
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
