//! Rotary position tables, HF "rotate halves" convention (not burn's adjacent-pair RoPE):
//! for head dim `d`, pair `i` is `(x[i], x[i + d/2])` rotated by `pos · θ^(-2i/d)`.
//! Computed in f64 and stored as f32 so the burn model and the CPU decoder see the very
//! same values.

use crate::config::RopeScaling;

/// Llama 3 rescaling: long wavelengths slowed by `factor`, short ones kept, a smooth
/// blend between (transformers' `_compute_llama3_parameters`).
fn scale_freq(inv: f64, s: &RopeScaling) -> f64 {
    match *s {
        RopeScaling::None => inv,
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings: old,
        } => {
            let wavelen = 2.0 * std::f64::consts::PI / inv;
            let (low_wl, high_wl) = (old / low_freq_factor, old / high_freq_factor);
            if wavelen < high_wl {
                inv
            } else if wavelen > low_wl {
                inv / factor
            } else {
                let smooth =
                    (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                (1.0 - smooth) * inv / factor + smooth * inv
            }
        }
    }
}

/// `cos` and `sin`, each `[max_pos, head_dim / 2]` row-major.
#[derive(Debug, Clone)]
pub struct RopeTables {
    pub half: usize,
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl RopeTables {
    pub fn new(head_dim: usize, max_pos: usize, theta: f64, scaling: &RopeScaling) -> Self {
        let half = head_dim / 2;
        let inv: Vec<f64> = (0..half)
            .map(|i| scale_freq(1.0 / theta.powf((2 * i) as f64 / head_dim as f64), scaling))
            .collect();
        let mut cos = Vec::with_capacity(max_pos * half);
        let mut sin = Vec::with_capacity(max_pos * half);
        for p in 0..max_pos {
            for inv in &inv {
                let a = p as f64 * inv;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        RopeTables { half, cos, sin }
    }

    /// Rotate one head vector in place at position `pos`.
    #[inline]
    pub fn apply(&self, x: &mut [f32], pos: usize) {
        let h = self.half;
        let (c, s) = (
            &self.cos[pos * h..(pos + 1) * h],
            &self.sin[pos * h..(pos + 1) * h],
        );
        for i in 0..h {
            let (a, b) = (x[i], x[i + h]);
            x[i] = a * c[i] - b * s[i];
            x[i + h] = b * c[i] + a * s[i];
        }
    }

    pub fn max_pos(&self) -> usize {
        self.cos.len() / self.half.max(1)
    }
}
