//! ttc-model: the policy and reward models (DESIGN §4).
//!
//! - [`config`]: HF `config.json` fields; [`model`]: the burn Llama/Qwen2 decoder with an
//!   `lm_head` or a `score` head (training and reference path, any burn backend);
//! - [`weights`] / [`hf_io`]: `model.safetensors` with HF names, both directions;
//! - [`decoder`]: the interface every local backend offers the engine; [`cpu`] +
//!   [`kv_cache`] (the fast batched CPU decoder with a forkable host cache) and
//!   [`burn_decoder`] + [`paged_cache`] (any burn backend, flex or burn-cuda, with a paged
//!   device cache); [`engine_spec`] picks and loads one;
//! - [`sampling`], [`generate`]: the engine — tokens, sampling, stop strings, forks and
//!   accounting, the same over every backend.

pub mod attention;
pub mod bench;
pub mod burn_decoder;
pub mod checkpoint_files;
pub mod config;
pub mod cpu;
pub mod decoder;
pub mod decoding;
pub mod engine_spec;
pub mod error;
pub mod fused;
pub mod generate;
pub mod generation;
pub mod hf_io;
pub mod kv_cache;
pub mod model;
pub mod model_info;
pub mod paged_cache;
pub mod remote;
pub mod rope;
pub mod sampling;
pub mod tensor_files;
pub mod weights;

pub use config::{Head, LlamaConfig};
pub use error::{Error, Result};

/// The CPU backend of burn used for training and reference runs here.
pub type CpuBackend = burn::backend::Flex;
/// Its autodiff wrapper.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;
/// The GPU backend (burn-cuda), behind the `cuda` feature. Pick its device explicitly.
#[cfg(feature = "cuda")]
pub type GpuBackend = burn::backend::Cuda;

/// A freshly initialised model on backend `B` and device `dev`, seeded (burn's seed is
/// global per backend, so it is set right before the weights are drawn).
pub fn init_seeded<B: burn::tensor::backend::Backend>(
    cfg: &LlamaConfig,
    seed: u64,
    dev: &B::Device,
) -> model::Transformer<B> {
    B::seed(dev, seed);
    cfg.init::<B>(dev)
}

/// [`init_seeded`] on the CPU backend.
pub fn init_cpu_seeded(cfg: &LlamaConfig, seed: u64) -> model::Transformer<CpuBackend> {
    init_seeded::<CpuBackend>(cfg, seed, &Default::default())
}
