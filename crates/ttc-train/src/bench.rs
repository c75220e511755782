//! Training throughput benchmark (`ttc bench train`): forward + backward + AdamW step on
//! random tokens for a model config; with `--forward-only`, the loss forward alone on the
//! plain CPU backend (what validation passes and PRM scoring run).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;
use ttc_model::generate::derive_seed;
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
}

/// Random token ids, `batch` rows of `seq_len + 1` (inputs and shifted targets).
fn random_ids(cfg: &LlamaConfig, batch: usize, seq_len: usize, seed: u64) -> Vec<i64> {
    let v = cfg.vocab_size as u64;
    (0..(batch * (seq_len + 1)) as u64)
        .map(|i| (derive_seed(seed, i, 0) % v) as i64)
        .collect()
}

/// Inputs, next-token targets and an all-ones loss mask from `random_ids`.
fn lm_batch<B: Backend>(
    ids: &[i64],
    batch: usize,
    seq_len: usize,
    dev: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>, Tensor<B, 2>) {
    let all =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [batch, seq_len + 1]), dev);
    let x = all.clone().slice([0..batch, 0..seq_len]);
    let y = all.slice([0..batch, 1..seq_len + 1]);
    (x, y, Tensor::<B, 2>::ones([batch, seq_len], dev))
}

/// Throughput of the loss forward alone on the plain CPU backend (no autodiff).
pub fn run_forward_bench(
    cfg: &LlamaConfig,
    batch: usize,
    seq_len: usize,
    steps: usize,
    seed: u64,
) -> TrainReport {
    crate::tune_allocator_for_training();
    let dev = Default::default();
    <CpuBackend as Backend>::seed(&dev, seed);
    let model = cfg.init::<CpuBackend>(&dev);
    let ids = random_ids(cfg, batch, seq_len, seed);
    let step = || {
        let (x, y, mask) = lm_batch::<CpuBackend>(&ids, batch, seq_len, &dev);
        masked_cross_entropy(model.forward(x), y, mask).into_scalar()
    };
    step(); // warm-up
    let t = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(step());
    }
    report(
        "forward",
        cfg,
        batch,
        seq_len,
        steps,
        t.elapsed().as_secs_f64(),
    )
}

fn report(
    bench: &'static str,
    cfg: &LlamaConfig,
    batch: usize,
    seq_len: usize,
    steps: usize,
    seconds: f64,
) -> TrainReport {
    let tokens = batch * seq_len * steps;
    TrainReport {
        bench,
        params: cfg.num_params(),
        batch,
        seq_len,
        steps,
        tokens,
        seconds,
        tok_s: tokens as f64 / seconds,
        peak_rss_mb: ttc_core::mem::peak_rss_bytes().map(|b| b as f64 / 1048576.0),
    }
}

pub fn run_train_bench(
    cfg: &LlamaConfig,
    batch: usize,
    seq_len: usize,
    steps: usize,
    seed: u64,
) -> TrainReport {
    crate::tune_allocator_for_training();
    let dev = Default::default();
    <CpuAutodiff as Backend>::seed(&dev, seed);
    let mut model = cfg.init::<CpuAutodiff>(&dev);
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.95)
        .with_weight_decay(0.1)
        .init::<CpuAutodiff, ttc_model::model::Transformer<CpuAutodiff>>();
    let ids = random_ids(cfg, batch, seq_len, seed);
    let mut step = |model: ttc_model::model::Transformer<CpuAutodiff>| {
        let (x, y, mask) = lm_batch::<CpuAutodiff>(&ids, batch, seq_len, &dev);
        let loss = masked_cross_entropy(model.forward(x), y, mask);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    model = step(model); // warm-up
    let t = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    let seconds = t.elapsed().as_secs_f64();
    let _ = model.valid();
    report("train", cfg, batch, seq_len, steps, seconds)
}
