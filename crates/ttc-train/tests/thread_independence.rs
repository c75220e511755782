//! A training step gives the same bytes at any thread count (DESIGN §1: the same seed gives
//! the same bytes on any machine): the logits, every parameter's gradient and the weights
//! after a clipped AdamW step, at the default policy size on 1, 2 and 4 threads. Both sides
//! run on this machine, so no CPU's rounding is assumed.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData};
use ttc_model::{CpuAutodiff, CpuBackend, LlamaConfig};
use ttc_train::loss::masked_cross_entropy;

/// Each parameter's gradient (when `grads` is given) or value, as f32 bits.
struct Collect<'a> {
    grads: Option<&'a GradientsParams>,
    out: Vec<Vec<u32>>,
}

impl ModuleVisitor<CpuAutodiff> for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<CpuAutodiff, D>>) {
        let data = match self.grads {
            Some(g) => g
                .get::<CpuBackend, D>(p.id)
                .expect("a gradient")
                .into_data(),
            None => p.val().into_data(),
        };
        let v: Vec<f32> = data.to_vec().unwrap();
        self.out.push(v.iter().map(|x| x.to_bits()).collect());
    }
}

/// (logits, gradients, weights after one step) of one training step on `threads` threads.
fn step(threads: usize) -> (Vec<u32>, Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let cfg = LlamaConfig::named("default", 320).unwrap();
        let dev = Default::default();
        let model = ttc_model::init_seeded::<CpuAutodiff>(&cfg, 3, &dev);
        let (b, t) = (8usize, 128usize);
        let ids: Vec<i64> = (0..b * (t + 1))
            .map(|i| ((i * 7919 + 13) % 320) as i64)
            .collect();
        let all = Tensor::<CpuAutodiff, 2, Int>::from_data(TensorData::new(ids, [b, t + 1]), &dev);
        let x = all.clone().slice([0..b, 0..t]);
        let y = all.slice([0..b, 1..t + 1]);
        let logits = model.forward(x);
        let bits: Vec<f32> = logits.clone().into_data().to_vec().unwrap();
        let loss = masked_cross_entropy(logits, y, Tensor::ones([b, t], &dev));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut g = Collect {
            grads: Some(&grads),
            out: vec![],
        };
        model.visit(&mut g);
        let grad_bits = g.out;
        let mut optim = AdamWConfig::new()
            .with_weight_decay(0.1)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(0.5)))
            .init::<CpuAutodiff, ttc_model::model::Transformer<CpuAutodiff>>();
        let model = optim.step(1e-3, model, grads);
        let mut w = Collect {
            grads: None,
            out: vec![],
        };
        model.visit(&mut w);
        (bits.iter().map(|x| x.to_bits()).collect(), grad_bits, w.out)
    })
}

#[test]
fn a_training_step_is_the_same_bytes_on_1_2_and_4_threads() {
    let one = step(1);
    assert!(one.1.len() > 30, "every parameter has a gradient");
    for threads in [2, 4] {
        let other = step(threads);
        assert!(one.0 == other.0, "logits differ at {threads} threads");
        for (i, (a, b)) in one.1.iter().zip(&other.1).enumerate() {
            assert!(
                a == b,
                "gradient of parameter {i} differs at {threads} threads"
            );
        }
        for (i, (a, b)) in one.2.iter().zip(&other.2).enumerate() {
            assert!(
                a == b,
                "parameter {i} after the step differs at {threads} threads"
            );
        }
    }
}
