//! Loading a checkpoint onto the backend a preset's `[engine]` names — the one place that
//! dispatches over every backend (DESIGN §11): `cpu` and `burn` load the weights here
//! (`ttc_model::engine_spec::load_decoder`), `openai` connects to the servers that hold them
//! (`ttc_remote::RemoteModel`). The pipeline's stages and `ttc serve` both load through it.

use std::path::Path;

use ttc_model::cpu::CpuModel;
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::{BackendKind, EngineSpec};
use ttc_model::{Error, LlamaConfig, Result};
use ttc_task::tokenizer::Tokenizer;

/// A checkpoint's model on the engine `spec` names, and its tokenizer (any HF
/// `tokenizer.json`; ttc's special tokens are not required to sample or score).
///
/// With `backend = "openai"` the weights stay on the servers: `config.json` and
/// `tokenizer.json` are read here, and the model is asked for by the engine's `model`
/// name, else by the checkpoint's canonical path (the name `ttc serve` gives it).
pub fn load_model(dir: &Path, spec: &EngineSpec) -> Result<(Box<dyn Decoder>, Tokenizer)> {
    if spec.backend == BackendKind::Openai {
        let cfg = LlamaConfig::load(&dir.join("config.json"))?;
        let tok = tokenizer_for(dir, &cfg)?;
        let name = served_name(dir);
        let model = ttc_remote::RemoteModel::connect(cfg, tok.clone(), spec, &name)
            .map_err(|e| Error::Remote(format!("model {}: {e}", dir.display())))?;
        return Ok((Box::new(model), tok));
    }
    let model = ttc_model::engine_spec::load_decoder(dir, spec)?;
    let cfg = model.config().clone();
    let tok = tokenizer_for(dir, &cfg)?;
    Ok((model, tok))
}

/// The name a checkpoint is served under by default: its canonical path.
pub fn served_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// A checkpoint's fast CPU model and its tokenizer.
pub fn load_cpu(dir: &Path) -> Result<(CpuModel, Tokenizer)> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    let model = CpuModel::load(dir, &cfg, true)?;
    let tok = tokenizer_for(dir, &cfg)?;
    Ok((model, tok))
}

/// A checkpoint's `tokenizer.json` (any HF tokenizer), checked against its config's
/// vocabulary size.
pub fn checkpoint_tokenizer(dir: &Path) -> Result<Tokenizer> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    tokenizer_for(dir, &cfg)
}

/// The checkpoint's `tokenizer.json`, checked against its vocabulary size.
fn tokenizer_for(dir: &Path, cfg: &LlamaConfig) -> Result<Tokenizer> {
    let tpath = dir.join("tokenizer.json");
    let tok = Tokenizer::from_file(&tpath)
        .map_err(|e| Error::Tokenizer(format!("{}: {e}", tpath.display())))?;
    if tok.get_vocab_size(true) > cfg.vocab_size {
        return Err(Error::Tokenizer(format!(
            "{}: tokenizer.json has {} tokens but config.json says vocab_size {}; they do not belong together",
            dir.display(),
            tok.get_vocab_size(true),
            cfg.vocab_size
        )));
    }
    Ok(tok)
}
