//! A user's own HF policy trains its PRM and revision model (pipelines/hf-math500.toml
//! with `[samples]`, `[labels]`, `[prm]`, `[revision_samples]` and `[revision]`). The policy
//! has a real BPE tokenizer (tests/fixtures/prm: no ttc special tokens), Qwen2.5's chat
//! template and its EOS in config.json; its weights are made by hand so that it answers
//! every question with the same two steps, "Ok." then "So $\boxed{2}$" (a bigram chain:
//! attention and MLP outputs zero, each chain token's embedding a basis vector the head
//! maps to the next token), so half the handmade questions are right. Samples and Monte
//! Carlo labels come from it in its chat format; the PRM starts from its backbone, trains
//! on its tokenization of the steps and keeps its prompt; the revision model trains on its
//! prompt with the attempts inside the user's turn.

use std::path::{Path, PathBuf};

use ttc_model::io::checkpoint_files::{read_checkpoint_weights, write_checkpoint_weights};
use ttc_model::io::weights::HostTensor;
use ttc_task::tokenizer::Tokenizer;

mod common;
use common::{ok, repo, stderr, ttc};

const ANSWER: &str = "Ok.\n\nSo $\\boxed{2}$";

/// The handmade policy in `out` (see the file's comment).
fn chain_policy(out: &Path) {
    let fx = repo().join("tests/fixtures/prm");
    std::fs::create_dir_all(out).unwrap();
    std::fs::copy(
        fx.join("qwen_prm/tokenizer_config.json"),
        out.join("tokenizer_config.json"),
    )
    .unwrap();
    // "\n\n" as one token, so no token repeats in the chain.
    let mut tj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("qwen_prm/tokenizer.json")).unwrap())
            .unwrap();
    let tok0 = Tokenizer::from_file(fx.join("qwen_prm/tokenizer.json")).unwrap();
    let nl2 = tok0.get_vocab_size(true) as u32;
    tj["added_tokens"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": nl2, "content": "\n\n", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": false
        }));
    std::fs::write(out.join("tokenizer.json"), tj.to_string()).unwrap();
    let tok = Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let vocab = nl2 as usize + 1;
    let eos = tok.token_to_id("<|im_end|>").unwrap();
    let mut chain = vec![tok.token_to_id("\u{10a}").unwrap()]; // the prompt's last token, "\n"
    chain.extend(tok.encode(ANSWER, false).unwrap().get_ids());
    chain.push(eos);
    let mut seen = std::collections::HashSet::new();
    assert!(
        chain[..chain.len() - 1].iter().all(|t| seen.insert(*t)),
        "{chain:?}"
    );
    let src = fx.join("rlhflow");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    cfg["vocab_size"] = vocab.into();
    cfg["eos_token_id"] = eos.into();
    cfg["bos_token_id"] = serde_json::Value::Null;
    std::fs::write(out.join("config.json"), cfg.to_string()).unwrap();
    let mut w = read_checkpoint_weights(&src).unwrap();
    let d = 64;
    for (name, t) in w.iter_mut() {
        if name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight") {
            t.data.iter_mut().for_each(|v| *v = 0.0);
        }
        if name == "model.norm.weight" {
            t.data.iter_mut().for_each(|v| *v = 1.0);
        }
    }
    let mut embed = w.remove("model.embed_tokens.weight").unwrap().data;
    embed.resize(vocab * d, 0.01);
    let mut head = vec![0.0f32; vocab * d];
    for (i, pair) in chain.windows(2).enumerate() {
        let (t, next) = (pair[0] as usize, pair[1] as usize);
        embed[t * d..(t + 1) * d]
            .iter_mut()
            .enumerate()
            .for_each(|(k, v)| *v = f32::from(k == i));
        head[next * d + i] = 3.0;
    }
    w.insert(
        "model.embed_tokens.weight".into(),
        HostTensor {
            shape: vec![vocab, d],
            data: embed,
        },
    );
    w.insert(
        "lm_head.weight".into(),
        HostTensor {
            shape: vec![vocab, d],
            data: head,
        },
    );
    write_checkpoint_weights(out, &w, u64::MAX).unwrap();
}

/// Four MATH-style questions, two of them answered 2.
fn problems(path: &Path) {
    let mut text = String::new();
    for (i, a) in ["2", "3", "2", "5"].iter().enumerate() {
        let row = serde_json::json!({
            "problem": format!("What is {} + {}?", i, 2 - i as i64 + a.parse::<i64>().unwrap() - 2),
            "solution": format!("Add.\n\nThe answer is $\\boxed{{{a}}}$."),
            "answer": a, "subject": "Algebra", "level": 1 + i % 3,
            "unique_id": format!("test/algebra/{i}.json"),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

const PRESET: &str = r#"name = "hft"
[problems]
test = "math.jsonl"
train = "math.jsonl"
[import]
policy = "user/policy"
chat = { system = "Please reason step by step." }
[samples]
n = 2
max_new_tokens = 24
seed = 11
questions = 4
chunk = 4
[labels]
rollouts_per_step = 2
max_new_tokens = 16
seed = 12
chunk = 4
[prm]
labels = "soft"
val_fraction = 0.25
[prm.train]
epochs = 2.0
batch_tokens = 1024
lr = 1e-3
warmup_steps = 1
eval_every = 5
checkpoint_every = 5
seed = 3
[test_samples]
n = 2
max_new_tokens = 24
seed = 13
questions = 4
chunk = 4
[search]
max_new_tokens = 24
questions = 2
[[search.runs]]
strategy = "beam"
budgets = [2]
width = 2
[revision_samples]
n = 4
temperature = 1.0
max_new_tokens = 24
seed = 21
questions = 4
chunk = 4
[revision]
max_attempts = 2
seed = 22
val_fraction = 0.25
max_position_embeddings = 512
[revision.train]
epochs = 1.0
batch_tokens = 1024
lr = 1e-3
warmup_steps = 1
eval_every = 5
checkpoint_every = 5
seed = 4
[revision.chains]
chains = 1
steps = 1
max_new_tokens = 24
seed = 23
questions = 2
chunk = 2
"#;

#[test]
fn an_imported_policy_trains_its_prm() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    chain_policy(&d.join("user/policy"));
    problems(&d.join("math.jsonl"));
    let p = d.join("hft.toml");
    std::fs::write(&p, PRESET).unwrap();
    let p = p.display().to_string();
    let o = ttc(d, &["pipeline", "run", &p]);
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    eprintln!("{log}");
    let status = ok(d, &["pipeline", "status", &p]);
    assert!(status.contains("16 of 16 stages done"), "{status}");
    // The revision model is prompted as the policy, attempts inside the user's turn.
    let rev = d.join("checkpoints/hft/revision");
    assert!(rev.join("chat_prompt.json").exists(), "{log}");
    let prm = d.join("checkpoints/hft/prm");
    // The PRM: the policy's backbone with a score head, in the policy's chat format.
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prm.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "LlamaForTokenClassification");
    let policy_prompt =
        std::fs::read_to_string(d.join("checkpoints/hft/policy/chat_prompt.json")).unwrap();
    let prm_prompt = std::fs::read_to_string(prm.join("chat_prompt.json")).unwrap();
    assert_eq!(policy_prompt, prm_prompt);
    assert!(prm_prompt.contains("<|im_start|>"), "{prm_prompt}");
    // Labels and PRM evaluation ran on the policy's steps.
    let labels: Vec<ttc_data::rows::LabelRow> =
        ttc_core::table::read_parquet(&d.join("datasets/hft/labels/labels.parquet")).unwrap();
    // Two steps per sample; the bigram policy is right exactly on the questions answered 2,
    // from the first step on.
    assert_eq!(labels.len(), 16);
    for l in &labels {
        let right = l.question_id.ends_with("/0.json") || l.question_id.ends_with("/2.json");
        assert_eq!(l.soft, if right { 1.0 } else { 0.0 }, "{l:?}");
    }
    assert!(!walk(d, "results.parquet").as_os_str().is_empty());
    // Exported, the PRM leaves with its tokenizer files and prompt as they are, and ttc's
    // own importer takes it back with the same scores (transformers' side: `python3
    // tests/fixtures/make_hf_fixtures.py --check-export DIR`).
    ok(
        d,
        &[
            "model",
            "export",
            "--checkpoint",
            "checkpoints/hft/prm",
            "--out",
            "user/exported-prm",
        ],
    );
    let exported = d.join("user/exported-prm");
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_prompt.json",
    ] {
        assert_eq!(
            std::fs::read(exported.join(f)).unwrap(),
            std::fs::read(prm.join(f)).unwrap(),
            "{f}"
        );
    }
    let back = d.join("back.toml");
    std::fs::write(
        &back,
        "name = \"back\"\n[problems]\ntest = \"math.jsonl\"\n[import]\npolicy = \"user/policy\"\nprm = \"user/exported-prm\"\n",
    )
    .unwrap();
    ok(
        d,
        &["import", "prm", "--preset", &back.display().to_string()],
    );
    // The same weights under the same config: the same scores.
    let back = d.join("checkpoints/back/prm");
    assert_eq!(
        read_checkpoint_weights(&prm).unwrap(),
        read_checkpoint_weights(&back).unwrap()
    );
    let config = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(
        config(&prm)["architectures"],
        config(&back)["architectures"]
    );
    // A PRM initialised from a checkpoint with another tokenizer is refused by name.
    let other = d.join("user/other");
    common::copy_dir(&repo().join("tests/fixtures/prm/math_shepherd"), &other);
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        PRESET.replace("[prm.train]", "init = \"user/other\"\n[prm.train]"),
    )
    .unwrap();
    let o = ttc(d, &["train", "prm", "--preset", &bad.display().to_string()]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("user/other") && e.contains("tokenizer"),
        "{e}"
    );
}

/// The first file named `name` under `dir`.
fn walk(dir: &Path, name: &str) -> PathBuf {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            let f = walk(&p, name);
            if !f.as_os_str().is_empty() {
                return f;
            }
        } else if p.file_name().is_some_and(|f| f == name) {
            return p;
        }
    }
    PathBuf::new()
}

/// The field's PRMs imported in their formats (`[import] prm_format`): each scores the
/// policy's samples and guides search; a PRM in the wrong format is refused at import.
#[test]
fn imported_prms_of_each_format_score_and_search() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    chain_policy(&d.join("user/policy"));
    problems(&d.join("math.jsonl"));
    let fx = repo().join("tests/fixtures/prm");
    let eval_only = |prm: &str, format: &str| {
        let text = PRESET
            .replace(
                "name = \"hft\"",
                &format!("name = \"{}\"", format.replace('.', "_")),
            )
            .replace(
                "[samples]",
                &format!(
                    "prm = \"{}\"\nprm_format = \"{format}\"\n[samples]",
                    fx.join(prm).display()
                ),
            );
        // No PRM training: drop [samples], [labels], [prm] and the revision sections.
        let keep: String = text
            .split("\n[")
            .filter(|s| {
                !["samples]", "labels]", "prm]", "prm.train]", "revision"]
                    .iter()
                    .any(|x| s.starts_with(x))
            })
            .collect::<Vec<_>>()
            .join("\n[");
        let p = d.join(format!("{format}.toml"));
        std::fs::write(&p, keep).unwrap();
        p.display().to_string()
    };
    for (prm, format) in [
        ("math_shepherd", "math-shepherd"),
        ("rlhflow", "rlhflow"),
        ("qwen_prm", "qwen2.5-math-prm"),
    ] {
        let p = eval_only(prm, format);
        let o = ttc(d, &["pipeline", "run", &p]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let name = format.replace('.', "_");
        let dir = d.join("checkpoints").join(&name).join("prm");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("prm_format.json")).unwrap()).unwrap();
        assert_eq!(saved["format"], format);
        let scored: Vec<ttc_data::rows::ScoredSample> = ttc_core::table::read_parquet(
            &d.join("reports").join(&name).join("prm/scores.parquet"),
        )
        .unwrap();
        assert_eq!(scored.len(), 8);
        assert!(
            scored.iter().all(|s| s.step_scores.len() == 2
                && s.step_scores.iter().all(|x| (0.0..=1.0).contains(x))),
            "{format}: {scored:?}"
        );
    }
    // A two-class head read as Math-Shepherd: refused at import, naming the directory.
    let p = eval_only("qwen_prm", "math-shepherd");
    let o = ttc(d, &["import", "prm", "--preset", &p, "--force"]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("qwen_prm") && e.contains("causal-LM head"),
        "{e}"
    );
}
