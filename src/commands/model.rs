//! `ttc model …`: create, inspect and export HF-format checkpoints.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_model::io::hf_io::{
    carry_checkpoint_files, load_checkpoint, save_checkpoint, write_reference,
    write_tokenizer_files,
};
use ttc_model::{CpuBackend, LlamaConfig};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Write a randomly initialised checkpoint (config.json, model.safetensors and, with
    /// --tokenizer, tokenizer.json + tokenizer_config.json).
    Init(InitArgs),
    /// Re-write a checkpoint as a standalone HF directory that `transformers` loads
    /// (AutoModelForCausalLM / AutoModelForTokenClassification, AutoTokenizer), plus
    /// reference.json: fixed input ids and our outputs, for
    /// `python3 tests/fixtures/make_hf_fixtures.py --check-export DIR`.
    Export(ExportArgs),
    /// Print a checkpoint's architecture, parameters, FLOPs per token, weight files
    /// (dtype, bytes on disk) and the peak memory of loading it, as JSON.
    Info(InfoArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Size preset: tiny, default (≈1.7M, the embedded policy) or large (≈24M, 14×).
    #[arg(long, default_value = "default", conflicts_with = "config")]
    pub size: String,
    /// A HF config.json instead of a size preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// tokenizer.json to ship with the model; its size sets the vocabulary.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Vocabulary size when no tokenizer is given.
    #[arg(long, default_value_t = 320)]
    pub vocab: usize,
    /// A one-label score head (PRM / ORM) instead of an LM head.
    #[arg(long)]
    pub score_head: bool,
    /// Seed for the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Checkpoint directory (config.json + model.safetensors [+ tokenizer.json]).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// tokenizer.json to include (default: the checkpoint's own, if any).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

#[derive(Args)]
pub struct InfoArgs {
    /// Checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Init(a) => init(&a),
        ModelCommand::Export(a) => export(&a),
        ModelCommand::Info(a) => info(&a),
    }
}

fn init(a: &InitArgs) -> Result<()> {
    let tok = match &a.tokenizer {
        Some(p) => Some(ttc_task::tokenizer::load_tokenizer(p)?),
        None => None,
    };
    let vocab = tok
        .as_ref()
        .map(|t| t.get_vocab_size(true))
        .unwrap_or(a.vocab);
    let mut cfg = match &a.config {
        Some(p) => LlamaConfig::load(p)?,
        None => LlamaConfig::named(&a.size, vocab)?,
    };
    if let Some(t) = &tok {
        cfg.eos_token_id = t.token_to_id("<|eos|>").map(Into::into);
        cfg.pad_token_id = t.token_to_id("<|pad|>");
        cfg.bos_token_id = t.token_to_id("<|bos|>");
    }
    if a.score_head {
        cfg = cfg.with_score_head();
    }
    let model = ttc_model::init_cpu_seeded(&cfg, a.seed);
    save_checkpoint(&a.out, &model).with_context(|| format!("writing {}", a.out.display()))?;
    if let Some(p) = &a.tokenizer {
        write_tokenizer_files(&a.out, p, cfg.max_position_embeddings)?;
    }
    eprintln!(
        "model: wrote {} ({}, {} parameters)",
        a.out.display(),
        cfg.architectures.join(","),
        cfg.num_params()
    );
    Ok(())
}

fn export(a: &ExportArgs) -> Result<()> {
    let dev = Default::default();
    let model = load_checkpoint::<CpuBackend>(&a.checkpoint, &dev)
        .with_context(|| format!("loading checkpoint {}", a.checkpoint.display()))?;
    save_checkpoint(&a.out, &model).with_context(|| format!("writing {}", a.out.display()))?;
    let tok = a
        .tokenizer
        .clone()
        .or_else(|| Some(a.checkpoint.join("tokenizer.json")).filter(|p| p.exists()));
    let mut carried = Vec::new();
    if let Some(p) = &tok {
        // Any HF tokenizer: an imported model's, and so every checkpoint trained for it.
        let t = ttc_task::tokenizer::Tokenizer::from_file(p)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        ttc_model::generation::check_tokenizer_fits(&t, model.config().vocab_size)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        write_tokenizer_files(&a.out, p, model.config().max_position_embeddings)?;
        if a.tokenizer.is_none() {
            // The checkpoint's own tokenizer: its config and chat template come with it.
            carried = carry_checkpoint_files(&a.checkpoint, &a.out, &[])?;
        }
    }
    // How a PRM reads steps (its format, a likelihood PRM's calibration) is the model's,
    // whichever tokenizer is exported beside it.
    let format = a.checkpoint.join(ttc_jobs::prm_format::FORMAT_FILE);
    if format.exists() {
        let bytes =
            std::fs::read(&format).with_context(|| format!("reading {}", format.display()))?;
        ttc_core::atomic::write_atomic(&a.out.join(ttc_jobs::prm_format::FORMAT_FILE), &bytes)?;
        carried.push(ttc_jobs::prm_format::FORMAT_FILE.to_string());
    }
    write_reference(&a.out, &model, &dev)?;
    let mut files = vec!["config.json", "model.safetensors"];
    if tok.is_some() {
        files.extend(["tokenizer.json", "tokenizer_config.json"]);
    }
    files.extend(
        carried
            .iter()
            .map(String::as_str)
            .filter(|f| *f != "tokenizer_config.json"),
    );
    files.push("reference.json");
    eprintln!(
        "model: exported {} -> {} ({})",
        a.checkpoint.display(),
        a.out.display(),
        files.join(", ")
    );
    Ok(())
}

fn info(a: &InfoArgs) -> Result<()> {
    let out = ttc_model::io::model_info::describe(&a.checkpoint)?;
    println!("{out}");
    Ok(())
}
