//! Training throughput benchmark (`ttc bench train`): forward + backward + AdamW step on
//! random tokens for a model config; with `--forward-only`, the loss forward alone on the
//! plain CPU backend (what validation passes and PRM scoring run).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;
use ttc_core::seed::derive_seed;
use ttc_model::{CpuAutodiff, CpuBackend, LlamaConfig};

use crate::loss::masked_cross_entropy;

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub bench: &'static str,
    pub params: usize,
    pub batch: usize,
    pub seq_len: usize,
    pub steps: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub tok_s: f64,
    pub peak_rss_mb: Option<f64>,
    /// `fused` (ttc's CPU kernels for attention, RMSNorm, SwiGLU, cross-entropy) or `composed` (burn ops).
    pub ops: &'static str,
}

/// What one benchmark run times: `steps` steps (after one warm-up) on `batch` random
/// sequences of `seq_len` tokens; `seed` fixes the weights and the tokens.
#[derive(Debug, Clone, Copy)]
pub struct BenchShape {
    pub batch: usize,
    pub seq_len: usize,
    pub steps: usize,
    pub seed: u64,
}

impl BenchShape {
    /// Random token ids, `batch` rows of `seq_len + 1` (inputs and shifted targets).
    fn random_ids(&self, cfg: &LlamaConfig) -> Vec<i64> {
        let v = cfg.vocab_size as u64;
        (0..(self.batch * (self.seq_len + 1)) as u64)
            .map(|i| (derive_seed(self.seed, i, 0) % v) as i64)
            .collect()
    }

    /// Inputs, next-token targets and an all-ones loss mask from `ids`.
    fn lm_batch<B: Backend>(
        &self,
        ids: &[i64],
        dev: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>, Tensor<B, 2>) {
        let (b, t) = (self.batch, self.seq_len);
        let all = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [b, t + 1]), dev);
        let x = all.clone().slice([0..b, 0..t]);
        let y = all.slice([0..b, 1..t + 1]);
        (x, y, Tensor::<B, 2>::ones([b, t], dev))
    }

    /// Runs `step` once to warm up, then `steps` times under the clock.
    fn time<S>(
        &self,
        bench: &'static str,
        cfg: &LlamaConfig,
        mut state: S,
        mut step: impl FnMut(S) -> S,
    ) -> (S, TrainReport) {
        state = step(state);
        let t = Instant::now();
        for _ in 0..self.steps {
            state = step(state);
        }
        let seconds = t.elapsed().as_secs_f64();
        let tokens = self.batch * self.seq_len * self.steps;
        let report = TrainReport {
            bench,
            params: cfg.num_params(),
            batch: self.batch,
            seq_len: self.seq_len,
            steps: self.steps,
            tokens,
            seconds,
            tok_s: tokens as f64 / seconds,
            peak_rss_mb: ttc_core::mem::peak_rss_bytes().map(|b| b as f64 / 1048576.0),
            ops: if ttc_model::model::fused::enabled() {
                "fused"
            } else {
                "composed"
            },
        };
        (state, report)
    }
}

/// Throughput of the loss forward alone on the plain CPU backend (no autodiff).
pub fn run_forward_bench(cfg: &LlamaConfig, shape: BenchShape) -> TrainReport {
    crate::tune_allocator_for_training();
    let dev = Default::default();
    let model = ttc_model::init_seeded::<CpuBackend>(cfg, shape.seed, &dev);
    let ids = shape.random_ids(cfg);
    let step = |()| {
        let (x, y, mask) = shape.lm_batch::<CpuBackend>(&ids, &dev);
        std::hint::black_box(masked_cross_entropy(model.forward(x), y, mask).into_scalar());
    };
    shape.time("forward", cfg, (), step).1
}

/// Throughput of training steps: forward, backward and an AdamW update under autodiff.
pub fn run_train_bench(cfg: &LlamaConfig, shape: BenchShape) -> TrainReport {
    crate::tune_allocator_for_training();
    let dev = Default::default();
    let model = ttc_model::init_seeded::<CpuAutodiff>(cfg, shape.seed, &dev);
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.95)
        .with_weight_decay(0.1)
        .init::<CpuAutodiff, ttc_model::model::Transformer<CpuAutodiff>>();
    let ids = shape.random_ids(cfg);
    let step = |model: ttc_model::model::Transformer<CpuAutodiff>| {
        let (x, y, mask) = shape.lm_batch::<CpuAutodiff>(&ids, &dev);
        let loss = masked_cross_entropy(model.forward(x), y, mask);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    let (model, report) = shape.time("train", cfg, model, step);
    let _ = model.valid();
    report
}
