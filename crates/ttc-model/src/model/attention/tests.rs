//! Fused attention against the composed ops and a host f64 reference.

use super::*;
use crate::CpuAutodiff;
use crate::model::fused::tests::{close, data, values};

fn inputs<B: Backend>(s: AttnShape, scale: f32) -> [Tensor<B, 3>; 3] {
    let AttnShape { b, h, kv, t, hd } = s;
    let dev = Default::default();
    let mk = |n: usize, off: usize, shape: [usize; 3], sc: f32| {
        Tensor::<B, 3>::from_data(TensorData::new(data(n, off, sc), shape), &dev)
    };
    [
        mk(b * h * t * hd, 0, [b * h, t, hd], scale),
        mk(b * kv * t * hd, 5, [b * kv, t, hd], scale),
        mk(b * t * kv * hd, 9, [b, t, kv * hd], 1.0),
    ]
}

const SHAPES: [AttnShape; 3] = [
    AttnShape {
        b: 2,
        h: 6,
        kv: 2,
        t: 9,
        hd: 8,
    },
    AttnShape {
        b: 1,
        h: 2,
        kv: 2,
        t: 1,
        hd: 4,
    },
    AttnShape {
        b: 3,
        h: 4,
        kv: 1,
        t: 17,
        hd: 16,
    },
];

/// The fused inference forward equals the composed ops (grouped-query heads, t = 1 too).
#[test]
fn fused_forward_matches_composed_ops() {
    for s in SHAPES {
        for scale in [1.0, 3.0] {
            let [q, k, v] = inputs::<CpuBackend>(s, scale);
            let bias = causal_bias::<CpuBackend>(s.b, s.h, s.t, &q.device());
            let want = values(composed(q.clone(), k.clone(), v.clone(), s, bias));
            let got = values(attention(q, k, v, s, None));
            close(&format!("{s:?} scale {scale}"), &got, &want, 1e-5);
        }
    }
}

/// The fused op's backward equals autodiff through the composed ops, for q, k and v,
/// under a loss that weights every output element differently.
#[test]
fn fused_gradients_match_autodiff_of_composed_ops() {
    for s in SHAPES {
        let run = |fused_path: bool| {
            let [q, k, v] = inputs::<CpuAutodiff>(s, 2.0).map(|x| x.require_grad());
            let dev = q.device();
            let y = if fused_path {
                attention(q.clone(), k.clone(), v.clone(), s, None)
            } else {
                let bias = causal_bias::<CpuAutodiff>(s.b, s.h, s.t, &dev);
                composed(q.clone(), k.clone(), v.clone(), s, bias)
            };
            let n = s.b * s.t * s.h * s.hd;
            let w = Tensor::<CpuAutodiff, 3>::from_data(
                TensorData::new(data(n, 3, 1.0), [s.b, s.t, s.h * s.hd]),
                &dev,
            );
            let grads = (y.clone() * w).sum().backward();
            let g = |x: &Tensor<CpuAutodiff, 3>| values(x.grad(&grads).unwrap());
            (values(y), g(&q), g(&k), g(&v))
        };
        let (fused, comp) = (run(true), run(false));
        close(&format!("{s:?} y"), &fused.0, &comp.0, 1e-5);
        close(&format!("{s:?} dq"), &fused.1, &comp.1, 1e-4);
        close(&format!("{s:?} dk"), &fused.2, &comp.2, 1e-4);
        close(&format!("{s:?} dv"), &fused.3, &comp.3, 1e-4);
    }
}

/// Visible scores all far below -87 (plain `exp` underflows to 0 in every row): the
/// fused forward still equals the composed one and its gradients stay finite.
#[test]
fn fused_attention_survives_scores_that_underflow() {
    let s = SHAPES[0];
    let [q, k, v] = inputs::<CpuAutodiff>(s, 1.0);
    let q = (q.abs().neg() * 500.0 - 0.5).detach().require_grad();
    let k = (k.abs() + 0.5).detach().require_grad();
    let v = v.require_grad();
    let y = attention(q.clone(), k.clone(), v.clone(), s, None);
    let bias = causal_bias::<CpuAutodiff>(s.b, s.h, s.t, &q.device());
    let want = values(composed(q.clone(), k.clone(), v.clone(), s, bias));
    close("underflow forward", &values(y.clone()), &want, 1e-4);
    let grads = (y.clone() * y).sum().backward();
    for (name, x) in [("q", q), ("k", k), ("v", v)] {
        let g = values(x.grad(&grads).unwrap());
        assert!(g.iter().all(|x| x.is_finite()), "d{name} not finite");
    }
}

/// Reference on the host in f64: causal softmax(q·kᵀ/√hd)·v.
fn reference(
    q: &Tensor<CpuBackend, 4>,
    k: &Tensor<CpuBackend, 4>,
    v: &Tensor<CpuBackend, 4>,
) -> Vec<f32> {
    let [b, h, t, hd] = q.dims();
    let host = |x: &Tensor<CpuBackend, 4>| x.to_data().to_vec::<f32>().unwrap();
    let (q, k, v) = (host(q), host(k), host(v));
    let at = |x: &[f32], m: usize, i: usize, j: usize| x[(m * t + i) * hd + j] as f64;
    let mut out = vec![0.0f32; b * h * t * hd];
    for m in 0..b * h {
        for i in 0..t {
            let s: Vec<f64> = (0..=i)
                .map(|j| {
                    (0..hd)
                        .map(|d| at(&q, m, i, d) * at(&k, m, j, d))
                        .sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..hd {
                let y: f64 = (0..=i).map(|j| e[j] / z * at(&v, m, j, d)).sum();
                out[(m * t + i) * hd + d] = y as f32;
            }
        }
    }
    out
}

fn qkv(scale: f32) -> [Tensor<CpuBackend, 4>; 3] {
    let dev = Default::default();
    let (b, h, t, hd) = (2, 3, 7, 4);
    let n = b * h * t * hd;
    let mk = |off: usize, s: f32| {
        let x: Vec<f32> = (0..n)
            .map(|i| (((i * 37 + off) % 23) as f32 / 11.0 - 1.0) * s)
            .collect();
        Tensor::<CpuBackend, 4>::from_data(TensorData::new(x, [b, h, t, hd]), &dev)
    };
    // Keys all positive and queries all negative with `scale` large: every visible score
    // of a row is then far below -87, where exp underflows to 0.
    let k = mk(5, 1.0).abs() + 0.5;
    [mk(0, 1.0).abs().neg() * scale - 0.5, k, mk(9, 1.0)]
}

/// The composed paths — inference (flex's fused softmax) and autodiff (the contiguous
/// decomposition) — and the fused kernel against the host reference, at normal scale and with every visible
/// score far below -87 (where a row sum of plain `exp` underflows to 0).
#[test]
fn attention_matches_host_softmax_even_when_every_score_underflows() {
    for scale in [1.0, 500.0] {
        let [q, k, v] = qkv(scale);
        let [b, h, t, _] = q.dims();
        let dev = q.device();
        let want = reference(&q, &k, &v);
        let bias = causal_bias::<CpuBackend>(b, h, t, &dev);
        let inference = causal_attention(q.clone(), k.clone(), v.clone(), bias);
        let lift =
            |x: &Tensor<CpuBackend, 4>| Tensor::<CpuAutodiff, 4>::from_data(x.to_data(), &dev);
        let bias = causal_bias::<CpuAutodiff>(b, h, t, &dev);
        let training = causal_attention(lift(&q), lift(&k), lift(&v), bias);
        // The fused kernel on the same heads, in its layouts.
        let s = AttnShape {
            b,
            h,
            kv: h,
            t,
            hd: q.dims()[3],
        };
        let heads = |x: &Tensor<CpuBackend, 4>| x.clone().reshape([b * h, t, s.hd]);
        let tokens = v.clone().swap_dims(1, 2).reshape([b, t, h * s.hd]);
        let fused = attention(heads(&q), heads(&k), tokens, s, None)
            .reshape([b, t, h, s.hd])
            .swap_dims(1, 2);
        for (path, got) in [
            ("inference", inference.into_data()),
            ("autodiff", training.into_data()),
            ("fused", fused.into_data()),
        ] {
            let got = got.to_vec::<f32>().unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{path}, scale {scale}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn causal_attention_gradients_stay_finite_when_every_score_underflows() {
    let [q, k, v] = qkv(500.0);
    let [b, h, t, _] = q.dims();
    let dev = q.device();
    let lift = |x: Tensor<CpuBackend, 4>| {
        Tensor::<CpuAutodiff, 4>::from_data(x.into_data(), &dev).require_grad()
    };
    let (q, k, v) = (lift(q), lift(k), lift(v));
    let bias = causal_bias::<CpuAutodiff>(b, h, t, &dev);
    let y = causal_attention(q.clone(), k.clone(), v.clone(), bias);
    let grads = (y.clone() * y).sum().backward();
    for (name, x) in [("q", q), ("k", k), ("v", v)] {
        let g = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert!(
            g.iter().all(|x| x.is_finite()),
            "d{name} has non-finite entries"
        );
    }
}
