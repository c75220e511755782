//! `ttc pipeline run|status|show`: a preset's whole DAG (DESIGN §1), through the pipeline
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
    /// Print the preset as the plan reads it (TOML): what it `extends` merged in, every
    /// default filled in, relative paths resolved.
    Show(ShowArgs),
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
        return ttc_pipeline::run::runner::run_pipeline(&o, a.until.as_deref());
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
        let wall = r
            .last_wall_s
            .map_or("-".to_string(), |w| format!("{w:.1}s"));
        println!("{:<32} {:<44} {:>9}", r.stage, r.state.to_string(), wall);
    }
    let pending: Vec<_> = rows
        .iter()
        .filter(|r| r.state != ttc_pipeline::run::record::State::Done)
        .collect();
    println!(
        "{} of {} stages done{}",
        rows.len() - pending.len(),
        rows.len(),
        time_ahead(&pending.iter().map(|r| r.last_wall_s).collect::<Vec<_>>())
    );
    Ok(())
}

/// "; the other N ≈ 1 h 05 min by their last runs (K never ran here: no estimate)": the
/// time still ahead, from the wall times the run's records hold for the pending stages.
fn time_ahead(walls: &[Option<f64>]) -> String {
    if walls.is_empty() {
        return String::new();
    }
    let known: f64 = walls.iter().flatten().sum();
    let unknown = walls.iter().filter(|w| w.is_none()).count();
    let mins = (known / 60.0).round() as u64;
    let t = if mins >= 60 {
        format!("{} h {:02} min", mins / 60, mins % 60)
    } else if known >= 60.0 {
        format!("{mins} min")
    } else {
        format!("{known:.0} s")
    };
    match (unknown, walls.len()) {
        (u, n) if u == n => format!("; {n} to go, none run here before (no estimate)"),
        (0, n) => format!("; the other {n} ≈ {t} by their last runs"),
        (u, n) => format!(
            "; the other {n} ≈ {t} by the last runs of {} (+ {u} never run here: no estimate)",
            n - u
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::time_ahead;

    #[test]
    fn the_time_ahead_sums_the_pending_stages_last_runs() {
        assert_eq!(time_ahead(&[]), "");
        assert_eq!(
            time_ahead(&[Some(1800.0), Some(2100.0)]),
            "; the other 2 ≈ 1 h 05 min by their last runs"
        );
        assert_eq!(
            time_ahead(&[Some(30.0), None]),
            "; the other 2 ≈ 30 s by the last runs of 1 (+ 1 never run here: no estimate)"
        );
        assert_eq!(
            time_ahead(&[None, None]),
            "; 2 to go, none run here before (no estimate)"
        );
    }
}
