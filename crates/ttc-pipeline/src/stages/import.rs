//! `ttc import policy|prm`: a user's HF checkpoint becomes this run's policy or PRM.
//!
//! The directory (`config.json`, `model.safetensors` or shards with
//! `model.safetensors.index.json`, `tokenizer.json`; `Llama…` or
//! `Qwen2…`) is loaded and checked first — weights against the config, the tokenizer
//! against the vocabulary, a language-model head for a policy and a one-label score head for
//! a PRM — then copied to `checkpoints/<run>/{policy,prm}/` with the prompt format
//! (`prompt_template.txt`) every later stage uses, and a manifest (skipped when fresh).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ttc_jobs::prm_format::{FORMAT_FILE, PrmFormat, PrmReader, QWEN_PRM_SYSTEM};
use ttc_task::chat_template::ChatOptions;
use ttc_task::tokenizer::{CHAT_PROMPT_FILE, PROMPT_FILE, PromptTemplate};

use ttc_model::io::checkpoint_files::{INDEX_FILE, weight_files, weights_path};

use crate::preset::Preset;
use crate::run::layout::Layout;
use crate::run::stage::{Ctx, Stage};
use ttc_engine::load_cpu;

/// Files copied when present (beyond the three required): the tokenizer's config, special
/// tokens and chat template wherever transformers keeps them, and the generation config.
const OPTIONAL: [&str; 5] = [
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
];

/// Which of the run's models an import provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Policy,
    /// The larger policy of the FLOPs-matched exchange (`[import] policy_large`).
    PolicyLarge,
    Prm,
}

impl Imported {
    fn name(self) -> &'static str {
        match self {
            Imported::Policy => "policy",
            Imported::PolicyLarge => "policy-large",
            Imported::Prm => "prm",
        }
    }
}

/// `[import] policy`, `policy_large` or `prm`: a user's HF checkpoint, checked and copied
/// into the run as its policy, larger policy or PRM (with its prompt format when the preset
/// gives one; the larger policy shares the policy's).
pub struct ImportStage {
    which: Imported,
    /// The PRM's format; `None` for a policy.
    prm: Option<PrmFormat>,
    src: PathBuf,
    prompt: Option<String>,
    chat: Option<ChatOptions>,
}

impl ImportStage {
    /// `None` when the preset imports no such model.
    pub fn new(preset: &Preset, prm: bool) -> Option<ImportStage> {
        ImportStage::of(preset, if prm { Imported::Prm } else { Imported::Policy })
    }

    /// `None` when the preset imports no such model.
    pub fn of(preset: &Preset, which: Imported) -> Option<ImportStage> {
        let im = preset.import.as_ref()?;
        let prm = which == Imported::Prm;
        let format = im.prm_format.unwrap_or_default();
        let (src, prompt, chat) = if which == Imported::PolicyLarge {
            (im.policy_large.clone()?, im.prompt.clone(), im.chat.clone())
        } else if prm {
            let own = im.prm_prompt.is_some() || im.prm_chat.is_some();
            let (p, c) = if own {
                (im.prm_prompt.clone(), im.prm_chat.clone())
            } else {
                match format {
                    PrmFormat::Ttc | PrmFormat::Likelihood => (im.prompt.clone(), im.chat.clone()),
                    PrmFormat::MathShepherd => (Some("{problem} ".to_string()), None),
                    PrmFormat::Rlhflow => (None, Some(ChatOptions::default())),
                    PrmFormat::QwenMathPrm => (
                        None,
                        Some(ChatOptions {
                            system: Some(QWEN_PRM_SYSTEM.to_string()),
                            ..ChatOptions::default()
                        }),
                    ),
                }
            };
            (im.prm.clone()?, p, c)
        } else {
            (im.policy.clone(), im.prompt.clone(), im.chat.clone())
        };
        Some(ImportStage {
            which,
            prm: prm.then_some(format),
            src,
            prompt,
            chat,
        })
    }

    fn dir(&self, layout: &Layout) -> PathBuf {
        match self.which {
            Imported::Prm => layout.prm_dir(None),
            Imported::Policy => layout.policy_dir(false),
            Imported::PolicyLarge => layout.policy_dir(true),
        }
    }
}

impl Stage for ImportStage {
    fn id(&self) -> String {
        self.which.name().into()
    }
    fn config(&self) -> serde_json::Value {
        let mut c =
            serde_json::json!({"src": self.src, "prompt": self.prompt, "prm": self.prm.is_some()});
        if let Some(f) = self.prm.filter(|f| *f != PrmFormat::Ttc) {
            c["prm_format"] = f.name().into();
        }
        if let Some(chat) = &self.chat {
            c["chat"] = serde_json::to_value(chat).expect("json");
        }
        c
    }
    fn inputs(&self, _: &Layout) -> Vec<PathBuf> {
        let mut i: Vec<PathBuf> = REQUIRED.iter().map(|f| self.src.join(f)).collect();
        i.push(weights_path(&self.src));
        i
    }
    fn optional_inputs(&self, _: &Layout) -> Vec<PathBuf> {
        OPTIONAL.iter().map(|f| self.src.join(f)).collect()
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let dir = self.dir(layout);
        let mut o: Vec<PathBuf> = REQUIRED.iter().map(|f| dir.join(f)).collect();
        o.push(dir.join(weights_path(&self.src).file_name().expect("a file name")));
        if self.chat.is_some() {
            o.push(dir.join(CHAT_PROMPT_FILE));
        } else if self.prompt.is_some() {
            o.push(dir.join(PROMPT_FILE));
        }
        if self.prm.is_some_and(|f| f != PrmFormat::Ttc) {
            o.push(dir.join(FORMAT_FILE));
        }
        o
    }
    fn command(&self) -> String {
        format!("import {}", self.which.name())
    }
    fn preflight(&self) -> Result<()> {
        checkpoint_files(&self.src).map(|_| ())
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        import(
            &self.src,
            self.prompt.as_deref(),
            self.chat.as_ref(),
            self.prm,
            &self.dir(ctx.layout),
        )
    }
}

/// The files an HF checkpoint directory must hold besides its weights.
const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];

/// The files of an HF checkpoint directory to copy (weights: the single file, or the
/// index and every shard); an error naming the first required one that is missing.
pub fn checkpoint_files(src: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = REQUIRED.iter().map(|f| f.to_string()).collect();
    for f in &files {
        if !src.join(f).exists() {
            anyhow::bail!(
                "[import] {}: no {f} (an HF checkpoint directory holds config.json, model.safetensors or its shards, and tokenizer.json)",
                src.display()
            );
        }
    }
    let weights = weight_files(src).with_context(|| format!("[import] {}", src.display()))?;
    if weights.len() > 1 || src.join(INDEX_FILE).exists() {
        files.push(INDEX_FILE.into());
    }
    for w in weights {
        files.push(
            w.file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned(),
        );
    }
    files.extend(
        OPTIONAL
            .iter()
            .filter(|f| src.join(f).exists())
            .map(|f| f.to_string()),
    );
    Ok(files)
}

/// Copy `from` to `to` atomically, streaming (a shard may be larger than memory allows).
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let mut f = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    ttc_core::atomic::write_atomic_with(to, |w| std::io::copy(&mut f, w).map(|_| ()))?;
    Ok(())
}

/// Check `src` and copy it to `out`; `prm` is the PRM's format (`None` for a policy).
pub fn import(
    src: &Path,
    prompt: Option<&str>,
    chat: Option<&ChatOptions>,
    prm: Option<PrmFormat>,
    out: &Path,
) -> Result<()> {
    let template = match chat {
        Some(c) => Some(
            PromptTemplate::chat(src, c.clone())
                .with_context(|| format!("[import] {}: chat template", src.display()))?,
        ),
        None => prompt.map(PromptTemplate::parse).transpose()?,
    };
    let files = checkpoint_files(src)?;
    let key = (src, prompt, chat, prm.map(PrmFormat::name));
    let started = std::time::Instant::now();
    let (model, tok) = load_cpu(src).with_context(|| format!("[import] {}", src.display()))?;
    let engine =
        ttc_engine::Engine::new(&model, &tok)?.with_prompt(template.clone().unwrap_or_default());
    let lm = model.cfg.head() == ttc_model::Head::CausalLm;
    match prm {
        None if !lm => anyhow::bail!(
            "[import] policy {}: a score-head model ({:?}), not a language model",
            src.display(),
            model.cfg.architectures
        ),
        None => {}
        Some(format) => {
            PrmReader::new(format, &engine).with_context(|| {
                format!(
                    "[import] prm {} ({:?}) in prm_format \"{}\"",
                    src.display(),
                    model.cfg.architectures,
                    format.name()
                )
            })?;
        }
    }
    // The tokenizer must round-trip a prompt (a broken or mismatched file fails here).
    engine
        .encode_prompt("What is 1 + 1?")
        .with_context(|| format!("[import] {}: tokenizer.json", src.display()))?;
    let _ = std::fs::remove_dir_all(out);
    let mut m = ttc_core::manifest::Manifest::new("import", &key, 0);
    for f in &files {
        copy_atomic(&src.join(f), &out.join(f))?;
    }
    if let Some(t) = &template {
        t.save(out)?;
    }
    if let Some(f) = prm {
        f.save(out)?;
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
