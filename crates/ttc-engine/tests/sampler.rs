//! The batched CPU sampler against the burn reference, and its contracts: greedy with cache
//! = greedy without cache (token-exact), seeds reproduce, stop strings stay in the text,
//! a prompt shared by N continuations is prefilled once.

use burn::tensor::{Int, Tensor, TensorData};
use ttc_engine::{Engine, FinishReason};
use ttc_model::cpu::CpuModel;
use ttc_model::io::weights::WeightMap;
use ttc_model::model::Transformer;
use ttc_model::sampling::{SamplingParams, argmax};
use ttc_model::{CpuBackend, LlamaConfig};
use ttc_task::arith::{ArithConfig, generate};
use ttc_task::tokenizer::{TokenizerConfig, corpus_text, train_tokenizer};

fn tokenizer() -> tokenizers::Tokenizer {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap()
}

/// A random model with weights large enough (std ≈ 0.2) that its logits have clear maxima.
fn random_weights(vocab: usize, seed: u64) -> (LlamaConfig, WeightMap) {
    let cfg = LlamaConfig::llama(vocab, 64, 128, 2, 4, 2);
    // Seeded and drawn under one lock: tests running side by side share burn's RNG.
    let mut w = ttc_model::init_cpu_seeded(&cfg, seed).to_weights();
    for (k, t) in w.iter_mut() {
        if !k.contains("norm") {
            t.data.iter_mut().for_each(|x| *x *= 10.0);
        }
    }
    (cfg, w)
}

fn burn_greedy(m: &Transformer<CpuBackend>, prompt: &[u32], steps: usize) -> Vec<u32> {
    let dev = Default::default();
    let mut toks: Vec<u32> = prompt.to_vec();
    for _ in 0..steps {
        let data: Vec<i64> = toks.iter().map(|&t| t as i64).collect();
        let x =
            Tensor::<CpuBackend, 2, Int>::from_data(TensorData::new(data, [1, toks.len()]), &dev);
        let logits = m.forward(x).into_data().to_vec::<f32>().unwrap();
        let v = m.config().vocab_size;
        toks.push(argmax(&logits[(toks.len() - 1) * v..]));
    }
    toks[prompt.len()..].to_vec()
}

/// Generate greedily with the batched CPU engine and check every prompt's tokens against
/// burn's full-recompute greedy decode of the same weights.
fn assert_greedy_matches_burn(prompts: &[String], steps: usize, seed: u64) {
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), seed);
    let burn = Transformer::<CpuBackend>::from_weights(
        &cfg,
        w.clone(),
        "mem".as_ref(),
        &Default::default(),
    )
    .unwrap();
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&cpu, &tok).unwrap();
    let prompts: Vec<Vec<u32>> = prompts.iter().map(|p| engine.encode(p).unwrap()).collect();
    let out = engine
        .generate(&prompts, 1, &SamplingParams::greedy(steps), 0)
        .unwrap();
    for (p, gens) in prompts.iter().zip(&out) {
        let want = burn_greedy(&burn, p, steps);
        let got = &gens[0].tokens;
        assert_eq!(got[..], want[..got.len()], "prompt {p:?}");
    }
}

/// Prompts of different lengths step together in one batch.
#[test]
fn greedy_with_cache_equals_burn_without_cache() {
    let prompts = [
        "Problem: Let a = 47. What is a?\nSolution:\n",
        "Let b = 3",
        "x",
    ];
    assert_greedy_matches_burn(&prompts.map(String::from), 24, 3);
}

/// 70 sequences: the engine's thread-split forward is used for prefill and decode.
#[test]
fn greedy_large_batch_equals_burn_without_cache() {
    let prompts: Vec<String> = (0..70)
        .map(|i| format!("Let a = {i}. Let b = a * {}.", i % 7))
        .collect();
    assert_greedy_matches_burn(&prompts, 6, 13);
}

#[test]
fn seeds_reproduce_and_differ() {
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), 4);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&cpu, &tok).unwrap();
    let prompt = vec![engine.encode("Let a = 5.").unwrap()];
    let p = SamplingParams::sampled(1.0, 0.95, 20);
    let a = engine.generate(&prompt, 8, &p, 11).unwrap();
    let b = engine.generate(&prompt, 8, &p, 11).unwrap();
    let c = engine.generate(&prompt, 8, &p, 12).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Continuations of one prompt differ from each other (their seeds differ).
    let distinct: std::collections::HashSet<_> = a[0].iter().map(|g| g.tokens.clone()).collect();
    assert!(distinct.len() > 4, "{distinct:?}");
}

#[test]
fn stop_string_is_kept_and_ends_the_text() {
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), 5);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let mut engine = Engine::new(&cpu, &tok).unwrap();
    // A random model may pick EOS early, and where depends on the CPU's float rounding (CI's
    // CPU differs from ours): with no EOS ids only the length and the stop string end a text.
    engine.set_eos(vec![]);
    let prompt = vec![engine.encode("Let a = 5.").unwrap()];
    let free = &engine
        .generate(&prompt, 1, &SamplingParams::greedy(30), 0)
        .unwrap()[0][0];
    assert_eq!(free.finish, FinishReason::Length);
    assert_eq!(free.generated_tokens, 30);
    // Pick a stop string from the middle of what greedy produces (two printable ASCII
    // tokens): generation must end right after its first occurrence, with the string kept.
    let ascii = |t: u32| {
        let b = engine.token_bytes(t);
        !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
    };
    let toks = &free.tokens;
    let k = (toks.len() / 3..toks.len() - 1)
        .find(|&k| ascii(toks[k]) && ascii(toks[k + 1]))
        .expect("two printable tokens in a row");
    let stop: String = [toks[k], toks[k + 1]]
        .iter()
        .map(|&t| String::from_utf8(engine.token_bytes(t).to_vec()).unwrap())
        .collect();
    let all: Vec<u8> = toks
        .iter()
        .flat_map(|&t| engine.token_bytes(t).to_vec())
        .collect();
    let first = all
        .windows(stop.len())
        .position(|w| w == stop.as_bytes())
        .unwrap()
        + stop.len();
    let p = SamplingParams::greedy(30).with_stop(&[&stop]);
    let g = &engine.generate(&prompt, 1, &p, 0).unwrap()[0][0];
    assert_eq!(
        g.finish,
        FinishReason::Stop,
        "stop {stop:?} got {:?}",
        g.text
    );
    assert!(g.text.ends_with(&stop), "{:?} / {stop:?}", g.text);
    assert_eq!(g.text, String::from_utf8_lossy(&all[..first]));
    assert!(g.generated_tokens < 30);
}

/// A model that always emits one given token: embeddings carry a constant in dimension 0,
/// every layer is zeroed, and only that token's lm_head row reads dimension 0.
fn constant_model(vocab: usize, token: u32) -> (LlamaConfig, WeightMap) {
    let (cfg, mut w) = random_weights(vocab, 1);
    for (k, t) in w.iter_mut() {
        if k.starts_with("model.layers.") && !k.contains("norm") {
            t.data.fill(0.0);
        }
    }
    let d = cfg.hidden_size;
    let emb = w.get_mut("model.embed_tokens.weight").unwrap();
    emb.data.fill(0.0);
    emb.data.iter_mut().step_by(d).for_each(|x| *x = 1.0);
    let head = w.get_mut("lm_head.weight").unwrap();
    head.data.fill(0.0);
    head.data[token as usize * d] = 5.0;
    (cfg, w)
}

#[test]
fn step_delimiter_stop_keeps_the_delimiter() {
    let tok = tokenizer();
    let newline = tok.token_to_id("Ċ").expect("byte-level newline token");
    let (cfg, w) = constant_model(tok.get_vocab_size(true), newline);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&cpu, &tok).unwrap();
    let prompt = vec![
        engine
            .encode("Problem: Let a = 1. What is a?\nSolution:\n")
            .unwrap(),
    ];
    let p = SamplingParams::sampled(0.7, 1.0, 50).with_stop(&["\n\n"]);
    let out = engine.generate(&prompt, 3, &p, 5).unwrap();
    for g in &out[0] {
        assert_eq!(g.finish, FinishReason::Stop);
        assert_eq!(g.text, "\n\n");
        assert_eq!(g.tokens, vec![newline, newline]);
    }
}

#[test]
fn n_continuations_prefill_the_prompt_once() {
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), 6);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&cpu, &tok).unwrap();
    let prompt: Vec<u32> = (0..200).map(|i| 10 + (i % 50) as u32).collect();
    let out = engine
        .generate(&[prompt], 64, &SamplingParams::sampled(1.0, 1.0, 16), 1)
        .unwrap();
    let c = engine.counts();
    let generated: u64 = out[0].iter().map(|g| g.generated_tokens as u64).sum();
    assert_eq!(c.prefill_tokens, 200);
    assert_eq!(c.sampled_tokens, generated);
    assert!(
        c.computed() <= 200 + generated,
        "{c:?} vs 200 + {generated}"
    );
    assert!(c.computed() as f64 <= 1.1 * (200 + generated) as f64);
    let per_seq: u64 = out[0].iter().map(|g| g.computed_tokens as u64).sum();
    assert_eq!(per_seq, c.decode_tokens);
    eprintln!(
        "prefix sharing: 64 continuations of a 200-token prompt: prefill {} + decode {} = {} computed, {} generated",
        c.prefill_tokens,
        c.decode_tokens,
        c.computed(),
        generated
    );
}

#[test]
fn forked_and_resumed_sequences_match_fresh_ones() {
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), 7);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let mut engine = Engine::new(&cpu, &tok).unwrap();
    engine.set_eos(vec![]); // run to the length limit every time
    let prompt = engine.encode("Let a = 47. Let b = a * 3").unwrap();
    let p = SamplingParams::greedy(8);
    // Generate 8 tokens, resume for 8 more: same as 16 at once.
    let mut s = engine.prefill(std::slice::from_ref(&prompt)).unwrap();
    let forked = s[0].fork();
    let (s1, g1) = engine
        .decode(vec![forked], &p, &[0])
        .unwrap()
        .pop()
        .unwrap();
    let (_, g2) = engine.decode(vec![s1], &p, &[0]).unwrap().pop().unwrap();
    let whole = &engine
        .generate(
            std::slice::from_ref(&prompt),
            1,
            &SamplingParams::greedy(16),
            0,
        )
        .unwrap()[0][0];
    let joined: Vec<u32> = g1.tokens.iter().chain(&g2.tokens).copied().collect();
    assert_eq!((g1.generated_tokens, g2.generated_tokens), (8, 8));
    assert_eq!(joined, whole.tokens);
    // The original (unforked) state is untouched and still generates the same.
    let (_, g3) = engine
        .decode(vec![s.pop().unwrap()], &p, &[0])
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(g3.tokens, g1.tokens);
}

#[test]
fn tokenizer_bigger_than_the_model_is_refused() {
    let tok = tokenizer();
    let (cfg, w) = random_weights(100, 8);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let e = Engine::new(&cpu, &tok).err().unwrap().to_string();
    assert!(e.contains("vocab_size"), "{e}");
}

/// A prompt longer than the context: refused with both lengths named, or (engine
/// `long_prompts = "truncate-left"`) its last tokens kept, leaving a quarter of a small
/// context to generate in.
#[test]
fn long_prompts_are_refused_or_truncated_from_the_left() {
    use ttc_engine::LongPrompts;
    let tok = tokenizer();
    let (mut cfg, w) = random_weights(tok.get_vocab_size(true), 5);
    cfg.max_position_embeddings = 32;
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let problem = "Let a = 12. Let b = a + 7. Let c = b * 3. Let d = c - a. What is d + b + c?";
    let engine = Engine::new(&cpu, &tok).unwrap();
    let full = engine
        .encode_prompt_text(&ttc_task::tokenizer::prompt_text(problem))
        .unwrap();
    assert!(full.len() > 32, "{}", full.len());
    let e = engine.encode_prompt(problem).unwrap_err().to_string();
    assert!(
        e.contains(&format!("a prompt of {} tokens", full.len()))
            && e.contains("context of 32 positions")
            && e.contains("Let a = 12"),
        "{e}"
    );
    let engine = engine.with_long_prompts(LongPrompts::TruncateLeft);
    let cut = engine.encode_prompt(problem).unwrap();
    assert_eq!(cut.len(), 32 - 8);
    assert_eq!(cut[..], full[full.len() - 24..]);
    let out = engine
        .generate(&[cut], 1, &SamplingParams::greedy(100), 0)
        .unwrap();
    assert!(
        out[0][0].generated_tokens <= 8,
        "{}",
        out[0][0].generated_tokens
    );
}

/// A confidence gate (DeepConf online) ends a sequence at the first token whose window of
/// the last 4 token confidences falls below the threshold: its tokens are the ungated
/// decode's up to that token (same seeds), and a sequence that never falls below decodes
/// exactly as without a gate.
#[test]
fn a_confidence_gate_stops_at_the_first_window_below_its_threshold() {
    use ttc_core::confidence::{GroupWindow, lowest_group_confidence, token_confidence};
    let tok = tokenizer();
    let (cfg, w) = random_weights(tok.get_vocab_size(true), 6);
    let cpu = CpuModel::from_weights(&cfg, &w).unwrap();
    let engine = Engine::new(&cpu, &tok).unwrap();
    let prompt = engine.encode("Let a = 5.").unwrap();
    let n = 12;
    let p = SamplingParams::sampled(1.0, 1.0, 40).with_logprobs(5);
    let seeds: Vec<u64> = (0..n as u64).collect();
    let prompts = vec![prompt; n];
    let free = engine
        .decode(engine.prefill(&prompts).unwrap(), &p, &seeds)
        .unwrap();
    let conf: Vec<Vec<f32>> = free
        .iter()
        .map(|(_, g)| {
            g.logprobs
                .iter()
                .map(|t| token_confidence(t.top.iter().map(|x| x.1)))
                .collect()
        })
        .collect();
    // The threshold: the median of the sequences' lowest windows (some stop, some do not).
    let mut lowest: Vec<f32> = conf
        .iter()
        .filter(|c| c.len() >= 4)
        .map(|c| lowest_group_confidence(c, 4))
        .collect();
    lowest.sort_by(f32::total_cmp);
    let threshold = lowest[lowest.len() / 2];
    let gates = vec![Some((4, threshold)); n];
    let gated = engine
        .decode_gated(
            engine.prefill(&prompts).unwrap(),
            &p,
            &seeds,
            None,
            Some(&gates),
        )
        .unwrap();
    let mut stopped = 0;
    for (i, ((_, f), (_, g))) in free.iter().zip(&gated).enumerate() {
        let mut window = GroupWindow::new(4);
        let cut = conf[i]
            .iter()
            .position(|&c| window.push(c).is_some_and(|m| m < threshold));
        match cut {
            Some(t) => {
                stopped += 1;
                assert_eq!(g.finish, FinishReason::LowConfidence, "sequence {i}");
                assert_eq!(g.tokens, f.tokens[..=t], "sequence {i}");
            }
            None => {
                assert_eq!((&g.tokens, g.finish), (&f.tokens, f.finish), "sequence {i}");
            }
        }
    }
    assert!(stopped > 0 && stopped < n, "{stopped} of {n} stopped");
}
