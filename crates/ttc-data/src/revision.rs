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

/// The problem a revision shows a model: the problem, then each previous attempt between
/// attempt marks (oldest first). Rendered by a checkpoint's prompt template
/// ([`revision_prompt_in`]); with ttc's own template this gives [`revision_prompt`].
pub fn revision_problem(problem: &str, attempts: &[&str]) -> String {
    let mut s = problem.to_string();
    for a in attempts {
        s.push('\n');
        s.push_str(ATTEMPT_OPEN);
        s.push('\n');
        s.push_str(a.trim_end());
        s.push('\n');
        s.push_str(ATTEMPT_CLOSE);
    }
    s
}

/// The prompt of a revision in a model's prompt format (an imported policy's chat template
/// shows the attempts inside the user's turn).
pub fn revision_prompt_in(
    template: &ttc_task::tokenizer::PromptTemplate,
    problem: &str,
    attempts: &[&str],
) -> crate::Result<String> {
    template
        .render(&revision_problem(problem, attempts))
        .map_err(|e| crate::Error::Input(format!("prompt: {e}")))
}

/// Where the part of a revision prompt that the next revision's prompt starts with ends:
/// after the revision problem and the newlines that follow it (the text after it, e.g.
/// ttc's `"Solution:\n"` or a chat turn's end, changes when an attempt is added).
pub fn revision_prompt_head(prompt: &str, problem: &str, attempts: &[&str]) -> Option<usize> {
    let x = revision_problem(problem, attempts);
    let end = prompt.rfind(&x)? + x.len();
    Some(end + prompt[end..].len() - prompt[end..].trim_start_matches('\n').len())
}

/// The last `window` attempts of a chain (the context a revision is conditioned on).
pub fn context_window(chain: &[String], window: usize) -> Vec<&str> {
    chain[chain.len().saturating_sub(window)..]
        .iter()
        .map(String::as_str)
        .collect()
}

/// The last `window` attempts of a chain that the model's context holds: the oldest
/// attempt is dropped while `fits` says a row with these attempts in context does not fit,
/// down to none (the one rule for generating a revision, training the ORM on an attempt in
/// its context and scoring it there: a long chain's oldest attempts leave the context first,
/// as they leave the window).
pub fn fitting_window<'c, E>(
    chain: &'c [String],
    window: usize,
    fits: &mut dyn FnMut(&[&str]) -> Result<bool, E>,
) -> Result<Vec<&'c str>, E> {
    let mut w = context_window(chain, window);
    while !w.is_empty() && !fits(&w)? {
        w.remove(0);
    }
    Ok(w)
}

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

    #[test]
    fn the_oldest_attempts_leave_a_context_that_cannot_hold_them() {
        let chain: Vec<String> = ["aaaa", "bb", "cccccc", "d"].map(String::from).to_vec();
        let len = |w: &[&str]| w.iter().map(|a| a.len()).sum::<usize>();
        // Room for 9 characters: the window of 3 (bb, cccccc, d = 9) fits as it is.
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(len(w) <= 9)).unwrap();
        assert_eq!(got, ["bb", "cccccc", "d"]);
        // Room for 7: bb leaves, then cccccc + d = 7 fits.
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(len(w) <= 7)).unwrap();
        assert_eq!(got, ["cccccc", "d"]);
        // Room for nothing: no attempt in context (the question alone).
        let got = fitting_window(&chain, 3, &mut |w| Ok::<_, ()>(w.is_empty())).unwrap();
        assert!(got.is_empty());
        // An error from the check is passed on.
        assert_eq!(
            fitting_window(&chain, 2, &mut |_| Err("tokenizer")),
            Err("tokenizer")
        );
    }

    /// The paper's recipe (every previous attempt wrong).
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
    fn prompt_marks_attempts_and_window_keeps_the_last_four() {
        assert_eq!(revision_prompt("P", &[]), "Problem: P\nSolution:\n");
        // ttc's own template renders the revision problem into the same prompt.
        let ttc = ttc_task::tokenizer::PromptTemplate::default();
        for attempts in [&[][..], &["a\n\nb", "c"][..]] {
            let p = revision_prompt("P", attempts);
            assert_eq!(revision_prompt_in(&ttc, "P", attempts).unwrap(), p);
            let head = revision_prompt_head(&p, "P", attempts).unwrap();
            assert_eq!(&p[head..], "Solution:\n");
        }
        // A chat template shows the attempts inside the user's turn; the part the next
        // revision's prompt starts with ends with the last attempt.
        let src = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
        let chat =
            ttc_task::tokenizer::PromptTemplate::Chat(Box::new(ttc_task::tokenizer::ChatPrompt {
                template: ttc_task::chat_template::ChatTemplate::new(src, Default::default())
                    .unwrap(),
                options: Default::default(),
            }));
        let p = revision_prompt_in(&chat, "P", &["a"]).unwrap();
        assert_eq!(p, "<|user|>P\n<attempt>\na\n</attempt><|end|><|assistant|>");
        let head = revision_prompt_head(&p, "P", &["a"]).unwrap();
        let next = revision_prompt_in(&chat, "P", &["a", "b"]).unwrap();
        assert!(next.starts_with(&p[..head]) && p[head..].starts_with("<|end|>"));
        assert_eq!(
            revision_prompt("P", &["a\n\nb", "c"]),
            "Problem: P\n<attempt>\na\n\nb\n</attempt>\n<attempt>\nc\n</attempt>\nSolution:\n"
        );
        let chain: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        assert_eq!(context_window(&chain, 4), ["2", "3", "4", "5"]);
        assert_eq!(context_window(&chain[..2], 4), ["0", "1"]);
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
