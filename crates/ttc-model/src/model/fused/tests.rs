//! The fused ops against their composed burn forms; the SIMD helpers against plain loops.

use super::*;
use burn::nn::RmsNormConfig;
use burn::tensor::TensorData;
use burn::tensor::activation::silu;

pub(crate) fn data(n: usize, off: usize, s: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((((i * 37 + off) % 23) as f32) / 11.0 - 1.0) * s)
        .collect()
}

fn t3<B: Backend>(shape: [usize; 3], off: usize, s: f32) -> Tensor<B, 3> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(data(n, off, s), shape), &Default::default())
}

pub(crate) fn values<B: Backend, const D: usize>(x: Tensor<B, D>) -> Vec<f32> {
    x.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

pub(crate) fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: fused {g} vs composed/reference {w}"
        );
    }
}

#[test]
fn exp_matches_std_to_float_precision() {
    let mut worst = 0.0f64;
    for i in 0..=200_000 {
        let x = -87.0 + 175.0 * i as f64 / 200_000.0;
        let want = (x as f32 as f64).exp();
        let got = exp(x as f32) as f64;
        worst = worst.max(((got - want) / want).abs());
    }
    assert!(worst < 3e-7, "worst relative error {worst}");
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp(-100.0), 0.0);
    assert_eq!(exp(0.0), 1.0);
    assert!(exp(f32::NAN).is_nan());
}

#[test]
fn lane_reductions_match_serial_ones() {
    for n in [0, 1, 15, 16, 17, 100] {
        let a = data(n, 1, 2.0);
        let b = data(n, 4, 1.0);
        let close1 = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + y.abs());
        assert!(close1(sum(&a), a.iter().sum()));
        assert!(close1(
            dot(&a, &b),
            a.iter().zip(&b).map(|(x, y)| x * y).sum()
        ));
        assert_eq!(max(&a), a.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)));
    }
}

/// Both fused ops against their composed burn forms, values and (under autodiff)
/// gradients of a loss weighting every output differently.
#[test]
fn fused_rms_norm_and_swiglu_match_composed_ops() {
    let shape = [3, 5, 40];
    let dev = Default::default();
    let w = t3::<CpuAutodiff>(shape, 3, 1.0);
    // RMSNorm with a non-trivial γ.
    let run_norm = |fused_path: bool| {
        let mut norm = RmsNormConfig::new(40)
            .with_epsilon(1e-5)
            .init::<CpuAutodiff>(&dev);
        let g = Tensor::<CpuAutodiff, 1>::from_data(TensorData::new(data(40, 7, 1.5), [40]), &dev);
        norm.gamma = burn::module::Param::from_tensor(g);
        let x = t3::<CpuAutodiff>(shape, 0, 2.0).require_grad();
        let y = if fused_path {
            rms_norm(&norm, x.clone())
        } else {
            rms_norm_composed(&norm, x.clone())
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        let dg = values(norm.gamma.val().grad(&grads).unwrap());
        (values(y), values(x.grad(&grads).unwrap()), dg)
    };
    let (f, c) = (run_norm(true), run_norm(false));
    close("rms y", &f.0, &c.0, 1e-5);
    close("rms dx", &f.1, &c.1, 1e-4);
    close("rms dgamma", &f.2, &c.2, 1e-4);
    // Inference path.
    let norm = RmsNormConfig::new(40).init::<CpuBackend>(&dev);
    let x = t3::<CpuBackend>(shape, 0, 2.0);
    close(
        "rms inference",
        &values(rms_norm(&norm, x.clone())),
        &values(rms_norm_composed(&norm, x)),
        1e-5,
    );
    // SwiGLU, with gate values out to ±12 (σ saturating).
    let run_glu = |fused_path: bool| {
        let a = t3::<CpuAutodiff>(shape, 0, 12.0).require_grad();
        let u = t3::<CpuAutodiff>(shape, 9, 1.0).require_grad();
        let y = if fused_path {
            swiglu(a.clone(), u.clone())
        } else {
            silu(a.clone()) * u.clone()
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (
            values(y),
            values(a.grad(&grads).unwrap()),
            values(u.grad(&grads).unwrap()),
        )
    };
    let (f, c) = (run_glu(true), run_glu(false));
    close("swiglu y", &f.0, &c.0, 1e-5);
    close("swiglu da", &f.1, &c.1, 1e-4);
    close("swiglu du", &f.2, &c.2, 1e-4);
    let (a, u) = (
        t3::<CpuBackend>(shape, 0, 12.0),
        t3::<CpuBackend>(shape, 9, 1.0),
    );
    close(
        "swiglu inference",
        &values(swiglu(a.clone(), u.clone())),
        &values(silu(a) * u),
        1e-5,
    );
}
