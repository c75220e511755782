//! Pipeline presets (`pipelines/*.toml`): one file configures every stage of a run.
//! Unknown keys and wrong types fail at load, naming the file, line and key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use ttc_task::arith::ArithConfig;
use ttc_task::tokenizer::TokenizerConfig;

/// A whole run's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Run name: outputs go to `datasets/<name>/`, `checkpoints/<name>/`, `reports/<name>/`.
    pub name: String,
    /// The synthetic task and its splits.
    pub data: ArithConfig,
    /// The BPE tokenizer trained on the train split.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
}

impl Preset {
    pub fn load(path: &Path) -> Result<Preset> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading preset {}", path.display()))?;
        let preset: Preset = toml::from_str(&text).map_err(|e| {
            // toml's message spans several lines (a source excerpt); keep it on one.
            let msg = e.message();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {msg}", path.display())
        })?;
        if preset.name.is_empty()
            || !preset
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            anyhow::bail!(
                "{}: name: use letters, digits, '-' and '_' only, got {:?}",
                path.display(),
                preset.name
            );
        }
        preset
            .data
            .validate()
            .with_context(|| format!("preset {}", path.display()))?;
        Ok(preset)
    }

    /// `datasets/<name>/`: the problems.
    pub fn data_dir(&self, dirs: &crate::Dirs) -> PathBuf {
        dirs.datasets_dir.join(&self.name)
    }

    /// `checkpoints/<name>/tokenizer/`.
    pub fn tokenizer_dir(&self, dirs: &crate::Dirs) -> PathBuf {
        dirs.checkpoints_dir.join(&self.name).join("tokenizer")
    }
}
