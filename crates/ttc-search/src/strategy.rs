//! The strategies and their knobs (DESIGN §8 defaults; §13 for the newer ones).

use crate::resample::{Resampling, StopRule};
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
    /// Particle filtering (Puri et al. 2025; `iterations` > 1: particle Gibbs with one
    /// reference particle): N / iterations particles advance one step a round and are
    /// resampled in proportion to softmax(logit(score) / temperature).
    Particles {
        iterations: usize,
        resampling: Resampling,
        temperature: f32,
        /// The answer is the highest-weight particle's instead of the weighted vote.
        pick_best: bool,
    },
    /// REBASE (Wu et al. 2024): each depth's remaining budget split over the live nodes in
    /// proportion to softmax(score / temperature).
    Rebase { temperature: f32 },
    /// Adaptive voting: samples in windows of `window` until `rule` stops (at most N).
    Adaptive { window: usize, rule: StopRule },
    /// DeepConf: N samples; the `keep` share most confident (lowest `group`-token window
    /// mean of the top-`top` log-probability confidence) vote, weighted by it. `warmup` > 0:
    /// online — that many full traces set the threshold, the others stop where a window
    /// falls below it (and do not vote): at that token in a local decode, or at the first
    /// step boundary with `at_steps` (always on a server, which samples on its own).
    DeepConf {
        group: usize,
        keep: f32,
        top: usize,
        warmup: usize,
        at_steps: bool,
    },
}

/// The knobs a strategy name is parsed with; each strategy reads its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    /// Beam width M (0: √N) — beam, lookahead, DVTS.
    pub width: usize,
    /// Lookahead steps k.
    pub lookahead: usize,
    pub dedup: bool,
    /// The weight temperature of particle filtering (default 1) and REBASE (default 0.2).
    pub temperature: Option<f32>,
    pub resampling: Resampling,
    /// Particle Gibbs iterations (1: particle filtering).
    pub iterations: usize,
    /// Particle filtering answers with the highest-weight particle.
    pub pick_best: bool,
    /// Adaptive voting's window (samples drawn per question before each check).
    pub window: usize,
    /// Adaptive voting's Beta-rule confidence (`adaptive`).
    pub confidence: f64,
    /// DeepConf: tokens per sliding confidence window.
    pub group: usize,
    /// DeepConf: the share of traces (most confident first) that vote.
    pub keep: f32,
    /// DeepConf: log-probabilities per token its confidence averages.
    pub top_logprobs: usize,
    /// DeepConf online: warm-up traces that set the stopping threshold (0: offline).
    pub warmup: usize,
    /// DeepConf online: stop traces at step boundaries even in a local decode (as on a
    /// server) instead of at the token.
    pub stop_at_steps: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            width: 0,
            lookahead: 0,
            dedup: false,
            temperature: None,
            resampling: Resampling::default(),
            iterations: 1,
            pick_best: false,
            window: 4,
            confidence: 0.95,
            group: 16,
            keep: 0.9,
            top_logprobs: 5,
            warmup: 0,
            stop_at_steps: false,
        }
    }
}

/// The names [`Strategy::parse`] takes.
pub const STRATEGY_NAMES: &str =
    "majority, bon, weighted-bon, beam, lookahead, dvts, pf, rebase, esc, adaptive, deepconf";

impl Strategy {
    /// A strategy by name ([`STRATEGY_NAMES`]) at budget `n`; `width` 0 means √N.
    pub fn parse(name: &str, n: usize, k: &Knobs) -> Result<Self> {
        let width = if k.width == 0 {
            ((n as f64).sqrt().round() as usize).max(1)
        } else {
            k.width
        };
        let (lookahead, dedup) = (k.lookahead, k.dedup);
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
            "pf" | "particles" => Strategy::Particles {
                iterations: k.iterations,
                resampling: k.resampling,
                temperature: k.temperature.unwrap_or(1.0),
                pick_best: k.pick_best,
            },
            "rebase" => Strategy::Rebase {
                temperature: k.temperature.unwrap_or(0.2),
            },
            "esc" => Strategy::Adaptive {
                window: k.window,
                rule: StopRule::Esc,
            },
            "adaptive" => Strategy::Adaptive {
                window: k.window,
                rule: StopRule::Beta {
                    confidence: k.confidence,
                },
            },
            "deepconf" => Strategy::DeepConf {
                group: k.group,
                keep: k.keep,
                top: k.top_logprobs,
                warmup: k.warmup,
                at_steps: k.stop_at_steps && k.warmup > 0,
            },
            other => {
                return Err(Error::Config(format!(
                    "unknown strategy {other:?} ({STRATEGY_NAMES})"
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
            Strategy::Particles {
                iterations,
                resampling,
                temperature,
                pick_best,
            } => {
                let mut l = if iterations > 1 {
                    format!("pg-i{iterations}")
                } else {
                    "pf".into()
                };
                if temperature != 1.0 {
                    l += &format!("-t{temperature}");
                }
                if resampling == Resampling::Systematic {
                    l += "-sys";
                }
                if pick_best {
                    l += "-best";
                }
                l
            }
            Strategy::Rebase { temperature } => format!("rebase-t{temperature}"),
            Strategy::Adaptive {
                window,
                rule: StopRule::Esc,
            } => format!("esc-w{window}"),
            Strategy::Adaptive { window, rule } => format!("adaptive-w{window}-{}", rule.label()),
            Strategy::DeepConf {
                group,
                keep,
                top,
                warmup,
                at_steps,
            } => {
                let mut l = format!("deepconf-g{group}-k{top}-keep{keep}");
                if warmup > 0 {
                    l += &format!("-online{warmup}");
                }
                if at_steps {
                    l += "-steps";
                }
                l
            }
        }
    }

    /// Whether the strategy scores steps (all but majority and adaptive voting).
    pub fn needs_verifier(&self) -> bool {
        !matches!(
            self,
            Strategy::Majority | Strategy::Adaptive { .. } | Strategy::DeepConf { .. }
        )
    }

    /// How the final answer is picked.
    pub fn selection(&self) -> Selection {
        match self {
            Strategy::Majority | Strategy::Adaptive { .. } => Selection::Majority,
            Strategy::BestOfN { weighted: false }
            | Strategy::Particles {
                pick_best: true, ..
            } => Selection::BestOfN,
            _ => Selection::Weighted,
        }
    }

    /// The paper's budget in generations for `n`: lookahead k costs N·(k+1); particle Gibbs
    /// spends N = particles × iterations; adaptive voting's N is its cap (what it really
    /// drew is the accounting's `continuations`).
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
        match *strategy {
            Strategy::Particles {
                iterations,
                temperature,
                ..
            } => {
                if iterations == 0 || !self.n.is_multiple_of(iterations) {
                    return bad(format!(
                        "particle Gibbs: N={} must be a positive multiple of iterations={iterations}",
                        self.n
                    ));
                }
                if !(temperature.is_finite() && temperature > 0.0) {
                    return bad(format!(
                        "particle filtering: temperature {temperature} must be > 0"
                    ));
                }
            }
            Strategy::Rebase { temperature } if !(temperature.is_finite() && temperature > 0.0) => {
                return bad(format!("rebase: temperature {temperature} must be > 0"));
            }
            Strategy::Adaptive { window, rule } => {
                if window == 0 || window > self.n || !self.n.is_multiple_of(window) {
                    return bad(format!(
                        "adaptive voting: window {window} must divide N={} (and be ≥ 1)",
                        self.n
                    ));
                }
                if let StopRule::Beta { confidence } = rule
                    && !(0.5..1.0).contains(&confidence)
                {
                    return bad(format!(
                        "adaptive voting: confidence {confidence} must be in [0.5, 1)"
                    ));
                }
            }
            Strategy::DeepConf {
                group,
                keep,
                top,
                warmup,
                ..
            } if group == 0 || top == 0 || !(keep > 0.0 && keep <= 1.0) || warmup >= self.n => {
                return bad(format!(
                    "deepconf: group {group} and top_logprobs {top} must be ≥ 1, keep {keep} in (0, 1], warmup {warmup} below N={}",
                    self.n
                ));
            }
            _ => {}
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
