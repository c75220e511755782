//! Fused SwiGLU gate, `silu(gate)·up` (forward and backward).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{Path, autodiff_op, exp, flex, host, path, prim, slice, tensor};
use crate::CpuBackend;

/// The SwiGLU gate: `silu(gate) · up` (same shapes).
pub fn swiglu<B: Backend>(gate: Tensor<B, 3>, up: Tensor<B, 3>) -> Tensor<B, 3> {
    let dims = gate.dims();
    match path::<B>(&[gate.dtype(), up.dtype()]) {
        Path::Flex => {
            let (a, u) = (host(&prim(gate)), host(&prim(up)));
            tensor(flex(swiglu_forward(slice(&a), slice(&u)), dims))
        }
        Path::Autodiff => {
            let out = autodiff_op(SwigluOp, [prim(gate), prim(up)], |[a, u], tracked| {
                let y = swiglu_forward(slice(&a), slice(&u));
                (flex(y, dims), tracked.then_some((a, u)))
            });
            tensor(out)
        }
        Path::Composed => silu(gate) * up,
    }
}

#[inline(always)]
fn swiglu_block(a: &[f32], u: &[f32], y: &mut [f32]) {
    for i in 0..y.len() {
        let sig = 1.0 / (1.0 + exp(-a[i]));
        y[i] = a[i] * sig * u[i];
    }
}

simd_dispatch!(fn swiglu_block_simd(a: &[f32], u: &[f32], y: &mut [f32]) => swiglu_block);

/// `da = dy·u·σ·(1 + a·(1 − σ))`, `du = dy·a·σ`.
#[inline(always)]
fn swiglu_back_block(a: &[f32], u: &[f32], dy: &[f32], da: &mut [f32], du: &mut [f32]) {
    for i in 0..dy.len() {
        let sig = 1.0 / (1.0 + exp(-a[i]));
        da[i] = dy[i] * u[i] * sig * (1.0 + a[i] * (1.0 - sig));
        du[i] = dy[i] * a[i] * sig;
    }
}

simd_dispatch!(fn swiglu_back_block_simd(a: &[f32], u: &[f32], dy: &[f32], da: &mut [f32], du: &mut [f32]) => swiglu_back_block);

const BLOCK: usize = 16_384;

fn swiglu_forward(a: &[f32], u: &[f32]) -> Vec<f32> {
    assert_eq!(a.len(), u.len(), "swiglu: gate and up sizes");
    let mut y = vec![0.0f32; a.len()];
    y.par_chunks_mut(BLOCK)
        .zip(a.par_chunks(BLOCK).zip(u.par_chunks(BLOCK)))
        .for_each(|(y, (a, u))| swiglu_block_simd(a, u, y));
    y
}

fn swiglu_backward(a: &[f32], u: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(a.len(), dy.len(), "swiglu: gradient size");
    let (mut da, mut du) = (vec![0.0f32; a.len()], vec![0.0f32; a.len()]);
    da.par_chunks_mut(BLOCK)
        .zip(du.par_chunks_mut(BLOCK))
        .zip(a.par_chunks(BLOCK).zip(u.par_chunks(BLOCK)))
        .zip(dy.par_chunks(BLOCK))
        .for_each(|(((da, du), (a, u)), dy)| swiglu_back_block_simd(a, u, dy, da, du));
    (da, du)
}

#[derive(Debug)]
struct SwigluOp;

impl Backward<CpuBackend, 2> for SwigluOp {
    /// The contiguous gate and up inputs.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (a, u) = ops.state;
        let dy = host(&grads.consume::<CpuBackend>(&ops.node));
        let (da, du) = swiglu_backward(slice(&a), slice(&u), slice(&dy));
        let shape: [usize; 3] = a.layout().shape().dims();
        for (parent, g) in ops.parents.into_iter().zip([da, du]) {
            if let Some(node) = parent {
                grads.register::<CpuBackend>(node.id, flex(g, shape));
            }
        }
    }
}
