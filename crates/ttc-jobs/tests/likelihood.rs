//! The policy-likelihood scorer against a direct computation: each sequence run whole in its
//! own cache, the log-softmax of every solution token, cumulative means at the step ends.

use ttc_engine::bench::random_cpu_model;
use ttc_jobs::likelihood_scorer::LikelihoodScorer;
use ttc_model::LlamaConfig;
use ttc_model::cpu::CpuModel;
use ttc_model::cpu::Row;
use ttc_model::decoder::Decoder;
use ttc_task::arith::{ArithConfig, Splits, generate};
use ttc_task::steps::{join_steps, split_steps};
use ttc_task::tokenizer::{
    PromptTemplate, Tokenizer, TokenizerConfig, corpus_text, prompt_text, train_tokenizer,
};

/// The tiny arith task, a tokenizer trained on it and a random tiny policy.
fn tiny_policy() -> (Splits, Tokenizer, CpuModel) {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let model = random_cpu_model(&cfg, 7).unwrap();
    (s, tok, model)
}

#[test]
fn likelihood_scores_equal_a_whole_sequence_computation() {
    let (s, tok, model) = tiny_policy();
    let dm: &dyn Decoder = &model;
    let ids = |t: &str| tok.encode(t, false).unwrap().get_ids().to_vec();
    // Three questions, each with its own solution and another question's (prompts shared).
    let problems = &s.test[..3];
    let mut items: Vec<(String, Vec<String>)> = Vec::new();
    for (i, p) in problems.iter().enumerate() {
        items.push((p.problem.clone(), split_steps(&p.solution)));
        let other = &problems[(i + 1) % problems.len()];
        items.push((p.problem.clone(), split_steps(&other.solution)));
    }
    let refs: Vec<(&str, &[String])> = items
        .iter()
        .map(|(p, st)| (p.as_str(), st.as_slice()))
        .collect();
    let mut scorer = LikelihoodScorer::new(dm, &tok, PromptTemplate::default()).unwrap();
    let got = scorer.score(&refs).unwrap();
    scorer.max_rows = 7; // many forwards, items split across them
    let split = scorer.score(&refs).unwrap();
    for (k, (p, steps)) in items.iter().enumerate() {
        let prompt = ids(&prompt_text(p));
        let mut tokens = prompt.clone();
        tokens.extend(ids(&join_steps(steps)));
        let ends: Vec<usize> = (1..=steps.len())
            .map(|j| prompt.len() + ids(&join_steps(&steps[..j])).len() - 1)
            .collect();
        let rows: Vec<Row> = tokens
            .iter()
            .enumerate()
            .map(|(pos, &token)| Row { seq: 0, token, pos })
            .collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        let out = dm.forward(&mut [dm.new_cache()], &rows, &all).unwrap();
        let v = dm.head_outputs();
        let mut sum = 0.0f64;
        let mut want = Vec::new();
        for t in prompt.len()..=*ends.last().unwrap() {
            let l = &out[(t - 1) * v..t * v];
            let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
            sum += l[tokens[t] as usize] as f64 - z.ln();
            if ends.contains(&t) {
                want.push((sum / (t + 1 - prompt.len()) as f64).exp());
            }
        }
        assert_eq!(got[k].len(), steps.len());
        for (g, w) in got[k].iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() < 1e-5 * w.max(1e-3),
                "item {k}: {g} vs {w}"
            );
        }
        assert_eq!(got[k], split[k], "item {k}: batching changed the scores");
    }
    // No steps, no scores; a score-head model is refused with a reason.
    let none: Vec<String> = Vec::new();
    assert!(scorer.score(&[("x", none.as_slice())]).unwrap()[0].is_empty());
}

/// The likelihood as a search verifier: a path scored node by node (each call only the new
/// step, the parent's cache and log p reused) gives the scorer's whole-sample scores, for
/// siblings too, in one batch or split across forwards; a new step costs its own tokens
/// plus one, not the prefix.
#[test]
fn likelihood_verifier_scores_a_path_as_the_scorer_scores_the_sample() {
    use ttc_engine::Engine;
    use ttc_jobs::likelihood_verifier::LikelihoodVerifier;
    use ttc_search::{ScoreRequest, Verifier};
    let (s, tok, model) = tiny_policy();
    let dm: &dyn Decoder = &model;
    let problems: Vec<String> = s.test[..2].iter().map(|p| p.problem.clone()).collect();
    // Question 0: path a → a,b → a,b,c and a sibling a → a,x; question 1: its solution.
    let mut sol0 = split_steps(&s.test[0].solution);
    while sol0.len() < 3 {
        sol0.push(sol0[0].clone());
    }
    let sib = vec![sol0[0].clone(), split_steps(&s.test[1].solution)[0].clone()];
    let sol1 = split_steps(&s.test[1].solution);
    let scorer = LikelihoodScorer::new(dm, &tok, PromptTemplate::default()).unwrap();
    let want = scorer
        .score(&[
            (problems[0].as_str(), &sol0[..3]),
            (problems[0].as_str(), sib.as_slice()),
            (problems[1].as_str(), sol1.as_slice()),
        ])
        .unwrap();
    for max_rows in [4096, 9] {
        let engine = Engine::new(dm, &tok).unwrap();
        let mut ver = LikelihoodVerifier::new(engine, problems.clone()).unwrap();
        ver.max_rows = max_rows;
        fn req(
            node: usize,
            parent: Option<usize>,
            steps: &[String],
            new_from: usize,
        ) -> ScoreRequest<'_> {
            ScoreRequest {
                question: if node >= 10 { 1 } else { 0 },
                node,
                parent,
                steps,
                new_from,
            }
        }
        let round1 = ver
            .score(&[req(1, None, &sol0[..1], 0), req(10, None, &sol1, 0)])
            .unwrap();
        let round2 = ver
            .score(&[req(2, Some(1), &sol0[..2], 1), req(3, Some(1), &sib, 1)])
            .unwrap();
        let round3 = ver.score(&[req(4, Some(2), &sol0[..3], 2)]).unwrap();
        let path = [
            round1[0].scores[0],
            round2[0].scores[0],
            round3[0].scores[0],
        ];
        let sibling = [round1[0].scores[0], round2[1].scores[0]];
        let close = |got: &[f32], want: &[f32], what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.max(1e-3),
                    "{what} (max_rows {max_rows}): {got:?} vs {want:?}"
                );
            }
        };
        close(&path, &want[0], "path");
        close(&sibling, &want[1], "sibling");
        close(&round1[1].scores, &want[2], "question 1");
        // The third step's call ran its own tokens and one more, not the prefix.
        let ids = |t: &str| tok.encode(t, false).unwrap().get_ids().len();
        let whole = ids(&prompt_text(&problems[0])) + ids(&join_steps(&sol0[..3]));
        assert!(
            round3[0].computed_tokens < whole / 2,
            "{} of {whole} tokens recomputed",
            round3[0].computed_tokens
        );
    }
    // A score-head model is refused with a reason.
    let head = random_cpu_model(
        &LlamaConfig::tiny(tok.get_vocab_size(true)).with_score_head(),
        7,
    )
    .unwrap();
    let hd: &dyn Decoder = &head;
    let err = LikelihoodVerifier::new(Engine::new(hd, &tok).unwrap(), problems)
        .err()
        .expect("a score head is refused")
        .to_string();
    assert!(err.contains("score head"), "{err}");
}

/// A checkpoint whose `prm_format.json` says `likelihood` searches through its calibrated
/// likelihood: the verifier `verifier_for_checkpoint` builds scores each step as the
/// calibration of the scorer's geometric mean; without the file it is read as a score-head
/// PRM, which this causal LM is not (a named error).
#[test]
fn a_likelihood_prm_checkpoint_searches_through_its_calibration() {
    use ttc_engine::Engine;
    use ttc_jobs::checkpoint_verifier::verifier_for_checkpoint;
    use ttc_jobs::prm_format::{Calibration, PrmFormat};
    use ttc_search::ScoreRequest;
    let (s, tok, model) = tiny_policy();
    let dm: &dyn Decoder = &model;
    let problems: Vec<String> = vec![s.test[0].problem.clone()];
    let sol = split_steps(&s.test[0].solution);
    let want = LikelihoodScorer::new(dm, &tok, PromptTemplate::default())
        .unwrap()
        .score(&[(problems[0].as_str(), sol.as_slice())])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = Calibration {
        slope: 4.0,
        intercept: 2.0,
    };
    PrmFormat::save_likelihood(dir.path(), c).unwrap();
    let engine = Engine::new(dm, &tok).unwrap();
    let mut ver = verifier_for_checkpoint(engine, problems.clone(), dir.path()).unwrap();
    let got = ver
        .score(&[ScoreRequest {
            question: 0,
            node: 1,
            parent: None,
            steps: &sol,
            new_from: 0,
        }])
        .unwrap();
    assert_eq!(got[0].scores.len(), sol.len());
    for (g, w) in got[0].scores.iter().zip(&want[0]) {
        assert!((g - c.apply(*w)).abs() < 1e-5, "{g} vs {}", c.apply(*w));
    }
    let plain = tempfile::tempdir().unwrap();
    let err = verifier_for_checkpoint(Engine::new(dm, &tok).unwrap(), problems, plain.path())
        .err()
        .expect("a causal LM is no score-head PRM")
        .to_string();
    assert!(err.contains("score head"), "{err}");
}
