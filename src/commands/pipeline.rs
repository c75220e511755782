//! `ttc pipeline run|status`: a preset's whole DAG (DESIGN §1), through the pipeline
//! crate's runner.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::dirs::Dirs;

#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Run every stage of the preset that is not done, in dependency order; a stage killed
    /// midway resumes from its finished parts. Writes reports/<run>/timings.csv.
    Run(PipelineArgs),
    /// Each stage's state: done, stale (config, inputs or outputs changed), partial (killed
    /// midway), missing, or waiting (an upstream stage is not done); with its last wall time.
    Status(PipelineArgs),
}

#[derive(Args)]
pub struct PipelineArgs {
    /// Pipeline preset (TOML).
    pub preset: PathBuf,
    /// Stop after this stage (and what it depends on). `ttc pipeline status` lists names.
    #[arg(long)]
    pub until: Option<String>,
}

pub fn run(cmd: PipelineCommand, dirs: &Dirs) -> Result<()> {
    let (a, execute) = match &cmd {
        PipelineCommand::Run(a) => (a, true),
        PipelineCommand::Status(a) => (a, false),
    };
    let preset = ttc_pipeline::preset::Preset::load(&a.preset)?;
    let layout = dirs.layout(&preset);
    let o = ttc_pipeline::runner::Options::new(
        &preset,
        &a.preset,
        &layout,
        false,
        None,
        false,
        &crate::progress::Bars,
    );
    if execute {
        ttc_pipeline::engine_choice::check_build(&preset)
            .map_err(|m| anyhow::anyhow!("{}: {m}", a.preset.display()))?;
        return ttc_pipeline::runner::run_pipeline(&o, a.until.as_deref());
    }
    let (rows, blocked) = ttc_pipeline::runner::status(&o, a.until.as_deref())?;
    if !blocked.is_empty() {
        eprintln!(
            "[pipeline] manual: {} not done; left out: {}",
            preset.pipeline.manual.join(", "),
            blocked.join(", ")
        );
    }
    println!("{:<32} {:<44} {:>9}", "stage", "state", "last wall");
    for r in &rows {
        let wall = r
            .last_wall_s
            .map_or("-".to_string(), |w| format!("{w:.1}s"));
        println!("{:<32} {:<44} {:>9}", r.stage, r.state.to_string(), wall);
    }
    let done = rows
        .iter()
        .filter(|r| r.state == ttc_pipeline::record::State::Done)
        .count();
    println!("{done} of {} stages done", rows.len());
    Ok(())
}
