//! Sampling is data (STYLE 6): [`SamplingParams`] says how to pick tokens; a
//! [`LogitsProcessor`] holds one sequence's seeded RNG and applies temperature, top-k and
//! top-p. Each sequence owns its processor, so its samples do not depend on what else is
//! in the batch.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// How to generate. `temperature == 0` is greedy (ties → lowest token id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Nucleus: keep the smallest set of tokens whose probability reaches `top_p` (1 = off).
    #[serde(default = "one")]
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens (0 = off).
    #[serde(default)]
    pub top_k: usize,
    pub max_new_tokens: usize,
    /// Stop after any of these strings appears in the generated text; it stays in the
    /// output (e.g. the step delimiter "\n\n").
    #[serde(default)]
    pub stop: Vec<String>,
    /// Return each generated token's log-probability and the top this-many alternatives
    /// (`Some(0)`: the sampled token's only); `None`: none (the default, no cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<usize>,
}

fn one() -> f32 {
    1.0
}

impl SamplingParams {
    pub fn greedy(max_new_tokens: usize) -> Self {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens,
            stop: vec![],
            logprobs: None,
        }
    }

    /// Temperature sampling with nucleus `top_p`.
    pub fn sampled(temperature: f32, top_p: f32, max_new_tokens: usize) -> Self {
        SamplingParams {
            temperature,
            top_p,
            top_k: 0,
            max_new_tokens,
            stop: vec![],
            logprobs: None,
        }
    }

    /// Ask for each token's log-probability and the top `k` alternatives.
    pub fn with_logprobs(mut self, k: usize) -> Self {
        self.logprobs = Some(k);
        self
    }

    pub fn with_stop(mut self, stop: &[&str]) -> Self {
        self.stop = stop.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// One sequence's token picker.
pub struct LogitsProcessor {
    rng: StdRng,
    scratch: Vec<(f32, u32)>,
}

impl LogitsProcessor {
    pub fn new(seed: u64) -> Self {
        LogitsProcessor {
            rng: StdRng::seed_from_u64(seed),
            scratch: Vec::new(),
        }
    }

    /// Pick the next token from `logits`.
    pub fn sample(&mut self, logits: &[f32], p: &SamplingParams) -> u32 {
        if p.temperature <= 0.0 {
            return argmax(logits);
        }
        let inv_t = 1.0 / p.temperature;
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s = &mut self.scratch;
        s.clear();
        s.extend(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| (((l - max) * inv_t).exp(), i as u32)),
        );
        let filtered = p.top_k > 0 && p.top_k < s.len() || p.top_p < 1.0;
        if filtered {
            // Descending probability; ties by id so the order is fully determined.
            s.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if p.top_k > 0 {
                s.truncate(p.top_k);
            }
            if p.top_p < 1.0 {
                let total: f32 = s.iter().map(|x| x.0).sum();
                let mut acc = 0.0;
                let mut keep = s.len();
                for (i, x) in s.iter().enumerate() {
                    acc += x.0 / total;
                    if acc >= p.top_p {
                        keep = i + 1;
                        break;
                    }
                }
                s.truncate(keep);
            }
        }
        let total: f32 = s.iter().map(|x| x.0).sum();
        let mut r = self.rng.random::<f32>() * total;
        for &(w, id) in s.iter() {
            if r < w {
                return id;
            }
            r -= w;
        }
        s.last().map(|x| x.1).unwrap_or(0)
    }
}

/// `token`'s log-probability under softmax(`logits`) (temperature 1, unfiltered) and the
/// `k` most likely tokens' (descending; ties: lower id first). Computed in f64.
pub fn token_logprob(logits: &[f32], token: u32, k: usize) -> crate::generation::TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let lp = |i: usize| (logits[i] as f64 - lse) as f32;
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k);
    if k > 0 {
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        let by = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, by);
            idx.truncate(k);
        }
        idx.sort_unstable_by(by);
        top.extend(idx.into_iter().map(|i| (i as u32, lp(i))));
    }
    crate::generation::TokenLogprob {
        token,
        logprob: lp(token as usize),
        top,
    }
}

/// Index of the largest value; the lowest index among ties.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..x.len() {
        if x[i] > x[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_k_top_p_and_seeds() {
        let logits = [0.0, 3.0, 3.0, 1.0, -2.0];
        let mut lp = LogitsProcessor::new(1);
        assert_eq!(lp.sample(&logits, &SamplingParams::greedy(1)), 1);
        // top_k = 1 is greedy whatever the temperature.
        let p = SamplingParams {
            top_k: 1,
            ..SamplingParams::sampled(5.0, 1.0, 1)
        };
        for _ in 0..50 {
            assert_eq!(lp.sample(&logits, &p), 1);
        }
        // top_p small: only the two tied best survive.
        let p = SamplingParams::sampled(1.0, 0.5, 1);
        for _ in 0..200 {
            assert!([1, 2].contains(&lp.sample(&logits, &p)));
        }
        // Same seed, same draws; frequencies follow the softmax.
        let p = SamplingParams::sampled(1.0, 1.0, 1);
        let draw = |seed| {
            let mut lp = LogitsProcessor::new(seed);
            (0..2000)
                .map(|_| lp.sample(&logits, &p))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
        let d = draw(3);
        let f3 = d.iter().filter(|&&t| t == 3).count() as f64 / 2000.0;
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((f3 - 1f64.exp() / z).abs() < 0.03, "{f3}");
    }
}
