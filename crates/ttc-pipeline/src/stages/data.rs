//! `ttc data gen`: the synthetic arith dataset of a preset.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_task::dataset::build_arith_dataset;

use crate::preset::Preset;
use crate::run::layout::Layout;
use crate::run::stage::{Ctx, Stage};

/// `ttc data gen`: the synthetic arith dataset (`[data]`) or a copy of the preset's
/// problem files (`[problems]`), as `datasets/<run>/{train,val,test}.jsonl`.
pub struct DataStage {
    splits: Vec<&'static str>,
    problem_files: Vec<PathBuf>,
    config: serde_json::Value,
}

impl DataStage {
    pub fn new(preset: &Preset) -> DataStage {
        let (splits, problem_files) = match &preset.problems {
            Some(pf) => pf
                .splits()
                .into_iter()
                .map(|(s, f)| (s, f.to_path_buf()))
                .unzip(),
            None => (vec!["train", "val", "test"], Vec::new()),
        };
        DataStage {
            splits,
            problem_files,
            config: serde_json::json!({"data": preset.data, "problems": preset.problems}),
        }
    }
}

impl Stage for DataStage {
    fn id(&self) -> String {
        "data".into()
    }
    fn config(&self) -> serde_json::Value {
        self.config.clone()
    }
    fn inputs(&self, _: &Layout) -> Vec<PathBuf> {
        self.problem_files.clone()
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        self.splits.iter().map(|s| layout.split_file(s)).collect()
    }
    fn command(&self) -> String {
        "data gen".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        gen_data(ctx)
    }
}

fn gen_data(ctx: &Ctx) -> Result<()> {
    let preset = ctx.preset;
    let dir = ctx.layout.data_dir();
    let Some(data) = &preset.data else {
        return import_problems(preset, ctx);
    };
    let sp = ctx.progress.spinner("data");
    sp.set_message(format!("generating {}", dir.display()));
    let m = build_arith_dataset(data, &dir)
        .with_context(|| format!("writing dataset {}", dir.display()))?;
    sp.finish();
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
fn import_problems(preset: &Preset, ctx: &Ctx) -> Result<()> {
    let pf = preset
        .problems
        .as_ref()
        .context("preset has neither [data] nor [problems]")?;
    let dir = ctx.layout.data_dir();
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
