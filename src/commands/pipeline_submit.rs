//! `ttc pipeline submit` and `ttc pipeline stage`: the plan as Slurm jobs, and one stage
//! as such a job runs it (through the pipeline crate's `run::submit`).

use anyhow::{Context, Result};
use ttc_pipeline::run::submit::{self, SubmitOptions};

use super::pipeline::{StageJobArgs, SubmitArgs};
use crate::dirs::Dirs;

pub fn submit(a: &SubmitArgs, dirs: &Dirs) -> Result<()> {
    let preset_path = std::path::absolute(&a.preset)
        .with_context(|| format!("resolving {}", a.preset.display()))?;
    let preset = ttc_pipeline::preset::Preset::load(&preset_path)?;
    ttc_pipeline::preset::engine_choice::validate(&preset)
        .map_err(|m| anyhow::anyhow!("{}: {m}", preset_path.display()))?;
    let layout = dirs.layout(&preset);
    let o = ttc_pipeline::run::runner::Options::new(
        &preset,
        &preset_path,
        &layout,
        false,
        None,
        false,
        &ttc_pipeline::run::progress::Silent,
    );
    let ttc = match &a.ttc {
        Some(p) => std::path::absolute(p)?,
        None => std::env::current_exe().context("locating this ttc binary")?,
    };
    let s = SubmitOptions {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        array_tasks: a.array_tasks.map(|t| t as usize),
        sbatch_args: a.sbatch_args.clone(),
        ttc,
        global_args: dirs.as_args(),
        workdir: std::env::current_dir().context("reading the working directory")?,
    };
    let (jobs, done) = submit::plan_jobs(&o, a.until.as_deref(), &s)?;
    if a.dry_run {
        print!("{}", submit::script(&jobs));
        eprintln!(
            "[submit] {} jobs for {} stages ({} done, left out); nothing submitted (--dry-run)",
            jobs.len(),
            stage_count(&jobs),
            done.len()
        );
        return Ok(());
    }
    if jobs.is_empty() {
        eprintln!(
            "[submit] every stage of {} is done; nothing to submit",
            preset.name
        );
        return Ok(());
    }
    let logs = layout.report_dir().join("slurm");
    let ids = submit::submit(&jobs, &a.sbatch, &logs)?;
    for (j, id) in jobs.iter().zip(&ids) {
        println!("{id}\t{}", j.name);
    }
    eprintln!(
        "[submit] {} jobs for {} stages ({} done, left out); logs in {}; watch with `squeue` and `ttc pipeline status {}`",
        jobs.len(),
        stage_count(&jobs),
        done.len(),
        logs.display(),
        a.preset.display()
    );
    if a.wait {
        submit::wait(
            &o,
            a.until.as_deref(),
            &ids,
            std::time::Duration::from_secs(2),
        )?;
        eprintln!(
            "[submit] every job finished; every stage of {} is done",
            preset.name
        );
    }
    Ok(())
}

fn stage_count(jobs: &[submit::Job]) -> usize {
    let mut ids: Vec<&str> = jobs.iter().map(|j| j.stage.as_str()).collect();
    ids.dedup();
    ids.len()
}

pub fn stage(a: &StageJobArgs, dirs: &Dirs) -> Result<()> {
    let preset = ttc_pipeline::preset::Preset::load(&a.preset)?;
    ttc_pipeline::preset::engine_choice::check_build(&preset)
        .map_err(|m| anyhow::anyhow!("{}: {m}", a.preset.display()))?;
    let layout = dirs.layout(&preset);
    let o = ttc_pipeline::run::runner::Options::new(
        &preset,
        &a.preset,
        &layout,
        false,
        a.shard,
        a.merge,
        &crate::progress::Bars,
    );
    submit::run_job(&o, &a.stage)?;
    Ok(())
}
