//! A user's own HF checkpoints on MATH-500 (`[problems]` + `[import]`, as in
//! pipelines/hf-math500.toml): the pipeline imports the policy and PRM, samples MATH-500
//! questions in the given prompt format, grades the answers, searches and reports; bad
//! checkpoints fail at import with a message naming the directory.

use std::path::Path;

mod common;
use common::{ok, repo, stderr, ttc};

/// A random HF checkpoint with a real BPE tokenizer and a 4096-position context.
fn checkpoint(dir: &Path, tok: &str, out: &str, score: bool) {
    let o = common::init_tiny(dir, tok, out, if score { &["--score-head"] } else { &[] });
    assert!(o.status.success(), "model init {out}: {}", stderr(&o));
    let cfg = dir.join(out).join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["max_position_embeddings"] = 4096.into();
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn preset(dir: &Path, policy: &str, prm: &str, prompt: &str) -> String {
    preset_with(dir, policy, prm, prompt, "")
}

fn preset_with(dir: &Path, policy: &str, prm: &str, prompt: &str, extra: &str) -> String {
    let math = repo().join("tests/fixtures/math500/test.jsonl");
    let text = format!(
        r#"name = "hf"
[problems]
test = "{}"
[import]
policy = "{policy}"
prm = "{prm}"
prompt = "{prompt}"
{extra}
[test_samples]
n = 4
max_new_tokens = 48
seed = 3
questions = 8
chunk = 4
[search]
max_new_tokens = 48
questions = 4
[[search.runs]]
strategy = "beam"
budgets = [4]
width = 2
"#,
        math.display()
    );
    let p = dir.join("hf.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn imported_checkpoints_run_the_pipeline_on_math500() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smoke = repo().join("pipelines/smoke.toml").display().to_string();
    ok(d, &["data", "gen", "--preset", &smoke]);
    ok(d, &["tokenizer", "train", "--preset", &smoke]);
    let tok = "checkpoints/smoke/tokenizer/tokenizer.json";
    checkpoint(d, tok, "user/policy", false);
    checkpoint(d, tok, "user/prm", true);
    // The exchange's larger policy, imported too (sharded, as large checkpoints are).
    ok(
        d,
        &[
            "model",
            "init",
            "--size",
            "default",
            "--tokenizer",
            tok,
            "--out",
            "user/large",
        ],
    );
    let cfg = d.join("user/large/config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["max_position_embeddings"] = 4096.into();
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let m = ttc_model::io::hf_io::load_checkpoint::<ttc_model::CpuBackend>(
        &d.join("user/large"),
        &Default::default(),
    )
    .unwrap();
    ttc_model::io::hf_io::save_checkpoint_sharded(&d.join("user/large"), &m, 60_000).unwrap();
    assert!(d.join("user/large/model.safetensors.index.json").exists());
    let chat = r"<|im_start|>user\n{problem}<|im_end|>\n<|im_start|>assistant\n";
    let p = preset_with(
        d,
        "user/policy",
        "user/prm",
        chat,
        "policy_large = \"user/large\"",
    );
    ok(d, &["pipeline", "run", &p]);
    let status = ok(d, &["pipeline", "status", &p]);
    assert!(status.contains("13 of 13 stages done"), "{status}");
    let large = d.join("checkpoints/hf/policy-large");
    assert!(large.join("model.safetensors.index.json").exists());
    assert!(large.join("pass_at_1_test.json").exists());
    assert!(d.join("reports/hf/exchange/exchange.parquet").exists());
    // The prompt format travels with the imported checkpoint.
    let saved = std::fs::read_to_string(d.join("checkpoints/hf/policy/prompt_template.txt"));
    assert_eq!(saved.unwrap(), chat.replace(r"\n", "\n"));
    let rows: Vec<ttc_data::rows::SampleRow> =
        ttc_core::table::read_parquet(&d.join("datasets/hf/samples-test/samples.parquet")).unwrap();
    assert_eq!(rows.len(), 32);
    assert_eq!(rows[0].question_id, "test/precalculus/807.json");
    assert!(
        d.join("reports/hf/search/beam-m2-n4-last/results.parquet")
            .exists()
    );
    assert!(d.join("reports/hf/report.html").exists());

    // A PRM imported as the policy, a policy as the PRM: refused, naming the directory.
    let swapped = preset(d, "user/prm", "user/policy", chat);
    std::fs::remove_dir_all(d.join("checkpoints/hf")).unwrap();
    let o = ttc(d, &["import", "policy", "--preset", &swapped]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("user/prm") && e.contains("not a language model"),
        "{e}"
    );
    let o = ttc(d, &["import", "prm", "--preset", &swapped]);
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains("user/policy")
            && e.contains("needs a one-label score head")
            && e.contains("prm_format"),
        "{e}"
    );
    // A tokenizer with more tokens than the model's vocabulary.
    ok(
        d,
        &[
            "model",
            "init",
            "--size",
            "tiny",
            "--vocab",
            "50",
            "--out",
            "user/small",
        ],
    );
    std::fs::copy(d.join(tok), d.join("user/small/tokenizer.json")).unwrap();
    let small = preset(d, "user/small", "user/prm", chat);
    let o = ttc(d, &["import", "policy", "--preset", &small]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("do not belong together"),
        "{e}"
    );
    // The shipped template preset plans (its model paths are placeholders).
    let shipped = repo()
        .join("pipelines/hf-math500.toml")
        .display()
        .to_string();
    let status = ok(d, &["pipeline", "status", &shipped]);
    assert!(
        status.contains("policy") && status.contains("missing"),
        "{status}"
    );
    // A prompt without its placeholder fails when the preset loads.
    let bad = preset(d, "user/policy", "user/prm", "no placeholder");
    let o = ttc(d, &["pipeline", "run", &bad]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("{problem}"), "{e}");
}

/// `[import] chat = { system = … }`: the policy's own chat template (tokenizer_config.json)
/// renders its prompts; the prompt travels with the checkpoint as chat_prompt.json; a
/// broken template or a preset giving both forms is refused, naming the file or key.
#[test]
fn chat_template_prompts_come_from_the_tokenizer_config() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smoke = repo().join("pipelines/smoke.toml").display().to_string();
    ok(d, &["data", "gen", "--preset", &smoke]);
    ok(d, &["tokenizer", "train", "--preset", &smoke]);
    let tok = "checkpoints/smoke/tokenizer/tokenizer.json";
    checkpoint(d, tok, "user/policy", false);
    let template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content.strip() }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    let cfg = serde_json::json!({"chat_template": template, "eos_token": "<|eos|>"});
    std::fs::write(d.join("user/policy/tokenizer_config.json"), cfg.to_string()).unwrap();
    let math = repo().join("tests/fixtures/math500/test.jsonl");
    let write = |name: &str, import_extra: &str| {
        let text = format!(
            "name = \"chat\"\n[problems]\ntest = \"{}\"\n[import]\npolicy = \"user/policy\"\n{import_extra}\n",
            math.display()
        );
        std::fs::write(d.join(name), text).unwrap();
        d.join(name).display().to_string()
    };
    let p = write("chat.toml", "chat = { system = \"Reason step by step.\" }");
    ok(d, &["import", "policy", "--preset", &p]);
    let dir = d.join("checkpoints/chat/policy");
    assert!(dir.join("chat_prompt.json").exists());
    assert!(!dir.join("prompt_template.txt").exists());
    let prompt = ttc_task::tokenizer::PromptTemplate::load(&dir).unwrap();
    assert_eq!(
        prompt.render(" What is 2 + 2? ").unwrap(),
        "<|system|>Reason step by step.\n<|user|>What is 2 + 2?\n<|assistant|>"
    );
    // Both forms at once: refused when the preset loads, naming the keys.
    let both = write("both.toml", "prompt = \"{problem}\"\nchat = {}");
    let o = ttc(d, &["import", "policy", "--preset", &both]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("both prompt and chat"),
        "{e}"
    );
    // A template that does not parse: refused at import, naming tokenizer_config.json.
    let cfg = serde_json::json!({"chat_template": "{% for m in messages %}"});
    std::fs::write(d.join("user/policy/tokenizer_config.json"), cfg.to_string()).unwrap();
    let o = ttc(d, &["import", "policy", "--preset", &p]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("tokenizer_config.json") && e.contains("chat template"),
        "{e}"
    );
}

/// A whole checkpoint as transformers 5 saves it (tests/fixtures/tf5_qwen3, made by
/// make_tf5_fixtures.py --qwen3: a tiny Qwen3 in bf16, its chat template in
/// chat_template.jinja, an EOS list in generation_config.json) imports and runs MATH-500
/// questions — test samples and a beam search verified by its own likelihood — with no edits
/// to its files; the imported prompt renders a problem exactly as transformers'
/// `apply_chat_template` does.
#[test]
fn a_transformers5_qwen3_checkpoint_runs_math500_as_saved() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let src = repo().join("tests/fixtures/tf5_qwen3");
    let read_all = || -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = read_all();
    let math = repo().join("tests/fixtures/math500/test.jsonl");
    let text = format!(
        r#"name = "qwen3"
[problems]
test = "{}"
[import]
policy = "{}"
chat = {{}}
[test_samples]
n = 4
max_new_tokens = 24
seed = 3
questions = 8
chunk = 4
[search]
max_new_tokens = 24
questions = 8
chunk = 4
[[search.runs]]
strategy = "beam"
budgets = [4]
width = 2
verifier = "likelihood"
"#,
        math.display(),
        src.display()
    );
    std::fs::write(d.join("q.toml"), text).unwrap();
    let p = d.join("q.toml").display().to_string();
    ok(d, &["pipeline", "run", &p]);
    let status = ok(d, &["pipeline", "status", &p]);
    assert!(
        !status.contains("missing") && !status.contains("stale"),
        "{status}"
    );
    let rows: Vec<ttc_data::rows::SampleRow> =
        ttc_core::table::read_parquet(&d.join("datasets/qwen3/samples-test/samples.parquet"))
            .unwrap();
    assert_eq!(rows.len(), 32);
    let search: Vec<ttc_data::rows::SearchRow> = ttc_core::table::read_parquet(
        &d.join("reports/qwen3/search/beam-m2-n4-last-likelihood/results.parquet"),
    )
    .unwrap();
    assert_eq!(search.len(), 8);
    // The chat rendering is transformers'.
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("expected.json")).unwrap()).unwrap();
    let prompt =
        ttc_task::tokenizer::PromptTemplate::load(&d.join("checkpoints/qwen3/policy")).unwrap();
    assert_eq!(
        prompt
            .render(expected["problem"].as_str().unwrap())
            .unwrap(),
        expected["rendered"].as_str().unwrap()
    );
    assert_eq!(
        read_all(),
        before,
        "the imported checkpoint's files were changed"
    );
}
