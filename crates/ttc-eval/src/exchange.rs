//! The FLOPs-matched exchange (Snell et al. §7, v1 conventions; DESIGN §9): pretraining costs
//! X = 6·P·D_pretrain, inference Y = 2·P·D_inference, R = D_inference / D_pretrain. The larger
//! model (P_L = r·P_S) answers greedily; the small one may spend N generations per question,
//! where 6·P_S·D_pre + 2·P_S·N·D_inf = 6·P_L·D_pre + 2·P_L·D_inf, i.e.
//! N(R) = 3·(r − 1)/R + r (r = 14: N = 258, 63, 16 at R = 0.16, 0.79, 22).

/// The paper's inference-to-pretraining token ratios.
pub const RATIOS: [f64; 3] = [0.16, 0.79, 22.0];

/// Generations per question the small model may spend at ratio `r_tokens` = R when the
/// larger model has `size_ratio` = P_L / P_S times its parameters.
pub fn matched_budget(size_ratio: f64, r_tokens: f64) -> f64 {
    3.0 * (size_ratio - 1.0) / r_tokens + size_ratio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_budgets_at_14x() {
        let n: Vec<f64> = RATIOS.iter().map(|&r| matched_budget(14.0, r)).collect();
        assert!((n[0] - 257.75).abs() < 1e-9);
        assert!((n[1] - (39.0 / 0.79 + 14.0)).abs() < 1e-9);
        assert!((n[2] - (39.0 / 22.0 + 14.0)).abs() < 1e-9);
        // Equal total FLOPs by construction (P_S = 1, D_pre = 1).
        for (&r, &n) in RATIOS.iter().zip(&n) {
            let small = 6.0 + 2.0 * n * r;
            let large = 6.0 * 14.0 + 2.0 * 14.0 * r;
            assert!((small - large).abs() < 1e-9);
        }
    }
}
