//! The stage contract (DESIGN §1; STYLE 15): a stage is one type that declares its id, its
//! typed config, the files it reads and the files it writes, and runs. The runner derives
//! the DAG (a stage needs the stage whose outputs it reads), decides freshness from one
//! fingerprint and records it; a stage never decides whether it is up to date.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ttc_data::shards::Shard;

use crate::preset::Preset;
use crate::run::cost_model::{DataShape, Work};
use crate::run::layout::Layout;
use crate::run::progress::Progress;

/// How a stage's resumable parts are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Compute the pending parts (of this shard), merge when all are done.
    Run,
    /// `ttc merge`: only join finished parts; fail naming the missing ones.
    MergeOnly,
}

/// What the runner hands a stage.
pub struct Ctx<'a> {
    pub preset: &'a Preset,
    /// The preset file (for hints that name commands).
    pub preset_path: &'a Path,
    pub layout: &'a Layout,
    pub mode: Mode,
    /// The chunks this process owns (`--shard i/n`); [`Shard::ALL`] by default.
    pub shard: Shard,
    /// Start over: the stage drops its finished parts and checkpoints.
    pub force: bool,
    /// The stage's fingerprint (config + input hashes): the stamp its resumable parts
    /// carry, so parts written under another config or other inputs are never merged.
    pub fingerprint: String,
    pub progress: &'a dyn Progress,
}

/// One node of a run's DAG.
pub trait Stage: Send + Sync {
    /// Name in `--until`, records and messages (`samples`, `search beam-n4-last`).
    fn id(&self) -> String;
    /// The typed config it runs with, as hashed into its fingerprint.
    fn config(&self) -> serde_json::Value;
    /// Files it reads; each must exist before it runs.
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf>;
    /// Files it reads when they exist (e.g. an imported checkpoint's prompt format).
    fn optional_inputs(&self, _layout: &Layout) -> Vec<PathBuf> {
        Vec::new()
    }
    /// Files it writes: its downstream stages' inputs, hashed into its record.
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf>;
    /// The `ttc` command line that runs it by hand (for hints), without `--preset`. By
    /// default the runner's: this stage and what it needs.
    fn command(&self) -> String {
        format!("pipeline run --until {:?}", self.id())
    }
    /// Whether its work is cut into chunks that `--shard i/n` runs a share of (a Slurm
    /// array's task each), joined by a merge (`ttc merge`, `ttc pipeline stage --merge`).
    fn sharded(&self) -> bool {
        false
    }
    /// Its work as a multiple of its siblings' (`(family, units)`): stages of one family run
    /// the same models on the same kind of work, so their walls scale with the units (the
    /// tokens they generate). `ttc pipeline status` and the run's ETA estimate a stage that
    /// never ran here from a sibling that did; `None`: no such estimate.
    fn work_units(&self) -> Option<(String, f64)> {
        None
    }
    /// Its compute for the cost model (`run::cost_model`): the kind of work, its tokens
    /// (from the run's data shape) and the parameters of the model doing it. `ttc pipeline
    /// status` and the run's ETA time a stage that never ran here and has no sibling that did
    /// by it; `None`: no such estimate.
    fn work(&self, _shape: &DataShape) -> Option<Work> {
        None
    }
    /// Checks that need no upstream stage to have run (e.g. that an imported checkpoint
    /// directory holds its files); `ttc pipeline run` calls it for every stage first.
    fn preflight(&self) -> Result<()> {
        Ok(())
    }
    /// Do the work; writes every output atomically.
    fn run(&self, ctx: &Ctx) -> Result<()>;
}

/// `dir/manifest.json` or `dir/train_state.json`'s `wall_time_s`: the compute time a stage
/// recorded beside its first output.
pub fn recorded_wall(outputs: &[PathBuf]) -> Option<f64> {
    let dir = outputs.first()?.parent()?;
    ["manifest.json", "train_state.json"].iter().find_map(|f| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()?;
        v.get("wall_time_s")?.as_f64()
    })
}
