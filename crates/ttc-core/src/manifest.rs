//! `manifest.json`: what a stage did — its config, seed, counts and wall time — beside its
//! outputs, so a directory explains itself (STYLE 11). Whether a stage is up to date is
//! decided elsewhere, once (the pipeline runner's fingerprint); a manifest decides nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Stage name, e.g. `data`, `tokenizer`.
    pub stage: String,
    pub seed: u64,
    pub wall_time_s: f64,
    /// Named counts (rows per split, vocabulary size, …).
    pub counts: BTreeMap<String, u64>,
    /// The config itself, so the directory explains itself.
    pub config: serde_json::Value,
}

impl Manifest {
    /// A manifest for `stage` run with `config` and `seed`; counts and wall time are
    /// recorded as the stage goes.
    pub fn new<C: Serialize>(stage: &str, config: &C, seed: u64) -> Manifest {
        Manifest {
            stage: stage.to_string(),
            seed,
            wall_time_s: 0.0,
            counts: BTreeMap::new(),
            config: serde_json::to_value(config).expect("configs serialize to JSON"),
        }
    }

    /// Read `dir/manifest.json`; `Ok(None)` if the stage has not finished there.
    pub fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Json {
                path,
                msg: e.to_string(),
            })
    }

    /// Write `dir/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("manifest serializes");
        write_atomic(&dir.join(MANIFEST_FILE), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest {
            stage: "t".into(),
            seed: 1,
            wall_time_s: 0.5,
            counts: BTreeMap::new(),
            config: serde_json::Value::Null,
        };
        m.save(dir.path()).unwrap();
        let back = Manifest::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, m);
        assert!(Manifest::load(&dir.path().join("none")).unwrap().is_none());
    }
}
