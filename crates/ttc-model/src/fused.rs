//! Fused CPU ops for the training and scoring forward (flex, with or without autodiff):
//! RMSNorm, SwiGLU and the masked cross-entropy here, causal attention in
//! [`crate::attention`], and the glue they share.
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

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::RmsNorm;
use burn::tensor::activation::silu;
use burn::tensor::backend::{Backend, BackendTypes};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

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
fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}

// ----------------------------------------------------------------------------- RMSNorm

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
    let dg = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(dy.par_chunks(chunk)))
        .map(|(dx, (x, dy))| {
            let mut dg = vec![0.0f32; d];
            rms_back_rows_simd(x, g, dy, dx, &mut dg, eps);
            dg
        })
        .reduce(
            || vec![0.0f32; d],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
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

// ------------------------------------------------------------------------------ SwiGLU

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

// ------------------------------------------------------------------ masked cross-entropy

/// Masked next-token cross-entropy as one op: `Σ_r m_r·(logsumexp(x_r) − x_r[t_r]) / max(Σ m, 1)`
/// over the rows of `logits` `[b, t, v]`, shape `[1]`. `None` where the fused op does not run
/// on `B` (the caller then uses its composed form).
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, burn::tensor::Int>,
    mask: Tensor<B, 2>,
) -> Option<Tensor<B, 1>> {
    let [b, t, v] = logits.dims();
    let kind = path::<B>(&[logits.dtype(), mask.dtype()]);
    if matches!(kind, Path::Composed) {
        return None;
    }
    let targets: Vec<i64> = targets.into_data().convert::<i64>().to_vec().ok()?;
    let mask: Vec<f32> = mask.into_data().convert::<f32>().to_vec().ok()?;
    assert_eq!(targets.len(), b * t, "cross-entropy: targets size");
    assert_eq!(mask.len(), b * t, "cross-entropy: mask size");
    if let Some(bad) = targets.iter().find(|&&x| x < 0 || x as usize >= v) {
        panic!("cross-entropy: target id {bad} outside the vocabulary of {v}");
    }
    let denom = mask.iter().sum::<f32>().max(1.0);
    let ce = std::sync::Arc::new(CeInput {
        targets,
        mask,
        denom,
        v,
    });
    Some(match kind {
        Path::Flex => {
            let x = host(&prim(logits));
            tensor(flex(vec![ce_forward(slice(&x), &ce).0], [1]))
        }
        _ => {
            let out = autodiff_op(CrossEntropyOp, [prim(logits)], |[x], tracked| {
                let (loss, lse) = ce_forward(slice(&x), &ce);
                (flex(vec![loss], [1]), tracked.then(|| (x, lse, ce.clone())))
            });
            tensor(out)
        }
    })
}

/// The non-differentiable inputs of the cross-entropy.
#[derive(Debug)]
struct CeInput {
    targets: Vec<i64>,
    mask: Vec<f32>,
    denom: f32,
    v: usize,
}

/// Log-sum-exp of each row in `x` (rows of width `v`) into `lse`; rows with mask 0 skipped.
#[inline(always)]
fn lse_rows(x: &[f32], mask: &[f32], lse: &mut [f32], v: usize) {
    for ((row, &m), l) in x.chunks_exact(v).zip(mask).zip(lse.iter_mut()) {
        if m == 0.0 {
            continue;
        }
        let mx = max(row);
        let mut acc = [0.0f32; 16];
        let mut it = row.chunks_exact(16);
        for c in &mut it {
            for i in 0..16 {
                acc[i] += exp(c[i] - mx);
            }
        }
        let rest: f32 = it.remainder().iter().map(|&a| exp(a - mx)).sum();
        *l = mx + (rest + acc.iter().sum::<f32>()).ln();
    }
}

simd_dispatch!(fn lse_rows_simd(x: &[f32], mask: &[f32], lse: &mut [f32], v: usize) => lse_rows);

/// `(loss, per-row log-sum-exp)`.
fn ce_forward(x: &[f32], ce: &CeInput) -> (f32, Vec<f32>) {
    let v = ce.v;
    assert_eq!(x.len(), ce.mask.len() * v, "cross-entropy: logits size");
    let mut lse = vec![0.0f32; ce.mask.len()];
    let rows = rows_per_task(v);
    lse.par_chunks_mut(rows)
        .zip(x.par_chunks(rows * v).zip(ce.mask.par_chunks(rows)))
        .for_each(|(l, (x, m))| lse_rows_simd(x, m, l, v));
    let total: f64 = (0..ce.mask.len())
        .filter(|&r| ce.mask[r] != 0.0)
        .map(|r| ce.mask[r] as f64 * (lse[r] - x[r * v + ce.targets[r] as usize]) as f64)
        .sum();
    ((total / ce.denom as f64) as f32, lse)
}

/// `dx_r = g·m_r/N·(softmax(x_r) − onehot(t_r))` for a block of rows starting at row `r0`.
#[inline(always)]
fn ce_back_rows(x: &[f32], lse: &[f32], dx: &mut [f32], ce: &CeInput, r0: usize, g: f32) {
    let v = ce.v;
    for (i, (row, drow)) in x.chunks_exact(v).zip(dx.chunks_exact_mut(v)).enumerate() {
        let r = r0 + i;
        let w = g * ce.mask[r] / ce.denom;
        if w == 0.0 {
            continue; // dx stays 0
        }
        let l = lse[r];
        for j in 0..v {
            drow[j] = w * exp(row[j] - l);
        }
        drow[ce.targets[r] as usize] -= w;
    }
}

simd_dispatch!(fn ce_back_rows_simd(x: &[f32], lse: &[f32], dx: &mut [f32], ce: &CeInput, r0: usize, g: f32) => ce_back_rows);

#[derive(Debug)]
struct CrossEntropyOp;

impl Backward<CpuBackend, 1> for CrossEntropyOp {
    /// The contiguous logits, their row log-sum-exps, targets and mask.
    type State = (FlexTensor, Vec<f32>, std::sync::Arc<CeInput>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, lse, ce) = ops.state;
        let g = slice(&host(&grads.consume::<CpuBackend>(&ops.node)))[0];
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let xs = slice(&x);
            let mut dx = vec![0.0f32; xs.len()];
            let rows = rows_per_task(ce.v);
            dx.par_chunks_mut(rows * ce.v)
                .zip(xs.par_chunks(rows * ce.v))
                .enumerate()
                .for_each(|(k, (dx, x))| ce_back_rows_simd(x, &lse, dx, &ce, k * rows, g));
            let shape: [usize; 3] = x.layout().shape().dims();
            grads.register::<CpuBackend>(node.id, flex(dx, shape));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::nn::RmsNormConfig;

    pub(crate) fn data(n: usize, off: usize, s: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((((i * 37 + off) % 23) as f32) / 11.0 - 1.0) * s)
            .collect()
    }

    fn t3<B: Backend>(shape: [usize; 3], off: usize, s: f32) -> Tensor<B, 3> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(data(n, off, s), shape), &Default::default())
    }

    pub(crate) fn values<B: Backend, const D: usize>(x: Tensor<B, D>) -> Vec<f32> {
        x.into_data().convert::<f32>().to_vec::<f32>().unwrap()
    }

    pub(crate) fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()),
                "{what}[{i}]: fused {g} vs composed/reference {w}"
            );
        }
    }

    #[test]
    fn exp_matches_std_to_float_precision() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f64 / 200_000.0;
            let want = (x as f32 as f64).exp();
            let got = exp(x as f32) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn lane_reductions_match_serial_ones() {
        for n in [0, 1, 15, 16, 17, 100] {
            let a = data(n, 1, 2.0);
            let b = data(n, 4, 1.0);
            let close1 = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + y.abs());
            assert!(close1(sum(&a), a.iter().sum()));
            assert!(close1(
                dot(&a, &b),
                a.iter().zip(&b).map(|(x, y)| x * y).sum()
            ));
            assert_eq!(max(&a), a.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)));
        }
    }

    /// Both fused ops against their composed burn forms, values and (under autodiff)
    /// gradients of a loss weighting every output differently.
    #[test]
    fn fused_rms_norm_and_swiglu_match_composed_ops() {
        let shape = [3, 5, 40];
        let dev = Default::default();
        let w = t3::<CpuAutodiff>(shape, 3, 1.0);
        // RMSNorm with a non-trivial γ.
        let run_norm = |fused_path: bool| {
            let mut norm = RmsNormConfig::new(40)
                .with_epsilon(1e-5)
                .init::<CpuAutodiff>(&dev);
            let g =
                Tensor::<CpuAutodiff, 1>::from_data(TensorData::new(data(40, 7, 1.5), [40]), &dev);
            norm.gamma = burn::module::Param::from_tensor(g);
            let x = t3::<CpuAutodiff>(shape, 0, 2.0).require_grad();
            let y = if fused_path {
                rms_norm(&norm, x.clone())
            } else {
                rms_norm_composed(&norm, x.clone())
            };
            let grads = (y.clone() * w.clone()).sum().backward();
            let dg = values(norm.gamma.val().grad(&grads).unwrap());
            (values(y), values(x.grad(&grads).unwrap()), dg)
        };
        let (f, c) = (run_norm(true), run_norm(false));
        close("rms y", &f.0, &c.0, 1e-5);
        close("rms dx", &f.1, &c.1, 1e-4);
        close("rms dgamma", &f.2, &c.2, 1e-4);
        // Inference path.
        let norm = RmsNormConfig::new(40).init::<CpuBackend>(&dev);
        let x = t3::<CpuBackend>(shape, 0, 2.0);
        close(
            "rms inference",
            &values(rms_norm(&norm, x.clone())),
            &values(rms_norm_composed(&norm, x)),
            1e-5,
        );
        // SwiGLU, with gate values out to ±12 (σ saturating).
        let run_glu = |fused_path: bool| {
            let a = t3::<CpuAutodiff>(shape, 0, 12.0).require_grad();
            let u = t3::<CpuAutodiff>(shape, 9, 1.0).require_grad();
            let y = if fused_path {
                swiglu(a.clone(), u.clone())
            } else {
                silu(a.clone()) * u.clone()
            };
            let grads = (y.clone() * w.clone()).sum().backward();
            (
                values(y),
                values(a.grad(&grads).unwrap()),
                values(u.grad(&grads).unwrap()),
            )
        };
        let (f, c) = (run_glu(true), run_glu(false));
        close("swiglu y", &f.0, &c.0, 1e-5);
        close("swiglu da", &f.1, &c.1, 1e-4);
        close("swiglu du", &f.2, &c.2, 1e-4);
        let (a, u) = (
            t3::<CpuBackend>(shape, 0, 12.0),
            t3::<CpuBackend>(shape, 9, 1.0),
        );
        close(
            "swiglu inference",
            &values(swiglu(a.clone(), u.clone())),
            &values(silu(a) * u),
            1e-5,
        );
    }
}
