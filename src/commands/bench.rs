//! `ttc bench …`: throughput benchmarks that print JSON (one object per line).

use std::path::PathBuf;
use ttc_model::cpu::bf16_dot::Kernel;

use anyhow::Result;
use clap::{Args, Subcommand};
use ttc_engine::bench::{GenerateBench, random_model, run_generate_bench, run_score_bench};
use ttc_model::LlamaConfig;
use ttc_model::engine_spec::{BackendKind, Dtype, EngineSpec};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Sampler throughput: prefill and decode tokens/s and peak memory of the engine on a
    /// backend (cpu, or burn on flex / CUDA) with random weights, one JSON line per batch
    /// size.
    Generate(GenerateArgs),
    /// Scoring throughput (PRM evaluation, ORM scores): whole sequences through a
    /// score-head model, outputs at every step, one JSON line per batch size.
    Score(ScoreArgs),
    /// Serving throughput: the same sampling work in-process and through `ttc serve` on
    /// loopback (one request per sequence, all in flight: continuous batching), and one
    /// request at a time; one JSON line per batch size.
    Serve(ServeBenchArgs),
    /// Training throughput: forward + backward + AdamW steps on random tokens (burn
    /// autodiff on the CPU backend), one JSON line.
    Train(TrainArgs),
    /// Search wall time: strategies on a run's own policy and PRM (cpu), interleaved
    /// repeats, one JSON line per strategy with its median wall over the first one's.
    Search(crate::commands::bench_search::SearchBenchArgs),
    /// The cost model (`ttc pipeline status`'s "cost" estimates) against a run's recorded
    /// walls: each stage predicted leave-one-out from the run's other stages of its kind
    /// and from a probe of this machine, one JSON object.
    CostModel(CostModelArgs),
}

#[derive(Args)]
pub struct CostModelArgs {
    /// Pipeline preset whose run's records are checked (run it first).
    #[arg(long)]
    pub preset: PathBuf,
}

/// Which model shape to benchmark (shared by the bench subcommands).
#[derive(Args)]
pub struct ModelShape {
    /// Model size preset: tiny, default (the embedded policy, ≈1.7M) or large (≈24M).
    #[arg(long, default_value = "default", conflicts_with = "config")]
    pub size: String,
    /// A HF config.json instead of a size preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Vocabulary size for a size preset.
    #[arg(long, default_value_t = 320)]
    pub vocab: usize,
}

impl ModelShape {
    fn resolve(&self) -> Result<LlamaConfig> {
        Ok(match &self.config {
            Some(p) => LlamaConfig::load(p)?,
            None => LlamaConfig::named(&self.size, self.vocab)?,
        })
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub shape: ModelShape,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Seed for weights and tokens.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Time the loss forward alone on the plain CPU backend (validation passes, PRM
    /// scoring) instead of training steps.
    #[arg(long)]
    pub forward_only: bool,
    /// Use burn's composed ops instead of ttc's fused CPU kernels (attention, RMSNorm,
    /// SwiGLU, cross-entropy), to measure what the kernels gain.
    #[arg(long)]
    pub composed: bool,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub shape: ModelShape,
    /// Batch sizes (sequences decoded together), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    pub batch: Vec<usize>,
    /// Prompt length in tokens (random ids, one distinct prompt per sequence).
    #[arg(long, default_value_t = 64)]
    pub prompt_len: usize,
    /// Tokens generated per sequence (no early stop).
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seed for weights, prompts and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu backend: how memory holds the weights, comma-separated to compare in one run
    /// (`f32,bf16`): the random weights are saved as a bf16 checkpoint and loaded both ways,
    /// so both hold the same values.
    #[arg(long, value_delimiter = ',', value_parser = ["f32", "bf16"])]
    pub weights: Vec<String>,
    /// With `--weights bf16`: the bf16 product kernels to time, comma-separated (`avx512`:
    /// f32 FMAs over weights widened in registers; `native`: AVX-512 BF16 dot products;
    /// `portable`: plain Rust). Default: the CPU's best. With `--weights`, each line also
    /// carries the read bandwidth measured on the same threads and the decode bound it sets
    /// (the weight bytes streamed per step).
    #[arg(long, value_delimiter = ',', value_parser = ["avx512", "native", "portable"])]
    pub bf16_kernel: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Which engine runs the benchmark.
#[derive(Args)]
pub struct EngineArgs {
    /// cpu (ttc's host decoder) or burn (paged KV cache on flex or CUDA).
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "burn"])]
    pub backend: String,
    /// cpu, cuda or cuda:N (burn backend; CUDA needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, or bf16 / f16 on a GPU.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
    pub dtype: String,
}

impl EngineArgs {
    pub fn spec(&self) -> Result<EngineSpec> {
        let spec = EngineSpec {
            backend: if self.backend == "burn" {
                BackendKind::Burn
            } else {
                BackendKind::Cpu
            },
            device: self.device.clone(),
            dtype: match self.dtype.as_str() {
                "bf16" => Dtype::Bf16,
                "f16" => Dtype::F16,
                _ => Dtype::F32,
            },
            ..EngineSpec::cpu()
        };
        spec.validate().map_err(|m| anyhow::anyhow!("--{m}"))?;
        Ok(spec)
    }
}

#[derive(Args)]
pub struct ServeBenchArgs {
    #[command(flatten)]
    pub shape: ModelShape,
    /// Concurrent requests, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub batch: Vec<usize>,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 64)]
    pub prompt_len: usize,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Requests sent one at a time for the no-batching figure.
    #[arg(long, default_value_t = 4)]
    pub sequential: usize,
    /// Seed for weights, prompts and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub shape: ModelShape,
    /// Batch sizes (sequences scored together), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub batch: Vec<usize>,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 64)]
    pub prompt_len: usize,
    /// Solution length in tokens.
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Tokens per step (one score per step).
    #[arg(long, default_value_t = 16)]
    pub step_len: usize,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seed for weights and tokens.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cmd: BenchCommand, dirs: &crate::dirs::Dirs) -> Result<()> {
    match cmd {
        BenchCommand::Search(a) => crate::commands::bench_search::run(&a, dirs),
        BenchCommand::CostModel(a) => {
            let preset = ttc_pipeline::preset::Preset::load(&a.preset)?;
            let r = ttc_pipeline::cost_check::run(&preset, &dirs.layout(&preset))?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        BenchCommand::Generate(a) => generate(&a),
        BenchCommand::Score(a) => score(&a),
        BenchCommand::Serve(a) => {
            let cfg = a.shape.resolve()?;
            for &b in &a.batch {
                let r = ttc_serve::bench::run(
                    &cfg,
                    a.seed,
                    b,
                    a.prompt_len,
                    a.new_tokens,
                    a.sequential,
                )
                .map_err(|e| anyhow::anyhow!("bench serve: {e}"))?;
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        BenchCommand::Train(a) => {
            let cfg = a.shape.resolve()?;
            ttc_model::model::fused::set_enabled(!a.composed);
            let run = if a.forward_only {
                ttc_train::bench::run_forward_bench
            } else {
                ttc_train::bench::run_train_bench
            };
            let shape = ttc_train::bench::BenchShape {
                batch: a.batch,
                seq_len: a.seq_len,
                steps: a.steps,
                seed: a.seed,
            };
            let r = run(&cfg, shape);
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
    }
}

fn generate(a: &GenerateArgs) -> Result<()> {
    let cfg = a.shape.resolve()?;
    if !a.weights.is_empty() {
        if a.engine.backend != "cpu" {
            anyhow::bail!("--weights: the cpu backend's weight storage (drop --backend burn)");
        }
        let dir = tempfile::tempdir()?;
        let w = ttc_model::init_cpu_seeded(&cfg, a.seed).to_weights();
        ttc_model::io::weights::write_safetensors_bf16(&dir.path().join("model.safetensors"), &w)?;
        drop(w);
        let bandwidth = ttc_engine::bench::read_bandwidth(a.threads)?;
        eprintln!("bench generate: read bandwidth {bandwidth:.1} GB/s");
        for kind in &a.weights {
            let model = ttc_model::cpu::CpuModel::load(dir.path(), &cfg, kind == "bf16")?;
            let bytes = model.weight_bytes();
            eprintln!(
                "bench generate: {} weights hold {:.1} MB",
                kind,
                bytes as f64 / 1e6
            );
            let kernels: Vec<Option<Kernel>> = match (kind.as_str(), a.bf16_kernel.is_empty()) {
                ("bf16", false) => a.bf16_kernel.iter().map(|k| Kernel::parse(k)).collect(),
                _ => vec![None],
            };
            for kernel in kernels {
                Kernel::choose(kernel).map_err(anyhow::Error::msg)?;
                let extra = serde_json::json!({
                    "weights": kind,
                    "kernel": if kind == "bf16" { Kernel::current().name() } else { "gemm" },
                    "weight_bytes": bytes,
                    "bandwidth_gb_s": bandwidth,
                });
                generate_batches(a, &model, Some(extra))?;
            }
            Kernel::choose(None).map_err(anyhow::Error::msg)?;
        }
        return Ok(());
    }
    let model = random_model(&cfg, a.seed, &a.engine.spec()?)?;
    generate_batches(a, model.as_ref(), None)
}

/// One JSON line per batch size; with `extra` (weights, kernel, weight bytes, bandwidth)
/// merged in, plus the decode bound the bandwidth sets (`batch` tokens per pass over the
/// weights) and the share of it reached.
fn generate_batches(
    a: &GenerateArgs,
    model: &dyn ttc_model::decoder::Decoder,
    extra: Option<serde_json::Value>,
) -> Result<()> {
    for &batch in &a.batch {
        let r = run_generate_bench(
            model,
            &GenerateBench {
                batch,
                prompt_len: a.prompt_len,
                new_tokens: a.new_tokens,
                temperature: a.temperature,
                seed: a.seed,
                threads: a.threads,
            },
        )?;
        let mut line = serde_json::to_value(&r)?;
        if let (Some(extra), Some(obj)) = (&extra, line.as_object_mut()) {
            for (k, v) in extra.as_object().into_iter().flatten() {
                obj.insert(k.clone(), v.clone());
            }
            let bw = extra["bandwidth_gb_s"].as_f64().unwrap_or(0.0);
            let bytes = extra["weight_bytes"].as_f64().unwrap_or(0.0);
            if let Some(bound) = ttc_engine::bench::decode_bound(batch, bytes, bw) {
                obj.insert("bound_tok_s".into(), bound.into());
                obj.insert(
                    "pct_of_bound".into(),
                    (100.0 * r.decode_tok_s / bound).into(),
                );
            }
        }
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

fn score(a: &ScoreArgs) -> Result<()> {
    let cfg = a.shape.resolve()?.with_score_head();
    let model = random_model(&cfg, a.seed, &a.engine.spec()?)?;
    for &batch in &a.batch {
        let r = run_score_bench(
            model.as_ref(),
            &GenerateBench {
                batch,
                prompt_len: a.prompt_len,
                new_tokens: a.new_tokens,
                temperature: 0.0,
                seed: a.seed,
                threads: a.threads,
            },
            a.step_len,
        )?;
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
