//! `ttc bench serve`: the same generation work in-process and through `ttc serve` on
//! loopback (the remote engine driving it with one request per sequence, all in flight
//! together), and one request at a time, to show what continuous batching buys.

use std::time::Instant;

use serde::Serialize;
use ttc_core::seed::derive_seed;
use ttc_engine::Engine;
use ttc_model::LlamaConfig;
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::{EngineSpec, ServerKind};
use ttc_model::sampling::SamplingParams;

use crate::{Background, Limits, Served};

#[derive(Debug, Clone, Serialize)]
pub struct ServeReport {
    pub bench: &'static str,
    pub params: usize,
    /// Concurrent requests (sequences).
    pub batch: usize,
    pub prompt_len: usize,
    pub new_tokens: usize,
    /// Generated tokens per second, prefill included, in-process.
    pub in_process_tok_s: f64,
    /// The same through `ttc serve` (one HTTP request per sequence, all in flight).
    pub served_tok_s: f64,
    /// served / in-process.
    pub served_ratio: f64,
    /// `sequential` requests one after another (no batching across requests).
    pub sequential_requests: usize,
    pub sequential_tok_s: f64,
}

fn no_tokenizer() -> tokenizers::Tokenizer {
    tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default())
}

/// Run the comparison for a random model of `cfg` (its EOS removed, so every sequence
/// generates exactly `new_tokens`).
pub fn run(
    cfg: &LlamaConfig,
    seed: u64,
    batch: usize,
    prompt_len: usize,
    new_tokens: usize,
    sequential: usize,
) -> Result<ServeReport, String> {
    let mut cfg = cfg.clone();
    cfg.eos_token_id = None;
    let make = || {
        ttc_engine::bench::random_model(&cfg, seed, &EngineSpec::cpu()).map_err(|e| e.to_string())
    };
    let prompts: Vec<Vec<u32>> = (0..batch)
        .map(|i| {
            (0..prompt_len)
                .map(|j| (derive_seed(seed, i as u64, j as u64) % cfg.vocab_size as u64) as u32)
                .collect()
        })
        .collect();
    let params = SamplingParams::sampled(0.8, 1.0, new_tokens);
    let local = make()?;
    let once = |engine: &Engine, prompts: &[Vec<u32>]| -> Result<(f64, u64), String> {
        let t = Instant::now();
        let out = engine
            .generate(prompts, 1, &params, seed)
            .map_err(|e| e.to_string())?;
        let toks: u64 = out
            .iter()
            .flatten()
            .map(|g| g.generated_tokens as u64)
            .sum();
        Ok((t.elapsed().as_secs_f64(), toks))
    };
    // A warm-up round (threads, connections), then the best of three: this VM's speed
    // drifts, and both sides get the same treatment.
    let time = |engine: &Engine, prompts: &[Vec<u32>]| -> Result<(f64, u64), String> {
        once(engine, prompts)?;
        let mut best = once(engine, prompts)?;
        for _ in 0..2 {
            let r = once(engine, prompts)?;
            if r.0 < best.0 {
                best = r;
            }
        }
        Ok(best)
    };
    let mut e = Engine::untokenized(local.as_ref());
    e.set_eos(Vec::new());
    let (s_local, t_local) = time(&e, &prompts)?;
    drop(e);
    let server = Background::start(
        vec![Served {
            names: vec!["bench".into()],
            model: make()?,
            tokenizer: no_tokenizer(),
        }],
        Limits::default(),
        None,
    )
    .map_err(|e| format!("ttc serve: {e}"))?;
    let spec = EngineSpec {
        model: Some("bench".into()),
        server: ServerKind::Ttc,
        max_in_flight: Some(batch.max(1)),
        ..EngineSpec::openai(&[&server.url()])
    };
    let remote = ttc_remote::RemoteModel::connect(cfg.clone(), no_tokenizer(), &spec, "bench")
        .map_err(|e| e.to_string())?;
    let mut e = Engine::untokenized(&remote as &dyn Decoder);
    e.set_eos(Vec::new());
    let (s_served, t_served) = time(&e, &prompts)?;
    let k = sequential.min(batch).max(1);
    let t = Instant::now();
    let mut t_seq = 0;
    for p in prompts.iter().take(k) {
        t_seq += once(&e, std::slice::from_ref(p))?.1;
    }
    let s_seq = t.elapsed().as_secs_f64();
    let (a, b) = (t_local as f64 / s_local, t_served as f64 / s_served);
    Ok(ServeReport {
        bench: "serve",
        params: cfg.num_params(),
        batch,
        prompt_len,
        new_tokens,
        in_process_tok_s: a,
        served_tok_s: b,
        served_ratio: b / a,
        sequential_requests: k,
        sequential_tok_s: t_seq as f64 / s_seq,
    })
}
