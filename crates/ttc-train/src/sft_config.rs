//! SFT / score-head training knobs (a preset's `[policy.train]`, `[prm.train]`), with
//! defaults and validation that names the key.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Optimisation knobs (a preset's `[policy.train]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftConfig {
    /// Passes over the training examples.
    pub epochs: f64,
    /// Tokens per batch, padding included.
    #[serde(default = "d_batch_tokens")]
    pub batch_tokens: usize,
    /// Peak learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Final learning rate as a fraction of the peak.
    #[serde(default = "d_min_lr_ratio")]
    pub min_lr_ratio: f64,
    #[serde(default = "d_warmup")]
    pub warmup_steps: usize,
    #[serde(default = "d_wd")]
    pub weight_decay: f32,
    /// Per-parameter gradient-norm clip (burn clips each tensor; 0 = off).
    #[serde(default = "d_clip")]
    pub grad_clip: f32,
    /// Validation loss every this many steps.
    #[serde(default = "d_eval_every")]
    pub eval_every: usize,
    /// Resumable checkpoint every this many steps.
    #[serde(default = "d_ckpt_every")]
    pub checkpoint_every: usize,
    #[serde(default)]
    pub seed: u64,
    /// Keep the weights of the lowest validation loss instead of the last step (early
    /// stopping: PRM, ORM, revision model).
    #[serde(default)]
    pub keep_best: bool,
    /// Stop after this many evaluations without a new best validation loss (0 = never).
    #[serde(default)]
    pub patience: usize,
    /// Dropout on the final hidden states of a score head (PRM / ORM); 0 = off.
    #[serde(default)]
    pub dropout: f64,
    /// Where to train: `cpu` (burn's Flex backend) or `cuda` (burn-cuda, GPU 0; a build
    /// with `--features cuda`). Left out of the config's JSON when `cpu`, so CPU runs keep
    /// their hashes.
    #[serde(default = "d_device", skip_serializing_if = "is_cpu")]
    pub device: String,
}

impl SftConfig {
    /// Check the knobs; the message names the key.
    pub fn validate(&self) -> Result<()> {
        self.validate_in("train")?;
        self.check_device("train")
    }

    /// The values alone (what a preset can be checked for before any stage runs); errors
    /// name `[section] key`.
    pub fn validate_in(&self, section: &str) -> Result<()> {
        let bad = |k: &str, m: &str| Err(Error::Config(format!("[{section}] {k}: {m}")));
        if self.epochs.is_nan() || self.epochs <= 0.0 {
            return bad("epochs", "must be > 0");
        }
        if self.batch_tokens == 0 {
            return bad("batch_tokens", "must be > 0");
        }
        if self.lr.is_nan() || self.lr <= 0.0 {
            return bad("lr", "must be > 0");
        }
        if self.eval_every == 0 || self.checkpoint_every == 0 {
            return bad("eval_every / checkpoint_every", "must be >= 1");
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad("min_lr_ratio", "must be in [0, 1]");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 1)");
        }
        match self.device.as_str() {
            "cpu" | "cuda" => Ok(()),
            other => bad(
                "device",
                &format!("expected \"cpu\" or \"cuda\", got {other:?}"),
            ),
        }
    }

    /// The device against this build (`cuda` needs `--features cuda`): checked when the
    /// stage runs, so a GPU preset still plans on a CPU build.
    pub fn check_device(&self, section: &str) -> Result<()> {
        let bad = |k: &str, m: &str| Err(Error::Config(format!("[{section}] {k}: {m}")));
        match self.device.as_str() {
            "cpu" => {}
            "cuda" if cfg!(feature = "cuda") => {}
            "cuda" => {
                return bad(
                    "device",
                    "\"cuda\" needs a build with the GPU backend: cargo build --release --features cuda",
                );
            }
            other => {
                return bad(
                    "device",
                    &format!("expected \"cpu\" or \"cuda\", got {other:?}"),
                );
            }
        }
        Ok(())
    }
}

fn d_batch_tokens() -> usize {
    4096
}
fn d_lr() -> f64 {
    2e-3
}
fn d_min_lr_ratio() -> f64 {
    0.1
}
fn d_warmup() -> usize {
    50
}
fn d_wd() -> f32 {
    0.1
}
fn d_clip() -> f32 {
    1.0
}
fn d_eval_every() -> usize {
    100
}
fn d_ckpt_every() -> usize {
    50
}

fn d_device() -> String {
    "cpu".into()
}
fn is_cpu(d: &String) -> bool {
    d == "cpu"
}
