//! `manifest.json`: what a stage wrote, from what, with which config (DESIGN §1).
//!
//! A stage is skipped when its manifest's config hash and input hashes equal the current
//! ones; the manifest is written last, so its presence means the stage finished.

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
    /// Hash of the stage's config section (see [`crate::hash::hash_json`]).
    pub config_hash: String,
    /// Input artifact → content hash.
    pub inputs: BTreeMap<String, String>,
    /// Output file (relative to the stage directory) → content hash.
    pub outputs: BTreeMap<String, String>,
    pub seed: u64,
    pub wall_time_s: f64,
    /// Named counts (rows per split, vocabulary size, …).
    pub counts: BTreeMap<String, u64>,
    /// The config itself, so the directory explains itself.
    pub config: serde_json::Value,
}

impl Manifest {
    /// A manifest for `stage` run with `config` (hashed and stored) and `seed`; outputs,
    /// inputs, counts and wall time are recorded as the stage goes.
    pub fn new<C: Serialize>(stage: &str, config: &C, seed: u64) -> Manifest {
        Manifest {
            stage: stage.to_string(),
            config_hash: crate::hash::hash_json(config),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            seed,
            wall_time_s: 0.0,
            counts: BTreeMap::new(),
            config: serde_json::to_value(config).expect("configs serialize to JSON"),
        }
    }

    /// Record an input file by content hash under `label`.
    pub fn record_input(&mut self, label: &str, path: &Path) -> Result<()> {
        self.inputs
            .insert(label.to_string(), crate::hash::hash_file(path)?);
        Ok(())
    }

    /// Record `dir/name` as an output, by content hash.
    pub fn record_output(&mut self, dir: &Path, name: &str) -> Result<()> {
        self.outputs
            .insert(name.to_string(), crate::hash::hash_file(&dir.join(name))?);
        Ok(())
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

    /// True when this manifest was produced from the same config and inputs, and every
    /// output it lists still has the recorded content.
    pub fn is_fresh(
        &self,
        dir: &Path,
        config_hash: &str,
        inputs: &BTreeMap<String, String>,
    ) -> bool {
        self.config_hash == config_hash
            && &self.inputs == inputs
            && self
                .outputs
                .iter()
                .all(|(name, h)| crate::hash::hash_file(&dir.join(name)).is_ok_and(|got| &got == h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_fresh_and_stale() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("a.txt"), b"x").unwrap();
        let m = Manifest {
            stage: "t".into(),
            config_hash: "c".into(),
            inputs: BTreeMap::new(),
            outputs: [("a.txt".to_string(), crate::hash::hash_bytes(b"x"))].into(),
            seed: 1,
            wall_time_s: 0.5,
            counts: BTreeMap::new(),
            config: serde_json::Value::Null,
        };
        m.save(dir.path()).unwrap();
        let back = Manifest::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, m);
        assert!(back.is_fresh(dir.path(), "c", &BTreeMap::new()));
        assert!(!back.is_fresh(dir.path(), "d", &BTreeMap::new()));
        write_atomic(&dir.path().join("a.txt"), b"y").unwrap();
        assert!(!back.is_fresh(dir.path(), "c", &BTreeMap::new()));
        assert!(Manifest::load(&dir.path().join("none")).unwrap().is_none());
    }
}
