//! Learning-rate schedule: linear warmup to `peak`, cosine decay to `peak · min_ratio`.

/// Learning rate at `step` (0-based) of `total`.
pub fn warmup_cosine(step: usize, total: usize, warmup: usize, peak: f64, min_ratio: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (min_ratio + (1.0 - min_ratio) * cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_the_floor() {
        let lr = |s| warmup_cosine(s, 110, 10, 1e-3, 0.1);
        assert!((lr(0) - 1e-4).abs() < 1e-12);
        assert!((lr(9) - 1e-3).abs() < 1e-12);
        assert!((lr(10) - 1e-3).abs() < 1e-12);
        assert!((lr(60) - 0.55e-3).abs() < 1e-9);
        assert!((lr(110) - 1e-4).abs() < 1e-12);
        assert!((1..110).all(|s| lr(s) <= lr(s.min(10)) + 1e-15));
    }
}
