//! `ttc pipeline submit --executor slurm`: the plan the local runner walks, as Slurm jobs.
//! One job per stage that is not done, each `--dependency=afterok` on the jobs of the stages
//! it reads from (the same edges `ttc pipeline run` schedules by); a sharded stage becomes an
//! array of `--shard i/T` tasks followed by its merge job. Every job runs
//! `ttc pipeline stage PRESET ID` ([`run_job`]), which exits at once when its stage is
//! fresh, so submitting again after a failure resumes where the run stopped.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use ttc_data::shards::Shard;

use crate::preset::SlurmSection;
use crate::run::lock::RunLock;
use crate::run::record::{Hashes, State};
use crate::run::runner::{self, Options, Ran};

/// What `submit` was asked for beyond the preset's `[slurm]`.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// `--partition` (overrides `[slurm] partition`).
    pub partition: Option<String>,
    /// `--gres=gpu:G` for stages on cuda (overrides `[slurm] gpus_per_task`).
    pub gpus_per_task: Option<u32>,
    /// Tasks per sharded stage (overrides `[slurm] array_tasks`).
    pub array_tasks: Option<usize>,
    /// More sbatch arguments for every job, after the preset's.
    pub sbatch_args: Vec<String>,
    /// The `ttc` binary the jobs run (on a filesystem every node sees).
    pub ttc: PathBuf,
    /// Global flags the jobs repeat (`--datasets-dir …`), so they find this run's files.
    pub global_args: Vec<String>,
    /// The jobs' working directory (relative paths resolve against it).
    pub workdir: PathBuf,
}

/// One sbatch call.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The stage it runs.
    pub stage: String,
    /// `--job-name`.
    pub name: String,
    /// sbatch arguments other than `--dependency` and `--wrap`.
    pub args: Vec<String>,
    /// The shell command the job runs (`--wrap`).
    pub command: String,
    /// Indices of the jobs it waits for (`afterok`).
    pub after: Vec<usize>,
}

/// The jobs of every stage of `o`'s plan (up to `until`) that is not done, in plan order;
/// and the ids of the stages left out because they are done.
pub fn plan_jobs(
    o: &Options,
    until: Option<&str>,
    s: &SubmitOptions,
) -> Result<(Vec<Job>, Vec<String>)> {
    let mut h = Hashes::default();
    let (stages, _blocked) = runner::runnable(o, until, &mut h)?;
    runner::preflight(&stages, o.layout)?;
    let section = o.preset.slurm.clone().unwrap_or_default();
    let ids: Vec<String> = crate::plan::plan(o.preset)?
        .iter()
        .map(|s| s.id())
        .collect();
    section
        .validate(&ids)
        .map_err(|m| anyhow::anyhow!("{}: {m}", o.preset_path.display()))?;
    let rows = runner::states(o, &stages, &mut h)?;
    let edges = runner::edges(&stages, o.layout);
    let tasks = s.array_tasks.or(section.array_tasks).unwrap_or(1);
    if tasks == 0 {
        bail!("--array-tasks: must be at least 1");
    }
    let logs = s.workdir.join(o.layout.report_dir()).join("slurm");
    let (mut jobs, mut done) = (Vec::new(), Vec::new());
    // The job each stage's dependents wait for (its merge job when sharded).
    let mut last: Vec<Option<usize>> = vec![None; stages.len()];
    for (i, st) in stages.iter().enumerate() {
        let id = st.id();
        if rows[i].state == State::Done {
            done.push(id);
            continue;
        }
        let after: Vec<usize> = edges[i].iter().filter_map(|&u| last[u]).collect();
        let cuda = uses_cuda(&st.config());
        let base = job_args(&section, s, &id, Role::Work { cuda });
        let stage_cmd = |extra: &str| stage_command(s, o.preset_path, &id, extra);
        if st.sharded() && tasks > 1 {
            let mut args = base;
            args.push(format!("--array=0-{}", tasks - 1));
            args.push(log_arg(&logs, true));
            jobs.push(Job {
                stage: id.clone(),
                name: job_name(o, &id),
                args,
                command: stage_cmd(&format!(" --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\"")),
                after,
            });
            let array = jobs.len() - 1;
            let mut args = job_args(&section, s, &id, Role::Merge);
            args.push(log_arg(&logs, false));
            jobs.push(Job {
                stage: id.clone(),
                name: job_name(o, &format!("{id}-merge")),
                args,
                command: stage_cmd(" --merge"),
                after: vec![array],
            });
        } else {
            let mut args = base;
            args.push(log_arg(&logs, false));
            jobs.push(Job {
                stage: id.clone(),
                name: job_name(o, &id),
                args,
                command: stage_cmd(""),
                after,
            });
        }
        last[i] = Some(jobs.len() - 1);
    }
    Ok((jobs, done))
}

/// `ttc-<run>-<stage>`, with what Slurm's job names and log paths cannot hold replaced.
fn job_name(o: &Options, id: &str) -> String {
    format!("ttc-{}-{id}", o.preset.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `--output` in the run's log folder: %x is the job name; %A_%a the array job and task,
/// %j the job.
fn log_arg(logs: &Path, array: bool) -> String {
    let file = if array { "%x-%A_%a.out" } else { "%x-%j.out" };
    format!("--output={}", logs.join(file).display())
}

/// What a job of a stage does: its work (on a GPU when the stage runs on cuda), or only the
/// merge of its parts.
#[derive(Clone, Copy)]
enum Role {
    Work { cuda: bool },
    Merge,
}

/// The sbatch arguments of stage `id`'s job: `[slurm]` (its own entry first), then the CLI.
/// A merge computes nothing: one cpu, no GPU, the stage's memory and time limit.
fn job_args(section: &SlurmSection, s: &SubmitOptions, id: &str, role: Role) -> Vec<String> {
    let mut r = section.resources(id);
    let cuda = match role {
        Role::Work { cuda } => cuda,
        Role::Merge => {
            r.cpus_per_task = Some(1);
            false
        }
    };
    let mut a = vec![format!("--chdir={}", s.workdir.display())];
    if let Some(p) = s.partition.as_ref().or(section.partition.as_ref()) {
        a.push(format!("--partition={p}"));
    }
    if let Some(c) = r.cpus_per_task {
        a.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = r.mem {
        a.push(format!("--mem={m}"));
    }
    if let Some(t) = r.time {
        a.push(format!("--time={t}"));
    }
    if cuda {
        let g = s.gpus_per_task.or(section.gpus_per_task).unwrap_or(1);
        a.push(format!("--gres=gpu:{g}"));
    }
    a.extend(section.sbatch.iter().cloned());
    a.extend(s.sbatch_args.iter().cloned());
    a
}

/// Whether a stage's config puts any of its work on a GPU: a `device = "cuda"` anywhere in
/// it (an engine choice, a training device).
fn uses_cuda(config: &serde_json::Value) -> bool {
    match config {
        serde_json::Value::Object(m) => m
            .iter()
            .any(|(k, v)| (k == "device" && v == "cuda") || uses_cuda(v)),
        serde_json::Value::Array(v) => v.iter().any(uses_cuda),
        _ => false,
    }
}

/// The shell command of a job: the stage on the job's cores, through this run's files.
fn stage_command(s: &SubmitOptions, preset: &Path, id: &str, extra: &str) -> String {
    let q = |x: &str| {
        shlex::try_quote(x)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| x.into())
    };
    let globals: Vec<String> = s.global_args.iter().map(|a| q(a)).collect();
    format!(
        "if [ -n \"${{SLURM_CPUS_PER_TASK:-}}\" ]; then export RAYON_NUM_THREADS=$SLURM_CPUS_PER_TASK; fi; exec {} {}pipeline stage {} {}{extra}",
        q(&s.ttc.display().to_string()),
        globals.iter().map(|g| format!("{g} ")).collect::<String>(),
        q(&preset.display().to_string()),
        q(id),
    )
}

/// The jobs as a shell script of sbatch calls (what `--dry-run` prints; running it submits).
pub fn script(jobs: &[Job]) -> String {
    let mut out = String::from("#!/usr/bin/env bash\nset -euo pipefail\n");
    for (i, j) in jobs.iter().enumerate() {
        let deps: Vec<String> = j.after.iter().map(|d| format!("$j{d}")).collect();
        let mut words = vec!["sbatch".to_string(), "--parsable".into()];
        if !deps.is_empty() {
            words.push(format!("--dependency=afterok:{}", deps.join(":")));
            words.push("--kill-on-invalid-dep=yes".into());
        }
        words.push(format!("--job-name={}", j.name));
        words.extend(j.args.iter().map(|a| quote(a)));
        words.push(format!("--wrap={}", quote(&j.command)));
        out += &format!("j{i}=$({})  # {}\n", words.join(" "), j.stage);
    }
    out
}

fn quote(a: &str) -> String {
    shlex::try_quote(a)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| a.into())
}

/// Submit `jobs` in order with `sbatch` (the program, e.g. `"sbatch"`); returns their ids.
/// A refused job stops the submission, naming it and the jobs already queued.
pub fn submit(jobs: &[Job], sbatch: &str, logs: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut ids: Vec<String> = Vec::new();
    for j in jobs {
        let mut cmd = Command::new(sbatch);
        cmd.arg("--parsable");
        if !j.after.is_empty() {
            let deps: Vec<&str> = j.after.iter().map(|&d| ids[d].as_str()).collect();
            cmd.arg(format!("--dependency=afterok:{}", deps.join(":")))
                .arg("--kill-on-invalid-dep=yes");
        }
        cmd.arg(format!("--job-name={}", j.name))
            .args(&j.args)
            .arg(format!("--wrap={}", j.command));
        let queued = || {
            if ids.is_empty() {
                "none queued".to_string()
            } else {
                format!("queued so far: {} (scancel them to drop)", ids.join(" "))
            }
        };
        let out = cmd
            .output()
            .with_context(|| format!("running {sbatch} for stage {} ({})", j.stage, queued()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        // `--parsable` prints "<id>" or "<id>;<cluster>".
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if !out.status.success() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "{sbatch} refused stage {} ({}): {}{}",
                j.stage,
                queued(),
                String::from_utf8_lossy(&out.stderr).trim(),
                text.trim()
            );
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Wait until none of `ids` is in `squeue`'s list (every `poll`), then check that every
/// stage of the plan is done; the error names the stages that are not and the log folder.
pub fn wait(
    o: &Options,
    until: Option<&str>,
    ids: &[String],
    poll: std::time::Duration,
) -> Result<()> {
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i"])
            .output()
            .context("running squeue")?;
        if !out.status.success() {
            bail!(
                "squeue failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        // Array tasks are listed as "<array id>_<task>" or "<array id>_[0-3]".
        let pending = listed
            .lines()
            .map(|l| l.trim().split('_').next().unwrap_or(""))
            .any(|j| ids.iter().any(|i| i == j));
        if !pending {
            break;
        }
        std::thread::sleep(poll);
    }
    let (rows, _) = runner::status(o, until)?;
    let not_done: Vec<String> = rows
        .iter()
        .filter(|r| r.state != State::Done)
        .map(|r| format!("{} ({})", r.stage, r.state))
        .collect();
    if !not_done.is_empty() {
        bail!(
            "the jobs ended with {} stage(s) not done: {}; logs in {}",
            not_done.len(),
            not_done.join(", "),
            o.layout.report_dir().join("slurm").display()
        );
    }
    Ok(())
}

/// `ttc pipeline stage PRESET ID`: one stage of the plan as a scheduler's job runs it — its
/// share (`--shard i/n`), or only the merge of its parts — unless it is fresh. The run's lock
/// is taken shared: the scheduler's dependencies keep the stages in order, and a
/// `ttc pipeline run` of the same directory still cannot start beside them.
pub fn run_job(o: &Options, id: &str) -> Result<Ran> {
    let plan = crate::plan::plan(o.preset)
        .with_context(|| format!("preset {}", o.preset_path.display()))?;
    let Some(stage) = plan.iter().find(|s| s.id() == id) else {
        let ids: Vec<String> = plan.iter().map(|s| s.id()).collect();
        bail!(
            "no stage {id:?} in {} (stages: {})",
            o.preset_path.display(),
            ids.join(", ")
        );
    };
    if o.shard != Shard::ALL && !stage.sharded() {
        bail!("stage {id} is not cut into chunks; run it without --shard");
    }
    let _lock = RunLock::acquire(o.layout, true, &format!("ttc pipeline stage {id}"))?;
    let (ran, _) = runner::run_stage(stage.as_ref(), &plan, o, &mut Hashes::default())?;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_anywhere_in_a_config_asks_for_a_gpu() {
        let v = serde_json::json!({"engine": {"backend": "burn", "device": "cuda"}});
        assert!(uses_cuda(&v));
        assert!(uses_cuda(
            &serde_json::json!({"train": [{"device": "cuda"}]})
        ));
        assert!(!uses_cuda(
            &serde_json::json!({"engine": {"backend": "burn", "device": "cpu"}})
        ));
        assert!(!uses_cuda(&serde_json::json!({"note": "cuda"})));
    }

    #[test]
    fn the_script_waits_on_the_jobs_a_job_reads_from() {
        let job = |stage: &str, after: Vec<usize>| Job {
            stage: stage.into(),
            name: format!("ttc-x-{stage}"),
            args: vec!["--time=10".into()],
            command: format!("exec ttc pipeline stage p.toml '{stage}'"),
            after,
        };
        let s = script(&[
            job("data", vec![]),
            job("a b", vec![0]),
            job("c", vec![0, 1]),
        ]);
        let lines: Vec<&str> = s.lines().skip(2).collect();
        assert!(
            lines[0]
                .starts_with("j0=$(sbatch --parsable --job-name=ttc-x-data '--time=10' --wrap=")
        );
        assert!(lines[1].contains("--dependency=afterok:$j0 --kill-on-invalid-dep=yes"));
        assert!(
            lines[2].contains("--dependency=afterok:$j0:$j1 "),
            "{}",
            lines[2]
        );
        assert!(lines[1].ends_with("# a b"));
    }
}
