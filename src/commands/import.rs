//! `ttc import policy|prm`: a user's HF checkpoint becomes this run's policy or PRM.
//!
//! The directory (`config.json`, `model.safetensors`, `tokenizer.json`; `Llama…` or
//! `Qwen2…`) is loaded and checked first — weights against the config, the tokenizer
//! against the vocabulary, a language-model head for a policy and a one-label score head for
//! a PRM — then copied to `checkpoints/<run>/{policy,prm}/` with the prompt format
//! (`prompt_template.txt`) every later stage uses, and a manifest (skipped when fresh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_task::tokenizer::{PROMPT_FILE, PromptTemplate};

use crate::Dirs;
use crate::preset::Preset;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// The policy of `[import] policy` → checkpoints/<run>/policy/.
    Policy(ImportArgs),
    /// The PRM of `[import] prm` → checkpoints/<run>/prm/.
    Prm(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// Pipeline preset (TOML) with an `[import]` section.
    #[arg(long)]
    pub preset: PathBuf,
    /// Copy again even if the import is up to date.
    #[arg(long)]
    pub force: bool,
}

/// Files copied when present (beyond the three required).
const OPTIONAL: [&str; 3] = [
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
];

pub fn run(cmd: ImportCommand, dirs: &Dirs) -> Result<()> {
    let (a, prm) = match &cmd {
        ImportCommand::Policy(a) => (a, false),
        ImportCommand::Prm(a) => (a, true),
    };
    let preset = Preset::load(&a.preset)?;
    let im = preset
        .import
        .as_ref()
        .with_context(|| format!("{}: no [import] section", a.preset.display()))?;
    let (src, prompt, name) = if prm {
        let src = im
            .prm
            .as_ref()
            .with_context(|| format!("{}: [import] has no prm", a.preset.display()))?;
        (src, im.prm_prompt.as_ref().or(im.prompt.as_ref()), "prm")
    } else {
        (&im.policy, im.prompt.as_ref(), "policy")
    };
    let out = dirs.checkpoints_dir.join(&preset.name).join(name);
    import(src, prompt.map(String::as_str), prm, &out, a.force)
}

/// The files of an HF checkpoint directory to copy; an error naming the first required
/// one that is missing.
pub fn checkpoint_files(src: &Path) -> Result<Vec<&'static str>> {
    let mut files: Vec<&str> = vec!["config.json", "model.safetensors", "tokenizer.json"];
    for f in &files {
        if !src.join(f).exists() {
            anyhow::bail!(
                "[import] {}: no {f} (an HF checkpoint directory holds config.json, model.safetensors and tokenizer.json)",
                src.display()
            );
        }
    }
    files.extend(OPTIONAL.iter().filter(|f| src.join(f).exists()));
    Ok(files)
}

/// Check `src` and copy it to `out`.
pub fn import(src: &Path, prompt: Option<&str>, prm: bool, out: &Path, force: bool) -> Result<()> {
    let template = prompt.map(PromptTemplate::parse).transpose()?;
    let files = checkpoint_files(src)?;
    let mut inputs = BTreeMap::new();
    for f in &files {
        inputs.insert(f.to_string(), ttc_core::hash::hash_file(&src.join(f))?);
    }
    let key = (src, prompt, prm);
    let cfg_hash = ttc_core::hash::hash_json(&key);
    if !force && super::is_fresh("import", out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let (model, tok) =
        super::sample::load_cpu(src).with_context(|| format!("[import] {}", src.display()))?;
    let lm = model.cfg.head() == ttc_model::Head::CausalLm;
    match (prm, lm, model.head_outputs()) {
        (false, true, _) | (true, false, 1) => {}
        (false, false, _) => anyhow::bail!(
            "[import] policy {}: a score-head model ({:?}), not a language model",
            src.display(),
            model.cfg.architectures
        ),
        (true, true, _) => anyhow::bail!(
            "[import] prm {}: a language model ({:?}); a PRM needs a one-label score head (…ForTokenClassification, ttc's PRM format)",
            src.display(),
            model.cfg.architectures
        ),
        (true, false, n) => anyhow::bail!(
            "[import] prm {}: a score head with {n} labels; ttc's PRM format has one (a logit per step)",
            src.display()
        ),
    }
    // The tokenizer must round-trip a prompt (a broken or mismatched file fails here).
    let probe = template
        .clone()
        .unwrap_or_default()
        .render("What is 1 + 1?");
    ttc_model::generate::Engine::new(&model, &tok)?
        .encode(&probe)
        .with_context(|| format!("[import] {}: tokenizer.json", src.display()))?;
    let _ = std::fs::remove_dir_all(out);
    let mut m = ttc_core::manifest::Manifest::new("import", &key, 0);
    m.inputs = inputs;
    for f in &files {
        let bytes = std::fs::read(src.join(f))
            .with_context(|| format!("reading {}", src.join(f).display()))?;
        ttc_core::atomic::write_atomic(&out.join(f), &bytes)?;
        m.record_output(out, f)?;
    }
    if let Some(t) = &template {
        ttc_core::atomic::write_atomic(&out.join(PROMPT_FILE), t.as_str().as_bytes())?;
        m.record_output(out, PROMPT_FILE)?;
    }
    m.counts
        .insert("parameters".into(), model.cfg.num_params() as u64);
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(out)?;
    eprintln!(
        "import: {} ({}, {:.1}M parameters) → {} in {:.1}s",
        src.display(),
        model.cfg.model_type,
        model.cfg.num_params() as f64 / 1e6,
        out.display(),
        m.wall_time_s
    );
    Ok(())
}
