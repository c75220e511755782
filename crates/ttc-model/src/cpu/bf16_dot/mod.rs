//! `out[n, m] (+)= a[n, k] · Wᵀ` for a bf16 weight in HF's output-major layout (`[m, k]`,
//! one row per output): every output is one dot product of an activation row with a weight
//! row, streamed from memory as stored (2 bytes a weight, no widened copy).
//!
//! Three kernels, the CPU's best picked once per process ([`Kernel::detect`]):
//! - **avx512** (AVX-512 F/BW/VL): 16 weights widened to f32 in registers (a shift) and
//!   multiplied into 16 f32 lanes with FMA. The fastest measured here on both ends: at batch 1
//!   it streams the weights at ≈ 90% of the read bandwidth; at batch 16 it is compute-bound.
//! - **native** (AVX-512 BF16, `vdpbf16ps`): each activation split into three bf16 parts
//!   (`a = hi + mid + lo`: 24 significant bits, f32's, so the split is exact for normal
//!   values), three native bf16 dot products per 32 weights. Every product is exact in f32,
//!   so the result has f32 activations' accuracy; but three instructions per 32 weights cost
//!   more than the f32 FMAs (measured: `docs/benchmarks.md`). Casting the activations to bf16
//!   (one instruction, as a bf16 model computes) would keep 8 of their 24 bits: a 2-part
//!   split already moves a bf16 Llama fixture's logits by 2.3e-4 from the f32 path.
//! - **portable**: f32 lanes over widened weights in plain Rust, built for AVX2 where the CPU
//!   has it; for CPUs without AVX-512.
//!
//! Register tiles: 4 activation rows × 4 weight rows (a batch), 1 × 8 (a row left over), and
//! single outputs at the edges (portable: single outputs). Each output's sum runs in the same order in every tile shape,
//! so a row's bytes do not depend on the batch size, its place in the batch or the thread
//! count (as the f32 path guarantees by running one row as two).

use rayon::prelude::*;

use crate::io::tensor_files::bf16_to_f32 as widen;

#[cfg(target_arch = "x86_64")]
mod x86;

/// Which kernel computes the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// f32 FMAs over weights widened in registers (AVX-512 F, BW, VL).
    Avx512,
    /// AVX-512 BF16 dot products (`vdpbf16ps`) over a 3-part split of the activations.
    Native,
    /// f32 lanes over widened weights in plain Rust (AVX2 where the CPU has it).
    Portable,
}

/// A kernel chosen for the whole process (`ttc bench generate --bf16-kernel`): 0 = the
/// CPU's best, else 1 + its index in [`Kernel::ALL`].
static CHOSEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx512" => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            "avx512bf16" => has("avx512") && std::arch::is_x86_feature_detected!("avx512bf16"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

impl Kernel {
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Native, Kernel::Portable];

    /// Its name in `--bf16-kernel`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Native => "native",
            Kernel::Portable => "portable",
        }
    }

    /// The kernel named `name` (`avx512`, `native`, `portable`).
    pub fn parse(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Kernel::Avx512 => has("avx512"),
            Kernel::Native => has("avx512bf16"),
            Kernel::Portable => true,
        }
    }

    /// The kernel [`matmul`] uses from now on in this process (`None`: the CPU's best).
    /// For benchmarks and tests that compare kernels; an error when the CPU lacks it.
    pub fn choose(kernel: Option<Kernel>) -> Result<(), String> {
        if let Some(k) = kernel.filter(|k| !k.available()) {
            return Err(format!(
                "the {} bf16 kernel needs CPU features this CPU lacks",
                k.name()
            ));
        }
        let v = kernel.map_or(0, |k| {
            1 + Kernel::ALL.iter().position(|&x| x == k).unwrap_or(0)
        });
        CHOSEN.store(v as u8, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// What [`matmul`] uses: the chosen kernel, or the CPU's best.
    pub fn current() -> Kernel {
        match CHOSEN.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Kernel::detect(),
            v => Kernel::ALL[(v as usize - 1).min(2)],
        }
    }

    /// The CPU's best: avx512 where it has AVX-512 F/BW/VL, else portable (native is
    /// slower than avx512 wherever it runs: see the module's notes).
    pub fn detect() -> Kernel {
        static K: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *K.get_or_init(|| {
            if Kernel::Avx512.available() {
                Kernel::Avx512
            } else {
                Kernel::Portable
            }
        })
    }
}

/// Weight rows per task when the outputs are split over threads (~144 KiB of weights at
/// k = 576: a task's rows stay in L2 while every activation row passes over them, and its
/// tiles prefetch one another: with 32 rows a task, a quarter of the tiles started cold and
/// batch 1 streamed at ≈ 28 GB/s instead of ≈ 40).
const BLOCK_ROWS: usize = 128;

struct SendPtr(*mut f32);
// SAFETY: each task writes a disjoint set of output columns (see `matmul`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// `out[r * m + j] (+)= Σᵢ a[r * k + i] · w[j * k + i]`, with the CPU's best kernel (or the
/// one [`Kernel::choose`] set).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    w: &[u16],
    out: &mut [f32],
    n: usize,
    k: usize,
    m: usize,
    accumulate: bool,
    parallel: bool,
) {
    matmul_with(Kernel::current(), a, w, out, n, k, m, accumulate, parallel)
}

/// [`matmul`] with a chosen kernel (tests and benchmarks compare them).
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    kernel: Kernel,
    a: &[f32],
    w: &[u16],
    out: &mut [f32],
    n: usize,
    k: usize,
    m: usize,
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        a.len() >= n * k && w.len() >= m * k && out.len() >= n * m,
        "bf16 matmul shapes"
    );
    assert!(
        kernel.available(),
        "the {} kernel on a CPU without it",
        kernel.name()
    );
    if n == 0 || m == 0 {
        return;
    }
    let acts = Acts::new(kernel, a, n, k);
    let dst = SendPtr(out.as_mut_ptr());
    let run = |j0: usize| {
        let j1 = (j0 + BLOCK_ROWS).min(m);
        let ptr = &dst;
        let put = |r: usize, j: usize, v: f32| {
            // SAFETY: r < n, j < m: in bounds (asserted above); no other task writes
            // column j.
            unsafe {
                let o = ptr.0.add(r * m + j);
                *o = if accumulate { *o + v } else { v };
            }
        };
        if kernel == Kernel::Portable {
            // One output at a time: wider tiles in plain Rust measured slower (spilled out of
            // AVX2's 16 registers: 4 × 1 at batch 4, 2.9 GMAC/s against 10).
            for r in 0..n {
                tiles::<1, 1>(&acts, r, w, k, j0..j1, &put);
            }
            return;
        }
        let r4 = n / 4 * 4;
        for r in (0..r4).step_by(4) {
            tiles::<4, 4>(&acts, r, w, k, j0..j1, &put);
        }
        for r in r4..n {
            tiles::<1, 8>(&acts, r, w, k, j0..j1, &put);
        }
    };
    let blocks: Vec<usize> = (0..m).step_by(BLOCK_ROWS).collect();
    // Parallel from ~256 KiB of weights: below that a task costs more than it saves.
    if parallel && k * m >= 1 << 17 && blocks.len() > 1 {
        blocks.par_iter().for_each(|&j0| run(j0));
    } else {
        blocks.iter().for_each(|&j0| run(j0));
    }
}

/// Rows `r..r + R` against weight rows `cols`: `C` at a time, the rest one at a time.
fn tiles<const R: usize, const C: usize>(
    acts: &Acts,
    r: usize,
    w: &[u16],
    k: usize,
    cols: std::ops::Range<usize>,
    put: &dyn Fn(usize, usize, f32),
) {
    let full = cols.start + cols.len() / C * C;
    for j in (cols.start..full).step_by(C) {
        // The next tile's weights (within the block), fetched while this one computes.
        let ahead = &w[(j + C) * k..(j + 2 * C).min(cols.end) * k];
        let t = acts.tile::<R, C>(r, &w[j * k..(j + C) * k], k, ahead);
        for (dr, row) in t.iter().enumerate() {
            for (dj, &v) in row.iter().enumerate() {
                put(r + dr, j + dj, v);
            }
        }
    }
    for j in full..cols.end {
        let t = acts.tile::<R, 1>(r, &w[j * k..(j + 1) * k], k, &[]);
        for (dr, row) in t.iter().enumerate() {
            put(r + dr, j, row[0]);
        }
    }
}

/// The activations as a kernel reads them.
enum Acts<'a> {
    /// As given (avx512, portable).
    F32 {
        kernel: Kernel,
        a: &'a [f32],
        k: usize,
    },
    /// Per row, `k` rounded up to 32 (zeros past `k`): the three bf16 parts (native).
    Parts { parts: [Vec<u16>; 3], k32: usize },
}

/// f32 → bf16, round to nearest even (finite values; NaN stays NaN).
fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

impl<'a> Acts<'a> {
    fn new(kernel: Kernel, a: &'a [f32], n: usize, k: usize) -> Acts<'a> {
        if kernel != Kernel::Native {
            return Acts::F32 { kernel, a, k };
        }
        let k32 = k.div_ceil(32) * 32;
        let mut parts = [
            vec![0u16; n * k32],
            vec![0u16; n * k32],
            vec![0u16; n * k32],
        ];
        for r in 0..n {
            for i in 0..k {
                // Each part the bf16 nearest what the parts before it left.
                let mut rest = a[r * k + i];
                for p in parts.iter_mut() {
                    let b = to_bf16(rest);
                    p[r * k32 + i] = b;
                    rest -= widen(b);
                }
            }
        }
        Acts::Parts { parts, k32 }
    }

    /// Rows `r..r + R` against the `C` weight rows of `w` (each `k` long).
    #[inline]
    fn tile<const R: usize, const C: usize>(
        &self,
        r: usize,
        w: &[u16],
        k: usize,
        ahead: &[u16],
    ) -> [[f32; C]; R] {
        match self {
            #[cfg(target_arch = "x86_64")]
            Acts::F32 {
                kernel: Kernel::Avx512,
                a,
                k: ka,
            } => {
                let rows: [&[f32]; R] = std::array::from_fn(|d| &a[(r + d) * ka..(r + d + 1) * ka]);
                // SAFETY: `Kernel::Avx512.available()` was asserted.
                unsafe { x86::f32_tile::<R, C>(rows, w, k, ahead) }
            }
            #[cfg(target_arch = "x86_64")]
            Acts::Parts { parts, k32 } => {
                let rows: [[&[u16]; 3]; R] = std::array::from_fn(|d| {
                    parts
                        .each_ref()
                        .map(|p| &p[(r + d) * k32..(r + d + 1) * k32])
                });
                // SAFETY: `Kernel::Native.available()` was asserted.
                unsafe { x86::bf16_tile::<R, C>(rows, w, k, ahead) }
            }
            Acts::F32 { a, k: ka, .. } => {
                let _ = ahead;
                let rows: [&[f32]; R] = std::array::from_fn(|d| &a[(r + d) * ka..(r + d + 1) * ka]);
                portable_tile::<R, C>(rows, w, k)
            }
            #[cfg(not(target_arch = "x86_64"))]
            Acts::Parts { .. } => unreachable!("the native kernel is x86_64 only"),
        }
    }
}

/// `R × C` dot products `a[dr] · widen(w[dj·k .. (dj+1)·k])` in plain Rust: per output 16
/// f32 lanes (lane `i % 16`, a multiply then an add: no FMA, so every build rounds alike),
/// summed by [`reduce16`]. Built for AVX2 where the CPU has it.
fn portable_tile<const R: usize, const C: usize>(
    a: [&[f32]; R],
    w: &[u16],
    k: usize,
) -> [[f32; C]; R] {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *AVX2.get_or_init(|| has("avx2")) {
            // SAFETY: the CPU has AVX2 (checked).
            return unsafe { portable_tile_avx2::<R, C>(a, w, k) };
        }
    }
    portable_tile_body::<R, C>(a, w, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn portable_tile_avx2<const R: usize, const C: usize>(
    a: [&[f32]; R],
    w: &[u16],
    k: usize,
) -> [[f32; C]; R] {
    portable_tile_body::<R, C>(a, w, k)
}

#[inline(always)]
fn portable_tile_body<const R: usize, const C: usize>(
    a: [&[f32]; R],
    w: &[u16],
    k: usize,
) -> [[f32; C]; R] {
    let mut acc = [[[0.0f32; 16]; C]; R];
    let mut wv = [[0.0f32; 16]; C];
    // A fn, not a closure: a closure is not built for the caller's target features.
    #[inline(always)]
    fn step<const R: usize, const C: usize>(
        acc: &mut [[[f32; 16]; C]; R],
        wv: &[[f32; 16]; C],
        xs: [&[f32; 16]; R],
    ) {
        for (rows, x) in acc.iter_mut().zip(xs) {
            for (s, v) in rows.iter_mut().zip(wv) {
                for l in 0..16 {
                    s[l] += x[l] * v[l];
                }
            }
        }
    }
    let full = k / 16 * 16;
    for i in (0..full).step_by(16) {
        for (dj, v) in wv.iter_mut().enumerate() {
            let row: &[u16; 16] = w[dj * k + i..dj * k + i + 16].try_into().expect("16");
            for l in 0..16 {
                v[l] = widen(row[l]);
            }
        }
        let mut xs: [&[f32; 16]; R] = [&[0.0; 16]; R];
        for (d, x) in xs.iter_mut().enumerate() {
            *x = a[d][i..i + 16].try_into().expect("16");
        }
        step(&mut acc, &wv, xs);
    }
    if full < k {
        // The tail, zero-padded to 16 lanes.
        let n = k - full;
        for (dj, v) in wv.iter_mut().enumerate() {
            *v = [0.0; 16];
            for l in 0..n {
                v[l] = widen(w[dj * k + full + l]);
            }
        }
        let mut pads = [[0.0f32; 16]; R];
        for (p, x) in pads.iter_mut().zip(&a) {
            p[..n].copy_from_slice(&x[full..]);
        }
        let mut xs: [&[f32; 16]; R] = [&[0.0; 16]; R];
        for (x, p) in xs.iter_mut().zip(&pads) {
            *x = p;
        }
        step(&mut acc, &wv, xs);
    }
    let mut out = [[0.0f32; C]; R];
    for (o, row) in out.iter_mut().zip(&acc) {
        for (x, lanes) in o.iter_mut().zip(row) {
            *x = reduce16(*lanes);
        }
    }
    out
}

/// The 16 lanes summed as a fixed tree (every kernel ends with it: the order
/// `_mm512_reduce_add_ps` uses is not promised).
#[inline(always)]
fn reduce16(mut v: [f32; 16]) -> f32 {
    let mut w = 8;
    while w > 0 {
        for l in 0..w {
            v[l] += v[l + w];
        }
        w /= 2;
    }
    v[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(x: f32) -> u16 {
        to_bf16(x)
    }

    /// Values exact in bf16 with few significant bits, so every partial sum is exact in f32
    /// and any order gives the same bits: the kernels must agree exactly.
    fn exact_case(n: usize, k: usize, m: usize) -> (Vec<f32>, Vec<u16>, Vec<f32>) {
        let a: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37 % 29) as f32 - 14.0) / 8.0)
            .collect();
        let wf: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919 % 251) as f32 - 125.0) / 64.0)
            .collect();
        let w: Vec<u16> = wf.iter().map(|&x| bits(x)).collect();
        let mut want = vec![0.0f32; n * m];
        for r in 0..n {
            for j in 0..m {
                want[r * m + j] = (0..k).map(|i| a[r * k + i] * wf[j * k + i]).sum();
            }
        }
        (a, w, want)
    }

    #[test]
    fn every_kernel_gives_the_exact_product_on_exact_data() {
        let kernels: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.available()).collect();
        // k not a multiple of 16 or 32 (the masked tail), m past one task's rows.
        for (n, k, m) in [
            (1, 37, 70),
            (5, 64, 33),
            (3, 100, 65),
            (9, 70, 75),
            (2, 16, 9),
        ] {
            let (a, w, want) = exact_case(n, k, m);
            for &kern in &kernels {
                for acc in [false, true] {
                    let mut got = vec![0.5f32; n * m];
                    matmul_with(kern, &a, &w, &mut got, n, k, m, acc, true);
                    let expect: Vec<f32> = want
                        .iter()
                        .map(|v| if acc { v + 0.5 } else { *v })
                        .collect();
                    assert_eq!(got, expect, "{kern:?} n {n} k {k} m {m} acc {acc}");
                }
            }
        }
    }

    #[test]
    fn the_kernels_agree_on_general_data_and_rows_do_not_depend_on_the_batch() {
        let (n, k, m) = (7, 576, 300);
        let a: Vec<f32> = (0..n * k)
            .map(|i| ((i as f32 * 0.618).sin() * 3.0).exp() * 0.01)
            .collect();
        let w: Vec<u16> = (0..m * k)
            .map(|i| bits((i as f32 * 1.37).cos() * 0.05))
            .collect();
        let mut by_kernel = Vec::new();
        for kern in Kernel::ALL {
            if !kern.available() {
                continue;
            }
            let mut all = vec![0.0f32; n * m];
            matmul_with(kern, &a, &w, &mut all, n, k, m, false, true);
            // Each row alone, serial: the same bits as inside the batch on threads.
            for r in 0..n {
                let mut one = vec![0.0f32; m];
                matmul_with(
                    kern,
                    &a[r * k..(r + 1) * k],
                    &w,
                    &mut one,
                    1,
                    k,
                    m,
                    false,
                    false,
                );
                assert_eq!(one, all[r * m..(r + 1) * m], "{kern:?} row {r}");
            }
            by_kernel.push(all);
        }
        // Against an f64 reference: each within f32 accumulation error.
        for got in &by_kernel {
            for r in 0..n {
                for j in 0..m {
                    let exact: f64 = (0..k)
                        .map(|i| a[r * k + i] as f64 * widen(w[j * k + i]) as f64)
                        .sum();
                    let scale: f64 = (0..k)
                        .map(|i| (a[r * k + i] as f64 * widen(w[j * k + i]) as f64).abs())
                        .sum();
                    let err = (got[r * m + j] as f64 - exact).abs();
                    assert!(
                        err <= 1e-5 * scale,
                        "row {r} col {j}: {err} vs scale {scale}"
                    );
                }
            }
        }
    }

    #[test]
    fn bf16_rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties to even (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
    }
}
