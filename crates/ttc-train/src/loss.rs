//! Masked next-token cross-entropy: mean over positions whose mask is 1 (solution tokens),
//! so prompt and padding tokens carry no loss.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// `logits` `[b, t, v]`, `targets` `[b, t]` (next tokens), `mask` `[b, t]` in {0, 1}.
/// Returns the mean negative log-likelihood over masked positions, shape `[1]`.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    // flex (with or without autodiff): one fused op, forward and backward.
    if let Some(loss) =
        ttc_model::model::fused::masked_cross_entropy(logits.clone(), targets.clone(), mask.clone())
    {
        return loss;
    }
    let [b, t, v] = logits.dims();
    let picked = log_softmax_rows(logits.reshape([b * t, v]))
        .gather(1, targets.reshape([b * t, 1]))
        .reshape([b, t]);
    let n = mask.clone().sum().clamp_min(1.0);
    (picked * mask).sum().neg() / n
}

/// `log_softmax` over the last dim of `[n, v]` from matmuls and same-shape elementwise ops
/// only (as `ttc_model::model::fused::rms_norm_composed`): burn's `log_softmax` subtracts `[n, 1]` maxima
/// and log-sums, broadcasts that the flex backend walks element by element. The row maxima
/// (a constant shift; detached) and log-sums are spread to full shape by outer products.
fn log_softmax_rows<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let [_, v] = x.dims();
    let dev = x.device();
    let ones_row = Tensor::<B, 2>::ones([1, v], &dev);
    let shift = x.clone().detach().max_dim(1).matmul(ones_row.clone()); // [n, v]
    let z = x - shift;
    let sums = z.clone().exp().matmul(Tensor::<B, 2>::ones([v, 1], &dev)); // [n, 1]
    z - sums.log().matmul(ones_row)
}

/// How a causal-LM PRM reads a step: `sigmoid(slope · mean log p + intercept)`, the mean over
/// the solution's tokens up to the step's end (the likelihood scorer's `exp(mean log p)`,
/// calibrated). Fitted on the starting checkpoint and kept fixed while the LM learns.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepCalibration {
    pub slope: f32,
    pub intercept: f32,
}

/// How a causal LM trained on scored examples reads a step's score (a PRM that stays a
/// causal LM).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepReading {
    /// Its calibrated likelihood of the step's prefix (ttc's likelihood PRM).
    Likelihood(StepCalibration),
    /// Its next-token logits at the step's tag token: `sigmoid(logit[good] − logit[bad])`,
    /// the softmax over the two tokens (Math-Shepherd's generative PRM).
    Tag { good: u32, bad: u32 },
}

/// A generative PRM's step logit at every position, `logit[good] − logit[bad]`:
/// `logits` `[b, t, v]` → `[b, t]` (one matmul with a ±1 selector, so the backward is a
/// matmul too).
pub fn tag_logits<B: Backend>(logits: Tensor<B, 3>, good: u32, bad: u32) -> Tensor<B, 2> {
    let [b, t, v] = logits.dims();
    let mut sel = vec![0f32; v];
    sel[good as usize] += 1.0;
    sel[bad as usize] -= 1.0;
    let sel =
        Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(sel, [v, 1]), &logits.device());
    logits.reshape([b * t, v]).matmul(sel).reshape([b, t])
}

/// The likelihood PRM's loss: soft-label BCE of each scored step's calibrated prefix mean
/// log-likelihood. `logits` `[b, t, v]`, next tokens `targets` `[b, t]`; `weights`
/// `[k, b·t]` averages a step's prefix positions (row sums 1), `labels` `[k]`.
///
/// With `groups` (each step's question), each question's difficulty is profiled out: its
/// steps' logits get the offset that minimises their BCE ([`group_offsets`], held fixed), so
/// the gradient sums to zero within a question and only the differences between its
/// solutions teach the model (at the optimum offset the profiled loss's gradient is the
/// partial gradient, so holding it fixed is exact).
pub fn likelihood_step_bce<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    weights: Tensor<B, 2>,
    labels: Tensor<B, 1>,
    calibration: StepCalibration,
    groups: Option<&[u32]>,
) -> Tensor<B, 1> {
    let [b, t, v] = logits.dims();
    let k = labels.dims()[0];
    let picked =
        log_softmax_rows(logits.reshape([b * t, v])).gather(1, targets.reshape([b * t, 1]));
    let means = weights.matmul(picked).reshape([1, k]);
    let mut z = means * calibration.slope + calibration.intercept;
    let dev = z.device();
    if let Some(g) = groups {
        let zs = z
            .clone()
            .detach()
            .into_data()
            .to_vec::<f32>()
            .unwrap_or_default();
        let ys = labels
            .clone()
            .into_data()
            .to_vec::<f32>()
            .unwrap_or_default();
        let c = group_offsets(&zs, &ys, g);
        z = z + Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(c, [1, k]), &dev);
    }
    let ones = Tensor::<B, 2>::ones([1, k], &dev);
    masked_soft_bce(z, labels.reshape([1, k]), ones)
}

/// Per step, its group's offset `c` minimising `Σ softplus(z + c) − y·(z + c)` over the
/// group (damped Newton; clamped to ±30 where every label is 0 or every label is 1).
pub fn group_offsets(z: &[f32], y: &[f32], groups: &[u32]) -> Vec<f32> {
    let mut members: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &g) in groups.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut out = vec![0.0f32; z.len()];
    for idx in members.values() {
        let mut c = 0.0f64;
        for _ in 0..50 {
            let (mut grad, mut hess) = (0.0f64, 0.0f64);
            for &i in idx {
                let p = 1.0 / (1.0 + (-(z[i] as f64 + c)).exp());
                grad += p - y[i] as f64;
                hess += p * (1.0 - p);
            }
            if grad.abs() < 1e-7 {
                break;
            }
            let step = if hess > 1e-12 {
                grad / hess
            } else {
                grad.signum() * 5.0
            };
            c = (c - step.clamp(-5.0, 5.0)).clamp(-30.0, 30.0);
        }
        for &i in idx {
            out[i] = c as f32;
        }
    }
    out
}

/// Binary cross-entropy with soft targets on logits (burn's BCE takes integer targets):
/// mean over masked positions of `softplus(x) - y·x`, computed stably as
/// `max(x, 0) - y·x + ln(1 + e^{-|x|})`. `logits`, `targets`, `mask`: `[b, t]`.
pub fn masked_soft_bce<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    mask: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().log1p();
    let per = softplus - targets * logits;
    let n = mask.clone().sum().clamp_min(1.0);
    (per * mask).sum() / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use ttc_model::CpuBackend;

    #[test]
    fn tag_logits_are_the_good_minus_the_bad_logit() {
        let dev = Default::default();
        // [1, 2, 4]: two positions, four tokens; good = 3, bad = 1.
        let vals = vec![0.5f32, 2.0, -1.0, 4.0, 1.0, -3.0, 7.0, 0.25];
        let x = Tensor::<CpuBackend, 3>::from_data(TensorData::new(vals, [1, 2, 4]), &dev);
        let d = tag_logits(x, 3, 1).into_data().to_vec::<f32>().unwrap();
        assert_eq!(d, vec![2.0, 3.25]);
    }

    #[test]
    fn log_softmax_rows_matches_burn_and_survives_large_logits() {
        let dev = Default::default();
        let vals = vec![0.5f32, -1.0, 3.0, 100.0, 99.0, -50.0];
        let x = Tensor::<CpuBackend, 2>::from_data(TensorData::new(vals, [2, 3]), &dev);
        let ours = log_softmax_rows(x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let burn = burn::tensor::activation::log_softmax(x, 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for (a, b) in ours.iter().zip(&burn) {
            assert!(
                a.is_finite() && (a - b).abs() < 1e-5,
                "{ours:?} vs {burn:?}"
            );
        }
    }

    #[test]
    fn matches_hand_computation_and_ignores_masked_positions() {
        let dev = Default::default();
        // One sequence, two positions, vocab 2.
        let logits = Tensor::<CpuBackend, 3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0], [1, 2, 2]),
            &dev,
        );
        let targets =
            Tensor::<CpuBackend, 2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &dev);
        let both =
            Tensor::<CpuBackend, 2>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 2]), &dev);
        let first =
            Tensor::<CpuBackend, 2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &dev);
        let l2 = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        let got = masked_cross_entropy(logits.clone(), targets.clone(), both).into_scalar() as f64;
        assert!((got - l2).abs() < 1e-6, "{got} vs {l2}");
        let got = masked_cross_entropy(logits, targets, first).into_scalar() as f64;
        assert!((got - 2f64.ln()).abs() < 1e-6);
    }

    /// The fused op (flex) against the composed ops: loss and logits gradient, with masked
    /// rows, large logits and a vocabulary that is not a multiple of the SIMD width.
    #[test]
    fn fused_cross_entropy_matches_composed_ops_with_gradients() {
        use ttc_model::CpuAutodiff;
        let (b, t, v) = (3, 7, 37);
        let dev = Default::default();
        let run = |fused: bool| {
            ttc_model::model::fused::set_enabled(fused);
            let x: Vec<f32> = (0..b * t * v)
                .map(|i| ((i * 29 % 41) as f32 - 20.0) * if i % 5 == 0 { 4.0 } else { 0.3 })
                .collect();
            let logits = Tensor::<CpuAutodiff, 3>::from_data(TensorData::new(x, [b, t, v]), &dev)
                .require_grad();
            let ids: Vec<i64> = (0..b * t).map(|i| (i * 11 % v) as i64).collect();
            let targets =
                Tensor::<CpuAutodiff, 2, Int>::from_data(TensorData::new(ids, [b, t]), &dev);
            let m: Vec<f32> = (0..b * t)
                .map(|i| if i % 3 == 1 { 0.0 } else { 1.0 })
                .collect();
            let mask = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(m, [b, t]), &dev);
            let loss = masked_cross_entropy(logits.clone(), targets, mask);
            let grads = (loss.clone() * 3.0).backward();
            ttc_model::model::fused::set_enabled(true);
            let g = logits
                .grad(&grads)
                .unwrap()
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            (loss.into_scalar(), g)
        };
        let ((lf, gf), (lc, gc)) = (run(true), run(false));
        assert!(
            (lf - lc).abs() < 1e-5 * (1.0 + lc.abs()),
            "loss {lf} vs {lc}"
        );
        for (i, (a, c)) in gf.iter().zip(&gc).enumerate() {
            assert!(
                (a - c).abs() < 1e-6,
                "dlogits[{i}]: fused {a} vs composed {c}"
            );
        }
        assert!(gf.iter().any(|&g| g != 0.0));
    }

    #[test]
    fn soft_bce_matches_hand_computation_and_is_minimal_at_the_target() {
        let dev = Default::default();
        let x = [0.0f32, 2.0, -3.0, 5.0];
        let y = [0.5f32, 1.0, 0.25, 0.0];
        let m = [1.0f32, 1.0, 1.0, 0.0];
        let t = |v: [f32; 4]| {
            Tensor::<CpuBackend, 2>::from_data(TensorData::new(v.to_vec(), [2, 2]), &dev)
        };
        let got = masked_soft_bce(t(x), t(y), t(m)).into_scalar();
        let want: f32 = (0..3)
            .map(|i| {
                let p = 1.0 / (1.0 + (-x[i]).exp());
                -(y[i] * p.ln() + (1.0 - y[i]) * (1.0 - p).ln())
            })
            .sum::<f32>()
            / 3.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // For a soft target y, the loss over x is minimised at sigmoid(x) = y.
        let at = |xv: f32| {
            masked_soft_bce(
                t([xv, 0.0, 0.0, 0.0]),
                t([0.25, 0.0, 0.0, 0.0]),
                t([1.0, 0.0, 0.0, 0.0]),
            )
            .into_scalar()
        };
        let best = (0.25f32 / 0.75).ln();
        assert!(at(best) < at(best - 0.1) && at(best) < at(best + 0.1));
    }

    #[test]
    fn likelihood_step_bce_reads_the_calibrated_prefix_mean() {
        let dev = Default::default();
        // One row, 3 positions, vocab 2: log p of the targets by hand.
        let x = vec![0.0f32, 0.0, 1.0, -1.0, 2.0, 0.0];
        let logits =
            Tensor::<CpuBackend, 3>::from_data(TensorData::new(x.clone(), [1, 3, 2]), &dev);
        let targets = Tensor::<CpuBackend, 2, Int>::from_data(
            TensorData::new(vec![1i64, 0, 1], [1, 3]),
            &dev,
        );
        let lp = |a: f32, b: f32, pick_a: bool| {
            let m = a.max(b);
            let lse = m + ((a - m).exp() + (b - m).exp()).ln();
            if pick_a { a - lse } else { b - lse }
        };
        let l = [
            lp(x[0], x[1], false),
            lp(x[2], x[3], true),
            lp(x[4], x[5], false),
        ];
        // Step 0: positions 0, 1; step 1: positions 0..=2.
        let w = Tensor::<CpuBackend, 2>::from_data(
            TensorData::new(
                vec![0.5f32, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
                [2, 3],
            ),
            &dev,
        );
        let y = [0.8f32, 0.1];
        let labels = Tensor::<CpuBackend, 1>::from_data(TensorData::new(y.to_vec(), [2]), &dev);
        let c = StepCalibration {
            slope: 2.0,
            intercept: 0.5,
        };
        let got = likelihood_step_bce(logits, targets, w, labels, c, None).into_scalar();
        let means = [(l[0] + l[1]) / 2.0, (l[0] + l[1] + l[2]) / 3.0];
        let want: f32 = means
            .iter()
            .zip(y)
            .map(|(m, y)| {
                let p = 1.0 / (1.0 + (-(2.0 * m + 0.5)).exp());
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f32>()
            / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn group_offsets_profile_out_each_groups_level() {
        // Group 7: labels average 0.5 around logits 1, 3 → offset −2 (sigmoid(−1) + sigmoid(1) = 1).
        // Group 2: one step → its logit moves to the label's logit exactly.
        // Group 4: every label 1 → the offset runs up until the group's gradient vanishes.
        let z = [1.0f32, 3.0, 0.0, -1.0, 2.0];
        let y = [0.0f32, 1.0, 0.8, 1.0, 1.0];
        let g = [7u32, 7, 2, 4, 4];
        let c = group_offsets(&z, &y, &g);
        assert!((c[0] + 2.0).abs() < 1e-4 && c[0] == c[1], "{c:?}");
        assert!((c[2] - (0.8f32 / 0.2).ln()).abs() < 1e-4, "{c:?}");
        assert!(c[3] > 15.0 && c[3] == c[4], "{c:?}");
    }
}
