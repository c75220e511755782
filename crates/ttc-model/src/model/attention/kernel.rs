//! The host kernels of fused attention: per-(batch, head) tasks over rayon, products
//! through `gemm` on strided views, causal softmax and its backward vectorised.

use rayon::prelude::*;

use super::AttnShape;
use crate::model::fused::{dot, exp, max, simd_dispatch, sum};

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
pub(super) fn forward_host(
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
pub(super) fn backward_host(
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
