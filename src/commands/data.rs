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
    let Some(data) = &preset.data else {
        return import_problems(&preset, dirs, a.force);
    };
    let hash = ttc_core::hash::hash_json(data);
    if !a.force && super::is_fresh("data", &dir, &hash, &BTreeMap::new())? {
        return Ok(());
    }
    let sp = crate::progress::spinner("data");
    sp.set_message(format!("generating {}", dir.display()));
    let m = build_arith_dataset(data, &dir)
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

/// `[problems]`: validate every row of each given file (errors name file:line) and copy
/// the files to `datasets/<run>/<split>.jsonl` with a manifest.
fn import_problems(preset: &Preset, dirs: &Dirs, force: bool) -> Result<()> {
    let pf = preset
        .problems
        .as_ref()
        .context("preset has neither [data] nor [problems]")?;
    let dir = preset.data_dir(dirs);
    let mut inputs = BTreeMap::new();
    for (split, f) in pf.splits() {
        inputs.insert(split.to_string(), ttc_core::hash::hash_file(f)?);
    }
    let hash = ttc_core::hash::hash_json(pf);
    if !force && super::is_fresh("data", &dir, &hash, &inputs)? {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut m = ttc_core::manifest::Manifest::new("data", pf, 0);
    let mut counts = Vec::new();
    for (split, f) in pf.splits() {
        let rows =
            ttc_task::math500::load_problems(f).with_context(|| format!("[problems] {split}"))?;
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if !seen.insert(r.unique_id.as_str()) {
                anyhow::bail!("{}: unique_id {:?} appears twice", f.display(), r.unique_id);
            }
        }
        let name = ttc_task::dataset::split_file(split);
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        ttc_core::atomic::write_atomic(&dir.join(&name), &bytes)?;
        m.record_input(split, f)?;
        m.record_output(&dir, &name)?;
        m.counts.insert(split.to_string(), rows.len() as u64);
        counts.push(format!("{split} {}", rows.len()));
    }
    m.wall_time_s = started.elapsed().as_secs_f64();
    m.save(&dir)?;
    eprintln!(
        "data: imported {} ({}) into {}",
        pf.test.display(),
        counts.join(", "),
        dir.display()
    );
    Ok(())
}
