//! `ttc pipeline submit` and `ttc pipeline stage`: the plan as Slurm jobs, and one stage
//! as such a job runs it (through the pipeline crate's `run::submit`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ttc_pipeline::run::submit::{self, SubmitOptions};

use crate::dirs::Dirs;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Executor {
    /// Slurm's sbatch (jobs with `--dependency=afterok`, arrays for sharded stages).
    Slurm,
}

#[derive(Args)]
pub struct SubmitArgs {
    /// Pipeline preset (TOML).
    pub preset: PathBuf,
    /// Where the jobs run.
    #[arg(long, value_enum, default_value = "slurm")]
    pub executor: Executor,
    /// Only this stage and what it depends on.
    #[arg(long)]
    pub until: Option<String>,
    /// Every job's partition (overrides `[slurm] partition`).
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs (`--gres=gpu:G`) of each job whose stage runs on cuda (overrides `[slurm]
    /// gpus_per_task`; default 1). Stages on the CPU or a server ask for none.
    #[arg(long, value_name = "G", value_parser = clap::value_parser!(u32).range(1..))]
    pub gpus_per_task: Option<u32>,
    /// Tasks of each sharded stage's array (overrides `[slurm] array_tasks`; default 1: each
    /// stage is one job). The outputs are the same bytes at any count.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub array_tasks: Option<u64>,
    /// One more sbatch argument for every job, as given (repeatable), e.g.
    /// `--sbatch-arg=--account=lab`.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Print the sbatch calls as a shell script (running it submits the same jobs) and
    /// submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stay until every job has left the queue, then fail unless every stage is done.
    #[arg(long)]
    pub wait: bool,
    /// The ttc binary the jobs run (default: this one); it must be reachable from every node.
    #[arg(long, value_name = "PATH")]
    pub ttc: Option<PathBuf>,
    /// The sbatch program (for a wrapper or a path outside PATH).
    #[arg(long, default_value = "sbatch", value_name = "PROGRAM")]
    pub sbatch: String,
}

#[derive(Args)]
pub struct StageJobArgs {
    /// Pipeline preset (TOML).
    pub preset: PathBuf,
    /// The stage id (`ttc pipeline status` lists them).
    pub stage: String,
    /// Run only chunks c with c % n == i of a sharded stage (one array task).
    #[arg(long, conflicts_with = "merge")]
    pub shard: Option<ttc_data::shards::Shard>,
    /// Only join the parts the shards wrote (fails naming missing chunks).
    #[arg(long)]
    pub merge: bool,
}

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
