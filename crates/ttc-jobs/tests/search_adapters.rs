//! The real generator and verifier on tiny random models: the PRM's incremental per-node
//! scores equal a from-scratch scoring, every strategy runs end to end, deterministically,
//! and children share their parent's cache instead of recomputing it.

use ttc_engine::Engine;
use ttc_engine::bench::random_cpu_model;
use ttc_jobs::search_adapters::{PolicyGenerator, PrmVerifier};
use ttc_jobs::step_scorer::StepScorer;
use ttc_model::LlamaConfig;
use ttc_search::{Knobs, ScoreRequest, SearchConfig, Strategy, Verifier, run};
use ttc_task::Problem;
use ttc_task::arith::{ArithConfig, generate};
use ttc_task::steps::split_steps;
use ttc_task::tokenizer::{Tokenizer, TokenizerConfig, corpus_text, train_tokenizer};

fn setup() -> (Vec<Problem>, Tokenizer) {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
    (s.test, tok)
}

#[test]
fn incremental_prm_scores_equal_from_scratch_scores() {
    let (problems, tok) = setup();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true)).with_score_head();
    let prm = random_cpu_model(&cfg, 9).unwrap();
    let texts: Vec<String> = problems.iter().map(|p| p.problem.clone()).collect();
    let mut ver = PrmVerifier::new(Engine::new(&prm, &tok).unwrap(), texts).unwrap();
    let scorer = StepScorer::new(&prm, &tok).unwrap();
    let p = problems
        .iter()
        .find(|p| split_steps(&p.solution).len() >= 3)
        .unwrap();
    let q = problems
        .iter()
        .position(|x| x.unique_id == p.unique_id)
        .unwrap();
    let steps = split_steps(&p.solution);
    let full = scorer.score(&[(&p.problem, &steps[..])]).unwrap().remove(0);
    // Node 0 = first step; node 1 = its child adding the rest; node 2 = a node whose
    // parent is unknown to the verifier (rebuilt from the prompt).
    let first = ver
        .score(&[ScoreRequest {
            question: q,
            node: 0,
            parent: None,
            steps: &steps[..1],
            new_from: 0,
        }])
        .unwrap();
    let rest = ver
        .score(&[ScoreRequest {
            question: q,
            node: 1,
            parent: Some(0),
            steps: &steps,
            new_from: 1,
        }])
        .unwrap();
    let rebuilt = ver
        .score(&[ScoreRequest {
            question: q,
            node: 2,
            parent: Some(77),
            steps: &steps,
            new_from: 2,
        }])
        .unwrap();
    let mut inc = first[0].scores.clone();
    inc.extend(&rest[0].scores);
    assert_eq!(inc.len(), full.len());
    for (a, b) in inc.iter().zip(&full) {
        assert!((a - b).abs() < 1e-4, "incremental {inc:?} vs full {full:?}");
    }
    assert!((rebuilt[0].scores[0] - full[2]).abs() < 1e-4);
    // The child ran only its new tokens; the rebuilt node ran its whole prefix again.
    assert!(rest[0].computed_tokens < rebuilt[0].computed_tokens + first[0].computed_tokens);
}

#[test]
fn every_strategy_runs_on_real_models_deterministically() {
    let (problems, tok) = setup();
    let v = tok.get_vocab_size(true);
    let policy = random_cpu_model(&LlamaConfig::tiny(v), 5).unwrap();
    let prm = random_cpu_model(&LlamaConfig::tiny(v).with_score_head(), 9).unwrap();
    let texts: Vec<String> = problems.iter().map(|p| p.problem.clone()).collect();
    let engine = Engine::new(&policy, &tok).unwrap();
    let cfg = SearchConfig {
        n: 4,
        max_rounds: 6,
        max_new_tokens: 48,
        seed: 3,
        ..SearchConfig::default()
    };
    let qs = [0, 1, 2];
    let knobs = Knobs {
        width: 2,
        lookahead: 1,
        window: 2,
        ..Knobs::default()
    };
    let gibbs = Knobs {
        iterations: 2,
        resampling: ttc_search::Resampling::Systematic,
        ..knobs
    };
    let online = Knobs {
        warmup: 2,
        group: 4,
        ..knobs
    };
    let online_steps = Knobs {
        stop_at_steps: true,
        ..online
    };
    for (name, k) in [
        ("majority", knobs),
        ("bon", knobs),
        ("weighted-bon", knobs),
        ("beam", knobs),
        ("lookahead", knobs),
        ("dvts", knobs),
        ("pf", knobs),
        ("pf", gibbs),
        ("rebase", knobs),
        ("esc", knobs),
        ("adaptive", knobs),
        ("deepconf", knobs),
        ("deepconf", online),
        ("deepconf", online_steps),
    ] {
        let s = Strategy::parse(name, cfg.n, &k).unwrap();
        let name = s.label();
        let go = || {
            let mut g = PolicyGenerator::new(&engine, texts.clone(), cfg.temperature, cfg.top_p);
            let mut ver =
                PrmVerifier::new(Engine::new(&prm, &tok).unwrap(), texts.clone()).unwrap();
            let vr: Option<&mut dyn Verifier> = s.needs_verifier().then_some(&mut ver);
            let out = run(&s, &cfg, &qs, &mut g, vr).unwrap();
            assert_eq!(g.live(), 0, "{name}: every cached node released");
            out
        };
        let a = go();
        assert_eq!(a, go(), "{name}: same seed, same result");
        for o in &a {
            let acc = o.accounting;
            assert!(
                acc.generated_tokens > 0 && acc.computed_tokens > acc.generated_tokens / 2,
                "{name}: {acc:?}"
            );
            assert!(
                !o.solutions.is_empty(),
                "{name}: no solution for question {}",
                o.question
            );
            assert_eq!(acc.verifier_tokens > 0, s.needs_verifier(), "{name}");
        }
        if name == "deepconf-g16-k5-keep0.9" {
            // Every solution carries a trace confidence; the kept 90% vote with it.
            assert!(
                a.iter()
                    .all(|o| o.solutions.iter().filter(|s| s.score > 0.0).count() >= 3)
            );
        }
        if name == "dvts-m2" {
            assert!(a.iter().all(|o| o.solutions.len() == cfg.n));
        }
        if let Strategy::DeepConf {
            warmup: 2,
            at_steps,
            ..
        } = s
        {
            // A local decode stops each trace at its token: one request to the end, one
            // round; at step boundaries (`stop_at_steps`, a server's way) a round per step.
            assert_eq!(a.iter().all(|o| o.rounds == 1), !at_steps, "{name}");
            assert!(a.iter().all(|o| o.solutions.len() <= cfg.n), "{name}");
        }
    }
}
