//! Fused RMSNorm (forward and backward) and its composed form.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::nn::RmsNorm;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{Path, autodiff_op, dot, flex, host, path, prim, rows_per_task, slice, tensor};
use crate::CpuBackend;

/// RMSNorm over the last dim with the parameters of burn's [`RmsNorm`]:
/// `x / sqrt(mean(x²) + eps) · γ`.
pub fn rms_norm<B: Backend>(norm: &RmsNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let gamma = norm.gamma.val();
    let eps = norm.epsilon as f32;
    let [b, t, d] = x.dims();
    match path::<B>(&[x.dtype(), gamma.dtype()]) {
        Path::Flex => {
            let (x, g) = (host(&prim(x)), host(&prim(gamma)));
            let y = rms_forward(slice(&x), slice(&g), eps);
            tensor(flex(y, [b, t, d]))
        }
        Path::Autodiff => {
            let out = autodiff_op(RmsNormOp, [prim(x), prim(gamma)], |[x, g], tracked| {
                let y = rms_forward(slice(&x), slice(&g), eps);
                (flex(y, [b, t, d]), tracked.then_some((x, g, eps)))
            });
            tensor(out)
        }
        Path::Composed => rms_norm_composed(norm, x),
    }
}

/// RMSNorm from matmuls and same-shape elementwise ops only (the composed path): burn's
/// own forward divides by a `[.., 1]` rms and multiplies by a `[d]` gamma, broadcasts that
/// some backends walk element by element. Row means come from a product with a ones
/// column; the rms and gamma are spread to full shape by outer products.
pub fn rms_norm_composed<B: Backend>(norm: &RmsNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, t, d] = x.dims();
    let n = b * t;
    let dev = x.device();
    let x = x.reshape([n, d]);
    let ones_d = Tensor::<B, 2>::ones([d, 1], &dev);
    let ms = (x.clone() * x.clone()).matmul(ones_d.clone()) / d as f64; // [n, 1]
    let inv = (ms + norm.epsilon).sqrt().recip(); // [n, 1]
    let inv = inv.matmul(ones_d.transpose()); // [n, d]
    let gamma = Tensor::<B, 2>::ones([n, 1], &dev).matmul(norm.gamma.val().reshape([1, d]));
    (x * inv * gamma).reshape([b, t, d])
}

#[inline(always)]
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    1.0 / (dot(row, row) / row.len() as f32 + eps).sqrt()
}

#[inline(always)]
fn rms_rows(x: &[f32], g: &[f32], y: &mut [f32], eps: f32) {
    let d = g.len();
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let inv = inv_rms(xr, eps);
        for i in 0..d {
            yr[i] = xr[i] * inv * g[i];
        }
    }
}

simd_dispatch!(fn rms_rows_simd(x: &[f32], g: &[f32], y: &mut [f32], eps: f32) => rms_rows);

fn rms_forward(x: &[f32], g: &[f32], eps: f32) -> Vec<f32> {
    let d = g.len();
    assert!(d > 0 && x.len().is_multiple_of(d), "rms_norm: input size");
    let mut y = vec![0.0f32; x.len()];
    let chunk = rows_per_task(d) * d;
    y.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(y, x)| rms_rows_simd(x, g, y, eps));
    y
}

/// Row-wise RMSNorm backward for a block of rows: `dx` into `dx`, `dγ` added to `dg`.
/// With `gy = dy·γ`: `dx = inv·gy − x·inv³·Σ(gy·x)/d`, `dγ = Σ_rows dy·x·inv`.
#[inline(always)]
fn rms_back_rows(x: &[f32], g: &[f32], dy: &[f32], dx: &mut [f32], dg: &mut [f32], eps: f32) {
    let d = g.len();
    let mut gy = vec![0.0f32; d];
    for ((xr, dyr), dxr) in x
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let inv = inv_rms(xr, eps);
        for i in 0..d {
            gy[i] = dyr[i] * g[i];
            dg[i] += dyr[i] * xr[i] * inv;
        }
        let c = dot(&gy, xr) * inv * inv * inv / d as f32;
        for i in 0..d {
            dxr[i] = inv * gy[i] - xr[i] * c;
        }
    }
}

simd_dispatch!(fn rms_back_rows_simd(x: &[f32], g: &[f32], dy: &[f32], dx: &mut [f32], dg: &mut [f32], eps: f32) => rms_back_rows);

fn rms_backward(x: &[f32], g: &[f32], dy: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let d = g.len();
    assert_eq!(x.len(), dy.len(), "rms_norm: gradient size");
    let mut dx = vec![0.0f32; x.len()];
    let chunk = rows_per_task(d) * d;
    // dγ: one partial per fixed-size block of rows, summed in block order — the same
    // bytes at any thread count (rayon's `reduce` tree follows the thread split).
    let partials: Vec<Vec<f32>> = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(dy.par_chunks(chunk)))
        .map(|(dx, (x, dy))| {
            let mut dg = vec![0.0f32; d];
            rms_back_rows_simd(x, g, dy, dx, &mut dg, eps);
            dg
        })
        .collect();
    let mut dg = vec![0.0f32; d];
    for p in &partials {
        dg.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    (dx, dg)
}

#[derive(Debug)]
struct RmsNormOp;

impl Backward<CpuBackend, 2> for RmsNormOp {
    /// The contiguous input and γ, and eps.
    type State = (FlexTensor, FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, g, eps) = ops.state;
        let dy = host(&grads.consume::<CpuBackend>(&ops.node));
        let (dx, dg) = rms_backward(slice(&x), slice(&g), slice(&dy), eps);
        let [px, pg] = ops.parents;
        if let Some(node) = px {
            let shape: [usize; 3] = x.layout().shape().dims();
            grads.register::<CpuBackend>(node.id, flex(dx, shape));
        }
        if let Some(node) = pg {
            let d = dg.len();
            grads.register::<CpuBackend>(node.id, flex(dg, [d]));
        }
    }
}
