//! Pipeline presets (`pipelines/*.toml`): one file configures every stage of a run.
//! Unknown keys and wrong types fail at load, naming the file, line and key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use ttc_task::arith::ArithConfig;
use ttc_task::tokenizer::TokenizerConfig;
use ttc_train::sft::SftConfig;

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
    /// The policy (SFT from scratch).
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// The ~14× larger policy for the FLOPs-matched comparison.
    #[serde(default)]
    pub policy_large: Option<PolicyConfig>,
}

/// A policy model and how to train it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Size preset: tiny, default, large; the fields below override it.
    pub size: String,
    pub hidden_size: Option<usize>,
    pub intermediate_size: Option<usize>,
    pub num_hidden_layers: Option<usize>,
    pub num_attention_heads: Option<usize>,
    pub num_key_value_heads: Option<usize>,
    /// Context length (prompt + solution).
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Generation limit for greedy pass@1.
    #[serde(default = "default_eval_tokens")]
    pub eval_max_new_tokens: usize,
    pub train: SftConfig,
}

fn default_max_pos() -> usize {
    512
}
fn default_eval_tokens() -> usize {
    320
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
