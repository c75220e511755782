//! Accuracy against budget (DESIGN §9): majority / best-of-N / weighted best-of-N at every
//! budget N = 1, 2, 4, … over seeded random subsets of each question's samples, and the
//! search results as rows of the same table; budgets are generations.

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use ttc_core::seed::derive_seed;
use ttc_data::rows::{ScoredSample, SearchRow, SweepRow};
use ttc_search::select::{best_of_n, majority, weighted_best_of_n};

use crate::stats::wilson95;

/// Parameters of the models whose forward passes a row's FLOPs count (2 per parameter per
/// token).
#[derive(Debug, Clone, Copy)]
pub struct ModelSizes {
    pub policy: f64,
    pub prm: f64,
}

/// The sampling strategies' rows: for every question and budget N (powers of two up to the
/// fewest samples any question has), `seeds` subsets of N samples (one at N = all), each
/// answered by majority, best-of-N and weighted best-of-N over the last step's score.
/// `tokens` holds each (question, sample)'s generated tokens; `prompts` each question's
/// prompt tokens for the policy and for the PRM — counted once per question, as search
/// counts them (the N samples share the prompt's prefill). Returns the rows and budgets.
pub fn sampled_rows(
    scored: &[ScoredSample],
    tokens: &HashMap<(u32, u32), u64>,
    prompts: &HashMap<u32, (u64, u64)>,
    seeds: u64,
    sizes: ModelSizes,
) -> (Vec<SweepRow>, Vec<usize>) {
    let mut by_q: BTreeMap<u32, Vec<&ScoredSample>> = BTreeMap::new();
    for s in scored {
        by_q.entry(s.question_index).or_default().push(s);
    }
    let n_max = by_q.values().map(Vec::len).min().unwrap_or(0);
    let budgets: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n <= n_max)
        .collect();
    let mut rows = Vec::new();
    for (&q, ss) in &by_q {
        for &n in &budgets {
            // With N = all samples there is one subset; more seeds would repeat it.
            let seeds = if n == ss.len() { 1 } else { seeds };
            for seed in 0..seeds {
                let mut idx: Vec<usize> = (0..ss.len()).collect();
                idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(derive_seed(
                    seed,
                    u64::from(q),
                    n as u64,
                )));
                idx.truncate(n);
                idx.sort_unstable();
                let sub: Vec<&ScoredSample> = idx.iter().map(|&i| ss[i]).collect();
                let answers: Vec<Option<&str>> = sub.iter().map(|s| s.answer.as_deref()).collect();
                let last: Vec<f32> = sub
                    .iter()
                    .map(|s| s.step_scores.last().copied().unwrap_or(0.0))
                    .collect();
                let gen_tokens: u64 = sub
                    .iter()
                    .map(|s| {
                        tokens
                            .get(&(s.question_index, s.sample_id))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                let (p_policy, p_prm) = prompts.get(&q).copied().unwrap_or((0, 0));
                for (name, pick, verified) in [
                    ("majority", majority(&answers), false),
                    ("bon", best_of_n(&answers, &last), true),
                    ("weighted-bon", weighted_best_of_n(&answers, &last), true),
                ] {
                    let ver = if verified { p_prm + gen_tokens } else { 0 };
                    rows.push(SweepRow {
                        question_id: sub[0].question_id.clone(),
                        level: sub[0].level,
                        strategy: name.into(),
                        n: n as u32,
                        seed,
                        correct: pick.is_some_and(|i| sub[i].correct),
                        generations: n as u64,
                        generated_tokens: gen_tokens,
                        verifier_tokens: ver,
                        flops: 2.0
                            * (sizes.policy * (p_policy + gen_tokens) as f64
                                + sizes.prm * ver as f64),
                    });
                }
            }
        }
    }
    (rows, budgets)
}

/// The sweep's rows of a search run, except the strategies the sampled sweep covers. The
/// budget is the run's generations (the paper's: lookahead k at N costs N·(k+1)), so every
/// table and plot compares it with the other strategies at that budget.
pub fn search_rows(rs: Vec<SearchRow>) -> impl Iterator<Item = SweepRow> {
    rs.into_iter()
        .filter(|r| !["majority", "bon", "weighted-bon"].contains(&r.strategy.as_str()))
        .map(|r| SweepRow {
            question_id: r.question_id,
            level: r.level,
            strategy: r.strategy,
            n: u32::try_from(r.generations).unwrap_or(u32::MAX),
            seed: r.seed,
            correct: r.correct,
            generations: r.generations,
            generated_tokens: r.generated_tokens,
            verifier_tokens: r.verifier_tokens,
            flops: r.flops,
        })
}

/// The accuracy table's lines (`strategy,n,accuracy,lo95,hi95,rows,flops_per_question`).
pub fn accuracy_lines(rows: &[SweepRow]) -> Vec<String> {
    let mut acc: BTreeMap<(String, u32), (u64, u64, f64)> = BTreeMap::new();
    for r in rows {
        let e = acc.entry((r.strategy.clone(), r.n)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
        e.2 += r.flops;
    }
    let lines: Vec<String> = acc
        .iter()
        .map(|((s, n), &(k, t, f))| {
            let (lo, hi) = wilson95(k, t);
            format!(
                "{s},{n},{:.4},{lo:.4},{hi:.4},{t},{:.4e}",
                k as f64 / t as f64,
                f / t as f64
            )
        })
        .collect();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(q: u32, id: u32, answer: &str, correct: bool, score: f32) -> ScoredSample {
        ScoredSample {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            sample_id: id,
            answer: Some(answer.into()),
            correct,
            first_error: None,
            step_scores: vec![score],
        }
    }

    #[test]
    fn sampled_flops_count_each_prompt_once_and_the_prm_only_when_it_verifies() {
        let scored = vec![sample(0, 0, "1", true, 0.9), sample(0, 1, "2", false, 0.1)];
        let tokens = HashMap::from([((0, 0), 10), ((0, 1), 20)]);
        let prompts = HashMap::from([(0, (5, 7))]);
        let sizes = ModelSizes {
            policy: 1.0,
            prm: 2.0,
        };
        let (rows, budgets) = sampled_rows(&scored, &tokens, &prompts, 3, sizes);
        assert_eq!(budgets, vec![1, 2]);
        let at2 = |s: &str| rows.iter().find(|r| r.n == 2 && r.strategy == s).unwrap();
        // Policy: prompt once + both samples; the PRM: its own prompt once + both samples.
        assert_eq!(at2("majority").flops, 2.0 * (5.0 + 30.0));
        assert_eq!(at2("majority").verifier_tokens, 0);
        assert_eq!(at2("weighted-bon").flops, 2.0 * (35.0 + 2.0 * 37.0));
        assert_eq!(at2("weighted-bon").verifier_tokens, 37);
        assert!(at2("bon").correct && at2("weighted-bon").correct);
    }

    #[test]
    fn a_lookahead_search_is_compared_at_its_budget_in_generations() {
        let row = |strategy: &str, n: u32, generations: u64| SearchRow {
            question_id: "q0".into(),
            level: 1,
            strategy: strategy.into(),
            width: 2,
            lookahead: 1,
            aggregation: "last".into(),
            n,
            generations,
            ..Default::default()
        };
        // Lookahead k = 1 at N = 4 costs 4·(1+1) = 8 generations; beam at N = 4 costs 4;
        // sampled strategies come from the sampled sweep, not from here.
        let out: Vec<SweepRow> = search_rows(vec![
            row("lookahead-m2-k1", 4, 8),
            row("beam-m2", 4, 4),
            row("weighted-bon", 4, 4),
        ])
        .collect();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].strategy.as_str(), out[0].n), ("lookahead-m2-k1", 8));
        assert_eq!((out[1].strategy.as_str(), out[1].n), ("beam-m2", 4));
    }
}
