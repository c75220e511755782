//! `[verifier]`: a language model trained past the policy whose likelihood verifies the
//! policy's solutions (`ttc train verifier`). A model judges its own slips poorly — they
//! are the ones it believes — so a verifier that saw more training than the policy it
//! judges separates a question's right and wrong solutions where the policy's own
//! likelihood and the PRM's score head do not (stop 32: within-question AUROC 0.80 vs 0.72
//! and 0.57).

use serde::{Deserialize, Serialize};
use ttc_train::sft::SftConfig;

use super::PolicyConfig;

/// Where the verifier's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierInit {
    /// The policy's checkpoint, trained on for `[verifier.train] epochs` more (costs only
    /// the extra epochs).
    #[default]
    Policy,
    /// Fresh weights of the policy's architecture (`[verifier.train] seed`), trained for
    /// `epochs` from the start.
    Scratch,
}

/// `[verifier]`: the policy's architecture and data, trained further.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierConfig {
    #[serde(default)]
    pub init: VerifierInit,
    /// The recipe (the policy's, usually with more epochs).
    pub train: SftConfig,
}

impl VerifierConfig {
    /// The verifier as a policy-like model: the policy's architecture and limits with this
    /// section's recipe; an error naming the section when the preset trains no policy.
    pub fn as_policy(&self, policy: Option<&PolicyConfig>) -> anyhow::Result<PolicyConfig> {
        let Some(p) = policy else {
            anyhow::bail!(
                "[verifier]: needs a [policy] section (the verifier takes the policy's architecture and train split)"
            );
        };
        self.train.validate_in("verifier.train")?;
        Ok(PolicyConfig {
            train: self.train.clone(),
            ..p.clone()
        })
    }
}

/// How messages and the report name the likelihood verifier.
pub fn likelihood_name(verifier_lm: bool) -> &'static str {
    if verifier_lm {
        "the verifier's likelihood"
    } else {
        "the policy's own likelihood"
    }
}
