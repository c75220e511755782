//! Generation and scoring benchmarks (`ttc bench generate`, `ttc bench score`): prefill and
//! decode throughput of the engine on any backend for a model config at a batch size, with
//! random weights and random prompts; scoring = whole sequences through a score head.

use std::time::Instant;

use serde::Serialize;

use crate::engine::Engine;
use ttc_core::seed::derive_seed;
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::{EngineSpec, decoder_from_weights};
use ttc_model::sampling::SamplingParams;
use ttc_model::{LlamaConfig, Result};

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
    /// What ran the model ("cpu", "burn-flex", "burn-cuda:0 bf16").
    pub backend: String,
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

/// Random weights for `cfg` (seeded) on the backend `spec` names.
pub fn random_model(cfg: &LlamaConfig, seed: u64, spec: &EngineSpec) -> Result<Box<dyn Decoder>> {
    let w = ttc_model::init_cpu_seeded(cfg, seed).to_weights();
    decoder_from_weights(cfg, w, std::path::Path::new("<random weights>"), spec)
}

/// Random weights for `cfg` (seeded) on the cpu backend, as its own type.
pub fn random_cpu_model(cfg: &LlamaConfig, seed: u64) -> Result<ttc_model::cpu::CpuModel> {
    let w = ttc_model::init_cpu_seeded(cfg, seed).to_weights();
    ttc_model::cpu::CpuModel::from_weights(cfg, &w)
}

/// Read bandwidth in GB/s on `threads` threads (0 = all cores): a 512 MiB buffer summed
/// in `threads` equal parts, the best of 3 passes after a warm one — the bound a decode
/// step that streams its weights from memory cannot beat.
pub fn read_bandwidth(threads: usize) -> Result<f64> {
    use rayon::prelude::*;
    let words: usize = 64 << 20;
    let buf: Vec<u64> = (0..words as u64).collect();
    thread_pool(threads)?.install(|| {
        let parts = rayon::current_num_threads();
        let chunk = words.div_ceil(parts);
        let mut best = f64::INFINITY;
        let mut sink = 0u64;
        for pass in 0..4 {
            let t = Instant::now();
            sink ^= buf
                .par_chunks(chunk)
                .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
                .reduce(|| 0, u64::wrapping_add);
            if pass > 0 {
                best = best.min(t.elapsed().as_secs_f64());
            }
        }
        std::hint::black_box(sink);
        Ok((words * 8) as f64 / best / 1e9)
    })
}

/// The decode tokens/s that reading the weights bounds: each step streams `weight_bytes`
/// at `bandwidth_gb_s` and yields `batch` tokens. `None` when either is not positive.
pub fn decode_bound(batch: usize, weight_bytes: f64, bandwidth_gb_s: f64) -> Option<f64> {
    (weight_bytes > 0.0 && bandwidth_gb_s > 0.0)
        .then(|| batch as f64 * bandwidth_gb_s * 1e9 / weight_bytes)
}

fn random_prompts(b: &GenerateBench, vocab: u64, len: usize) -> Vec<Vec<u32>> {
    (0..b.batch)
        .map(|i| {
            (0..len)
                .map(|j| (derive_seed(b.seed, i as u64, j as u64) % vocab) as u32)
                .collect()
        })
        .collect()
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ttc_model::Error::Config(format!("threads: {e}")))
}

pub fn run_generate_bench(model: &dyn Decoder, b: &GenerateBench) -> Result<GenerateReport> {
    thread_pool(b.threads)?.install(|| {
        let mut engine = Engine::untokenized(model);
        // Every sequence generates exactly `new_tokens` (no EOS), so backends compare.
        engine.set_eos(Vec::new());
        let prompts = random_prompts(b, model.config().vocab_size as u64, b.prompt_len);
        let params = SamplingParams::sampled(b.temperature, 1.0, b.new_tokens);
        // Warm-up: thread pool and allocator.
        let warm = engine.prefill(&prompts[..1])?;
        engine.decode(warm, &SamplingParams::sampled(b.temperature, 1.0, 4), &[0])?;
        let before = engine.counts();
        let t0 = Instant::now();
        let seqs = engine.prefill(&prompts)?;
        let prefill_s = t0.elapsed().as_secs_f64();
        let mid = engine.counts();
        let seeds: Vec<u64> = (0..b.batch as u64)
            .map(|i| derive_seed(b.seed, i, 0))
            .collect();
        let t1 = Instant::now();
        let out = engine.decode(seqs, &params, &seeds)?;
        let decode_s = t1.elapsed().as_secs_f64();
        let generated: u64 = out.iter().map(|(_, g)| g.generated_tokens as u64).sum();
        let prefill_tokens = mid.prefill_tokens - before.prefill_tokens;
        Ok(GenerateReport {
            bench: "generate",
            backend: model.describe(),
            params: model.config().num_params(),
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

/// Scoring throughput: `batch` random sequences of `prompt_len + new_tokens` tokens through
/// a model (a score head when `cfg` has one), one output every `step_len` tokens — what PRM
/// evaluation and ORM scoring do. Reported in the prefill fields; decode fields are 0.
pub fn run_score_bench(
    model: &dyn Decoder,
    b: &GenerateBench,
    step_len: usize,
) -> Result<GenerateReport> {
    thread_pool(b.threads)?.install(|| {
        let len = b.prompt_len + b.new_tokens;
        let seqs = random_prompts(b, model.config().vocab_size as u64, len);
        let score = |seqs: &[Vec<u32>]| -> Result<usize> {
            let mut caches: Vec<_> = seqs.iter().map(|_| model.new_cache()).collect();
            let mut rows = Vec::new();
            let mut outs = Vec::new();
            for (s, toks) in seqs.iter().enumerate() {
                for (pos, &token) in toks.iter().enumerate() {
                    if pos >= b.prompt_len
                        && (pos + 1 - b.prompt_len).is_multiple_of(step_len.max(1))
                    {
                        outs.push(rows.len());
                    }
                    rows.push(ttc_model::cpu::Row { seq: s, token, pos });
                }
            }
            model.forward(&mut caches, &rows, &outs)?;
            Ok(rows.len())
        };
        score(&seqs[..1])?;
        let t0 = Instant::now();
        let tokens = score(&seqs)? as u64;
        let s = t0.elapsed().as_secs_f64();
        Ok(GenerateReport {
            bench: "score",
            backend: model.describe(),
            params: model.config().num_params(),
            batch: b.batch,
            prompt_len: b.prompt_len,
            new_tokens: b.new_tokens,
            threads: rayon::current_num_threads(),
            prefill_tokens: tokens,
            prefill_s: s,
            prefill_tok_s: tokens as f64 / s,
            decode_tokens: 0,
            decode_s: 0.0,
            decode_tok_s: 0.0,
            peak_rss_mb: ttc_core::mem::peak_rss_bytes().map(|b| b as f64 / 1048576.0),
        })
    })
}
