//! Revision trajectories (DESIGN §7; Snell et al. §6): from many samples of a question,
//! build (previous wrong attempts → correct answer) training examples, and the prompt that
//! shows a model its previous attempts — shared by training and inference.

use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use ttc_model::generate::derive_seed;

use crate::sample::SampleRow;

/// Opening and closing marks of one previous attempt in a revision prompt. The arith
/// task never writes `<`, and MATH solutions do not use these tags.
pub const ATTEMPT_OPEN: &str = "<attempt>";
pub const ATTEMPT_CLOSE: &str = "</attempt>";

/// The prompt of a revision: the problem, each previous attempt between attempt marks
/// (oldest first), then the solution header. With no attempts it is exactly the policy's
/// prompt, so revision step 0 is a plain sample.
pub fn revision_prompt(problem: &str, attempts: &[&str]) -> String {
    let mut s = format!("Problem: {problem}\n");
    for a in attempts {
        s.push_str(ATTEMPT_OPEN);
        s.push('\n');
        s.push_str(a.trim_end());
        s.push('\n');
        s.push_str(ATTEMPT_CLOSE);
        s.push('\n');
    }
    s.push_str("Solution:\n");
    s
}

/// The last `window` attempts of a chain (the context a revision is conditioned on).
pub fn context_window(chain: &[String], window: usize) -> Vec<&str> {
    chain[chain.len().saturating_sub(window)..]
        .iter()
        .map(String::as_str)
        .collect()
}

/// One revision training example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryRow {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    /// The correct sample that is the target.
    pub target_sample_id: u32,
    pub target: String,
    /// Wrong attempts in context, oldest first; the last is the one closest to the target.
    pub attempt_ids: Vec<u32>,
    pub attempts: Vec<String>,
    pub k: u32,
    /// Character edit distance of each attempt to the target.
    pub edit_distances: Vec<u32>,
}

/// Trajectories of one question from its samples: for each correct sample, k ~ U{0..max_k}
/// capped at the number of wrong samples; the last attempt is the wrong sample nearest the
/// target in character edit distance (ties: lowest sample id), the others distinct random
/// wrong samples in random order. Samples without an answer are neither targets nor
/// attempts. Randomness derives from (seed, question, target sample).
pub fn build_trajectories(samples: &[SampleRow], max_k: usize, seed: u64) -> Vec<TrajectoryRow> {
    let answered: Vec<&SampleRow> = samples.iter().filter(|s| s.answer.is_some()).collect();
    let wrong: Vec<&SampleRow> = answered.iter().copied().filter(|s| !s.correct).collect();
    let mut out = Vec::new();
    for t in answered.iter().filter(|s| s.correct) {
        let mut rng = StdRng::seed_from_u64(derive_seed(
            seed,
            t.question_index as u64,
            t.sample_id as u64,
        ));
        let k = rng.random_range(0..=max_k).min(wrong.len());
        let mut chosen: Vec<(&SampleRow, usize)> = Vec::with_capacity(k);
        if k > 0 {
            let dist: Vec<usize> = wrong
                .iter()
                .map(|w| strsim::levenshtein(&w.text, &t.text))
                .collect();
            let nearest = (0..wrong.len())
                .min_by_key(|&i| (dist[i], wrong[i].sample_id))
                .expect("k > 0 means a wrong sample exists");
            let mut others: Vec<usize> = (0..wrong.len()).filter(|&i| i != nearest).collect();
            others.shuffle(&mut rng);
            chosen.extend(others.into_iter().take(k - 1).map(|i| (wrong[i], dist[i])));
            chosen.push((wrong[nearest], dist[nearest]));
        }
        out.push(TrajectoryRow {
            question_id: t.question_id.clone(),
            question_index: t.question_index,
            level: t.level,
            target_sample_id: t.sample_id,
            target: t.text.clone(),
            attempt_ids: chosen.iter().map(|(s, _)| s.sample_id).collect(),
            attempts: chosen.iter().map(|(s, _)| s.text.clone()).collect(),
            k: k as u32,
            edit_distances: chosen.iter().map(|&(_, d)| d as u32).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: u32, text: &str, answer: Option<&str>, correct: bool) -> SampleRow {
        SampleRow {
            question_id: "q".into(),
            question_index: 7,
            level: 2,
            sample_id: id,
            text: text.into(),
            steps: Vec::new(),
            answer: answer.map(str::to_string),
            correct,
            finish: "eos".into(),
            generated_tokens: 0,
            step_verdicts: Vec::new(),
            first_error: None,
        }
    }

    fn handmade() -> Vec<SampleRow> {
        vec![
            s(0, "a = 1 + 2 = 3 \\boxed{3}", Some("3"), true),
            s(1, "a = 1 + 2 = 4 \\boxed{4}", Some("4"), false), // 2 edits from 0
            s(2, "a = 1 * 2 = 2 \\boxed{2}", Some("2"), false), // 3 edits
            s(3, "no answer at all", None, false),
            s(4, "a = 9 - 9 = 0 \\boxed{0}", Some("0"), false),
            s(5, "b = 1 + 2 = 3 \\boxed{3}", Some("3"), true),
        ]
    }

    #[test]
    fn trajectories_pick_the_nearest_wrong_attempt_last() {
        let rows = build_trajectories(&handmade(), 4, 1);
        assert_eq!(rows.len(), 2, "one per correct sample");
        let mut ks = std::collections::BTreeSet::new();
        for seed in 0..200 {
            for r in build_trajectories(&handmade(), 4, seed) {
                assert!(r.k <= 3, "capped at the 3 answered wrong samples");
                assert_eq!(r.attempts.len(), r.k as usize);
                assert!(!r.attempt_ids.contains(&3), "unanswered samples never used");
                assert!(!r.attempt_ids.contains(&r.target_sample_id));
                if r.k > 0 {
                    // Nearest to sample 0 is sample 1 (2 edits); to sample 5 also 1.
                    assert_eq!(*r.attempt_ids.last().unwrap(), 1);
                    let last = *r.edit_distances.last().unwrap();
                    assert_eq!(
                        last,
                        strsim::levenshtein(&r.attempts[r.k as usize - 1], &r.target) as u32
                    );
                    assert!(r.edit_distances.iter().all(|&d| d >= last));
                }
                let mut ids = r.attempt_ids.clone();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), r.k as usize, "distinct attempts");
                ks.insert(r.k);
            }
        }
        assert_eq!(ks, [0, 1, 2, 3].into_iter().collect(), "k spans 0..=cap");
        assert_eq!(
            build_trajectories(&handmade(), 4, 9),
            build_trajectories(&handmade(), 4, 9)
        );
    }

    #[test]
    fn no_wrong_samples_means_k_zero() {
        let only_right = vec![s(0, "x \\boxed{3}", Some("3"), true)];
        let r = build_trajectories(&only_right, 4, 3);
        assert_eq!((r.len(), r[0].k), (1, 0));
    }

    #[test]
    fn prompt_marks_attempts_and_window_keeps_the_last_four() {
        assert_eq!(revision_prompt("P", &[]), "Problem: P\nSolution:\n");
        assert_eq!(
            revision_prompt("P", &["a\n\nb", "c"]),
            "Problem: P\n<attempt>\na\n\nb\n</attempt>\n<attempt>\nc\n</attempt>\nSolution:\n"
        );
        let chain: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        assert_eq!(context_window(&chain, 4), ["2", "3", "4", "5"]);
        assert_eq!(context_window(&chain[..2], 4), ["0", "1"]);
    }
}
