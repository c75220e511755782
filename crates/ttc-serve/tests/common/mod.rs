//! The tiny random model and tokenizer the `ttc serve` tests share.
#![allow(dead_code)]

use ttc_engine::bench::random_model;
use ttc_model::LlamaConfig;
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::EngineSpec;

pub fn tokenizer() -> tokenizers::Tokenizer {
    tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default())
}

pub fn cfg() -> LlamaConfig {
    let mut c = LlamaConfig::named("tiny", 64).unwrap();
    c.eos_token_id = None;
    c
}

/// Random weights: burn's seed is global, so tests running in parallel take turns.
pub fn model(c: &LlamaConfig) -> Box<dyn Decoder> {
    static SEEDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = SEEDING.lock().unwrap();
    random_model(c, 5, &EngineSpec::cpu()).unwrap()
}
