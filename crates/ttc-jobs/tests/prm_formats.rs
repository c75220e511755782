//! The field's PRM formats against their model cards' reference implementations
//! (tests/fixtures/prm, made by tests/fixtures/make_prm_fixtures.py with transformers):
//! tiny random Math-Shepherd (Mistral), RLHFlow (Llama, chat turns) and Qwen2.5-Math-PRM
//! (Qwen2 + two-layer two-class head) models. The token ids must equal the reference's and
//! every step score must match to 1e-4, through the batch scorer and through the search
//! verifier (which scores a path step by step, reusing its parent's cache).

use std::path::{Path, PathBuf};

use ttc_engine::Engine;
use ttc_jobs::prm_format::{PrmFormat, QWEN_PRM_SYSTEM};
use ttc_jobs::search_adapters::PrmVerifier;
use ttc_jobs::step_scorer::StepScorer;
use ttc_model::cpu::CpuModel;
use ttc_search::tree::NodeId;
use ttc_search::{ScoreRequest, Verifier};
use ttc_task::chat_template::ChatOptions;
use ttc_task::tokenizer::{PromptTemplate, Tokenizer};

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/prm")
        .join(name)
}

fn load(d: &Path) -> (CpuModel, Tokenizer) {
    let cfg = ttc_model::LlamaConfig::load(&d.join("config.json")).unwrap();
    let w = ttc_model::io::checkpoint_files::read_checkpoint_weights(d).unwrap();
    let model = CpuModel::from_weights_owned(&cfg, w).unwrap();
    let tok = Tokenizer::from_file(d.join("tokenizer.json")).unwrap();
    (model, tok)
}

struct Case {
    question: String,
    steps: Vec<String>,
    input_ids: Vec<u32>,
    scores: Vec<f32>,
}

fn cases(d: &Path) -> Vec<Case> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("expected.json")).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            question: c["question"].as_str().unwrap().into(),
            steps: serde_json::from_value(c["steps"].clone()).unwrap(),
            input_ids: serde_json::from_value(c["input_ids"].clone()).unwrap(),
            scores: serde_json::from_value(c["scores"].clone()).unwrap(),
        })
        .collect()
}

fn prompt(format: PrmFormat, d: &Path) -> PromptTemplate {
    match format {
        PrmFormat::MathShepherd => format.default_prompt().unwrap(),
        PrmFormat::Rlhflow => PromptTemplate::chat(d, ChatOptions::default()).unwrap(),
        PrmFormat::QwenMathPrm => PromptTemplate::chat(
            d,
            ChatOptions {
                system: Some(QWEN_PRM_SYSTEM.into()),
                ..Default::default()
            },
        )
        .unwrap(),
        PrmFormat::Ttc | PrmFormat::Likelihood => unreachable!(),
    }
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: step count");
    let err = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, f32::max);
    assert!(err <= 1e-4, "{what}: {got:?} vs reference {want:?}");
    eprintln!("{what}: max abs error vs reference {err:e}");
}

fn check(name: &str, format: PrmFormat) {
    let d = dir(name);
    let (model, tok) = load(&d);
    let cs = cases(&d);
    let scorer = StepScorer::with_format(&model, &tok, prompt(format, &d), format).unwrap();
    // The batch scorer: the same tokens as the reference, the same scores.
    for c in &cs {
        let l = scorer.layout(&c.question, &c.steps).unwrap();
        assert_eq!(l.tokens, c.input_ids, "{name}: tokens of {:?}", c.question);
    }
    let items: Vec<(&str, &[String])> = cs
        .iter()
        .map(|c| (c.question.as_str(), c.steps.as_slice()))
        .collect();
    let got = scorer.score(&items).unwrap();
    for (g, c) in got.iter().zip(&cs) {
        close(g, &c.scores, name);
    }
    // The search verifier: each path scored one step at a time from its parent's cache.
    let engine = Engine::new(&model, &tok)
        .unwrap()
        .with_prompt(prompt(format, &d));
    let problems: Vec<String> = cs.iter().map(|c| c.question.clone()).collect();
    let mut v = PrmVerifier::with_format(engine, problems, format).unwrap();
    let mut node = 0;
    for (q, c) in cs.iter().enumerate() {
        let mut scores = Vec::new();
        let mut parent: Option<NodeId> = None;
        for k in 0..c.steps.len() {
            node += 1;
            let req = ScoreRequest {
                question: q,
                node,
                parent,
                steps: &c.steps[..=k],
                new_from: k,
            };
            let s = v.score(&[req]).unwrap().remove(0);
            assert!(s.computed_tokens > 0);
            scores.extend(s.scores);
            parent = Some(node);
        }
        close(&scores, &c.scores, &format!("{name} verifier"));
    }
}

#[test]
fn math_shepherd_matches_its_model_card() {
    check("math_shepherd", PrmFormat::MathShepherd);
}

#[test]
fn rlhflow_matches_its_reference() {
    check("rlhflow", PrmFormat::Rlhflow);
}

#[test]
fn qwen_math_prm_matches_its_model_card() {
    check("qwen_prm", PrmFormat::QwenMathPrm);
}

#[test]
fn a_model_that_does_not_fit_the_format_is_refused() {
    let d = dir("qwen_prm");
    let (model, tok) = load(&d);
    let e = StepScorer::with_format(
        &model,
        &tok,
        PromptTemplate::default(),
        PrmFormat::MathShepherd,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("causal-LM head") && e.contains("2 outputs"),
        "{e}"
    );
    let d = dir("rlhflow");
    let (model, tok) = load(&d);
    let e = StepScorer::new(&model, &tok).err().unwrap().to_string();
    assert!(e.contains("one-label score head"), "{e}");
    // RLHFlow renders the chat template; a format-string prompt is refused.
    let e = StepScorer::with_format(&model, &tok, PromptTemplate::default(), PrmFormat::Rlhflow)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("chat template"), "{e}");
    assert_eq!(
        PrmFormat::parse("qwen2.5-math-prm").unwrap(),
        PrmFormat::QwenMathPrm
    );
    let e = PrmFormat::parse("shepherd").unwrap_err().to_string();
    assert!(e.contains("math-shepherd"), "{e}");
}

/// The same formats on the burn backend (flex here; burn-cuda on a GPU): the scores of the
/// model cards, through the batch scorer and the search verifier (whose device cache
/// cannot be cut short, so a path whose tokens change recomputes from its prompt).
#[test]
fn the_formats_read_the_same_on_the_burn_backend() {
    let spec = ttc_model::engine_spec::EngineSpec::burn("cpu");
    for (name, format) in [
        ("math_shepherd", PrmFormat::MathShepherd),
        ("rlhflow", PrmFormat::Rlhflow),
        ("qwen_prm", PrmFormat::QwenMathPrm),
    ] {
        let d = dir(name);
        let model = ttc_model::engine_spec::load_decoder(&d, &spec).unwrap();
        let tok = Tokenizer::from_file(d.join("tokenizer.json")).unwrap();
        let cs = cases(&d);
        let scorer =
            StepScorer::with_format(model.as_ref(), &tok, prompt(format, &d), format).unwrap();
        let items: Vec<(&str, &[String])> = cs
            .iter()
            .map(|c| (c.question.as_str(), c.steps.as_slice()))
            .collect();
        for (g, c) in scorer.score(&items).unwrap().iter().zip(&cs) {
            close(g, &c.scores, &format!("{name} on burn"));
        }
        let engine = Engine::new(model.as_ref(), &tok)
            .unwrap()
            .with_prompt(prompt(format, &d));
        let problems: Vec<String> = cs.iter().map(|c| c.question.clone()).collect();
        let mut v = PrmVerifier::with_format(engine, problems, format).unwrap();
        let c = &cs[1];
        let mut scores = Vec::new();
        for k in 0..c.steps.len() {
            let req = ScoreRequest {
                question: 1,
                node: k + 1,
                parent: (k > 0).then_some(k),
                steps: &c.steps[..=k],
                new_from: k,
            };
            scores.extend(v.score(&[req]).unwrap().remove(0).scores);
        }
        close(&scores, &c.scores, &format!("{name} verifier on burn"));
    }
}

/// `prm_format.json` of a likelihood PRM keeps its calibration; a calibration without that
/// format, or that format without one, is an error naming the file.
#[test]
fn a_likelihood_prm_format_file_carries_its_calibration() {
    use ttc_jobs::prm_format::{Calibration, FORMAT_FILE};
    let d = tempfile::tempdir().unwrap();
    let c = Calibration {
        slope: 5.5,
        intercept: -0.25,
    };
    PrmFormat::save_likelihood(d.path(), c).unwrap();
    assert_eq!(
        PrmFormat::load_file(d.path()).unwrap(),
        (PrmFormat::Likelihood, Some(c))
    );
    assert!((c.apply(1.0) - 1.0 / (1.0 + 0.25f32.exp())).abs() < 1e-6);
    assert!(PrmFormat::Likelihood.save(d.path()).is_err());
    let path = d.path().join(FORMAT_FILE);
    for bad in [
        r#"{"format": "likelihood"}"#,
        r#"{"format": "ttc", "calibration": {"slope": 1.0, "intercept": 0.0}}"#,
        r#"{"format": "likelihood", "calibration": {"slope": 1.0}}"#,
    ] {
        std::fs::write(&path, bad).unwrap();
        let e = PrmFormat::load_file(d.path()).unwrap_err().to_string();
        assert!(e.contains(FORMAT_FILE), "{bad}: {e}");
    }
    // ttc's own format writes no file.
    PrmFormat::Ttc.save(d.path()).unwrap();
    assert!(!path.exists());
}
