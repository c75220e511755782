//! A two-parameter logistic fit, `sigmoid(a·x + b)` against soft targets: how the likelihood
//! verifier's mean log-probability becomes a probability that a step is right (DESIGN §12).

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `(a, b)` minimising the cross-entropy of `sigmoid(a·x + b)` against soft targets `y`
/// (Newton's method; `None` for fewer than two distinct `x` or a fit that diverges).
/// Two parameters: written here rather than pulling in a regression crate (linfa's
/// logistic regression would bring ndarray and an optimiser for a 2×2 Newton step).
pub fn fit_logistic(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if x.len() < 2 || x.iter().all(|&v| v == x[0]) {
        return None;
    }
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(y) {
            let p = sigmoid(a * xi + b);
            let w = (p * (1.0 - p)).max(1e-12);
            ga += (p - yi) * xi;
            gb += p - yi;
            haa += w * xi * xi;
            hab += w * xi;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            return None;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if !(a.is_finite() && b.is_finite()) {
            return None;
        }
        if da.abs() < 1e-10 && db.abs() < 1e-10 {
            return Some((a, b));
        }
    }
    Some((a, b)).filter(|(a, b)| a.is_finite() && b.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logistic_fit_recovers_the_curve_that_made_the_targets() {
        let x: Vec<f64> = (0..200).map(|i| -3.0 + i as f64 * 0.03).collect();
        let y: Vec<f64> = x.iter().map(|&v| sigmoid(2.0 * v - 1.0)).collect();
        let (a, b) = fit_logistic(&x, &y).unwrap();
        assert!((a - 2.0).abs() < 1e-6 && (b + 1.0).abs() < 1e-6, "{a} {b}");
        assert!(fit_logistic(&[1.0, 1.0], &[0.0, 1.0]).is_none());
    }
}
