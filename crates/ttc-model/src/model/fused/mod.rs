//! Fused CPU ops for the training and scoring forward (flex, with or without autodiff):
//! RMSNorm ([`norm`]), SwiGLU ([`swiglu`]) and the masked cross-entropy ([`loss`]); causal attention in
//! [`crate::model::attention`], and the glue they share.
//!
//! Composed from burn ops, each of these is several passes over the activations forward and
//! more backward, each a separate flex kernel with its own allocation (and, under autodiff,
//! graph node); at this model size those passes, not the matrix products, were most of a
//! training step. Each fused op is one pass each way with an exact backward, vectorised
//! (AVX-512 / AVX2 chosen at run time) and spread over rayon. burn has no backend-generic
//! way to add an op with its own backward short of a backend extension trait, which every
//! model bound in the workspace would then carry; the backend is identified by [`TypeId`]
//! instead, and any other backend (burn-cuda) takes the composed path.

use std::any::{Any, TypeId};

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::tensor::backend::{Backend, BackendTypes};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::{CpuAutodiff, CpuBackend};

/// The autodiff tensor of [`CpuAutodiff`] (burn does not export the type by name).
pub(crate) type AdTensor = <CpuAutodiff as BackendTypes>::FloatTensorPrimitive;

/// Where a fused op runs for backend `B`.
pub(crate) enum Path {
    /// flex without autodiff: the host kernel.
    Flex,
    /// flex under autodiff: the host kernel as one graph node with its own backward.
    Autodiff,
    /// Any other backend (or dtype): the composed burn ops.
    Composed,
}

thread_local! {
    static ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Switches the fused ops off (or back on) for forwards built on this thread: the composed
/// burn ops then run on flex too. For comparisons (tests, `ttc bench train --composed`).
pub fn set_enabled(enabled: bool) {
    ENABLED.with(|e| e.set(enabled));
}

/// Whether the fused ops are on for this thread ([`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.with(|e| e.get())
}

pub(crate) fn path<B: Backend>(dtypes: &[DType]) -> Path {
    let id = TypeId::of::<B>();
    if !enabled() || dtypes.iter().any(|d| *d != DType::F32) {
        Path::Composed
    } else if id == TypeId::of::<CpuBackend>() {
        Path::Flex
    } else if id == TypeId::of::<CpuAutodiff>() {
        Path::Autodiff
    } else {
        Path::Composed
    }
}

/// Whether the fused ops run on backend `B` (f32 tensors).
pub fn fused<B: Backend>() -> bool {
    !matches!(path::<B>(&[DType::F32]), Path::Composed)
}

/// Moves a value of type `T` into type `U` where the caller has checked they are one type
/// (backend primitives behind a generic `B`).
fn cast<T: 'static, U: 'static>(x: T) -> U {
    let mut slot = Some(x);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
        .expect("fused op: backend type checked before the cast")
}

/// The primitive of a tensor on the backend [`path`] matched (`P` = [`FlexTensor`] or
/// [`AdTensor`]).
pub(crate) fn prim<B: Backend, P: 'static, const D: usize>(x: Tensor<B, D>) -> P {
    cast(x.into_primitive().tensor())
}

pub(crate) fn tensor<B: Backend, P: 'static, const D: usize>(x: P) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(cast(x)))
}

/// A contiguous copy (or the tensor itself when it already is one).
pub(crate) fn host(x: &FlexTensor) -> FlexTensor {
    x.to_contiguous()
}

pub(crate) fn slice(x: &FlexTensor) -> &[f32] {
    x.as_slice::<f32>()
        .expect("fused op: contiguous f32 tensor (checked before the call)")
}

pub(crate) fn flex<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// Runs a fused op under autodiff: `forward(inputs, tracked)` returns the output and, when
/// tracked, the backward's state.
pub(crate) fn autodiff_op<O, S, const N: usize>(
    op: O,
    inputs: [AdTensor; N],
    forward: impl FnOnce([FlexTensor; N], bool) -> (FlexTensor, Option<S>),
) -> AdTensor
where
    O: Backward<CpuBackend, N, State = S>,
    S: Clone + Send + std::fmt::Debug + 'static,
{
    let nodes = inputs.each_ref().map(|x| x.node.clone());
    let prims = inputs.map(|x| host(&x.primitive));
    match op
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, state) = forward(prims, true);
            prep.finish(state.expect("fused op: state for a tracked node"), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(prims, false).0),
    }
}

/// Generates `$name(args)` that runs `$body(args)` compiled for AVX-512 or AVX2+FMA where the
/// CPU has them (so its plain loops vectorise that wide), and as it is elsewhere.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$m])* $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                fn v4($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") {
                    // SAFETY: the CPU has every feature v4 is compiled for.
                    return unsafe { v4($($arg),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has every feature v3 is compiled for.
                    return unsafe { v3($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

/// `exp(x)` in f32 without branches or calls, so loops over slices vectorise (glibc's scalar
/// `expf` was a tenth of a training step): Cephes' range reduction `x = n·ln2 + r` and
/// degree-6 polynomial, `2ⁿ` from the exponent bits; relative error ≈ 1e-7. Arguments below
/// -87.3 give 0 (`-inf` included), above 88 clamp.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let xc = x.clamp(-87.33, 88.0);
    let t = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = xc - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let two_n = f32::from_bits(((t.to_bits() as i32 - MAGIC.to_bits() as i32 + 127) << 23) as u32);
    if x < -87.33 { 0.0 } else { y * two_n }
}

/// Sum of a slice in 16 lanes (vectorises; a plain fold is one serial chain).
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    it.remainder().iter().sum::<f32>() + acc.iter().sum::<f32>()
}

/// Dot product in 16 lanes.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut ia = a.chunks_exact(16);
    let mut ib = b.chunks_exact(16);
    for (x, y) in (&mut ia).zip(&mut ib) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let rest: f32 = ia
        .remainder()
        .iter()
        .zip(ib.remainder())
        .map(|(x, y)| x * y)
        .sum();
    rest + acc.iter().sum::<f32>()
}

/// Largest element (`-inf` for an empty slice), in 16 lanes.
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let m = it
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    acc.iter().fold(m, |a, &b| a.max(b))
}

/// Rows per rayon task for row-wise kernels over `rows × width` data (≈ 16k elements).
pub(crate) fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}

mod loss;
mod norm;
mod swiglu;
#[cfg(test)]
pub(crate) mod tests;

pub use loss::masked_cross_entropy;
pub use norm::{rms_norm, rms_norm_composed};
pub use swiglu::swiglu;
