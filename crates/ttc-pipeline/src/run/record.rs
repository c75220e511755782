//! Freshness, decided in one place (STYLE 15, in the style of cargo's fingerprints):
//! [`check`] says whether a stage is fresh or stale and why; [`commit`] records it once it
//! has run. The fingerprint is the hash of the stage's config and of every file it reads;
//! the record (`.ttc-record-<stage>.json` beside the stage's first output) adds the hashes
//! of what it wrote, so a changed or deleted output is noticed too. The runner asks; it
//! never decides freshness itself.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::run::layout::Layout;
use crate::run::stage::Stage;

/// What the runner wrote after a stage finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub stage: String,
    pub fingerprint: String,
    /// The parts of the fingerprint, kept to say why a stage is stale.
    pub config_hash: String,
    pub inputs: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub wall_s: f64,
}

/// Where a stage's state stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Done,
    Stale(String),
    Partial,
    Missing,
    /// An input a stage of the plan writes is missing: that stage.
    Waiting(String),
    /// An input no stage writes (an imported model, a problem file) is missing.
    MissingInput(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Done => write!(f, "done"),
            State::Stale(why) => write!(f, "stale ({why})"),
            State::Partial => write!(f, "partial"),
            State::Missing => write!(f, "missing"),
            State::Waiting(up) => write!(f, "waiting ({up})"),
            State::MissingInput(p) => write!(f, "missing input {p}"),
        }
    }
}

/// `<directory of its first output>/.ttc-record-<stage>.json`: beside what it describes,
/// so runs with other roots (`--datasets-dir`, …) keep their own records.
pub fn record_path(stage: &dyn Stage, layout: &Layout) -> PathBuf {
    let dir = stage
        .outputs(layout)
        .first()
        .and_then(|o| o.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| layout.report_dir());
    dir.join(format!(".ttc-record-{}.json", stage.id().replace(' ', "_")))
}

pub fn load_record(path: &Path) -> Result<Option<Record>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .with_context(|| format!("{}: not a pipeline record", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Content hashes, each file read once until forgotten.
#[derive(Default)]
pub struct Hashes(HashMap<PathBuf, Option<String>>);

impl Hashes {
    pub fn get(&mut self, p: &Path) -> Option<String> {
        self.0
            .entry(p.to_path_buf())
            .or_insert_with(|| ttc_core::hash::hash_file(p).ok())
            .clone()
    }
    pub fn forget(&mut self, ps: &[PathBuf]) {
        for p in ps {
            self.0.remove(p);
        }
    }
}

pub fn key(p: &Path) -> String {
    p.display().to_string()
}

/// The hashes of a stage's inputs; `Err` is the first required input that is missing.
pub fn input_hashes(
    stage: &dyn Stage,
    layout: &Layout,
    h: &mut Hashes,
) -> std::result::Result<BTreeMap<String, String>, PathBuf> {
    let mut m = BTreeMap::new();
    for p in stage.inputs(layout) {
        match h.get(&p) {
            Some(x) => {
                m.insert(key(&p), x);
            }
            None => return Err(p),
        }
    }
    for p in stage.optional_inputs(layout) {
        if let Some(x) = h.get(&p) {
            m.insert(key(&p), x);
        }
    }
    Ok(m)
}

/// The fingerprint of a config hash and input hashes.
pub fn fingerprint(config_hash: &str, inputs: &BTreeMap<String, String>) -> String {
    ttc_core::hash::hash_json(&(config_hash, inputs))
}

/// Whether work towards output `o` exists: resumable parts beside it, or a training run's
/// state in its directory (a directory that merely exists says nothing: runs share them).
fn started_on(o: &Path) -> bool {
    let mut parts = o.file_name().unwrap_or_default().to_os_string();
    parts.push(".parts");
    o.with_file_name(parts).exists() || o.with_file_name("train_state.json").exists()
}

/// What [`check`] found out about a stage: its state, and what [`commit`] records once it
/// has run.
pub struct Checked {
    pub state: State,
    /// The stamp of its resumable parts: the hash of its config and its inputs' hashes.
    pub fingerprint: String,
    /// The wall time its record holds (`None`: never recorded).
    pub last_wall_s: Option<f64>,
    config_hash: String,
    inputs: BTreeMap<String, String>,
    path: PathBuf,
}

/// Is `stage`, whose inputs hash to `inputs` ([`input_hashes`]), fresh?
pub fn check(
    stage: &dyn Stage,
    layout: &Layout,
    inputs: BTreeMap<String, String>,
    h: &mut Hashes,
) -> Result<Checked> {
    let path = record_path(stage, layout);
    let rec = load_record(&path)?;
    let state = state_of(stage, layout, &inputs, rec.as_ref(), h);
    let config_hash = ttc_core::hash::hash_json(&stage.config());
    Ok(Checked {
        state,
        fingerprint: fingerprint(&config_hash, &inputs),
        last_wall_s: rec.map(|r| r.wall_s),
        config_hash,
        inputs,
        path,
    })
}

/// What [`commit`] did.
pub enum Committed {
    /// Recorded, with the stage's wall time (its own, or what its outputs say it spent).
    Recorded(f64),
    /// This output is not there (yet: a shard leaves the merge to another), nothing recorded.
    Unwritten(PathBuf),
}

/// After `stage` ran `wall_s` seconds: hash what it wrote and write its record.
pub fn commit(
    stage: &dyn Stage,
    layout: &Layout,
    checked: Checked,
    h: &mut Hashes,
    wall_s: f64,
) -> Result<Committed> {
    let outputs = stage.outputs(layout);
    h.forget(&outputs);
    let mut hashes = BTreeMap::new();
    for p in &outputs {
        match h.get(p) {
            Some(x) => {
                hashes.insert(key(p), x);
            }
            None => return Ok(Committed::Unwritten(p.clone())),
        }
    }
    let r = Record {
        stage: stage.id(),
        fingerprint: checked.fingerprint,
        config_hash: checked.config_hash,
        inputs: checked.inputs,
        outputs: hashes,
        wall_s: wall_s.max(crate::run::stage::recorded_wall(&outputs).unwrap_or(0.0)),
    };
    ttc_core::atomic::write_atomic(&checked.path, &serde_json::to_vec_pretty(&r)?)?;
    Ok(Committed::Recorded(r.wall_s))
}

/// The state of a stage whose inputs hash to `inputs`.
fn state_of(
    stage: &dyn Stage,
    layout: &Layout,
    inputs: &BTreeMap<String, String>,
    rec: Option<&Record>,
    h: &mut Hashes,
) -> State {
    let outputs = stage.outputs(layout);
    let present = outputs.iter().filter(|o| o.exists()).count();
    let Some(rec) = rec else {
        return if present == outputs.len() {
            State::Stale("not recorded by the pipeline".into())
        } else if present > 0 || outputs.iter().any(|o| started_on(o)) {
            State::Partial
        } else {
            State::Missing
        };
    };
    if rec.config_hash != ttc_core::hash::hash_json(&stage.config()) {
        return State::Stale("config changed".into());
    }
    if &rec.inputs != inputs {
        return State::Stale("inputs changed".into());
    }
    for o in &outputs {
        let now = h.get(o);
        if now.is_none() || rec.outputs.get(&key(o)) != now.as_ref() {
            return State::Stale(format!("{} changed or missing", o.display()));
        }
    }
    State::Done
}
