//! `ttc pipeline run|status`: a preset's whole DAG (DESIGN §1).
//!
//! The plan lists the stages a preset configures, in dependency order; each stage is one
//! `ttc` subcommand, the preset sections it reads, the stages it reads from and the files it
//! writes. A stage is *done* when its record (`reports/<run>/pipeline/<stage>.json`) holds
//! the current hash of its config, of every file its upstream stages wrote and of its own
//! outputs; `run` skips done stages and runs the rest in process (each subcommand resumes
//! its own finished parts / checkpoints), then records it. Per-stage wall times go to
//! `reports/<run>/timings.csv` after every stage.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use super::pipeline_plan::{Stage, plan};
use crate::Dirs;
use crate::preset::Preset;

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

/// What `run` wrote after a stage finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    stage: String,
    config_hash: String,
    inputs: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
    wall_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Done,
    Stale(String),
    Partial,
    Missing,
    Waiting(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Done => write!(f, "done"),
            State::Stale(why) => write!(f, "stale ({why})"),
            State::Partial => write!(f, "partial"),
            State::Missing => write!(f, "missing"),
            State::Waiting(up) => write!(f, "waiting ({up})"),
        }
    }
}

fn records_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    dirs.reports_dir.join(&preset.name).join("pipeline")
}

fn record_path(preset: &Preset, dirs: &Dirs, stage: &str) -> PathBuf {
    records_dir(preset, dirs).join(format!("{}.json", stage.replace(' ', "_")))
}

fn load_record(path: &Path) -> Result<Option<Record>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .with_context(|| format!("{}: not a pipeline record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Content hashes, each file read once per command.
#[derive(Default)]
struct Hashes(HashMap<PathBuf, Option<String>>);

impl Hashes {
    fn get(&mut self, p: &Path) -> Option<String> {
        self.0
            .entry(p.to_path_buf())
            .or_insert_with(|| ttc_core::hash::hash_file(p).ok())
            .clone()
    }
    fn forget(&mut self, ps: &[PathBuf]) {
        for p in ps {
            self.0.remove(p);
        }
    }
}

fn key(p: &Path) -> String {
    p.display().to_string()
}

/// The current hashes of a stage's inputs (its upstream stages' outputs); `Err` names the
/// first upstream stage with a missing output.
fn inputs_of(
    s: &Stage,
    by_name: &HashMap<&str, &Stage>,
    h: &mut Hashes,
) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for up in &s.after {
        for o in &by_name[up.as_str()].outputs {
            match h.get(o) {
                Some(x) => {
                    m.insert(key(o), x);
                }
                None => return Err(up.clone()),
            }
        }
    }
    Ok(m)
}

fn state_of(
    s: &Stage,
    by_name: &HashMap<&str, &Stage>,
    rec: Option<&Record>,
    h: &mut Hashes,
) -> State {
    let inputs = match inputs_of(s, by_name, h) {
        Ok(i) => i,
        Err(up) => return State::Waiting(up),
    };
    let present = s.outputs.iter().filter(|o| o.exists()).count();
    let Some(rec) = rec else {
        return if present == s.outputs.len() {
            State::Stale("not recorded by the pipeline".into())
        } else if present > 0
            || s.outputs
                .iter()
                .any(|o| o.parent().is_some_and(Path::exists))
        {
            State::Partial
        } else {
            State::Missing
        };
    };
    if rec.config_hash != ttc_core::hash::hash_json(&s.config) {
        return State::Stale("config changed".into());
    }
    if rec.inputs != inputs {
        return State::Stale("inputs changed".into());
    }
    for o in &s.outputs {
        let now = h.get(o);
        if now.is_none() || rec.outputs.get(&key(o)) != now.as_ref() {
            return State::Stale(format!("{} changed or missing", o.display()));
        }
    }
    State::Done
}

/// The wall time a stage's command recorded beside its first output (`manifest.json` or a
/// training run's `train_state.json`).
fn own_wall(s: &Stage) -> Option<f64> {
    let dir = s.outputs.first()?.parent()?;
    ["manifest.json", "train_state.json"].iter().find_map(|f| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()?;
        v.get("wall_time_s")?.as_f64()
    })
}

/// Parse a stage's command line exactly as `ttc` would.
fn command_of(s: &Stage, preset_path: &Path) -> Result<crate::Command> {
    let argv = std::iter::once("ttc".to_string())
        .chain(s.args.iter().cloned())
        .chain(["--preset".to_string(), preset_path.display().to_string()]);
    crate::Cli::try_parse_from(argv)
        .map(|c| c.command)
        .map_err(|e| anyhow::anyhow!("stage {}: {}", s.name, e.to_string().trim()))
}

/// Drop the stages that need a manual stage that is not done (the report keeps running
/// without them); `Err` names an unknown manual stage.
fn prune_manual(
    preset: &Preset,
    mut stages: Vec<Stage>,
    h: &mut Hashes,
) -> Result<(Vec<Stage>, Vec<String>)> {
    let manual = &preset.pipeline.manual;
    for m in manual {
        if !stages.iter().any(|s| &s.name == m) {
            let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "[pipeline] manual: no stage {m:?} (stages: {})",
                names.join(", ")
            );
        }
    }
    let mut blocked: Vec<String> = Vec::new();
    let states: Vec<(String, bool)> = {
        let by_name: HashMap<&str, &Stage> = stages.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut v = Vec::new();
        for s in &stages {
            // A manual stage counts once its outputs exist (it ran outside the pipeline).
            let done = !manual.contains(&s.name)
                || (inputs_of(s, &by_name, h).is_ok() && s.outputs.iter().all(|o| o.exists()));
            v.push((s.name.clone(), done));
        }
        v
    };
    for (s, (_, done)) in stages.iter().zip(&states) {
        if s.name != "report" && (!done || s.after.iter().any(|a| blocked.contains(a))) {
            blocked.push(s.name.clone());
        }
    }
    stages.retain(|s| !blocked.contains(&s.name));
    for s in &mut stages {
        s.after.retain(|a| !blocked.contains(a));
    }
    Ok((stages, blocked))
}

/// The stages up to `until` (with everything it depends on), or all.
fn selected(stages: Vec<Stage>, until: Option<&str>) -> Result<Vec<Stage>> {
    let Some(u) = until else { return Ok(stages) };
    if !stages.iter().any(|s| s.name == u) {
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "--until {u:?}: no such stage (stages: {})",
            names.join(", ")
        );
    }
    let mut need: std::collections::HashSet<String> = [u.to_string()].into();
    for s in stages.iter().rev() {
        if need.contains(&s.name) {
            need.extend(s.after.iter().cloned());
        }
    }
    Ok(stages
        .into_iter()
        .filter(|s| need.contains(&s.name))
        .collect())
}

#[derive(Serialize)]
struct Timing {
    stage: String,
    action: &'static str,
    wall_s: f64,
    recorded_wall_s: f64,
}

fn write_timings(preset: &Preset, dirs: &Dirs, t: &[Timing]) -> Result<()> {
    let dir = dirs.reports_dir.join(&preset.name);
    let mut csv = String::from("stage,action,wall_s,recorded_wall_s\n");
    for x in t {
        csv += &format!(
            "{},{},{:.1},{:.1}\n",
            x.stage, x.action, x.wall_s, x.recorded_wall_s
        );
    }
    ttc_core::atomic::write_atomic(&dir.join("timings.csv"), csv.as_bytes())?;
    ttc_core::atomic::write_atomic(&dir.join("timings.json"), &serde_json::to_vec_pretty(t)?)?;
    Ok(())
}

pub fn run(cmd: PipelineCommand, dirs: &Dirs) -> Result<()> {
    let (a, execute) = match &cmd {
        PipelineCommand::Run(a) => (a, true),
        PipelineCommand::Status(a) => (a, false),
    };
    let preset = Preset::load(&a.preset)?;
    let all = plan(&preset, dirs)?;
    // Every stage's command line parses, and imported checkpoints exist, before any work.
    for s in &all {
        command_of(s, &a.preset)?;
    }
    if let (true, Some(im)) = (execute, &preset.import) {
        for dir in std::iter::once(&im.policy).chain(im.prm.as_ref()) {
            super::import::checkpoint_files(dir)?;
        }
    }
    let mut h = Hashes::default();
    let (stages, blocked) = prune_manual(&preset, all, &mut h)?;
    let stages = selected(stages, a.until.as_deref())?;
    let by_name: HashMap<&str, &Stage> = stages.iter().map(|s| (s.name.as_str(), s)).collect();
    if !blocked.is_empty() {
        eprintln!(
            "[pipeline] manual: {} not done; left out: {}",
            preset.pipeline.manual.join(", "),
            blocked.join(", ")
        );
    }
    if !execute {
        println!("{:<32} {:<44} {:>9}", "stage", "state", "last wall");
        let mut not_done: Vec<&str> = Vec::new();
        for s in &stages {
            let rec = load_record(&record_path(&preset, dirs, &s.name))?;
            // Below a stage that will rerun, nothing is known until it has.
            let st = match s.after.iter().find(|u| not_done.contains(&u.as_str())) {
                Some(up) => State::Waiting(up.clone()),
                None => state_of(s, &by_name, rec.as_ref(), &mut h),
            };
            if st != State::Done {
                not_done.push(&s.name);
            }
            let wall = rec.map_or("-".to_string(), |r| format!("{:.1}s", r.wall_s));
            println!("{:<32} {:<44} {:>9}", s.name, st.to_string(), wall);
        }
        let done = stages.len() - not_done.len();
        println!("{done} of {} stages done", stages.len());
        return Ok(());
    }
    let total = Instant::now();
    let mut timings = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for (i, s) in stages.iter().enumerate() {
        let rpath = record_path(&preset, dirs, &s.name);
        let rec = load_record(&rpath)?;
        let st = state_of(s, &by_name, rec.as_ref(), &mut h);
        let tag = format!("[{}/{}] {}", i + 1, stages.len(), s.name);
        if st == State::Done {
            eprintln!("{tag}: done, skipped");
            skipped += 1;
            timings.push(Timing {
                stage: s.name.clone(),
                action: "skipped",
                wall_s: 0.0,
                recorded_wall_s: rec.map_or(0.0, |r| r.wall_s),
            });
            write_timings(&preset, dirs, &timings)?;
            continue;
        }
        let manual = preset.pipeline.manual.contains(&s.name);
        let t = Instant::now();
        if manual {
            eprintln!("{tag}: manual stage, its outputs are used as they are");
        } else {
            eprintln!("{tag}: {st} → ttc {}", s.args.join(" "));
            crate::dispatch(command_of(s, &a.preset)?, dirs)
                .with_context(|| format!("pipeline stage {}", s.name))?;
        }
        let wall_s = t.elapsed().as_secs_f64();
        // A stage its own command found up to date ran earlier (by hand): keep the compute
        // time it recorded then.
        let recorded = wall_s.max(own_wall(s).unwrap_or(0.0));
        h.forget(&s.outputs);
        let mut outputs = BTreeMap::new();
        for o in &s.outputs {
            let x = h.get(o).with_context(|| {
                format!("stage {} finished without writing {}", s.name, o.display())
            })?;
            outputs.insert(key(o), x);
        }
        let inputs = inputs_of(s, &by_name, &mut h)
            .map_err(|up| anyhow::anyhow!("stage {}: input stage {up} has no output", s.name))?;
        let r = Record {
            stage: s.name.clone(),
            config_hash: ttc_core::hash::hash_json(&s.config),
            inputs,
            outputs,
            wall_s: recorded,
        };
        ttc_core::atomic::write_atomic(&rpath, &serde_json::to_vec_pretty(&r)?)?;
        ran += usize::from(!manual);
        timings.push(Timing {
            stage: s.name.clone(),
            action: if manual { "manual" } else { "ran" },
            wall_s,
            recorded_wall_s: recorded,
        });
        write_timings(&preset, dirs, &timings)?;
    }
    eprintln!(
        "pipeline {}: {ran} stages run, {skipped} up to date, {:.0}s; timings in {}",
        preset.name,
        total.elapsed().as_secs_f64(),
        dirs.reports_dir
            .join(&preset.name)
            .join("timings.csv")
            .display()
    );
    Ok(())
}
