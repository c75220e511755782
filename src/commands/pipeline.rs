//! `ttc pipeline run|status|show`: a preset's whole DAG (DESIGN §1), through the pipeline
//! crate's runner.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::dirs::Dirs;
use ttc_pipeline::run::estimates::EstimateBy;

#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Run every stage of the preset that is not done, in dependency order; a stage killed
    /// midway resumes from its finished parts. Writes reports/<run>/timings.csv.
    Run(PipelineArgs),
    /// Each stage's state: done, stale (config, inputs or outputs changed), partial (killed
    /// midway), missing, or waiting (an upstream stage is not done); with its last wall time.
    Status(PipelineArgs),
    /// Print the preset as the plan reads it (TOML): what it `extends` merged in, every
    /// default filled in, relative paths resolved.
    Show(ShowArgs),
    /// Submit the plan to a cluster: one Slurm job per stage that is not done, each waiting
    /// (`afterok`) for the stages it reads from; sharded stages (samples, labels, searches,
    /// revision chains) as arrays of `--shard` tasks followed by their merge job. Resources
    /// come from the preset's `[slurm]` and the stage (a GPU only where its engine or
    /// training runs on cuda). Submitting again after a failure resumes: done stages are
    /// left out and a job whose stage is fresh exits at once. The run directory must be on a
    /// filesystem every node sees.
    Submit(super::pipeline_submit::SubmitArgs),
    /// Run one stage of the plan as a scheduler's job does (what `submit`'s jobs run): exits
    /// at once when the stage is fresh; takes the run's lock shared.
    Stage(super::pipeline_submit::StageJobArgs),
}

#[derive(Args)]
pub struct ShowArgs {
    /// Pipeline preset (TOML).
    pub preset: PathBuf,
}

#[derive(Args)]
pub struct PipelineArgs {
    /// Pipeline preset (TOML).
    #[arg(required_unless_present = "preset_flag")]
    pub preset: Option<PathBuf>,
    /// The preset as a flag, as the per-stage commands take it (instead of the argument).
    #[arg(
        long = "preset",
        id = "preset_flag",
        value_name = "PRESET",
        conflicts_with = "preset"
    )]
    pub preset_flag: Option<PathBuf>,
    /// Only this stage and what it depends on — manual stages included, since it was asked
    /// for by name. `ttc pipeline status` lists the names.
    #[arg(long)]
    pub until: Option<String>,
    /// `run` only: stages side by side. Every stage whose inputs are ready starts, up to K at
    /// once, each on its share of the cores (all cores ÷ K threads); a failure starts nothing
    /// new and lets the running stages finish. The outputs are the same bytes at any K.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

pub fn run(cmd: PipelineCommand, dirs: &Dirs) -> Result<()> {
    let (a, execute) = match &cmd {
        PipelineCommand::Run(a) => (a, true),
        PipelineCommand::Status(a) => (a, false),
        PipelineCommand::Show(a) => {
            let preset = ttc_pipeline::preset::Preset::load(&a.preset)?;
            print!("{}", toml::to_string(&preset)?);
            return Ok(());
        }
        PipelineCommand::Submit(a) => return super::pipeline_submit::submit(a, dirs),
        PipelineCommand::Stage(a) => return super::pipeline_submit::stage(a, dirs),
    };
    let path = a
        .preset
        .as_ref()
        .or(a.preset_flag.as_ref())
        .expect("clap requires one");
    let preset = ttc_pipeline::preset::Preset::load(path)?;
    let layout = dirs.layout(&preset);
    let o = ttc_pipeline::run::runner::Options::new(
        &preset,
        path,
        &layout,
        false,
        None,
        false,
        &crate::progress::Bars,
    );
    if execute {
        ttc_pipeline::preset::engine_choice::check_build(&preset)
            .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
        return ttc_pipeline::run::runner::run_pipeline(&o, a.until.as_deref(), a.jobs.into());
    }
    let (rows, blocked) = ttc_pipeline::run::runner::status(&o, a.until.as_deref())?;
    if !blocked.is_empty() {
        eprintln!(
            "[pipeline] manual: {} not done; left out: {}",
            preset.pipeline.manual.join(", "),
            blocked.join(", ")
        );
    }
    println!("{:<32} {:<44} {:>9}", "stage", "state", "last wall");
    for r in &rows {
        let wall = match (r.last_wall_s, r.estimate_s, r.estimate_by) {
            (Some(w), _, _) => format!("{w:.1}s"),
            (None, Some(e), Some(EstimateBy::Sibling)) => format!("~{e:.0}s est"),
            (None, Some(e), _) => format!("~{e:.0}s cost"),
            (None, _, _) => "-".to_string(),
        };
        println!("{:<32} {:<44} {:>9}", r.stage, r.state.to_string(), wall);
    }
    let pending: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].state != ttc_pipeline::run::record::State::Done)
        .collect();
    let walls: Vec<Option<f64>> = pending
        .iter()
        .map(|&i| rows[i].last_wall_s.or(rows[i].estimate_s))
        .collect();
    let by = |b: EstimateBy| {
        pending
            .iter()
            .filter(|&&i| rows[i].last_wall_s.is_none() && rows[i].estimate_by == Some(b))
            .count()
    };
    let (scaled, run_speed, probed) = (
        by(EstimateBy::Sibling),
        by(EstimateBy::RunSpeed),
        by(EstimateBy::Probe),
    );
    // The pending stages' edges among themselves (done stages wait for nothing).
    let deps: Vec<Vec<usize>> = pending
        .iter()
        .map(|&i| {
            rows[i]
                .needs
                .iter()
                .filter_map(|u| pending.iter().position(|p| p == u))
                .collect()
        })
        .collect();
    use ttc_pipeline::run::time_ahead::{estimated_by, side_by_side, time_ahead};
    println!(
        "{} of {} stages done{}{}{}",
        rows.len() - pending.len(),
        rows.len(),
        time_ahead(&walls),
        estimated_by(scaled, run_speed, probed),
        side_by_side(&deps, &walls)
    );
    Ok(())
}
