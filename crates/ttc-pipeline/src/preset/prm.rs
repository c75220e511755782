//! `[prm]`: how the PRM is trained — its head, where it starts, its labels — and the
//! `[[prm.variants]]` trained beside it (DESIGN §6).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ttc_train::sft::SftConfig;

use super::{LabelKind, default_label_kind, default_val_fraction, extends, is_zero};

/// How a PRM turns a solution prefix into a step score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrmHead {
    /// A one-label score head on the backbone, sigmoid at each step's last token.
    #[default]
    Score,
    /// The causal LM itself: its calibrated likelihood of the prefix
    /// (`ttc_train::likelihood_prm`); the checkpoint stays a causal LM.
    Likelihood,
    /// A generative PRM in Math-Shepherd's format: the label is the next token after each
    /// step's tag `ки` (P(`+`) against P(`-`) on the LM head), so the checkpoint stays a
    /// causal LM and leaves ttc as a Math-Shepherd PRM (`ttc_jobs::step_tag`).
    Generative,
}

impl PrmHead {
    pub fn is_score(&self) -> bool {
        *self == PrmHead::Score
    }

    /// `score` or `likelihood`, as the preset spells it.
    pub fn name(self) -> &'static str {
        match self {
            PrmHead::Score => "score",
            PrmHead::Likelihood => "likelihood",
            PrmHead::Generative => "generative",
        }
    }
}

/// The PRM: the policy's backbone with a score head, trained on MC labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrmConfig {
    /// `score` (a score head, the default) or `likelihood` (the LM's own likelihood,
    /// calibrated, fine-tuned on the labels).
    #[serde(default, skip_serializing_if = "PrmHead::is_score")]
    pub head: PrmHead,
    /// A likelihood PRM's loss compares each question's solutions with each other only:
    /// the question's difficulty is profiled out (a per-question offset, batches of whole
    /// questions), so what it learns is which solution of a question is right.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub within_question: bool,
    /// The loss reads each solution's last labelled step only (the Monte Carlo value where
    /// the solution ends, as an outcome model learns) instead of every labelled step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_step_loss: bool,
    /// Consensus filtering (Zhang et al. 2025): train only on the labelled samples whose
    /// Monte Carlo first error the `[verifier]` model's calibrated likelihood confirms.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consensus: bool,
    /// Lever (d), the labelling budget: train on the labels of only the first this many
    /// labelled train questions (the held-out questions stay whole). With `label_rollouts`,
    /// fewer questions with more rollouts and more with fewer compare at one rollout cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_questions: Option<usize>,
    /// Relabel each rolled-out train step from this many of its rollouts, drawn without
    /// replacement (seeded by `[prm.train] seed`): the labels a run with this many
    /// rollouts per step would give, cut from `[labels]`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_rollouts: Option<usize>,
    /// `soft` (fraction of rollouts right), `hard` (any right) or `truth` (the step
    /// checker's verdicts: arith only, an upper bound for Monte Carlo labels).
    #[serde(default = "default_label_kind")]
    pub labels: LabelKind,
    /// Fraction of labelled questions held out for validation / early stopping.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Where the PRM starts: `"policy"` (the default), `"verifier"` (this run's `[verifier]`
    /// model) or an HF checkpoint (a causal LM with the policy's tokenizer), relative to the
    /// preset file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Train samples without Monte Carlo labels (questions past `[labels] questions`) teach
    /// the last step their graded answer: a label that needs no rollout, so more samples
    /// for the price of sampling them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outcome_labels: bool,
    /// Arith only: this many train questions without samples each add two examples — the
    /// reference solution and the same solution with one arithmetic slip
    /// (`ttc_task::arith_slips`), labelled exactly at no rollout cost. 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slips: usize,
    pub train: SftConfig,
    /// Other recipes trained and evaluated beside this PRM on the same labels and questions
    /// (`prm-<name>/`): each `[[prm.variants]]` entry names itself and overrides any key of
    /// `[prm]` (`[prm.variants.train]` a training key). Not part of the PRM's own record.
    #[serde(default, skip_serializing)]
    pub variants: Vec<PrmVariant>,
}

/// A `[[prm.variants]]` entry: a name and the `[prm]` keys it changes.
#[derive(Debug, Clone, Deserialize)]
pub struct PrmVariant {
    pub name: String,
    #[serde(flatten)]
    pub overrides: toml::Table,
}

/// Names `[prm] init` takes besides a path.
pub const PRM_INIT_NAMES: [&str; 2] = ["policy", "verifier"];

impl PrmConfig {
    /// The checkpoint the PRM starts from: `None` for the policy's.
    pub fn init_dir(&self, layout: &crate::run::layout::Layout) -> Option<PathBuf> {
        match self.init.as_deref().and_then(|p| p.to_str()) {
            None | Some("policy") => None,
            Some("verifier") => Some(layout.verifier_dir()),
            Some(_) => self.init.clone(),
        }
    }

    /// The variant called `name`: this config with its overrides merged in (tables key by
    /// key), checked as a `[prm]` section (unknown keys named).
    pub fn variant(&self, name: &str) -> anyhow::Result<PrmConfig> {
        let v = self
            .variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| anyhow::anyhow!("[prm] has no variant {name:?}"))?;
        let mut base = toml::Table::try_from(self).map_err(|e| anyhow::anyhow!("[prm]: {e}"))?;
        extends::merge(&mut base, v.overrides.clone());
        let c: PrmConfig = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!("[[prm.variants]] {name:?}: {}", e.message())
            })?;
        Ok(c)
    }

    /// Every variant's name, checked: a run-directory name, not a label kind's (those name
    /// the `--labels` ablations), each once.
    pub fn variant_names(&self) -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        for v in &self.variants {
            let n = &v.name;
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!("[[prm.variants]] name {n:?}: use letters, digits, '-' and '_'");
            }
            if LabelKind::parse(n).is_some() || names.contains(n) {
                anyhow::bail!(
                    "[[prm.variants]] name {n:?} is taken (by a label kind's ablation or another variant)"
                );
            }
            names.push(n.clone());
        }
        Ok(names)
    }
}
