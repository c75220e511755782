//! The burn backend (paged device cache, on flex here) against the cpu backend, same
//! weights, same machine: greedy token-exact for batches of prompts of different lengths,
//! after forks and resumes, with stop strings; seeded sampling identical; score-head
//! outputs within 1e-4; pool rows returned when sequences drop.

use ttc_engine::{Engine, FinishReason, Generation};
use ttc_model::burn_decoder::BurnDecoder;
use ttc_model::cpu::{CpuModel, Row};
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::{EngineSpec, decoder_from_weights};
use ttc_model::io::weights::WeightMap;
use ttc_model::model::Transformer;
use ttc_model::sampling::SamplingParams;
use ttc_model::{CpuBackend, LlamaConfig};
use ttc_task::arith::{ArithConfig, generate};
use ttc_task::tokenizer::{TokenizerConfig, corpus_text, train_tokenizer};

fn tokenizer() -> tokenizers::Tokenizer {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap()
}

/// Random weights with clear logit maxima (std ≈ 0.2); grouped-query attention (4 heads,
/// 2 KV heads) so both backends' GQA paths are compared.
/// Seeded weights, drawn under the lock `init_cpu_seeded` holds: seeding burn's
/// process-wide RNG and then drawing lazily let this file's tests, running side by side,
/// draw from each other's stream (weights that changed from run to run; once a near-tie
/// that the two backends sampled differently).
fn random_weights(cfg: &LlamaConfig, seed: u64) -> WeightMap {
    let mut w = ttc_model::init_cpu_seeded(cfg, seed).to_weights();
    for (k, t) in w.iter_mut() {
        if !k.contains("norm") {
            t.data.iter_mut().for_each(|x| *x *= 10.0);
        }
    }
    w
}

fn both(cfg: &LlamaConfig, w: &WeightMap) -> (CpuModel, Box<dyn Decoder>) {
    let cpu = CpuModel::from_weights(cfg, w).unwrap();
    let burn =
        decoder_from_weights(cfg, w.clone(), "mem".as_ref(), &EngineSpec::burn("cpu")).unwrap();
    assert_eq!(burn.describe(), "burn-flex");
    (cpu, burn)
}

fn policy_cfg(vocab: usize) -> LlamaConfig {
    LlamaConfig::llama(vocab, 64, 128, 2, 4, 2)
}

fn tokens(gens: &[Vec<Generation>]) -> Vec<Vec<u32>> {
    gens.iter().flatten().map(|g| g.tokens.clone()).collect()
}

#[test]
fn greedy_is_token_exact_for_prompts_of_different_lengths() {
    let tok = tokenizer();
    let cfg = policy_cfg(tok.get_vocab_size(true));
    let (cpu, burn) = both(&cfg, &random_weights(&cfg, 3));
    let (ec, eb) = (
        Engine::new(&cpu, &tok).unwrap(),
        Engine::new(burn.as_ref(), &tok).unwrap(),
    );
    let mut texts = vec![
        "Problem: Let a = 47. What is a?\nSolution:\n".to_string(),
        "Let b = 3".into(),
        "x".into(),
    ];
    texts.extend((0..37).map(|i| format!("Let a = {i}. Let b = a * {}.", i % 7)));
    let prompts: Vec<Vec<u32>> = texts.iter().map(|p| ec.encode(p).unwrap()).collect();
    let p = SamplingParams::greedy(20);
    let a = ec.generate(&prompts, 2, &p, 0).unwrap();
    let b = eb.generate(&prompts, 2, &p, 0).unwrap();
    assert_eq!(tokens(&a), tokens(&b));
    // Same accounting on both backends.
    assert_eq!(ec.counts(), eb.counts());
}

#[test]
fn forks_resumes_and_stop_strings_match() {
    let tok = tokenizer();
    let cfg = policy_cfg(tok.get_vocab_size(true));
    let (cpu, burn) = both(&cfg, &random_weights(&cfg, 5));
    let run = |m: &dyn Decoder, stops: &[&str]| -> Vec<(Vec<u32>, String, FinishReason)> {
        let mut e = Engine::new(m, &tok).unwrap();
        e.set_eos(Vec::new());
        let prompt = e.encode("Let a = 5. Let b = a + 2.").unwrap();
        let mut root = e.prefill(&[prompt]).unwrap().pop().unwrap();
        // Three forks, one step each with a stop string, then resumed to a length limit.
        let stop = SamplingParams::greedy(12).with_stop(stops);
        let forks: Vec<_> = (0..3).map(|_| root.fork()).collect();
        let seeds = [1, 2, 3];
        let sampled = SamplingParams::sampled(1.0, 0.9, 6);
        let first = e.decode(forks, &sampled, &seeds).unwrap();
        let mut out = Vec::new();
        let mut next = Vec::new();
        for (s, g) in first {
            out.push((g.tokens, g.text, g.finish));
            next.push(s);
        }
        // Fork again from the children (shared rows), and resume all.
        let mut more: Vec<_> = next.iter_mut().map(|s| s.fork()).collect();
        more.extend(next);
        let seeds: Vec<u64> = (0..more.len() as u64).collect();
        for (_, g) in e.decode(more, &stop, &seeds).unwrap() {
            out.push((g.tokens, g.text, g.finish));
        }
        // The root is untouched by its forks.
        for (_, g) in e.decode(vec![root], &stop, &[9]).unwrap() {
            out.push((g.tokens, g.text, g.finish));
        }
        out
    };
    // A random model rarely writes a given string: take the stop string from what the
    // resumed greedy decode writes (two printable ASCII characters in its middle).
    let free = run(&cpu, &[]);
    let stop: String = free[3..]
        .iter()
        .find_map(|(_, t, _)| {
            let c: Vec<char> = t.chars().collect();
            c.windows(2)
                .skip(2)
                .find(|w| w.iter().all(|ch| ch.is_ascii_graphic()))
                .map(|w| w.iter().collect())
        })
        .expect("some printable pair");
    let (a, b) = (run(&cpu, &[&stop]), run(burn.as_ref(), &[&stop]));
    assert_eq!(a, b);
    assert!(
        a.iter().any(|(_, _, f)| *f == FinishReason::Stop),
        "some stop string fired: {a:?}"
    );
}

#[test]
fn seeded_sampling_is_identical_across_backends() {
    let tok = tokenizer();
    let cfg = policy_cfg(tok.get_vocab_size(true));
    let (cpu, burn) = both(&cfg, &random_weights(&cfg, 7));
    let ec = Engine::new(&cpu, &tok).unwrap();
    let eb = Engine::new(burn.as_ref(), &tok).unwrap();
    let prompts = vec![
        ec.encode("Let a = 5.").unwrap(),
        ec.encode("Let c = 12. Let d = c - 4.").unwrap(),
    ];
    let p = SamplingParams::sampled(0.8, 0.95, 24);
    let a = ec.generate(&prompts, 8, &p, 11).unwrap();
    let b = eb.generate(&prompts, 8, &p, 11).unwrap();
    assert_eq!(a, b);
}

#[test]
fn logits_and_score_head_outputs_agree_within_1e_4() {
    let tok = tokenizer();
    let vocab = tok.get_vocab_size(true);
    for cfg in [policy_cfg(vocab), policy_cfg(vocab).with_score_head()] {
        let (cpu, burn) = both(&cfg, &random_weights(&cfg, 9));
        // Two sequences of different lengths in one call; outputs at several positions.
        let seqs: [Vec<u32>; 2] = [(1..30).collect(), (5..14).collect()];
        let mut rows = Vec::new();
        for (s, toks) in seqs.iter().enumerate() {
            for (pos, &token) in toks.iter().enumerate() {
                rows.push(Row { seq: s, token, pos });
            }
        }
        let outs: Vec<usize> = (0..rows.len()).step_by(4).collect();
        let run = |m: &dyn Decoder| {
            let mut caches: Vec<_> = (0..2).map(|_| m.new_cache()).collect();
            m.forward(&mut caches, &rows, &outs).unwrap()
        };
        let (a, b) = (run(&cpu), run(burn.as_ref()));
        assert_eq!(a.len(), b.len());
        assert_eq!(a.len(), outs.len() * cpu.head_outputs());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "head {:?}: worst difference {worst}",
            cfg.head()
        );
    }
}

#[test]
fn pool_rows_are_returned_and_reused() {
    let tok = tokenizer();
    let cfg = policy_cfg(tok.get_vocab_size(true));
    let w = random_weights(&cfg, 2);
    let m = Transformer::<CpuBackend>::from_weights(&cfg, w, "mem".as_ref(), &Default::default())
        .unwrap();
    let burn = BurnDecoder::<CpuBackend>::new(m, Default::default(), "burn-flex");
    let e = Engine::new(&burn, &tok).unwrap();
    let prompt = e.encode("Let a = 5. Let b = a + 2.").unwrap();
    let n = prompt.len();
    let mut root = e.prefill(&[prompt]).unwrap().pop().unwrap();
    assert_eq!(burn.rows_in_use(), n);
    let forks: Vec<_> = (0..4).map(|_| root.fork()).collect();
    let p = SamplingParams::greedy(5);
    let out = e.decode(forks, &p, &[0, 1, 2, 3]).unwrap();
    // The prompt's rows are shared: only the continuations' own rows are new.
    let own: usize = out.iter().map(|(s, _)| s.cache.len() - n).sum();
    assert_eq!(burn.rows_in_use(), n + own);
    drop(out);
    assert_eq!(burn.rows_in_use(), n);
    drop(root);
    assert_eq!(burn.rows_in_use(), 0);
    // A batch bigger than the initial pool grows it; results stay exact (checked against
    // the cpu backend in the other tests); nothing is lost.
    let big: Vec<Vec<u32>> = (0..300).map(|i| vec![1 + (i % 20) as u32; 8]).collect();
    let g = e.generate(&big, 1, &p, 0).unwrap();
    assert_eq!(g.len(), 300);
    assert_eq!(burn.rows_in_use(), 0);
}

#[test]
fn a_cache_from_another_backend_is_an_error_not_a_panic() {
    let tok = tokenizer();
    let cfg = policy_cfg(tok.get_vocab_size(true));
    let (cpu, burn) = both(&cfg, &random_weights(&cfg, 1));
    let row = [Row {
        seq: 0,
        token: 1,
        pos: 0,
    }];
    let mut host = vec![Decoder::new_cache(&cpu)];
    let e = burn.forward(&mut host, &row, &[0]).unwrap_err().to_string();
    assert!(e.contains("another backend"), "{e}");
    let mut paged = vec![burn.new_cache()];
    let e = Decoder::forward(&cpu, &mut paged, &row, &[0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("device (burn backend) cache"), "{e}");
    // A row at the wrong position is refused by both.
    let bad = [Row {
        seq: 0,
        token: 1,
        pos: 3,
    }];
    let mut c = vec![burn.new_cache()];
    assert!(burn.forward(&mut c, &bad, &[0]).is_err());
}

/// Qwen3 (q_norm / k_norm before RoPE), transformers 5's own checkpoint: the burn backend's
/// step-by-step forward (prefill, then one token at a time through its paged cache) gives the
/// cpu backend's logits.
#[test]
fn qwen3_head_norms_agree_between_the_backends() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf/qwen3");
    let cfg = LlamaConfig::load(&dir.join("config.json")).unwrap();
    let w = ttc_model::io::checkpoint_files::read_checkpoint_weights(&dir).unwrap();
    let (cpu, burn) = both(&cfg, &w);
    let ids = [1u32, 5, 17, 33, 2, 64, 90, 7, 7, 41];
    let run = |m: &dyn Decoder| {
        let mut caches = vec![m.new_cache()];
        let rows = |from: usize, to: usize| -> Vec<Row> {
            (from..to)
                .map(|p| Row {
                    seq: 0,
                    token: ids[p],
                    pos: p,
                })
                .collect()
        };
        let mut out = m.forward(&mut caches, &rows(0, 6), &[5]).unwrap();
        for p in 6..ids.len() {
            out.extend(m.forward(&mut caches, &rows(p, p + 1), &[0]).unwrap());
        }
        out
    };
    let (a, b) = (run(&cpu), run(burn.as_ref()));
    assert_eq!(a.len(), 5 * cfg.vocab_size);
    let err = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(err <= 1e-4, "burn vs cpu max abs err {err}");
}
