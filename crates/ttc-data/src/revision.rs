//! Revision trajectories (DESIGN §7; Snell et al. §6): from many samples of a question,
//! build (previous wrong attempts → correct answer) training examples, and the prompt that
//! shows a model its previous attempts — shared by training and inference.

use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use ttc_core::seed::derive_seed;

use crate::rows::{ChainRow, SampleRow, TrajectoryRow};
// The prompt side (attempt marks, windows, the context-fit rule), kept at its old paths.
pub use crate::revision_prompt::*;

/// How [`build_trajectories`] builds a question's trajectories.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectoryRecipe {
    /// Most previous attempts (k ~ U{0..max_k}).
    pub max_k: usize,
    /// Most trajectories per question (a seeded subset of its correct samples as targets).
    pub max_targets: Option<usize>,
    /// Share of trajectories with k ≥ 1 whose last previous attempt is a right answer (the
    /// question's other correct sample nearest the target) instead of the nearest wrong
    /// one: teaches the model to keep a right answer. 0 is the paper's recipe (every
    /// previous attempt wrong), under which a chain's right answers are revised into wrong
    /// ones (its model learned that the last attempt is always wrong).
    pub right_last: f64,
    pub seed: u64,
}

/// Trajectories of one question from its samples: for each correct sample, k ~ U{0..max_k}
/// capped at the number of wrong samples; the last attempt is the wrong sample nearest the
/// target in character edit distance (ties: lowest sample id), the others distinct random
/// wrong samples in random order. Samples without an answer are neither targets nor
/// attempts. With `max_targets`, a question with more correct samples keeps a seeded random
/// subset of them as targets (an easy question otherwise yields up to one trajectory per
/// sample); each kept target's trajectory is the one it gets uncapped. With `right_last`,
/// that share of trajectories (drawn per target) ends its context with the nearest other
/// correct sample instead, after k − 1 wrong ones (k then capped at the wrong samples + 1);
/// a question with one correct sample keeps the wrong recipe. Randomness derives from
/// (seed, question, target sample); `right_last = 0` draws nothing more.
pub fn build_trajectories(samples: &[SampleRow], recipe: &TrajectoryRecipe) -> Vec<TrajectoryRow> {
    let seed = recipe.seed;
    let answered: Vec<&SampleRow> = samples.iter().filter(|s| s.answer.is_some()).collect();
    let wrong: Vec<&SampleRow> = answered.iter().copied().filter(|s| !s.correct).collect();
    let right: Vec<&SampleRow> = answered.iter().copied().filter(|s| s.correct).collect();
    let mut targets = right.clone();
    if let Some(cap) = recipe.max_targets.filter(|&c| c < targets.len()) {
        let q = targets[0].question_index as u64;
        targets.shuffle(&mut StdRng::seed_from_u64(derive_seed(seed, q, u64::MAX)));
        targets.truncate(cap);
        targets.sort_by_key(|t| t.sample_id);
    }
    let mut out = Vec::new();
    for t in targets {
        let draw = derive_seed(seed, t.question_index as u64, t.sample_id as u64);
        let mut rng = StdRng::seed_from_u64(draw);
        let k_drawn = rng.random_range(0..=recipe.max_k);
        let others_right: Vec<&SampleRow> = right
            .iter()
            .copied()
            .filter(|s| s.sample_id != t.sample_id)
            .collect();
        let right_last = recipe.right_last > 0.0
            && k_drawn > 0
            && !others_right.is_empty()
            && StdRng::seed_from_u64(derive_seed(draw, 1, 0)).random::<f64>() < recipe.right_last;
        let k = if right_last {
            k_drawn.min(wrong.len() + 1)
        } else {
            k_drawn.min(wrong.len())
        };
        let nearest_of = |pool: &[&SampleRow]| -> Vec<usize> {
            pool.iter()
                .map(|w| strsim::levenshtein(&w.text, &t.text))
                .collect()
        };
        let mut chosen: Vec<(&SampleRow, usize)> = Vec::with_capacity(k);
        if k > 0 {
            let dist = nearest_of(&wrong);
            let nearest = |pool: &[&SampleRow], dist: &[usize]| {
                (0..pool.len()).min_by_key(|&i| (dist[i], pool[i].sample_id))
            };
            // The last attempt: the nearest right one, else the nearest wrong one (then not
            // among the random others).
            let (last, skip) = if right_last {
                let d = nearest_of(&others_right);
                let i = nearest(&others_right, &d).expect("another right sample exists");
                ((others_right[i], d[i]), None)
            } else {
                let i = nearest(&wrong, &dist).expect("k > 0 means a wrong sample exists");
                ((wrong[i], dist[i]), Some(i))
            };
            let mut others: Vec<usize> = (0..wrong.len()).filter(|&i| Some(i) != skip).collect();
            others.shuffle(&mut rng);
            chosen.extend(others.into_iter().take(k - 1).map(|i| (wrong[i], dist[i])));
            chosen.push(last);
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

/// Per-step pass@1 of chains (mean over every chain of every question) and the share of
/// correct answers revised into wrong ones (transitions step t right → step t+1 wrong,
/// over all transitions from a right answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainStats {
    pub pass_at_1: Vec<f64>,
    pub right_to_wrong: f64,
    pub wrong_to_right: f64,
    pub transitions_from_right: u64,
    pub transitions_from_wrong: u64,
}

pub fn chain_stats(rows: &[ChainRow]) -> ChainStats {
    let steps = rows.iter().map(|r| r.step as usize + 1).max().unwrap_or(0);
    let mut right = vec![0u64; steps];
    let mut total = vec![0u64; steps];
    for r in rows {
        right[r.step as usize] += u64::from(r.correct);
        total[r.step as usize] += 1;
    }
    let mut t = Transitions::default();
    transitions_by_question(rows)
        .values()
        .for_each(|q| t.add(q));
    let (from_r, from_w) = (t.from_right(), t.from_wrong());
    ChainStats {
        pass_at_1: right
            .iter()
            .zip(&total)
            .map(|(&r, &t)| r as f64 / t.max(1) as f64)
            .collect(),
        right_to_wrong: t.right_wrong as f64 / from_r.max(1) as f64,
        wrong_to_right: t.wrong_right as f64 / from_w.max(1) as f64,
        transitions_from_right: from_r,
        transitions_from_wrong: from_w,
    }
}

/// Counts of a revision chain's step-to-step moves between right and wrong answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transitions {
    pub right_right: u64,
    pub right_wrong: u64,
    pub wrong_right: u64,
    pub wrong_wrong: u64,
}

impl Transitions {
    pub fn add(&mut self, o: &Transitions) {
        self.right_right += o.right_right;
        self.right_wrong += o.right_wrong;
        self.wrong_right += o.wrong_right;
        self.wrong_wrong += o.wrong_wrong;
    }
    pub fn from_right(&self) -> u64 {
        self.right_right + self.right_wrong
    }
    pub fn from_wrong(&self) -> u64 {
        self.wrong_right + self.wrong_wrong
    }
}

/// Each question's (by index) transitions between consecutive steps of its chains; a step
/// missing from a chain is no transition across the gap (`ttc revise` writes none).
pub fn transitions_by_question<'a>(
    rows: impl IntoIterator<Item = &'a ChainRow>,
) -> std::collections::BTreeMap<u32, Transitions> {
    let mut steps: std::collections::BTreeMap<(u32, u32), std::collections::BTreeMap<u32, bool>> =
        Default::default();
    for r in rows {
        steps
            .entry((r.question_index, r.chain))
            .or_default()
            .insert(r.step, r.correct);
    }
    let mut out: std::collections::BTreeMap<u32, Transitions> = Default::default();
    for ((q, _), chain) in steps {
        let c = out.entry(q).or_default();
        for (step, &ok) in &chain {
            let Some(&next) = chain.get(&(step + 1)) else {
                continue;
            };
            match (ok, next) {
                (true, true) => c.right_right += 1,
                (true, false) => c.right_wrong += 1,
                (false, true) => c.wrong_right += 1,
                (false, false) => c.wrong_wrong += 1,
            }
        }
    }
    out
}

/// Paired comparison of two chain steps over questions: each question's pass@1 at step `b`
/// minus at step `a` (each averaged over its chains), as (mean, standard error, questions).
/// `None` without a question that has both steps.
pub fn paired_step_gain(rows: &[ChainRow], a: u32, b: u32) -> Option<(f64, f64, usize)> {
    let mut per_q: std::collections::BTreeMap<u32, [(u32, u32); 2]> = Default::default();
    for r in rows.iter().filter(|r| r.step == a || r.step == b) {
        let e = per_q.entry(r.question_index).or_default();
        for (i, step) in [a, b].into_iter().enumerate() {
            if r.step == step {
                e[i].0 += u32::from(r.correct);
                e[i].1 += 1;
            }
        }
    }
    let d: Vec<f64> = per_q
        .values()
        .filter(|[x, y]| x.1 > 0 && y.1 > 0)
        .map(|[x, y]| y.0 as f64 / y.1 as f64 - x.0 as f64 / x.1 as f64)
        .collect();
    let n = d.len();
    if n == 0 {
        return None;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    Some((mean, (var / n as f64).sqrt(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(max_k: usize, max_targets: Option<usize>, seed: u64) -> TrajectoryRecipe {
        TrajectoryRecipe {
            max_k,
            max_targets,
            right_last: 0.0,
            seed,
        }
    }

    /// An attempt of question `q`, chain `c`, step `t`.
    fn chain_row(q: u32, c: u32, t: u32, ok: bool) -> ChainRow {
        ChainRow {
            question_id: format!("q{q}"),
            question_index: q,
            level: 1,
            chain: c,
            step: t,
            text: String::new(),
            answer: None,
            correct: ok,
            generated_tokens: 0,
        }
    }

    #[test]
    fn paired_step_gain_averages_chains_then_questions() {
        let row = chain_row;
        // q0: step 0 1/2 right, step 4 2/2 (+0.5); q1: 1/2 → 0/2 (−0.5); q2: 0/2 → 2/2 (+1).
        let rows = vec![
            row(0, 0, 0, true),
            row(0, 1, 0, false),
            row(0, 0, 4, true),
            row(0, 1, 4, true),
            row(1, 0, 0, true),
            row(1, 1, 0, false),
            row(1, 0, 4, false),
            row(1, 1, 4, false),
            row(2, 0, 0, false),
            row(2, 1, 0, false),
            row(2, 0, 4, true),
            row(2, 1, 4, true),
            row(3, 0, 0, true), // no step 4: left out
        ];
        let (mean, se, n) = paired_step_gain(&rows, 0, 4).unwrap();
        assert_eq!(n, 3);
        assert!((mean - 1.0 / 3.0).abs() < 1e-12);
        // sample sd of (0.5, -0.5, 1) = sqrt(7/12), se = sd / sqrt(3)
        assert!((se - (7.0f64 / 12.0).sqrt() / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(paired_step_gain(&rows, 0, 9), None);
    }

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
    fn a_right_last_attempt_is_the_other_correct_sample_after_wrong_ones() {
        let recipe = |right_last: f64, seed: u64| TrajectoryRecipe {
            right_last,
            ..paper(4, None, seed)
        };
        let (mut right_lasts, mut wrong_lasts) = (0, 0);
        for seed in 0..200 {
            // 0 draws nothing more: the paper's trajectories exactly.
            assert_eq!(
                build_trajectories(&handmade(), &recipe(0.0, seed)),
                build_trajectories(&handmade(), &paper(4, None, seed))
            );
            for r in build_trajectories(&handmade(), &recipe(1.0, seed)) {
                assert_eq!(r.attempts.len(), r.k as usize);
                assert!(r.k <= 4, "3 wrong samples + 1 right");
                let Some(&last) = r.attempt_ids.last() else {
                    continue;
                };
                // Samples 0 and 5 are the correct ones: the last is the other one.
                assert_eq!(last, if r.target_sample_id == 0 { 5 } else { 0 }, "{r:?}");
                assert!(
                    r.attempt_ids[..r.k as usize - 1]
                        .iter()
                        .all(|i| [1, 2, 4].contains(i)),
                    "the others are wrong: {r:?}"
                );
                right_lasts += 1;
            }
            for r in build_trajectories(&handmade(), &recipe(0.5, seed)) {
                match r.attempt_ids.last() {
                    Some(0 | 5) => right_lasts += 1,
                    Some(_) => wrong_lasts += 1,
                    None => {}
                }
            }
        }
        assert!(
            wrong_lasts > 50 && right_lasts > 300,
            "{wrong_lasts} {right_lasts}"
        );
        // One correct sample: no other right answer to show, the wrong recipe.
        let one_right: Vec<SampleRow> = handmade()
            .into_iter()
            .filter(|s| s.sample_id != 5)
            .collect();
        for seed in 0..50 {
            assert_eq!(
                build_trajectories(&one_right, &recipe(1.0, seed)),
                build_trajectories(&one_right, &paper(4, None, seed))
            );
        }
    }

    #[test]
    fn trajectories_pick_the_nearest_wrong_attempt_last() {
        let rows = build_trajectories(&handmade(), &paper(4, None, 1));
        assert_eq!(rows.len(), 2, "one per correct sample");
        let mut ks = std::collections::BTreeSet::new();
        for seed in 0..200 {
            for r in build_trajectories(&handmade(), &paper(4, None, seed)) {
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
            build_trajectories(&handmade(), &paper(4, None, 9)),
            build_trajectories(&handmade(), &paper(4, None, 9))
        );
    }

    #[test]
    fn a_target_cap_keeps_a_seeded_subset_with_unchanged_trajectories() {
        // Ten correct samples (ids 10..20) and the handmade wrong ones.
        let mut set = handmade();
        set.extend((10..20).map(|i| s(i, &format!("c{i} \\boxed{{3}}"), Some("3"), true)));
        let all = build_trajectories(&set, &paper(4, None, 5));
        assert_eq!(all.len(), 12);
        let capped = build_trajectories(&set, &paper(4, Some(3), 5));
        assert_eq!(capped.len(), 3);
        for r in &capped {
            let same = all
                .iter()
                .find(|a| a.target_sample_id == r.target_sample_id);
            assert_eq!(
                same,
                Some(r),
                "a kept target's trajectory is its uncapped one"
            );
        }
        assert_eq!(
            capped,
            build_trajectories(&set, &paper(4, Some(3), 5)),
            "seeded"
        );
        let ids = |v: &[TrajectoryRow]| v.iter().map(|r| r.target_sample_id).collect::<Vec<_>>();
        assert!(
            (0..20).any(
                |seed| ids(&build_trajectories(&set, &paper(4, Some(3), seed))) != ids(&capped)
            ),
            "the subset depends on the seed"
        );
        assert_eq!(
            build_trajectories(&set, &paper(4, Some(12), 5)),
            all,
            "a cap ≥ the count keeps all"
        );
    }

    #[test]
    fn no_wrong_samples_means_k_zero() {
        let only_right = vec![s(0, "x \\boxed{3}", Some("3"), true)];
        let r = build_trajectories(&only_right, &paper(4, None, 3));
        assert_eq!((r.len(), r[0].k), (1, 0));
    }

    #[test]
    fn chain_stats_count_transitions() {
        let r = chain_row;
        // Chain (0,0): R W R; chain (0,1): W W R; chain (1,0): R R R.
        let rows = vec![
            r(0, 0, 0, true),
            r(0, 0, 1, false),
            r(0, 0, 2, true),
            r(0, 1, 2, true),
            r(0, 1, 0, false),
            r(0, 1, 1, false),
            r(1, 0, 0, true),
            r(1, 0, 1, true),
            r(1, 0, 2, true),
        ];
        let s = chain_stats(&rows);
        assert_eq!(s.pass_at_1, vec![2.0 / 3.0, 1.0 / 3.0, 1.0]);
        // From right: (0,0) R→W, (1,0) R→R, R→R: 1 of 3. From wrong: W→R, W→W, W→R: 2 of 3.
        assert_eq!((s.transitions_from_right, s.transitions_from_wrong), (3, 3));
        assert!((s.right_to_wrong - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.wrong_to_right - 2.0 / 3.0).abs() < 1e-12);
    }
}
