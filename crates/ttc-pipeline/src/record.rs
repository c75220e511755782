//! A stage's record (`reports/<run>/pipeline/<stage>.json`) and its fingerprint: the one
//! authority on freshness (STYLE 15, cargo's fingerprints). The fingerprint is the hash of
//! the stage's config and of every file it reads; the record adds the hashes of what it
//! wrote, so a changed or deleted output is noticed too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::stage::Stage;

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

/// The state of a stage whose inputs hash to `inputs`.
pub fn state_of(
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
