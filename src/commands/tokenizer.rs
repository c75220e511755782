//! `ttc tokenizer train`: the BPE tokenizer of a run, trained on its train split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_task::dataset::split_file;
use ttc_task::tokenizer::build_tokenizer;

use crate::Dirs;
use crate::preset::Preset;

#[derive(Subcommand)]
pub enum TokenizerCommand {
    /// Train a byte-level BPE (digits one per token, ttc's special tokens) on
    /// `datasets/<run>/train.jsonl`; write `checkpoints/<run>/tokenizer/tokenizer.json`.
    /// Every training row is checked to round-trip exactly.
    Train(TrainArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// Pipeline preset (TOML), e.g. pipelines/default.toml.
    #[arg(long)]
    pub preset: PathBuf,
    /// Retrain even if the manifest says the output is up to date.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: TokenizerCommand, dirs: &Dirs) -> Result<()> {
    match cmd {
        TokenizerCommand::Train(a) => train(&a, dirs),
    }
}

fn train(a: &TrainArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let data_dir = preset.data_dir(dirs);
    let train_path = data_dir.join(split_file("train"));
    if !train_path.exists() {
        anyhow::bail!(
            "{} not found: run `ttc data gen --preset {}` first",
            train_path.display(),
            a.preset.display()
        );
    }
    let out = preset.tokenizer_dir(dirs);
    let inputs = BTreeMap::from([("train".to_string(), ttc_core::hash::hash_file(&train_path)?)]);
    let hash = ttc_core::hash::hash_json(&preset.tokenizer);
    if !a.force && super::is_fresh("tokenizer", &out, &hash, &inputs)? {
        return Ok(());
    }
    let sp = crate::progress::spinner("tokenizer");
    sp.set_message(format!("training BPE on {}", train_path.display()));
    let m = build_tokenizer(&preset.tokenizer, &data_dir, &out)
        .with_context(|| format!("training tokenizer into {}", out.display()))?;
    sp.finish_and_clear();
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
