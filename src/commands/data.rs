//! `ttc data gen`: the synthetic arith dataset of a preset.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_task::dataset::build_arith_dataset;

use crate::Dirs;
use crate::preset::Preset;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Generate `datasets/<run>/{train,val,test}.jsonl` and `manifest.json` from a preset's
    /// `[data]` section. Same seed, same bytes. Skipped when already up to date.
    Gen(GenArgs),
}

#[derive(Args)]
pub struct GenArgs {
    /// Pipeline preset (TOML), e.g. pipelines/default.toml.
    #[arg(long)]
    pub preset: PathBuf,
    /// Rebuild even if the manifest says the output is up to date.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: DataCommand, dirs: &Dirs) -> Result<()> {
    match cmd {
        DataCommand::Gen(a) => gen_data(&a, dirs),
    }
}

fn gen_data(a: &GenArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let dir = preset.data_dir(dirs);
    let hash = ttc_core::hash::hash_json(&preset.data);
    if !a.force && super::is_fresh("data", &dir, &hash, &BTreeMap::new())? {
        return Ok(());
    }
    let sp = crate::progress::spinner("data");
    sp.set_message(format!("generating {}", dir.display()));
    let m = build_arith_dataset(&preset.data, &dir)
        .with_context(|| format!("writing dataset {}", dir.display()))?;
    sp.finish_and_clear();
    let per_level: Vec<String> = (1..=5)
        .map(|l| format!("L{l} {}", m.counts[&format!("train_level{l}")]))
        .collect();
    eprintln!(
        "data: wrote {} (train {}, val {}, test {}; train per level: {}) in {:.1}s",
        dir.display(),
        m.counts["train"],
        m.counts["val"],
        m.counts["test"],
        per_level.join(", "),
        m.wall_time_s
    );
    Ok(())
}
