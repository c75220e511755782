//! `ttc tokenizer train`: the BPE tokenizer of a run, trained on its train split.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_task::dataset::split_file;
use ttc_task::tokenizer::build_tokenizer;

use crate::preset::Preset;
use crate::run::layout::Layout;
use crate::run::stage::{Ctx, Stage};

/// `ttc tokenizer train`: a byte-level BPE (digits one per token, ttc's special tokens)
/// trained on the train split; every training row is checked to round-trip exactly.
pub struct TokenizerStage {
    config: ttc_task::tokenizer::TokenizerConfig,
}

impl TokenizerStage {
    pub fn new(preset: &Preset) -> TokenizerStage {
        TokenizerStage {
            config: preset.tokenizer.clone(),
        }
    }
}

impl Stage for TokenizerStage {
    fn id(&self) -> String {
        "tokenizer".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "tokenizer": self.config })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.split_file("train")]
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.tokenizer_dir().join("tokenizer.json")]
    }
    fn command(&self) -> String {
        "tokenizer train".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        train(ctx)
    }
}

fn train(ctx: &Ctx) -> Result<()> {
    let preset = ctx.preset;
    let data_dir = ctx.layout.data_dir();
    let train_path = data_dir.join(split_file("train"));
    let out = ctx.layout.tokenizer_dir();
    let sp = ctx.progress.spinner("tokenizer");
    sp.set_message(format!("training BPE on {}", train_path.display()));
    let m = build_tokenizer(&preset.tokenizer, &data_dir, &out)
        .with_context(|| format!("training tokenizer into {}", out.display()))?;
    sp.finish();
    eprintln!(
        "tokenizer: wrote {} (vocab {}, {} rows round-trip, {} train tokens) in {:.1}s",
        out.join("tokenizer.json").display(),
        m.counts["vocab_size"],
        m.counts["rows"],
        m.counts["train_tokens"],
        m.wall_time_s
    );
    Ok(())
}
