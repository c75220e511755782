//! ttc-model: the policy and reward models and the backends that run them (DESIGN §4).
//!
//! - [`config`]: HF `config.json` fields; [`model`]: the burn Llama/Qwen2 decoder with an
//!   `lm_head` or a `score` head (training and reference path, any burn backend), with its
//!   fused CPU training kernels (`model::fused`, `model::attention`);
//! - [`io`]: checkpoints on disk as transformers lays them out — safetensors (single or
//!   sharded), HF tensor names both ways, `ttc model info`;
//! - [`decoder`]: the interface every local backend offers the engine; [`cpu`] (the fast
//!   batched CPU decoder with a forkable host KV cache) and [`burn_decoder`] (any burn
//!   backend, flex or burn-cuda, with a paged device cache); [`engine_spec`] picks and
//!   loads one; [`rope`]: the rotary tables both use;
//! - [`sampling`] (how a token is drawn), [`generation`] (what a generation returns and how
//!   it ends), [`remote`] (what a server-side backend offers): the parts the engine
//!   (`ttc-engine`) runs every backend with.

pub mod burn_decoder;
pub mod config;
pub mod cpu;
pub mod decoder;
pub mod engine_spec;
pub mod error;
pub mod generation;
pub mod io;
pub mod model;
pub mod remote;
pub mod rope;
pub mod sampling;

pub use config::{Head, LlamaConfig};
pub use error::{Error, Result};

/// The CPU backend of burn used for training and reference runs here.
pub type CpuBackend = burn::backend::Flex;
/// Its autodiff wrapper.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;
/// The GPU backend (burn-cuda), behind the `cuda` feature. Pick its device explicitly.
#[cfg(feature = "cuda")]
pub type GpuBackend = burn::backend::Cuda;

/// burn draws every random tensor (module initialisers included) from one process-wide RNG
/// per backend, which `B::seed` resets. Stages that run side by side (`ttc pipeline run
/// --jobs`) each seed and draw; this lock makes "seed, then draw a model's weights" one
/// step, so a model's initial weights do not depend on what runs beside it. Every model
/// whose initial weights are used goes through [`init_seeded`]; a model whose parameters are
/// all replaced (a checkpoint's load) is built lazily and never draws. Training draws nothing
/// else from burn's RNG: dropout masks come from their own seeds (`model::dropout`).
static BURN_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A freshly initialised model on backend `B` and device `dev`, seeded (burn's seed is
/// global per backend, so it is set right before the weights are drawn, under a lock).
pub fn init_seeded<B: burn::tensor::backend::Backend>(
    cfg: &LlamaConfig,
    seed: u64,
    dev: &B::Device,
) -> model::Transformer<B> {
    use burn::module::Module;
    let _draws = BURN_RNG.lock().unwrap_or_else(|e| e.into_inner());
    B::seed(dev, seed);
    let m = cfg.init::<B>(dev);
    // burn initialises a parameter lazily, at its first use: draw them all now, in the
    // module's declaration order, while the lock is held.
    m.visit(&mut DrawNow);
    m
}

/// Touches every float parameter, which makes burn draw a lazily initialised one.
struct DrawNow;

impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for DrawNow {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) {
        let _ = param.val();
    }
}

/// [`init_seeded`] on the CPU backend.
pub fn init_cpu_seeded(cfg: &LlamaConfig, seed: u64) -> model::Transformer<CpuBackend> {
    init_seeded::<CpuBackend>(cfg, seed, &Default::default())
}
