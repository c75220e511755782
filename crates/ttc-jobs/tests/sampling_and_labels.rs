//! Sampling and MC labelling with a real (tiny, random) model: label structure, the last
//! step labelled by the sample's own correctness, determinism, and prefix sharing.

use ttc_data::judge::{arith_of, judge};
use ttc_data::rows::SampleRow;
use ttc_data::steps::layout;
use ttc_engine::Engine;
use ttc_engine::bench::random_cpu_model;
use ttc_jobs::mc_labels::label_questions;
use ttc_jobs::sampling::{SampleConfig, sample_questions};
use ttc_model::LlamaConfig;
use ttc_task::Problem;
use ttc_task::arith::{ArithConfig, generate};
use ttc_task::steps::{join_steps, split_steps};
use ttc_task::tokenizer::{Tokenizer, TokenizerConfig, corpus_text, prompt_text, train_tokenizer};

fn setup() -> (Vec<Problem>, Tokenizer) {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
    (s.test, tok)
}

fn row(p: &Problem, qi: usize, sid: u32, text: &str) -> SampleRow {
    let j = judge(p, arith_of(p).as_ref(), text);
    SampleRow {
        question_id: p.unique_id.clone(),
        question_index: qi as u32,
        level: p.level,
        sample_id: sid,
        text: text.into(),
        steps: j.steps,
        answer: j.answer,
        correct: j.correct,
        finish: "eos".into(),
        generated_tokens: 0,
        step_verdicts: j.step_verdicts,
        first_error: j.first_error,
    }
}

/// On the arith tokenizer (which never merges across "\n") the offset-based layout puts
/// every step end where encoding the steps piece by piece does, so the default task's
/// labels and scores did not move when step boundaries went through offsets.
#[test]
fn offset_layout_equals_piecewise_layout_on_the_arith_tokenizer() {
    let (problems, tok) = setup();
    let ids = |s: &str| tok.encode(s, false).unwrap().get_ids().to_vec();
    let enc = |s: &str| -> ttc_data::Result<ttc_data::steps::Encoded> {
        Ok(ttc_task::tokenizer::encode_with_offsets(&tok, s).unwrap())
    };
    for p in &problems {
        let prompt = ids(&prompt_text(&p.problem));
        let steps = split_steps(&p.solution);
        for open in [false, true] {
            let l = layout(&enc, &prompt, &steps, open).unwrap();
            let mut whole = prompt.clone();
            let mut ends = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                whole.extend(ids(s));
                ends.push(whole.len() - 1);
                if open || i + 1 < steps.len() {
                    whole.extend(ids("\n\n"));
                }
            }
            assert_eq!(l.tokens, whole, "{}", p.solution);
            assert_eq!(l.step_ends, ends, "{}", p.solution);
            let mut joined = prompt.clone();
            joined.extend(ids(&join_steps(&steps)));
            if !open {
                assert_eq!(l.tokens, joined);
            }
        }
    }
}

#[test]
fn labels_have_known_structure_and_share_prefixes() {
    let (problems, tok) = setup();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let model = random_cpu_model(&cfg, 5).unwrap();
    let engine = Engine::new(&model, &tok).unwrap();
    let ps = &problems[..3];
    // Per question: the reference (right), the reference with a wrong final answer, and a
    // text without an answer (dropped).
    let samples: Vec<Vec<SampleRow>> = ps
        .iter()
        .enumerate()
        .map(|(qi, p)| {
            let wrong = p.solution.replace(
                &format!("\\boxed{{{}}}", p.answer),
                &format!("\\boxed{{{}}}", p.answer.parse::<i64>().unwrap() + 1),
            );
            vec![
                row(p, qi, 0, &p.solution),
                row(p, qi, 1, &wrong),
                row(p, qi, 2, "no answer"),
            ]
        })
        .collect();
    let sc = SampleConfig {
        n: 3,
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 24,
        seed: 9,
    };
    let (rows, stats) = label_questions(&engine, ps, &samples, &sc).unwrap();
    assert_eq!(stats.samples_dropped, 3);
    assert_eq!(stats.samples_labelled, 6);
    let mut expected_rollouts = 0;
    for (qi, ss) in samples.iter().enumerate() {
        for s in &ss[..2] {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r.question_index == qi as u32 && r.sample_id == s.sample_id)
                .collect();
            assert_eq!(mine.len(), s.steps.len());
            for (k, r) in mine.iter().enumerate() {
                assert_eq!(r.step_index as usize, k);
                if k + 1 == s.steps.len() {
                    // The whole solution: labelled by its own correctness, no rollouts.
                    assert_eq!(r.rollouts, 0);
                    assert_eq!(r.soft, if s.correct { 1.0 } else { 0.0 });
                    assert_eq!(r.hard, s.correct);
                } else {
                    assert_eq!(r.rollouts, 3);
                    assert_eq!(r.soft, r.correct_rollouts as f32 / 3.0);
                    assert_eq!(r.hard, r.correct_rollouts > 0);
                    expected_rollouts += 3;
                }
                assert_eq!(
                    r.verdict.as_deref(),
                    s.step_verdicts.get(k).map(|v| v.as_str())
                );
                if k > 0 {
                    assert!(r.prefix_tokens > mine[k - 1].prefix_tokens);
                }
            }
        }
    }
    assert_eq!(stats.rollouts, expected_rollouts);
    // Prefix sharing: every token of the prefix tree computed about once.
    assert!(
        (stats.computed_tokens as f64) <= 1.2 * stats.unique_tokens as f64,
        "{stats:?}"
    );
    // Same seed, same labels.
    let (again, _) = label_questions(&engine, ps, &samples, &sc).unwrap();
    assert_eq!(rows, again);
}

#[test]
fn samples_do_not_depend_on_chunking() {
    let (problems, tok) = setup();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let model = random_cpu_model(&cfg, 6).unwrap();
    let engine = Engine::new(&model, &tok).unwrap();
    let sc = SampleConfig {
        n: 2,
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 16,
        seed: 4,
    };
    let all = sample_questions(&engine, &problems[..4], 0, &sc).unwrap();
    let mut parts = sample_questions(&engine, &problems[..1], 0, &sc).unwrap();
    parts.extend(sample_questions(&engine, &problems[1..4], 1, &sc).unwrap());
    assert_eq!(all, parts);
    assert_eq!(all.len(), 8);
}

#[test]
fn non_finite_logits_stop_sampling_and_scoring_with_the_sequence_named() {
    let (problems, tok) = setup();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let mut w = ttc_model::init_cpu_seeded(&cfg, 5).to_weights();
    w.get_mut("model.norm.weight").unwrap().data[0] = f32::NAN;
    let model = ttc_model::cpu::CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&model, &tok).unwrap();
    let sc = SampleConfig {
        n: 2,
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 8,
        seed: 4,
    };
    let e = sample_questions(&engine, &problems[..1], 0, &sc)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not finite") && e.contains(&problems[0].unique_id),
        "{e}"
    );
    let prm_cfg = cfg.with_score_head();
    let mut w = ttc_model::init_cpu_seeded(&prm_cfg, 6).to_weights();
    w.get_mut("model.norm.weight").unwrap().data[0] = f32::NAN;
    let prm = ttc_model::cpu::CpuModel::from_weights(&prm_cfg, &w).unwrap();
    let scorer = ttc_jobs::step_scorer::StepScorer::new(&prm, &tok).unwrap();
    let steps = ["a = 1".to_string()];
    let e = scorer
        .score(&[(&problems[0].problem, &steps[..])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not finite"), "{e}");
}

#[test]
fn scoring_shares_each_prompt_and_gives_the_scores_of_scoring_each_item_alone() {
    let (problems, tok) = setup();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true)).with_score_head();
    let prm = random_cpu_model(&cfg, 8).unwrap();
    let scorer = ttc_jobs::step_scorer::StepScorer::new(&prm, &tok).unwrap();
    let sols: Vec<Vec<String>> = (0..4)
        .map(|k| {
            (0..1 + k % 3)
                .map(|j| format!("a = {} + {j} = {}", k, k + j))
                .collect()
        })
        .collect();
    // Two questions, several solutions each, interleaved, one item without steps.
    let mut items: Vec<(&str, &[String])> = Vec::new();
    for k in 0..4 {
        items.push((&problems[k % 2].problem, &sols[k]));
    }
    items.push((&problems[0].problem, &[]));
    let together = scorer.score(&items).unwrap();
    for (it, got) in items.iter().zip(&together) {
        assert_eq!(got.len(), it.1.len());
        assert_eq!(
            *got,
            scorer.score(&[*it]).unwrap()[0],
            "shared prompt changed a score"
        );
    }
    // A row budget smaller than one item still scores everything the same.
    let mut small = ttc_jobs::step_scorer::StepScorer::new(&prm, &tok).unwrap();
    small.max_rows = 8;
    assert_eq!(small.score(&items).unwrap(), together);
}

#[test]
fn revision_chains_extend_their_kept_context_and_match_prompts_prefilled_afresh() {
    let (kept, fresh, shrunk) = revision_chains_against_fresh_prompts(None);
    assert_eq!(shrunk, 0, "the tiny model's context holds every window");
    assert!(
        kept * 10 < fresh * 8,
        "kept contexts should save prefill: {kept} vs {fresh}"
    );
    eprintln!("revision chains prefill tokens: {kept} kept vs {fresh} afresh");
}

/// A context too short for the whole window: the oldest attempts leave the prompt (the rule
/// the ORM trains and scores under), every prompt leaves room for `max_new_tokens`, and the
/// chains still match prompts prefilled afresh.
#[test]
fn revision_chains_drop_their_oldest_attempts_when_the_context_cannot_hold_them() {
    let (_, _, shrunk) = revision_chains_against_fresh_prompts(Some(72));
    assert!(
        shrunk > 0,
        "no window was cut: the test's context is too long"
    );
}

/// The chains of the tests below: 2 chains of 5 attempts, a window of 3, 12 new tokens.
fn chain_config() -> ttc_jobs::revision_chains::ChainConfig {
    ttc_jobs::revision_chains::ChainConfig {
        chains: 2,
        steps: 4,
        window: 3,
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 12,
        seed: 5,
        ratio_budget: 0,
    }
}

/// A ratio budget adds chains as long as its splits need (budget 8 over 2 chains of 5:
/// chains 2–3 of 2 attempts, 4–7 of 1) and leaves the full chains' bytes as they were.
#[test]
fn a_ratio_budget_adds_short_chains_and_keeps_the_full_ones() {
    use ttc_jobs::revision_chains::revise_questions;
    let (problems, tok) = setup();
    let model = random_cpu_model(&LlamaConfig::tiny(tok.get_vocab_size(true)), 9).unwrap();
    let engine = Engine::new(&model, &tok).unwrap();
    let mut cc = chain_config();
    let qs = &problems[..3];
    let plain = revise_questions(&engine, qs, 7, &cc).unwrap();
    cc.ratio_budget = 8;
    let lengths: Vec<usize> = (0..cc.total_chains()).map(|c| cc.chain_length(c)).collect();
    assert_eq!(lengths, vec![5, 5, 2, 2, 1, 1, 1, 1]);
    let wide = revise_questions(&engine, qs, 7, &cc).unwrap();
    let key = |r: &ttc_data::rows::ChainRow| (r.question_index, r.chain, r.step);
    let mut full: Vec<_> = wide.iter().filter(|r| r.chain < 2).cloned().collect();
    let mut plain = plain;
    full.sort_by_key(key);
    plain.sort_by_key(key);
    assert_eq!(full, plain, "the full chains changed with the ratio budget");
    for q in 7..10u32 {
        for c in 0..8u32 {
            let steps: Vec<u32> = wide
                .iter()
                .filter(|r| r.question_index == q && r.chain == c)
                .map(|r| r.step)
                .collect();
            assert_eq!(steps, (0..lengths[c as usize] as u32).collect::<Vec<_>>());
        }
        // The extra chains draw their own samples, not copies of the full chains' first.
        let first: std::collections::BTreeSet<&str> = wide
            .iter()
            .filter(|r| r.question_index == q && r.step == 0)
            .map(|r| r.text.as_str())
            .collect();
        assert!(first.len() > 2, "question {q}: {first:?}");
    }
}

/// Revision chains against an oracle that prefills every step's prompt from scratch (the
/// window's attempts that fit `max_pos`, or the model's context): the same texts. Returns
/// the prefill tokens of both and how many prompts held fewer attempts than the window.
fn revision_chains_against_fresh_prompts(max_pos: Option<usize>) -> (u64, u64, usize) {
    use ttc_data::revision::{fitting_window, revision_prompt};
    use ttc_jobs::revision_chains::revise_questions;
    let (problems, tok) = setup();
    let mut cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    if let Some(m) = max_pos {
        cfg.max_position_embeddings = m;
    }
    let model = random_cpu_model(&cfg, 9).unwrap();
    let cc = chain_config();
    let qs = &problems[..3];
    let engine = Engine::new(&model, &tok).unwrap();
    let rows = revise_questions(&engine, qs, 7, &cc).unwrap();
    let kept_prefill = engine.counts().prefill_tokens;
    // The oracle: every step's prompt prefilled from scratch, the same seeds.
    let fresh = Engine::new(&model, &tok).unwrap();
    let params = ttc_model::sampling::SamplingParams::sampled(1.0, 1.0, 12);
    let n = qs.len() * cc.chains;
    let mut history: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut shrunk = 0;
    for step in 0..=cc.steps {
        let prompts: Vec<Vec<u32>> = (0..n)
            .map(|k| {
                let p = &qs[k / 2].problem;
                let ctx = fitting_window(&history[k], cc.window, &mut |w| {
                    let ids = fresh.encode(&revision_prompt(p, w))?;
                    Ok::<_, ttc_model::Error>(ids.len() + 12 <= cfg.max_position_embeddings)
                })
                .unwrap();
                shrunk += usize::from(ctx.len() < history[k].len().min(cc.window));
                fresh.encode(&revision_prompt(p, &ctx)).unwrap()
            })
            .collect();
        let seeds: Vec<u64> = (0..n)
            .map(|k| {
                let q = (7 + k / 2) as u64;
                ttc_core::seed::derive_seed(5, q * 2 + (k % 2) as u64, step as u64)
            })
            .collect();
        let seqs = fresh.prefill(&prompts).unwrap();
        for (k, (_, g)) in fresh
            .decode(seqs, &params, &seeds)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let r = rows
                .iter()
                .find(|r| {
                    r.step == step as u32
                        && r.chain == (k % 2) as u32
                        && r.question_index == (7 + k / 2) as u32
                })
                .unwrap();
            assert_eq!(r.text, g.text, "step {step} chain {k}");
            history[k].push(g.text);
        }
    }
    (kept_prefill, fresh.counts().prefill_tokens, shrunk)
}
