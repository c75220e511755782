//! Runs stages: one by hand (`ttc sample …`) or a preset's whole plan (`ttc pipeline run`),
//! and reports each stage's state (`ttc pipeline status`). Freshness is [`crate::run::record`]'s
//! to decide (`check`, `commit`); edges of the DAG are derived from the files stages read
//! and write.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ttc_data::shards::Shard;

use crate::preset::Preset;
use crate::run::estimates::{EstimateBy, Estimator};
use crate::run::layout::Layout;
use crate::run::lock::RunLock;
use crate::run::progress::Progress;
use crate::run::record::{self, Committed, Hashes, State, input_hashes};
use crate::run::stage::{Ctx, Mode, Stage};
use crate::run::timings::{Timing, write_timings};

/// Stages, and the ids of those left out (manual stages not done, and what needs them).
pub(crate) type Kept = (Vec<Box<dyn Stage>>, Vec<String>);

/// How a run was asked for.
pub struct Options<'a> {
    pub preset: &'a Preset,
    pub preset_path: &'a Path,
    pub layout: &'a Layout,
    pub mode: Mode,
    pub shard: Shard,
    pub force: bool,
    pub progress: &'a dyn Progress,
}

impl<'a> Options<'a> {
    /// A run of `preset` (loaded from `preset_path`) in `layout`: the whole shard unless
    /// `shard` names one; `merge_only` only merges finished parts.
    pub fn new(
        preset: &'a Preset,
        preset_path: &'a Path,
        layout: &'a Layout,
        force: bool,
        shard: Option<Shard>,
        merge_only: bool,
        progress: &'a dyn Progress,
    ) -> Options<'a> {
        Options {
            preset,
            preset_path,
            layout,
            mode: if merge_only {
                Mode::MergeOnly
            } else {
                Mode::Run
            },
            shard: shard.unwrap_or(Shard::ALL),
            force,
            progress,
        }
    }
}

/// One stage run by hand (`ttc sample …`): load `preset_path`, check its engine choices
/// against this build, build the stage with `make`, and run it through the runner in the
/// layout `layout_of` gives the preset.
#[allow(clippy::too_many_arguments)]
pub fn run_stage_of_preset(
    preset_path: &Path,
    layout_of: &dyn Fn(&Preset) -> Layout,
    force: bool,
    shard: Option<Shard>,
    merge_only: bool,
    progress: &dyn Progress,
    make: impl FnOnce(&Preset) -> Result<Box<dyn Stage>>,
) -> Result<()> {
    let preset = Preset::load(preset_path)?;
    crate::preset::engine_choice::check_build(&preset)
        .map_err(|m| anyhow::anyhow!("{}: {m}", preset_path.display()))?;
    let in_preset = || format!("preset {}", preset_path.display());
    let stage = make(&preset).with_context(in_preset)?;
    let layout = layout_of(&preset);
    let plan = crate::plan::plan(&preset).with_context(in_preset)?;
    let o = Options::new(
        &preset,
        preset_path,
        &layout,
        force,
        shard,
        merge_only,
        progress,
    );
    run_one_stage(stage.as_ref(), &plan, &o).map(|_| ())
}

/// The stages of `plan` whose outputs `stage` reads.
pub fn needs(stage: &dyn Stage, plan: &[Box<dyn Stage>], layout: &Layout) -> Vec<String> {
    let inputs: HashSet<PathBuf> = stage
        .inputs(layout)
        .into_iter()
        .chain(stage.optional_inputs(layout))
        .collect();
    plan.iter()
        .filter(|s| s.id() != stage.id())
        .filter(|s| s.outputs(layout).iter().any(|o| inputs.contains(o)))
        .map(|s| s.id())
        .collect()
}

/// "`path` not found: run `ttc …` first", naming the stage that writes `path`: one of the
/// plan's, one a user runs by hand beside it ([`crate::plan::by_hand`]), or — when this
/// preset has no section for it — the kind of stage that would ([`crate::plan::every_stage`]).
fn missing_input(path: &Path, plan: &[Box<dyn Stage>], o: &Options) -> anyhow::Error {
    let writes = |s: &dyn Stage| s.outputs(o.layout).iter().any(|x| x == path);
    let extra = crate::plan::by_hand(o.preset).unwrap_or_default();
    let hint = |s: &dyn Stage, why: &str| {
        anyhow::anyhow!(
            "{} not found: run `ttc {} --preset {}` first{why}",
            path.display(),
            s.command(),
            o.preset_path.display()
        )
    };
    if let Some(s) = plan.iter().chain(&extra).find(|s| writes(s.as_ref())) {
        return hint(s.as_ref(), "");
    }
    let every = crate::plan::every_stage().unwrap_or_default();
    match every.iter().find(|s| writes(s.as_ref())) {
        Some(s) => hint(s.as_ref(), " (this preset has no section for that stage)"),
        None => anyhow::anyhow!(
            "{} not found (no stage of preset {} writes it)",
            path.display(),
            o.preset_path.display()
        ),
    }
}

/// What running one stage did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Up to date: nothing run.
    Skipped,
    /// Run and recorded.
    Ran,
    /// Run for one shard; other shards pending, nothing recorded.
    Partial,
}

/// Run one stage by hand under the run's lock (shared for a shard run).
pub fn run_one_stage(
    stage: &dyn Stage,
    plan: &[Box<dyn Stage>],
    o: &Options,
) -> Result<(Ran, f64)> {
    let shared = o.shard != Shard::ALL;
    let _lock = RunLock::acquire(o.layout, shared, &format!("ttc {}", stage.command()))?;
    run_stage(stage, plan, o, &mut Hashes::default())
}

/// Run `stage` unless its record says it is done (or `force`), then record it. The caller
/// holds the run's lock.
pub fn run_stage(
    stage: &dyn Stage,
    plan: &[Box<dyn Stage>],
    o: &Options,
    h: &mut Hashes,
) -> Result<(Ran, f64)> {
    let id = stage.id();
    let inputs = input_hashes(stage, o.layout, h).map_err(|p| missing_input(&p, plan, o))?;
    let checked = record::check(stage, o.layout, inputs, h)?;
    if checked.state == State::Done && !o.force {
        let at = stage
            .outputs(o.layout)
            .first()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        eprintln!("{id}: up to date ({}); --force to rebuild", at.display());
        return Ok((Ran::Skipped, checked.last_wall_s.unwrap_or(0.0)));
    }
    if o.shard == Shard::ALL {
        // Alone in the run directory (the lock): temp files beside the outputs are left
        // from a killed writer.
        for p in stage.outputs(o.layout) {
            if let Some(dir) = p.parent() {
                ttc_core::atomic::remove_stale_temps(dir);
            }
        }
    } else {
        // A shard finishes the stage only when it merges the last part: an output left
        // from another config must not pass for that.
        for p in stage.outputs(o.layout) {
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("removing stale {}", p.display()))?;
            }
        }
    }
    let ctx = Ctx {
        preset: o.preset,
        preset_path: o.preset_path,
        layout: o.layout,
        mode: o.mode,
        shard: o.shard,
        force: o.force,
        fingerprint: checked.fingerprint.clone(),
        progress: o.progress,
    };
    let t = Instant::now();
    stage.run(&ctx).with_context(|| format!("stage {id}"))?;
    let wall_s = t.elapsed().as_secs_f64();
    match record::commit(stage, o.layout, checked, h, wall_s)? {
        Committed::Recorded(wall) => Ok((Ran::Ran, wall)),
        Committed::Unwritten(_) if o.shard != Shard::ALL => Ok((Ran::Partial, wall_s)),
        Committed::Unwritten(p) => bail!("stage {id} finished without writing {}", p.display()),
    }
}

/// Drop the stages that need a manual stage that is not done (the report keeps running
/// without them); `Err` names an unknown manual stage. Returns the kept and dropped stages.
/// With `until`, nothing is dropped: the stage asked for by name runs with everything it
/// needs, manual stages included — except for the report, which only reads what exists.
fn prune_manual(
    preset: &Preset,
    stages: Vec<Box<dyn Stage>>,
    layout: &Layout,
    h: &mut Hashes,
    until: Option<&str>,
) -> Result<Kept> {
    let manual = &preset.pipeline.manual;
    for m in manual {
        if !stages.iter().any(|s| &s.id() == m) {
            let names: Vec<String> = stages.iter().map(|s| s.id()).collect();
            bail!(
                "[pipeline] manual: no stage {m:?} (stages: {})",
                names.join(", ")
            );
        }
    }
    let mut blocked: Vec<String> = Vec::new();
    for s in &stages {
        let id = s.id();
        // A manual stage counts once its outputs exist (it ran outside the pipeline).
        let done = !manual.contains(&id)
            || until.is_some_and(|u| u != "report")
            || (input_hashes(s.as_ref(), layout, h).is_ok()
                && s.outputs(layout).iter().all(|o| o.exists()));
        let up_blocked = needs(s.as_ref(), &stages, layout)
            .iter()
            .any(|u| blocked.contains(u));
        if !s.is_report() && (!done || up_blocked) {
            blocked.push(id);
        }
    }
    let kept = stages
        .into_iter()
        .filter(|s| !blocked.contains(&s.id()))
        .collect();
    Ok((kept, blocked))
}

/// The stages up to `until` (with everything it depends on), or all.
fn selected(
    stages: Vec<Box<dyn Stage>>,
    until: Option<&str>,
    layout: &Layout,
) -> Result<Vec<Box<dyn Stage>>> {
    let Some(u) = until else { return Ok(stages) };
    if !stages.iter().any(|s| s.id() == u) {
        let names: Vec<String> = stages.iter().map(|s| s.id()).collect();
        bail!(
            "--until {u:?}: no such stage (stages: {})",
            names.join(", ")
        );
    }
    let mut need: HashSet<String> = [u.to_string()].into();
    for s in stages.iter().rev() {
        if need.contains(&s.id()) {
            need.extend(needs(s.as_ref(), &stages, layout));
        }
    }
    Ok(stages
        .into_iter()
        .filter(|s| need.contains(&s.id()))
        .collect())
}

/// Helper so the report (which reads whatever exists) is never pruned.
trait IsReport {
    fn is_report(&self) -> bool;
}

impl<T: Stage + ?Sized> IsReport for T {
    fn is_report(&self) -> bool {
        self.id() == "report"
    }
}

/// The plan's stages that `ttc pipeline run|status` covers (manual stages pruned, up to
/// `until`), with the manual-blocked ones named.
pub(crate) fn runnable(o: &Options, until: Option<&str>, h: &mut Hashes) -> Result<Kept> {
    let all = crate::plan::plan(o.preset)
        .with_context(|| format!("preset {}", o.preset_path.display()))?;
    let (stages, blocked) = prune_manual(o.preset, all, o.layout, h, until)?;
    Ok((selected(stages, until, o.layout)?, blocked))
}

/// One line of `ttc pipeline status`.
pub struct StatusRow {
    pub stage: String,
    pub state: State,
    pub last_wall_s: Option<f64>,
    /// Never run here: its wall scaled from a sibling's (`Stage::work_units`), else by the
    /// cost model (`Stage::work`); `estimate_by` says which.
    pub estimate_s: Option<f64>,
    pub estimate_by: Option<EstimateBy>,
    /// The rows (indices) of the stages it waits for (the scheduler's edges).
    pub needs: Vec<usize>,
}

/// Every stage's state, in plan order, with the estimates of those that never ran here;
/// and the manual-blocked stages.
pub fn status(o: &Options, until: Option<&str>) -> Result<(Vec<StatusRow>, Vec<String>)> {
    let mut h = Hashes::default();
    let (stages, blocked) = runnable(o, until, &mut h)?;
    let mut rows = states(o, &stages, &mut h)?;
    let walls: Vec<_> = rows.iter().map(|r| r.last_wall_s).collect();
    let est = Estimator::new(o.preset, o.layout, &stages).estimate(&walls);
    for (r, e) in rows.iter_mut().zip(est) {
        (r.estimate_s, r.estimate_by) = (e.map(|e| e.0), e.map(|e| e.1));
    }
    Ok((rows, blocked))
}

/// The state of each of `stages` (a plan, in order), hashing through `h`; no estimates
/// (those are [`status`]'s and the run's ETA's, so `submit` never probes).
pub(crate) fn states(
    o: &Options,
    stages: &[Box<dyn Stage>],
    h: &mut Hashes,
) -> Result<Vec<StatusRow>> {
    let mut not_done: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for s in stages {
        // Below a stage that will rerun, nothing is known until it has.
        let up = needs(s.as_ref(), stages, o.layout)
            .into_iter()
            .find(|u| not_done.contains(u));
        let last = record::load_record(&record::record_path(s.as_ref(), o.layout))?;
        let state = match (up, input_hashes(s.as_ref(), o.layout, h)) {
            (Some(up), _) => State::Waiting(up),
            (None, Err(p)) => match writer_of(&p, stages, o.layout) {
                Some(w) => State::Waiting(w),
                None => State::MissingInput(p.display().to_string()),
            },
            (None, Ok(inputs)) => record::check(s.as_ref(), o.layout, inputs, h)?.state,
        };
        if state != State::Done {
            not_done.push(s.id());
        }
        rows.push(StatusRow {
            stage: s.id(),
            state,
            last_wall_s: last.map(|r| r.wall_s),
            estimate_s: None,
            estimate_by: None,
            needs: Vec::new(),
        });
    }
    for (r, e) in rows.iter_mut().zip(edges(stages, o.layout)) {
        r.needs = e;
    }
    Ok(rows)
}

/// The id of the stage of `plan` that writes `path`.
fn writer_of(path: &Path, plan: &[Box<dyn Stage>], layout: &Layout) -> Option<String> {
    plan.iter()
        .find(|s| s.outputs(layout).iter().any(|o| o == path))
        .map(|s| s.id())
}

/// Before any work: every stage's own checks, and every input that no stage of the plan
/// writes (imported models, problem files) exists.
pub(crate) fn preflight(stages: &[Box<dyn Stage>], layout: &Layout) -> Result<()> {
    for s in stages {
        s.preflight().with_context(|| format!("stage {}", s.id()))?;
        for p in s.inputs(layout) {
            if !p.exists() && writer_of(&p, stages, layout).is_none() {
                bail!(
                    "stage {}: {} not found (no stage of this preset writes it)",
                    s.id(),
                    p.display()
                );
            }
        }
    }
    Ok(())
}

/// One planned stage as `ttc pipeline run` runs it: a manual stage whose outputs exist is
/// recorded as it is; any other runs unless done. Returns (action, recorded wall time).
fn run_planned(
    s: &dyn Stage,
    stages: &[Box<dyn Stage>],
    o: &Options,
    h: &mut Hashes,
) -> Result<(&'static str, f64)> {
    let id = s.id();
    // A manual stage's outputs, made by hand, are recorded as they are; one asked for by
    // name (`--until`) whose outputs are not there runs like any other.
    let manual =
        o.preset.pipeline.manual.contains(&id) && s.outputs(o.layout).iter().all(|p| p.exists());
    if manual {
        let inputs = input_hashes(s, o.layout, h).map_err(|p| missing_input(&p, stages, o))?;
        let checked = record::check(s, o.layout, inputs, h)?;
        return match record::commit(s, o.layout, checked, h, 0.0)? {
            Committed::Recorded(wall) => Ok(("manual", wall)),
            Committed::Unwritten(p) => bail!("manual stage {id}: {} missing", p.display()),
        };
    }
    match run_stage(s, stages, o, h).with_context(|| format!("pipeline stage {id}"))? {
        (Ran::Skipped, w) => Ok(("skipped", w)),
        (_, w) => Ok(("ran", w)),
    }
}

/// The DAG of `stages` as the scheduler reads it: each stage's upstream indices. The report
/// reads whatever exists (not only its declared inputs), so it waits for every other stage.
pub fn edges(stages: &[Box<dyn Stage>], layout: &Layout) -> Vec<Vec<usize>> {
    let index = |id: &str| stages.iter().position(|s| s.id() == id);
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.is_report() {
                (0..stages.len()).filter(|&j| j != i).collect()
            } else {
                needs(s.as_ref(), stages, layout)
                    .iter()
                    .filter_map(|u| index(u))
                    .collect()
            }
        })
        .collect()
}

/// `ttc pipeline run`: every stage not done, each as soon as the stages it reads from are
/// (in plan order, up to `jobs` at once, each on its share of the cores); timings after
/// each. A failure starts nothing new, lets the running stages finish, and is the error.
pub fn run_pipeline(o: &Options, until: Option<&str>, jobs: usize) -> Result<()> {
    let _lock = RunLock::acquire(o.layout, false, "ttc pipeline run")?;
    let mut h = Hashes::default();
    let (stages, blocked) = runnable(o, until, &mut h)?;
    preflight(&stages, o.layout)?;
    if !blocked.is_empty() {
        eprintln!(
            "[pipeline] manual: {} not done; left out: {}",
            o.preset.pipeline.manual.join(", "),
            blocked.join(", ")
        );
    }
    let jobs = jobs.max(1);
    if jobs > 1 {
        eprintln!(
            "[pipeline] up to {jobs} stages at once, {} threads each",
            crate::run::schedule::threads_per_job(rayon::current_num_threads(), jobs)
        );
    }
    // What each stage is expected to take (its last wall; 0 when done), for the ETA. Its
    // own cache of file hashes: the run's must not remember files as they are before it
    // (an optional input still absent here is written by a stage of this run).
    let rows = states(o, &stages, &mut Hashes::default())?;
    // Each stage's wall as known: its last run's, else (below) an estimate.
    let walls = std::cell::RefCell::new(rows.iter().map(|r| r.last_wall_s).collect::<Vec<_>>());
    let done: Vec<bool> = rows.iter().map(|r| r.state == State::Done).collect();
    let estimator = Estimator::new(o.preset, o.layout, &stages);
    let estimates = |walls: &[Option<f64>]| -> Vec<Option<f64>> {
        let est = estimator.estimate(walls);
        (0..walls.len())
            .map(|i| done[i].then_some(0.0).or(walls[i]).or(est[i].map(|e| e.0)))
            .collect()
    };
    let deps = edges(&stages, o.layout);
    let left = std::cell::RefCell::new(
        rows.iter()
            .map(|r| r.state != State::Done)
            .collect::<Vec<bool>>(),
    );
    let begun_at = std::cell::RefCell::new(vec![None::<Instant>; stages.len()]);
    let total = Instant::now();
    let n = stages.len();
    let shared = std::sync::Mutex::new(h);
    // One at a time, the run shares one cache of file hashes (as before `--jobs`); side by
    // side, each stage hashes what it reads afresh: a shared cache could hold a file that a
    // stage running beside it has since rewritten.
    let run = |i: usize| -> Result<(&'static str, f64, f64)> {
        let t = Instant::now();
        let s = stages[i].as_ref();
        let (action, recorded) = if jobs == 1 {
            let mut h = shared.lock().expect("no worker panics holding it");
            run_planned(s, &stages, o, &mut h)?
        } else {
            run_planned(s, &stages, o, &mut Hashes::default())?
        };
        let wall = if action == "skipped" {
            0.0
        } else {
            t.elapsed().as_secs_f64()
        };
        Ok((action, wall, recorded))
    };
    let mut timings = Vec::new();
    let (mut ran, mut skipped, mut begun) = (0, 0, 0);
    crate::run::schedule::run_dag(
        &deps,
        jobs,
        &run,
        |i, running| {
            begun += 1;
            begun_at.borrow_mut()[i] = Some(Instant::now());
            let s = &stages[i];
            let beside: Vec<String> = running
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| stages[j].id())
                .collect();
            let beside = if beside.is_empty() {
                String::new()
            } else {
                format!(" (beside {})", beside.join(", "))
            };
            eprintln!("[{begun}/{n}] {} → ttc {}{beside}", s.id(), s.command());
        },
        |i, (action, wall_s, recorded_wall_s)| {
            match action {
                "skipped" => skipped += 1,
                "ran" => ran += 1,
                _ => eprintln!(
                    "[{}/{n}] {}: manual stage, its outputs are used as they are",
                    i + 1,
                    stages[i].id()
                ),
            }
            if jobs > 1 && action == "ran" {
                eprintln!("{}: finished in {wall_s:.0}s", stages[i].id());
            }
            left.borrow_mut()[i] = false;
            if action == "ran" {
                // A stage that ran gives its siblings an estimate.
                walls.borrow_mut()[i] = Some(wall_s);
                let est = estimates(&walls.borrow());
                let elapsed: Vec<Option<f64>> = begun_at
                    .borrow()
                    .iter()
                    .map(|t| t.map(|t| t.elapsed().as_secs_f64()))
                    .collect();
                let left = left.borrow();
                if left.iter().any(|&l| l)
                    && let Some(eta) =
                        crate::run::time_ahead::eta(&deps, &est, &left, &elapsed, jobs)
                {
                    eprintln!("[pipeline] {eta}");
                }
            }
            timings.push(Timing {
                stage: stages[i].id(),
                action,
                wall_s,
                recorded_wall_s,
            });
            write_timings(o.layout, &timings)
        },
    )?;
    eprintln!(
        "pipeline {}: {ran} stages run, {skipped} up to date, {:.0}s; timings in {}",
        o.preset.name,
        total.elapsed().as_secs_f64(),
        o.layout.report_dir().join("timings.csv").display()
    );
    Ok(())
}
