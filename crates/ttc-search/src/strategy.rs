//! The strategies and their knobs (DESIGN §8 defaults).

use crate::select::Aggregation;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How the final answer is chosen among a question's finished solutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Most frequent answer (no verifier).
    Majority,
    /// The single highest-scoring solution.
    BestOfN,
    /// The answer with the highest summed score.
    Weighted,
}

/// A search strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// N independent samples, majority vote.
    Majority,
    /// N independent samples, the highest-scoring one (`weighted`: summed per answer).
    BestOfN { weighted: bool },
    /// Beam search: N first steps, keep the top N/M, M continuations each, repeat.
    /// `lookahead` > 0 scores each candidate at the end of a greedy rollout of up to that
    /// many more steps. `dedup` drops candidates whose text repeats an earlier one.
    Beam {
        width: usize,
        lookahead: usize,
        dedup: bool,
    },
    /// Diverse verifier tree search: N/M independent subtrees, each keeping its best of M.
    Dvts { width: usize },
}

impl Strategy {
    /// `majority`, `bon`, `weighted-bon`, `beam`, `lookahead`, `dvts`; `width` 0 means √N.
    pub fn parse(
        name: &str,
        n: usize,
        width: usize,
        lookahead: usize,
        dedup: bool,
    ) -> Result<Self> {
        let width = if width == 0 {
            ((n as f64).sqrt().round() as usize).max(1)
        } else {
            width
        };
        Ok(match name {
            "majority" => Strategy::Majority,
            "bon" | "best-of-n" => Strategy::BestOfN { weighted: false },
            "weighted-bon" | "weighted" => Strategy::BestOfN { weighted: true },
            "beam" => Strategy::Beam {
                width,
                lookahead: 0,
                dedup,
            },
            "lookahead" => Strategy::Beam {
                width,
                lookahead: lookahead.max(1),
                dedup,
            },
            "dvts" => Strategy::Dvts { width },
            other => {
                return Err(Error::Config(format!(
                    "unknown strategy {other:?} (majority, bon, weighted-bon, beam, lookahead, dvts)"
                )));
            }
        })
    }

    /// A short stable label, e.g. `beam-m4`, `lookahead-m4-k2`, `dvts-m4`.
    pub fn label(&self) -> String {
        match *self {
            Strategy::Majority => "majority".into(),
            Strategy::BestOfN { weighted: false } => "bon".into(),
            Strategy::BestOfN { weighted: true } => "weighted-bon".into(),
            Strategy::Beam {
                width,
                lookahead: 0,
                dedup,
            } => format!("beam-m{width}{}", if dedup { "-dedup" } else { "" }),
            Strategy::Beam {
                width,
                lookahead,
                dedup,
            } => format!(
                "lookahead-m{width}-k{lookahead}{}",
                if dedup { "-dedup" } else { "" }
            ),
            Strategy::Dvts { width } => format!("dvts-m{width}"),
        }
    }

    /// How the final answer is picked.
    pub fn selection(&self) -> Selection {
        match self {
            Strategy::Majority => Selection::Majority,
            Strategy::BestOfN { weighted: false } => Selection::BestOfN,
            _ => Selection::Weighted,
        }
    }

    /// The paper's budget in generations for `n`: lookahead k costs N·(k+1).
    pub fn generations(&self, n: usize) -> usize {
        match *self {
            Strategy::Beam { lookahead, .. } => n * (lookahead + 1),
            _ => n,
        }
    }
}

/// Knobs shared by every strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// N: samples, beams, or (for DVTS) total leaves.
    pub n: usize,
    pub aggregation: Aggregation,
    pub temperature: f32,
    pub top_p: f32,
    /// Rounds (steps) of beam search / DVTS before unfinished paths are ended.
    pub max_rounds: usize,
    /// Tokens one solution may generate.
    pub max_new_tokens: usize,
    pub seed: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            n: 16,
            aggregation: Aggregation::Last,
            temperature: ttc_core::sampling_rules::DEFAULT_TEMPERATURE,
            top_p: ttc_core::sampling_rules::DEFAULT_TOP_P,
            max_rounds: 40,
            max_new_tokens: 400,
            seed: 0,
        }
    }
}

impl SearchConfig {
    pub fn validate(&self, strategy: &Strategy) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.n == 0 {
            return bad("n must be at least 1".into());
        }
        use ttc_core::sampling_rules::{check_temperature, check_top_p};
        if let Err(m) = check_temperature(self.temperature).and(check_top_p(self.top_p)) {
            return bad(format!("[search] {m}"));
        }
        if self.max_rounds == 0 || self.max_new_tokens == 0 {
            return bad("max_rounds and max_new_tokens must be at least 1".into());
        }
        if let Strategy::Beam { width, .. } | Strategy::Dvts { width } = *strategy {
            if width == 0 || width > self.n {
                return bad(format!(
                    "beam width M={width} must be in 1..=N (N={})",
                    self.n
                ));
            }
            if !self.n.is_multiple_of(width) {
                return bad(format!(
                    "N={} must be a multiple of the beam width M={width}",
                    self.n
                ));
            }
        }
        Ok(())
    }
}
