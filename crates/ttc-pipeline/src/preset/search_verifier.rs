//! `[[search.runs]] verifier` / `ttc search --verifier`: what scores a search's steps.

use serde::{Deserialize, Serialize};

/// What scores a search's steps (`[[search.runs]] verifier`, `ttc search --verifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchVerifier {
    /// The PRM (the paper's verifier).
    #[default]
    Prm,
    /// A language model's likelihood of the steps, `exp(mean log p)`: the `[verifier]`
    /// model's when the preset trains one, else the policy's own (trains nothing).
    Likelihood,
}

/// How a search over the likelihood is named beside the same search over the PRM: its
/// results directory and its rows' strategy end with this.
pub const LIKELIHOOD_SUFFIX: &str = "-likelihood";

impl SearchVerifier {
    pub fn parse(s: &str) -> Option<SearchVerifier> {
        match s {
            "prm" => Some(SearchVerifier::Prm),
            "likelihood" => Some(SearchVerifier::Likelihood),
            _ => None,
        }
    }

    pub fn is_prm(&self) -> bool {
        *self == SearchVerifier::Prm
    }
}
