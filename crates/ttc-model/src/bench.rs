//! Generation benchmark (`ttc bench generate`): prefill and decode throughput of the CPU
//! sampler for a model config at a batch size, with random weights and random prompts.

use std::time::Instant;

use serde::Serialize;

use crate::cpu::CpuModel;
use crate::generate::Engine;
use crate::sampling::SamplingParams;
use crate::{LlamaConfig, Result};
use ttc_core::seed::derive_seed;

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateBench {
    pub batch: usize,
    pub prompt_len: usize,
    pub new_tokens: usize,
    pub temperature: f32,
    pub seed: u64,
    /// rayon threads (0 = all cores).
    pub threads: usize,
}

/// The measurement, printed as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    pub bench: &'static str,
    pub params: usize,
    pub batch: usize,
    pub prompt_len: usize,
    pub new_tokens: usize,
    pub threads: usize,
    pub prefill_tokens: u64,
    pub prefill_s: f64,
    pub prefill_tok_s: f64,
    pub decode_tokens: u64,
    pub decode_s: f64,
    pub decode_tok_s: f64,
    pub peak_rss_mb: Option<f64>,
}

/// Random weights for `cfg` (seeded).
pub fn random_cpu_model(cfg: &LlamaConfig, seed: u64) -> Result<CpuModel> {
    let w = crate::init_cpu_seeded(cfg, seed).to_weights();
    CpuModel::from_weights(cfg, &w)
}

pub fn run_generate_bench(model: &CpuModel, b: &GenerateBench) -> Result<GenerateReport> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(b.threads)
        .build()
        .map_err(|e| crate::Error::Config(format!("threads: {e}")))?;
    pool.install(|| {
        let engine = Engine::untokenized(model);
        let vocab = model.cfg.vocab_size as u64;
        let prompts: Vec<Vec<u32>> = (0..b.batch)
            .map(|i| {
                (0..b.prompt_len)
                    .map(|j| (derive_seed(b.seed, i as u64, j as u64) % vocab) as u32)
                    .collect()
            })
            .collect();
        let params = SamplingParams::sampled(b.temperature, 1.0, b.new_tokens);
        // Warm-up: thread pool and allocator.
        let warm = engine.prefill(&prompts[..1]);
        engine.decode(warm, &SamplingParams::sampled(b.temperature, 1.0, 4), &[0]);
        let before = engine.counts();
        let t0 = Instant::now();
        let seqs = engine.prefill(&prompts);
        let prefill_s = t0.elapsed().as_secs_f64();
        let mid = engine.counts();
        let seeds: Vec<u64> = (0..b.batch as u64)
            .map(|i| derive_seed(b.seed, i, 0))
            .collect();
        let t1 = Instant::now();
        let out = engine.decode(seqs, &params, &seeds);
        let decode_s = t1.elapsed().as_secs_f64();
        let generated: u64 = out.iter().map(|(_, g)| g.generated_tokens as u64).sum();
        let prefill_tokens = mid.prefill_tokens - before.prefill_tokens;
        Ok(GenerateReport {
            bench: "generate",
            params: model.cfg.num_params(),
            batch: b.batch,
            prompt_len: b.prompt_len,
            new_tokens: b.new_tokens,
            threads: rayon::current_num_threads(),
            prefill_tokens,
            prefill_s,
            prefill_tok_s: prefill_tokens as f64 / prefill_s,
            decode_tokens: generated,
            decode_s,
            decode_tok_s: generated as f64 / decode_s,
            peak_rss_mb: ttc_core::mem::peak_rss_bytes().map(|b| b as f64 / 1048576.0),
        })
    })
}
