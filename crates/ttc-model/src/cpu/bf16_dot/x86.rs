//! The AVX-512 kernels of [`super`]: register tiles of `R` activation rows × `C` weight
//! rows, each output accumulated chunk by chunk in 16 f32 lanes and summed by
//! [`super::reduce16`] — the same order for every `R` and `C`.

use std::arch::x86_64::*;

/// Touch line `it` of every `iters` of `ahead` (the next tile's weights): spread over a
/// tile's iterations, all of `ahead` is on its way to L2 when the next tile starts. A tile's
/// weight rows are read side by side, a few hundred bytes each: too short for the hardware
/// prefetcher to follow (measured on a 56 MB matrix at batch 1: 9 GB/s without, against 20
/// GB/s for one row after another).
#[inline(always)]
unsafe fn prefetch_share(ahead: &[u16], it: usize, iters: usize) {
    let lines = (ahead.len() * 2).div_ceil(64);
    let per = lines.div_ceil(iters.max(1));
    let base = ahead.as_ptr().cast::<i8>();
    for l in it * per..((it + 1) * per).min(lines) {
        // SAFETY: l < lines: inside `ahead` (a prefetch never faults anyway).
        unsafe { _mm_prefetch::<_MM_HINT_T1>(base.add(l * 64)) };
    }
}

/// The 16 lanes of each accumulator summed.
#[inline(always)]
unsafe fn sums<const R: usize, const C: usize>(acc: &[[__m512; C]; R]) -> [[f32; C]; R] {
    let mut out = [[0.0f32; C]; R];
    for (o, a) in out.iter_mut().zip(acc) {
        for (x, v) in o.iter_mut().zip(a) {
            let mut lanes = [0.0f32; 16];
            // SAFETY: 16 f32 of room.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *v) };
            *x = super::reduce16(lanes);
        }
    }
    out
}

/// `R × C` dot products: `a[dr] · widen(w[dj·k .. (dj+1)·k])`, 16 weights at a time widened
/// in registers, one FMA each; `ahead` (the next tile's weights) prefetched meanwhile.
///
/// # Safety
/// The CPU has AVX-512 F, BW and VL; every `a[dr].len() == k` and `w.len() == C · k`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn f32_tile<const R: usize, const C: usize>(
    a: [&[f32]; R],
    w: &[u16],
    k: usize,
    ahead: &[u16],
) -> [[f32; C]; R] {
    debug_assert!(w.len() == C * k && a.iter().all(|x| x.len() == k));
    let mut acc = [[_mm512_setzero_ps(); C]; R];
    let mut wv = [_mm512_setzero_ps(); C];
    let mut i = 0;
    // SAFETY (every load): masked to the k - i values left of the row it reads.
    unsafe {
        while i < k {
            prefetch_share(ahead, i / 16, k.div_ceil(16));
            let left = k - i;
            let mask: __mmask16 = if left >= 16 {
                u16::MAX
            } else {
                (1u16 << left) - 1
            };
            for (dj, v) in wv.iter_mut().enumerate() {
                let h = _mm256_maskz_loadu_epi16(mask, w.as_ptr().add(dj * k + i).cast());
                *v = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)));
            }
            for (row, x) in acc.iter_mut().zip(&a) {
                let x = _mm512_maskz_loadu_ps(mask, x.as_ptr().add(i));
                for (s, &v) in row.iter_mut().zip(&wv) {
                    *s = _mm512_fmadd_ps(x, v, *s);
                }
            }
            i += 16;
        }
        sums(&acc)
    }
}

/// 32 bf16 values at `p` (`n` of them when `n` < 32; zeros past `n`).
#[inline(always)]
unsafe fn load_bf16(p: *const u16, n: usize) -> __m512bh {
    let mask: __mmask32 = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    // SAFETY: the caller owns min(n, 32) readable values at p; the mask reads no others.
    unsafe { std::mem::transmute(_mm512_maskz_loadu_epi16(mask, p.cast())) }
}

/// `R × C` dot products of 3-part activations (`a[dr][p]`, each padded with zeros to a
/// multiple of 32) with bf16 weight rows: per 32 weights, the three parts in order, one
/// `vdpbf16ps` each; `ahead` prefetched meanwhile.
///
/// # Safety
/// The CPU has AVX-512 F, BW and BF16; `w.len() == C · k`; every part holds ≥ k rounded up to
/// 32 values.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub unsafe fn bf16_tile<const R: usize, const C: usize>(
    a: [[&[u16]; 3]; R],
    w: &[u16],
    k: usize,
    ahead: &[u16],
) -> [[f32; C]; R] {
    debug_assert!(w.len() == C * k && a.iter().flatten().all(|p| p.len() >= k.div_ceil(32) * 32));
    let mut acc = [[_mm512_setzero_ps(); C]; R];
    // SAFETY: zeroed bits are a valid (zero) bf16 vector.
    let mut wv: [__m512bh; C] = unsafe { std::mem::zeroed() };
    let mut i = 0;
    // SAFETY (every load): weights masked to the k - i values left; parts hold ≥ i + 32.
    unsafe {
        while i < k {
            prefetch_share(ahead, i / 32, k.div_ceil(32));
            for (dj, v) in wv.iter_mut().enumerate() {
                *v = load_bf16(w.as_ptr().add(dj * k + i), k - i);
            }
            for (row, parts) in acc.iter_mut().zip(&a) {
                for p in parts {
                    let x = load_bf16(p.as_ptr().add(i), 32);
                    for (s, &v) in row.iter_mut().zip(&wv) {
                        *s = _mm512_dpbf16_ps(*s, x, v);
                    }
                }
            }
            i += 32;
        }
        sums(&acc)
    }
}
