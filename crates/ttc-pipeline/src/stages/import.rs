//! `ttc import policy|prm`: a user's HF checkpoint becomes this run's policy or PRM.
//!
//! The directory (`config.json`, `model.safetensors`, `tokenizer.json`; `Llama…` or
//! `Qwen2…`) is loaded and checked first — weights against the config, the tokenizer
//! against the vocabulary, a language-model head for a policy and a one-label score head for
//! a PRM — then copied to `checkpoints/<run>/{policy,prm}/` with the prompt format
//! (`prompt_template.txt`) every later stage uses, and a manifest (skipped when fresh).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ttc_task::tokenizer::{PROMPT_FILE, PromptTemplate};

use crate::checkpoint::load_cpu;
use crate::layout::Layout;
use crate::preset::Preset;
use crate::stage::{Ctx, Stage};

/// Files copied when present (beyond the three required).
const OPTIONAL: [&str; 3] = [
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
];

/// `[import] policy` or `[import] prm`: a user's HF checkpoint, checked and copied into
/// the run as its policy or PRM (with its prompt format when the preset gives one).
pub struct ImportStage {
    prm: bool,
    src: PathBuf,
    prompt: Option<String>,
}

impl ImportStage {
    /// `None` when the preset imports no such model.
    pub fn new(preset: &Preset, prm: bool) -> Option<ImportStage> {
        let im = preset.import.as_ref()?;
        let (src, prompt) = if prm {
            (im.prm.clone()?, im.prm_prompt.clone().or(im.prompt.clone()))
        } else {
            (im.policy.clone(), im.prompt.clone())
        };
        Some(ImportStage { prm, src, prompt })
    }

    fn dir(&self, layout: &Layout) -> PathBuf {
        if self.prm {
            layout.prm_dir(false)
        } else {
            layout.policy_dir(false)
        }
    }
}

impl Stage for ImportStage {
    fn id(&self) -> String {
        if self.prm { "prm" } else { "policy" }.into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"src": self.src, "prompt": self.prompt, "prm": self.prm})
    }
    fn inputs(&self, _: &Layout) -> Vec<PathBuf> {
        REQUIRED.iter().map(|f| self.src.join(f)).collect()
    }
    fn optional_inputs(&self, _: &Layout) -> Vec<PathBuf> {
        OPTIONAL.iter().map(|f| self.src.join(f)).collect()
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let dir = self.dir(layout);
        let mut o: Vec<PathBuf> = REQUIRED.iter().map(|f| dir.join(f)).collect();
        if self.prompt.is_some() {
            o.push(dir.join(PROMPT_FILE));
        }
        o
    }
    fn command(&self) -> String {
        if self.prm {
            "import prm"
        } else {
            "import policy"
        }
        .into()
    }
    fn preflight(&self) -> Result<()> {
        checkpoint_files(&self.src).map(|_| ())
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        import(
            &self.src,
            self.prompt.as_deref(),
            self.prm,
            &self.dir(ctx.layout),
        )
    }
}

/// The files an HF checkpoint directory must hold.
const REQUIRED: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// The files of an HF checkpoint directory to copy; an error naming the first required
/// one that is missing.
pub fn checkpoint_files(src: &Path) -> Result<Vec<&'static str>> {
    let mut files: Vec<&str> = REQUIRED.to_vec();
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
pub fn import(src: &Path, prompt: Option<&str>, prm: bool, out: &Path) -> Result<()> {
    let template = prompt.map(PromptTemplate::parse).transpose()?;
    let files = checkpoint_files(src)?;
    let key = (src, prompt, prm);
    let started = std::time::Instant::now();
    let (model, tok) = load_cpu(src).with_context(|| format!("[import] {}", src.display()))?;
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
    for f in &files {
        let bytes = std::fs::read(src.join(f))
            .with_context(|| format!("reading {}", src.join(f).display()))?;
        ttc_core::atomic::write_atomic(&out.join(f), &bytes)?;
    }
    if let Some(t) = &template {
        ttc_core::atomic::write_atomic(&out.join(PROMPT_FILE), t.as_str().as_bytes())?;
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
