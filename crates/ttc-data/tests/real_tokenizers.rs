//! Qwen3's and Llama-3's real tokenizers (tests/fixtures/tokenizers, made by
//! make_tokenizer_fixtures.py with transformers): the chat prompt renders byte for byte as
//! `apply_chat_template`, prompts encode to the same ids, and the step layout puts every
//! step end on the token transformers' offsets give — though both tokenizers merge
//! `".\n\n"` into one token, which the old piece-by-piece layout got wrong.

use std::path::{Path, PathBuf};

use ttc_data::steps::{Encoded, layout};
use ttc_task::chat_template::{ChatOptions, ChatTemplate};
use ttc_task::tokenizer::{Tokenizer, encode_with_offsets};

fn dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/tokenizers/{family}"))
}

fn tokenizer(family: &str) -> Tokenizer {
    let z = std::fs::read(dir(family).join("tokenizer.json.zst")).unwrap();
    let bytes = zstd::decode_all(z.as_slice()).unwrap();
    Tokenizer::from_bytes(&bytes).unwrap()
}

fn expected(family: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir(family).join("expected.json")).unwrap())
        .unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn check(family: &str) {
    let tok = tokenizer(family);
    let exp = expected(family);
    let template = ChatTemplate::from_tokenizer_config(&dir(family).join("tokenizer_config.json"))
        .unwrap()
        .expect("a chat template");
    let enc = |s: &str| -> ttc_data::Result<Encoded> { Ok(encode_with_offsets(&tok, s).unwrap()) };
    let plain = |s: &str| tok.encode(s, false).unwrap().get_ids().to_vec();
    let (mut cases, mut piecewise_wrong) = (0, 0);
    for c in exp["cases"].as_array().unwrap() {
        let problem = c["problem"].as_str().unwrap();
        let options = ChatOptions {
            system: c["system"].as_str().map(str::to_string),
            ..Default::default()
        };
        let rendered = template.render(problem, &options).unwrap();
        assert_eq!(
            rendered,
            c["rendered"].as_str().unwrap(),
            "{family}: {problem}"
        );
        let prompt = plain(&rendered);
        assert_eq!(prompt, ids(&c["prompt_ids"]), "{family}: {problem}");
        // A format-string prompt gets the tokenizer's own special tokens (Llama-3's BOS).
        let fmt = c["format_prompt"].as_str().unwrap();
        let with_specials = tok.encode(fmt, true).unwrap().get_ids().to_vec();
        assert_eq!(
            with_specials,
            ids(&c["format_prompt_ids"]),
            "{family}: {fmt}"
        );
        let steps = strings(&c["steps"]);
        for (key, open) in [("closed", false), ("open", true)] {
            let l = layout(&enc, &prompt, &steps, open).unwrap();
            assert_eq!(l.tokens, ids(&c[key]["ids"]), "{family} {key}: {steps:?}");
            let want: Vec<usize> = ids(&c[key]["step_ends"])
                .iter()
                .map(|&x| x as usize)
                .collect();
            assert_eq!(l.step_ends, want, "{family} {key}: {steps:?}");
            // The old layout: each step encoded on its own, the delimiter after it.
            let mut t = prompt.clone();
            let mut ends = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                t.extend(plain(s));
                ends.push(t.len() - 1);
                if open || i + 1 < steps.len() {
                    t.extend(plain("\n\n"));
                }
            }
            if t != l.tokens || ends != l.step_ends {
                piecewise_wrong += 1;
            }
            cases += 1;
        }
    }
    assert!(cases >= 40, "{family}: {cases} cases");
    // The fixtures are meaningful: most solutions tokenize differently piece by piece.
    assert!(
        piecewise_wrong * 2 > cases,
        "{family}: piecewise wrong on {piecewise_wrong}/{cases}"
    );
}

#[test]
fn qwen3_chat_prompts_and_step_boundaries_match_transformers() {
    check("qwen3");
}

#[test]
fn llama3_chat_prompts_and_step_boundaries_match_transformers() {
    check("llama3");
}
