//! The arithmetic of the newer strategies, free of any model (DESIGN §13): softmax weights
//! over verifier scores, multinomial and systematic resampling (particle filtering), an
//! exact integer split of a budget (REBASE), and the stopping rules of adaptive voting.
//!
//! Random draws are uniforms derived from a seed with [`derive_seed`] — one per draw index —
//! so a resampling is the same bytes on every machine and every batch.

use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;

/// The n-th uniform in [0, 1) of the stream `seed` (53 bits of a splitmix64 hash).
pub fn uniform(seed: u64, n: u64) -> f64 {
    (derive_seed(seed, n, 0x5EED) >> 11) as f64 / (1u64 << 53) as f64
}

/// logit(p) with p clipped to [1e-7, 1 − 1e-7] (its_hub's clip): a verifier score as a
/// log-weight.
pub fn logit(p: f32) -> f64 {
    let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// softmax(x / temperature), shifted by the maximum for stability; `temperature` > 0.
pub fn softmax(x: &[f64], temperature: f64) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| ((v - m) / temperature).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// How particles are redrawn in proportion to their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resampling {
    /// k independent draws (its_hub's `random.choices`).
    #[default]
    Multinomial,
    /// One uniform u, then the k points (u + i) / k: lower variance, every particle with
    /// weight ≥ 1/k survives.
    Systematic,
}

impl Resampling {
    pub fn name(self) -> &'static str {
        match self {
            Resampling::Multinomial => "multinomial",
            Resampling::Systematic => "systematic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "multinomial" => Some(Resampling::Multinomial),
            "systematic" => Some(Resampling::Systematic),
            _ => None,
        }
    }

    /// `k` indices into `weights` (normalised, summing to 1), in ascending order, drawn with
    /// the uniforms of `seed`.
    pub fn draw(self, weights: &[f64], k: usize, seed: u64) -> Vec<usize> {
        let points: Vec<f64> = match self {
            Resampling::Multinomial => {
                let mut u: Vec<f64> = (0..k as u64).map(|i| uniform(seed, i)).collect();
                u.sort_by(f64::total_cmp);
                u
            }
            Resampling::Systematic => {
                let u = uniform(seed, 0);
                (0..k).map(|i| (u + i as f64) / k as f64).collect()
            }
        };
        // Walk the cumulative weights once; the last index takes any rounding remainder.
        let mut out = Vec::with_capacity(k);
        let mut cum = 0.0;
        let mut j = 0;
        for p in points {
            while j + 1 < weights.len() && cum + weights[j] <= p {
                cum += weights[j];
                j += 1;
            }
            // Float remainder past the last positive weight: never a zero-weight particle.
            let mut k = j;
            while k > 0 && weights[k] <= 0.0 {
                k -= 1;
            }
            out.push(k);
        }
        out
    }
}

/// Split `total` into integers proportional to `weights` (summing to 1) that sum to exactly
/// `total`: floors first, then one more to the largest remainders (ties: lower index).
pub fn split_budget(weights: &[f64], total: usize) -> Vec<usize> {
    let exact: Vec<f64> = weights.iter().map(|w| w * total as f64).collect();
    let mut out: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let given: usize = out.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(total.saturating_sub(given)) {
        out[i] += 1;
    }
    out
}

/// When adaptive voting stops sampling a question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum StopRule {
    /// Early-stopping self-consistency (Li et al. 2024): stop once every answer of the
    /// latest window is the same (and present).
    Esc,
    /// Adaptive-Consistency's Beta rule (Aggarwal et al. 2023): stop once
    /// P(p₁ > p₂) ≥ `confidence` under Beta(v₁ + 1, v₂ + 1), v₁ ≥ v₂ the two largest vote
    /// counts so far.
    Beta { confidence: f64 },
}

impl StopRule {
    /// Whether to stop, given every vote count so far (any order) and the latest window's
    /// answers (already grouped: equal ids are equivalent answers; `None` = no answer).
    pub fn stops(self, counts: &[usize], window: &[Option<usize>]) -> bool {
        match self {
            StopRule::Esc => {
                !window.is_empty() && window[0].is_some() && window.iter().all(|a| *a == window[0])
            }
            StopRule::Beta { confidence } => {
                let mut c: Vec<usize> = counts.to_vec();
                c.sort_unstable_by(|a, b| b.cmp(a));
                let v1 = c.first().copied().unwrap_or(0);
                let v2 = c.get(1).copied().unwrap_or(0);
                v1 > 0 && beta_mass_above_half(v1 + 1, v2 + 1) >= confidence
            }
        }
    }

    /// A short label: `esc`, `beta0.95`.
    pub fn label(self) -> String {
        match self {
            StopRule::Esc => "esc".into(),
            StopRule::Beta { confidence } => format!("beta{confidence}"),
        }
    }
}

/// P(X > 1/2) for X ~ Beta(a, b), integer a, b ≥ 1, exactly: with n = a + b − 1,
/// P(X ≤ 1/2) = Σ_{j=a}^{n} C(n, j) / 2ⁿ (the regularised incomplete beta for integer
/// parameters as a binomial tail), summed in log space.
pub fn beta_mass_above_half(a: usize, b: usize) -> f64 {
    let n = a + b - 1;
    let ln_choose =
        |n: usize, k: usize| -> f64 { (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum() };
    let below: f64 = (a..=n)
        .map(|j| (ln_choose(n, j) - n as f64 * std::f64::consts::LN_2).exp())
        .sum();
    (1.0 - below).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniforms_are_in_range_and_repeat() {
        for i in 0..1000 {
            let u = uniform(7, i);
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, uniform(7, i));
        }
        assert_ne!(uniform(7, 0), uniform(8, 0));
    }

    #[test]
    fn logit_and_softmax_follow_its_hub() {
        assert_eq!(logit(0.5), 0.0);
        assert!((logit(0.75) - 3f64.ln()).abs() < 1e-12);
        assert!(logit(0.0).is_finite() && logit(1.0).is_finite());
        // Scores 0.75 and 0.25: logits ±ln 3, weights ∝ 3 : 1/3, i.e. 0.9 and 0.1.
        let w = softmax(&[logit(0.75), logit(0.25)], 1.0);
        assert!((w[0] - 0.9).abs() < 1e-12 && (w[1] - 0.1).abs() < 1e-12);
        // Temperature 2 flattens: ∝ √3 : 1/√3, i.e. 0.75 and 0.25.
        let w = softmax(&[logit(0.75), logit(0.25)], 2.0);
        assert!((w[0] - 0.75).abs() < 1e-12 && (w[1] - 0.25).abs() < 1e-12);
    }

    #[test]
    fn systematic_resampling_keeps_every_heavy_particle() {
        // Weights 1/2, 1/4, 1/8, 1/8 at k = 8: exactly 4, 2, 1, 1 copies whatever u is.
        let w = [0.5, 0.25, 0.125, 0.125];
        for seed in 0..50 {
            let d = Resampling::Systematic.draw(&w, 8, seed);
            let count = |i| d.iter().filter(|&&j| j == i).count();
            assert_eq!((count(0), count(1), count(2), count(3)), (4, 2, 1, 1));
        }
    }

    #[test]
    fn multinomial_resampling_is_proportional_on_average() {
        let w = [0.7, 0.0, 0.3];
        let mut hits = [0usize; 3];
        for seed in 0..400 {
            for j in Resampling::Multinomial.draw(&w, 10, seed) {
                hits[j] += 1;
            }
        }
        assert_eq!(hits[1], 0, "a zero-weight particle is never drawn");
        let share = hits[0] as f64 / 4000.0;
        assert!((share - 0.7).abs() < 0.03, "{share}");
        // Sorted output, fixed by the seed.
        let d = Resampling::Multinomial.draw(&w, 10, 3);
        assert!(d.windows(2).all(|p| p[0] <= p[1]));
        assert_eq!(d, Resampling::Multinomial.draw(&w, 10, 3));
    }

    #[test]
    fn budget_splits_are_exact_and_proportional() {
        assert_eq!(split_budget(&[0.5, 0.3, 0.2], 10), vec![5, 3, 2]);
        // 7 × (0.4, 0.4, 0.2) = 2.8, 2.8, 1.4: floors 2, 2, 1, then the two largest
        // remainders (0.8, 0.8) take one each.
        assert_eq!(split_budget(&[0.4, 0.4, 0.2], 7), vec![3, 3, 1]);
        // Equal remainders: the lower index first.
        assert_eq!(split_budget(&[0.25; 4], 2), vec![1, 1, 0, 0]);
        for total in 0..40 {
            let w = softmax(&[0.1, 2.0, -1.0, 0.7, 0.7], 0.5);
            assert_eq!(split_budget(&w, total).iter().sum::<usize>(), total);
        }
    }

    #[test]
    fn the_beta_rule_matches_hand_computed_tails() {
        // Beta(1,1) is uniform: half its mass above 1/2.
        assert!((beta_mass_above_half(1, 1) - 0.5).abs() < 1e-12);
        // Beta(2,1): density 2x, P(X > 1/2) = 3/4.
        assert!((beta_mass_above_half(2, 1) - 0.75).abs() < 1e-12);
        // Beta(5,1): 1 − (1/2)^5.
        assert!((beta_mass_above_half(5, 1) - 31.0 / 32.0).abs() < 1e-12);
        // Beta(3,2): n = 4, P(X ≤ 1/2) = (C(4,3) + C(4,4)) / 16 = 5/16.
        assert!((beta_mass_above_half(3, 2) - 11.0 / 16.0).abs() < 1e-12);
        let beta = StopRule::Beta { confidence: 0.95 };
        // 4 votes to 0: P = 1 − 1/32 = 0.969 ≥ 0.95; 3 to 0: 0.9375 < 0.95.
        assert!(beta.stops(&[4], &[]));
        assert!(!beta.stops(&[3], &[]));
        assert!(!beta.stops(&[5, 4, 1], &[]));
        assert!(!beta.stops(&[], &[]));
    }

    #[test]
    fn esc_stops_only_on_a_unanimous_window_with_an_answer() {
        assert!(StopRule::Esc.stops(&[], &[Some(1), Some(1), Some(1)]));
        assert!(!StopRule::Esc.stops(&[], &[Some(1), Some(2), Some(1)]));
        assert!(!StopRule::Esc.stops(&[], &[None, None]));
        assert!(!StopRule::Esc.stops(&[], &[]));
    }
}
