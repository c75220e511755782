//! A CPU weight matrix as memory holds it: f32, or bf16 / f16 exactly as the checkpoint
//! stores it (half the memory and half the bytes a decode step streams), widened to f32 a column
//! block at a time inside the product — each block fits the cache and goes through the
//! same `gemm` kernel as an f32 weight. A bf16 weight in HF's layout (what the loader keeps
//! from a bf16 checkpoint) skips the widening: [`super::bf16_dot`] streams its rows.
//!
//! Layouts: input-major (`[in, out]`, what `gemm` reads without repacking; ttc's own f32
//! path) or output-major (`[out, in]`, HF's layout: an embedding stays as read, and a tied
//! head is the embedding itself, not a second copy).

use rayon::prelude::*;

/// The values.
#[derive(Debug, Clone)]
pub enum Store {
    F32(Vec<f32>),
    /// bf16 bit patterns (the high half of an f32).
    Bf16(Vec<u16>),
    /// IEEE half (widened with F16C where the CPU has it).
    F16(Vec<half::f16>),
}

/// A `k`-input, `m`-output weight.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub store: Store,
    /// Inputs.
    pub k: usize,
    /// Outputs.
    pub m: usize,
    /// `[k, m]` when true, `[m, k]` otherwise.
    pub input_major: bool,
}

use crate::io::tensor_files::bf16_to_f32 as widen;

/// Columns per block of a widened weight: ~256 KiB of f32 per block (it stays in L2
/// while gemm reads it), 16 to 512 columns.
fn block_columns(k: usize, m: usize) -> usize {
    ((64 * 1024) / k.max(1)).clamp(16, 512).min(m.max(1))
}

/// `dst[j] = widen(src[j])`, written so the compiler vectorises it.
#[inline]
fn widen_into(dst: &mut [f32], src: &[u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = widen(s);
    }
}

struct SendPtr(*mut f32);
// SAFETY: each block writes a disjoint set of output columns (see `matmul`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl Matrix {
    /// An f32 weight laid out `[k, m]`.
    pub fn input_major(w: Vec<f32>, k: usize, m: usize) -> Matrix {
        Matrix {
            store: Store::F32(w),
            k,
            m,
            input_major: true,
        }
    }

    /// A half-precision weight laid out `[k, m]`.
    pub fn half_input_major(store: Store, k: usize, m: usize) -> Matrix {
        Matrix {
            store,
            k,
            m,
            input_major: true,
        }
    }

    /// A weight in HF's `[m, k]` layout.
    pub fn output_major(store: Store, k: usize, m: usize) -> Matrix {
        Matrix {
            store,
            k,
            m,
            input_major: false,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match &self.store {
            Store::F32(v) => v.len() * 4,
            Store::Bf16(v) => v.len() * 2,
            Store::F16(v) => v.len() * 2,
        }
    }

    /// Whether the values are kept in half precision (bf16 or f16).
    pub fn is_half(&self) -> bool {
        !matches!(self.store, Store::F32(_))
    }

    /// Row `r` of an output-major matrix (an embedding row) as f32, appended to `out`.
    pub fn append_row(&self, r: usize, out: &mut Vec<f32>) {
        debug_assert!(!self.input_major);
        let (a, b) = (r * self.k, (r + 1) * self.k);
        match &self.store {
            Store::F32(v) => out.extend_from_slice(&v[a..b]),
            Store::Bf16(v) => out.extend(v[a..b].iter().map(|&x| widen(x))),
            Store::F16(v) => out.extend(v[a..b].iter().map(|x| x.to_f32())),
        }
    }

    /// Columns `c0..c0 + w` as an f32 `[k, w]` block (input-major) in `buf`.
    fn widen_block(&self, c0: usize, w: usize, buf: &mut Vec<f32>) {
        let (k, m) = (self.k, self.m);
        buf.clear();
        buf.resize(k * w, 0.0);
        match (&self.store, self.input_major) {
            (Store::F32(v), true) => {
                for i in 0..k {
                    buf[i * w..(i + 1) * w].copy_from_slice(&v[i * m + c0..i * m + c0 + w]);
                }
            }
            (Store::Bf16(v), true) => {
                for i in 0..k {
                    widen_into(&mut buf[i * w..(i + 1) * w], &v[i * m + c0..i * m + c0 + w]);
                }
            }
            (Store::F16(v), true) => {
                use half::slice::HalfFloatSliceExt;
                for i in 0..k {
                    v[i * m + c0..i * m + c0 + w]
                        .convert_to_f32_slice(&mut buf[i * w..(i + 1) * w]);
                }
            }
            (Store::F16(v), false) => {
                for j in 0..w {
                    let row = &v[(c0 + j) * k..(c0 + j + 1) * k];
                    for (i, x) in row.iter().enumerate() {
                        buf[i * w + j] = x.to_f32();
                    }
                }
            }
            (Store::F32(v), false) => {
                for j in 0..w {
                    let row = &v[(c0 + j) * k..(c0 + j + 1) * k];
                    for (i, &x) in row.iter().enumerate() {
                        buf[i * w + j] = x;
                    }
                }
            }
            (Store::Bf16(v), false) => {
                for j in 0..w {
                    let row = &v[(c0 + j) * k..(c0 + j + 1) * k];
                    for (i, &x) in row.iter().enumerate() {
                        buf[i * w + j] = widen(x);
                    }
                }
            }
        }
    }

    /// `out[n, m] (+)= a[n, k] · W`.
    pub fn matmul(&self, a: &[f32], out: &mut [f32], n: usize, accumulate: bool, parallel: bool) {
        let (k, m) = (self.k, self.m);
        if let (Store::F32(w), true) = (&self.store, self.input_major) {
            super::matmul(a, w, out, n, k, m, accumulate, parallel);
            return;
        }
        if let (Store::Bf16(w), false) = (&self.store, self.input_major) {
            super::bf16_dot::matmul(a, w, out, n, k, m, accumulate, parallel);
            return;
        }
        assert!(a.len() >= n * k && out.len() >= n * m, "matmul shapes");
        if n == 0 {
            return;
        }
        let bc = block_columns(k, m);
        let blocks: Vec<usize> = (0..m).step_by(bc).collect();
        let dst = SendPtr(out.as_mut_ptr());
        let run = |c0: usize, buf: &mut Vec<f32>, part: &mut Vec<f32>| {
            let w = bc.min(m - c0);
            self.widen_block(c0, w, buf);
            // The block's output columns, computed into a dense [n, w] and written back.
            part.clear();
            part.resize(n * w, 0.0);
            let ptr = &dst;
            if accumulate {
                for r in 0..n {
                    // SAFETY: row r, columns c0..c0+w of out: in bounds (asserted above) and
                    // no other block touches these columns.
                    let src = unsafe { std::slice::from_raw_parts(ptr.0.add(r * m + c0), w) };
                    part[r * w..(r + 1) * w].copy_from_slice(src);
                }
            }
            super::matmul(a, buf, part, n, k, w, accumulate, false);
            for r in 0..n {
                // SAFETY: as above.
                let d = unsafe { std::slice::from_raw_parts_mut(ptr.0.add(r * m + c0), w) };
                d.copy_from_slice(&part[r * w..(r + 1) * w]);
            }
        };
        // The f32 path's threshold (a single row runs as two there).
        if parallel && n.max(2) * k * m >= 1 << 20 {
            blocks
                .par_iter()
                .for_each_init(|| (Vec::new(), Vec::new()), |(b, p), &c0| run(c0, b, p));
        } else {
            let (mut b, mut p) = (Vec::new(), Vec::new());
            for &c0 in &blocks {
                run(c0, &mut b, &mut p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout and store gives the product of the f32 input-major path, bit for bit
    /// (the same kernel over the same k-sums), for one row and for many.
    #[test]
    fn layouts_and_stores_agree_with_the_f32_path() {
        let (k, m) = (37, 300);
        // Values exact in bf16 and f16, so widening loses nothing.
        let w: Vec<f32> = (0..k * m)
            .map(|i| ((i * 7919 % 251) as f32 - 125.0) / 64.0)
            .collect();
        let bits: Vec<u16> = w.iter().map(|x| (x.to_bits() >> 16) as u16).collect();
        let halves: Vec<half::f16> = w.iter().map(|&x| half::f16::from_f32(x)).collect();
        let mut hf = vec![0.0f32; k * m];
        let mut hf_bits = vec![0u16; k * m];
        for i in 0..k {
            for j in 0..m {
                hf[j * k + i] = w[i * m + j];
                hf_bits[j * k + i] = bits[i * m + j];
            }
        }
        let reference = Matrix::input_major(w.clone(), k, m);
        let others = [
            Matrix::output_major(Store::F32(hf), k, m),
            Matrix::output_major(Store::Bf16(hf_bits), k, m),
            Matrix::half_input_major(Store::Bf16(bits), k, m),
            Matrix::half_input_major(Store::F16(halves), k, m),
        ];
        for n in [1, 5] {
            let a: Vec<f32> = (0..n * k).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
            for acc in [false, true] {
                let mut want = vec![0.5f32; n * m];
                reference.matmul(&a, &mut want, n, acc, false);
                for o in &others {
                    let mut got = vec![0.5f32; n * m];
                    o.matmul(&a, &mut got, n, acc, true);
                    assert_eq!(got, want, "n {n} acc {acc} half {}", o.is_half());
                }
            }
        }
    }
}
