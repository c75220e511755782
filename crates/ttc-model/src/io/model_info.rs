//! `ttc model info`: what a checkpoint is (architecture, parameters, FLOPs per token),
//! what its files hold (dtypes, bytes on disk), and what loading it costs on the CPU engine
//! (memory held, peak RSS) — measured by loading it, so a truncated or garbage file is
//! reported, not described.

use std::path::Path;

use crate::Result;
use crate::config::LlamaConfig;

/// The description of the checkpoint in `dir`, as JSON.
pub fn describe(dir: &Path) -> Result<serde_json::Value> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    let files = crate::io::checkpoint_files::summarize_weights(dir)?;
    let rss_before = ttc_core::mem::peak_rss_bytes();
    // Every tensor is read and checked (header, shape against the config, finite values),
    // one at a time, as the CPU engine loads them (f16 / bf16 matrices kept as stored).
    let model = crate::cpu::CpuModel::load(dir, &cfg, true)?;
    let peak = ttc_core::mem::peak_rss_bytes();
    let memory = model.weight_bytes();
    let half = model.has_half_weights();
    drop(model);
    let stored: u64 = files.values_by_dtype.values().sum();
    let p = cfg.num_params();
    Ok(serde_json::json!({
        "architecture": cfg.architectures,
        "params": p,
        "layers": cfg.num_hidden_layers,
        "hidden_size": cfg.hidden_size,
        "heads": cfg.num_attention_heads,
        "kv_heads": cfg.kv_heads(),
        "vocab_size": cfg.vocab_size,
        "context": cfg.max_position_embeddings,
        "inference_flops_per_token": 2 * p,
        "training_flops_per_token": 6 * p,
        "stored_values": stored,
        "stored_values_by_dtype": files.values_by_dtype,
        "files": files.files,
        "file_bytes": files.bytes_on_disk,
        // What the CPU engine holds: f16 / bf16 matrices stay half precision, the rest f32.
        "memory_bytes_loaded": memory,
        "memory_half_weights": half,
        "load_peak_rss_bytes": peak,
        "load_peak_rss_over_file": peak.map(|b| b as f64 / files.bytes_on_disk.max(1) as f64),
        "rss_before_load_bytes": rss_before,
    }))
}
