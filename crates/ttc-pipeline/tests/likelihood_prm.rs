//! The likelihood PRM: what training reads (burn, `step_prefix_means`) is what scoring reads
//! (the CPU engine's likelihood scorer) on the same checkpoint, and fine-tuning on step
//! labels moves that reading toward them.

use std::path::Path;

use ttc_engine::load_cpu;
use ttc_jobs::likelihood_scorer::LikelihoodScorer;
use ttc_jobs::prm_format::{Calibration, PrmFormat};
use ttc_jobs::step_scorer::StepScorer;
use ttc_model::{CpuBackend, LlamaConfig};
use ttc_task::arith::{ArithConfig, Splits, generate};
use ttc_task::steps::split_steps;
use ttc_task::tokenizer::{
    EOS, PAD, PromptTemplate, Tokenizer, TokenizerConfig, corpus_text, train_tokenizer,
};
use ttc_train::likelihood_prm::step_prefix_means;
use ttc_train::loss::StepCalibration;
use ttc_train::prm::scored_layout;
use ttc_train::sft::{Init, SftConfig, SftRun, train_sft};
use ttc_train::sft_data::Example;

/// The tiny task, its tokenizer and a random tiny causal LM saved as an HF checkpoint.
fn tiny_checkpoint(dir: &Path) -> (Splits, Tokenizer) {
    let s = generate(&ArithConfig::tiny()).unwrap();
    let texts: Vec<String> = s.train.iter().map(corpus_text).collect();
    let tok = train_tokenizer(&TokenizerConfig::default(), texts.iter()).unwrap();
    let cfg = LlamaConfig::tiny(tok.get_vocab_size(true));
    let model = ttc_model::init_seeded::<CpuBackend>(&cfg, 7, &Default::default());
    ttc_model::io::hf_io::save_checkpoint(dir, &model).unwrap();
    tok.save(dir.join("tokenizer.json"), false).unwrap();
    (s, tok)
}

/// Each question with its own solution (label 1 at every step) and the next question's
/// (label 0): (problem, steps, example).
fn labelled(s: &Splits, tok: &Tokenizer, n: usize) -> Vec<(String, Vec<String>, Example)> {
    let id = |t: &str| tok.token_to_id(t).unwrap();
    let qs = &s.train[..n];
    let mut out = Vec::new();
    for (i, p) in qs.iter().enumerate() {
        for (sol, y) in [(&p.solution, 1.0), (&qs[(i + 1) % n].solution, 0.0)] {
            let steps = split_steps(sol);
            let prompt = PromptTemplate::default().encode(tok, &p.problem).unwrap();
            let l = scored_layout(tok, &prompt, &steps, id(EOS)).unwrap();
            let ex = Example {
                group: None,
                scores: l.step_ends.iter().map(|&e| (e, y)).collect(),
                tokens: l.tokens,
                prompt_len: l.prompt_len,
            };
            out.push((p.problem.clone(), steps, ex));
        }
    }
    out
}

#[test]
fn training_reads_each_step_as_the_likelihood_scorer_does() {
    let dir = tempfile::tempdir().unwrap();
    let (s, tok) = tiny_checkpoint(dir.path());
    let data = labelled(&s, &tok, 6);
    let exs: Vec<Example> = data.iter().map(|d| d.2.clone()).collect();
    let burn = ttc_model::io::hf_io::load_checkpoint::<CpuBackend>(dir.path(), &Default::default())
        .unwrap();
    // Small batches: several forwards, examples of different lengths padded together.
    let means = step_prefix_means(&burn, &exs, 120, tok.token_to_id(PAD).unwrap());
    let (cpu, ctok) = load_cpu(dir.path()).unwrap();
    let scorer = LikelihoodScorer::new(&cpu, &ctok, PromptTemplate::default()).unwrap();
    let items: Vec<(&str, &[String])> = data
        .iter()
        .map(|(p, st, _)| (p.as_str(), st.as_slice()))
        .collect();
    let scored: Vec<f32> = scorer
        .score(&items)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(scored.len(), means.len());
    assert!(scored.len() > data.len(), "several steps per solution");
    for (k, (g, (m, _))) in scored.iter().zip(&means).enumerate() {
        assert!(
            ((*g as f64).ln() - m).abs() < 1e-4,
            "step {k}: scorer log {} vs training {m}",
            (*g as f64).ln()
        );
    }
    // The PRM's step scorer reads a likelihood checkpoint through its calibration.
    let c = Calibration {
        slope: 3.0,
        intercept: 1.0,
    };
    PrmFormat::save_likelihood(dir.path(), c).unwrap();
    let prm = StepScorer::for_checkpoint(&cpu, &ctok, dir.path()).unwrap();
    let read: Vec<f32> = prm.score(&items).unwrap().into_iter().flatten().collect();
    for (r, g) in read.iter().zip(&scored) {
        assert!((r - c.apply(*g)).abs() < 1e-6);
    }
    assert!(prm.score_prompts(&items).is_err(), "questions only");
}

#[test]
fn fine_tuning_moves_the_reading_toward_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (s, tok) = tiny_checkpoint(dir.path());
    let data = labelled(&s, &tok, 8);
    let exs: Vec<Example> = data.iter().map(|d| d.2.clone()).collect();
    let pad = tok.token_to_id(PAD).unwrap();
    let cfg = SftConfig {
        epochs: 40.0,
        batch_tokens: 512,
        lr: 3e-3,
        min_lr_ratio: 1.0,
        warmup_steps: 1,
        weight_decay: 0.0,
        grad_clip: 1.0,
        eval_every: 1000,
        checkpoint_every: 1000,
        seed: 1,
        keep_best: false,
        patience: 0,
        dropout: 0.0,
        device: "cpu".into(),
    };
    let model_cfg = LlamaConfig::load(&dir.path().join("config.json")).unwrap();
    let out = dir.path().join("prm");
    let calibration = StepCalibration {
        slope: 1.0,
        intercept: 3.0,
    };
    let gap = |d: &Path| {
        let m =
            ttc_model::io::hf_io::load_checkpoint::<CpuBackend>(d, &Default::default()).unwrap();
        let means = step_prefix_means(&m, &exs, 512, pad);
        let avg = |y: f32| {
            let v: Vec<f64> = means.iter().filter(|p| p.1 == y).map(|p| p.0).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        avg(1.0) - avg(0.0)
    };
    let before = gap(dir.path());
    train_sft(
        SftRun {
            model_cfg: &model_cfg,
            init: Init::From(dir.path()),
            cfg: &cfg,
            train: &exs,
            val: &[],
            pad,
            run_hash: "h",
            out: &out,
            reading: Some(ttc_train::loss::StepReading::Likelihood(calibration)),
        },
        &mut |_| {},
    )
    .unwrap();
    let after = gap(&out);
    // Right solutions' prefixes gain likelihood over the wrong ones' (the model stays a
    // causal LM: the checkpoint loads as one).
    eprintln!("gap {before} -> {after}");
    assert!(after > before + 0.05, "gap {before} -> {after}");
    assert_eq!(
        LlamaConfig::load(&out.join("config.json")).unwrap().head(),
        ttc_model::config::Head::CausalLm
    );
}
