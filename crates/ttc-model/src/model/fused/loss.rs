//! Fused masked next-token cross-entropy (forward and backward).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{Path, autodiff_op, exp, flex, host, max, path, prim, rows_per_task, slice, tensor};
use crate::CpuBackend;

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
