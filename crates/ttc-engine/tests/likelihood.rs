//! The policy-likelihood scorer against a direct computation: each sequence run whole in its
//! own cache, the log-softmax of every solution token, cumulative means at the step ends.

use ttc_engine::likelihood_scorer::LikelihoodScorer;
use ttc_model::LlamaConfig;
use ttc_model::bench::random_cpu_model;
use ttc_model::cpu::Row;
use ttc_model::decoder::Decoder;
use ttc_task::arith::{ArithConfig, generate};
use ttc_task::steps::{join_steps, split_steps};
use ttc_task::tokenizer::{
    PromptTemplate, TokenizerConfig, corpus_text, prompt_text, train_tokenizer,
};

#[test]
fn likelihood_scores_equal_a_whole_sequence_computation() {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let model = random_cpu_model(&cfg, 7).unwrap();
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
