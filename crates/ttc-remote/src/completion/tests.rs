//! Each server kind's answer read back to the same completion (handmade answers).

use super::*;
use crate::protocol::{Choice, CompletionResponse};
use ttc_model::sampling::SamplingParams;

const EOS: u32 = 9;

/// A toy tokenizer: one id per character 'a'..'h' (0..7), '\n' = 8.
fn encode(t: &str) -> Result<Vec<u32>, String> {
    t.chars()
        .map(|c| match c {
            'a'..='h' => Ok(c as u32 - 'a' as u32),
            '\n' => Ok(8),
            _ => Err(format!("no token for {c:?}")),
        })
        .collect()
}

fn resp(
    text: &str,
    finish: Option<&str>,
    stop_reason: Option<Value>,
    ids: Option<Vec<u32>>,
) -> CompletionResponse {
    CompletionResponse {
        id: "x".into(),
        object: "text_completion".into(),
        created: 0,
        model: "m".into(),
        choices: vec![Choice {
            index: 0,
            text: text.into(),
            finish_reason: finish.map(Into::into),
            stop_reason,
            token_ids: ids,
            logprobs: None,
        }],
        usage: None,
    }
}

fn read_as(kind: ServerKind, r: &CompletionResponse) -> Result<Completion, String> {
    let params = SamplingParams::sampled(1.0, 1.0, 10).with_stop(&["\n\n"]);
    let req = CompletionRequest {
        tokens: &[0, 1],
        params: &params,
        seed: 1,
        max_tokens: 10,
    };
    let info = TokenInfo {
        eos: &[EOS],
        encode: &encode,
    };
    read(kind, r, &req, &info, "http://h:1")
}

fn stop_at_ab() -> Completion {
    Completion {
        tokens: vec![0, 1, 8, 8],
        finish: FinishReason::Stop,
        logprobs: Vec::new(),
    }
}

#[test]
fn a_step_reads_the_same_from_every_server_kind() {
    // vLLM / ttc serve: token ids back, stop string kept and named.
    let v = resp(
        "ab\n\n",
        Some("stop"),
        Some(json!("\n\n")),
        Some(vec![0, 1, 8, 8]),
    );
    assert_eq!(read_as(ServerKind::Vllm, &v).unwrap(), stop_at_ab());
    // SGLang / transformers serve: text only, stop string kept.
    let s = resp("ab\n\n", Some("stop"), None, None);
    assert_eq!(read_as(ServerKind::Sglang, &s).unwrap(), stop_at_ab());
    assert_eq!(read_as(ServerKind::Transformers, &s).unwrap(), stop_at_ab());
    // OpenAI-style: the stop string stripped, nothing says which: put back.
    let o = resp("ab", Some("stop"), None, None);
    assert_eq!(read_as(ServerKind::Openai, &o).unwrap(), stop_at_ab());
    // vLLM without include_stop_str_in_output honoured: stop_reason names it.
    let v2 = resp("ab", Some("stop"), Some(json!("\n\n")), None);
    assert_eq!(read_as(ServerKind::Vllm, &v2).unwrap(), stop_at_ab());
}

#[test]
fn end_of_sequence_and_length_are_told_apart() {
    let eos_ids = resp("ab", Some("stop"), None, Some(vec![0, 1, EOS]));
    let c = read_as(ServerKind::Vllm, &eos_ids).unwrap();
    assert_eq!((c.tokens, c.finish), (vec![0, 1, EOS], FinishReason::Eos));
    // Text only: "stop" without the stop string is an end of sequence, booked as EOS.
    let t = resp("ab", Some("stop"), None, None);
    let c = read_as(ServerKind::Transformers, &t).unwrap();
    assert_eq!((c.tokens, c.finish), (vec![0, 1, EOS], FinishReason::Eos));
    // OpenAI-style: an empty completion is an end of sequence.
    let e = resp("", Some("stop"), None, None);
    let c = read_as(ServerKind::Openai, &e).unwrap();
    assert_eq!((c.tokens, c.finish), (vec![EOS], FinishReason::Eos));
    let l = resp("abc", Some("length"), None, None);
    let c = read_as(ServerKind::Openai, &l).unwrap();
    assert_eq!((c.tokens, c.finish), (vec![0, 1, 2], FinishReason::Length));
}

#[test]
fn garbage_answers_are_errors_naming_the_server() {
    let cases = [
        (resp("ab", None, None, None), "without finish_reason"),
        (
            resp("ab", Some("abort"), None, None),
            "finish_reason \"abort\"",
        ),
        (resp("", Some("length"), None, Some(vec![])), "no token"),
        (
            resp("x", Some("length"), None, Some(vec![1; 11])),
            "11 tokens generated where max_tokens is 10",
        ),
        (resp("zz", Some("length"), None, None), "no token for 'z'"),
    ];
    for (r, want) in cases {
        let e = read_as(ServerKind::Vllm, &r).unwrap_err();
        assert!(e.contains(want) && e.contains("http://h:1"), "{want}: {e}");
    }
    let mut none = resp("", Some("stop"), None, None);
    none.choices.clear();
    let e = read_as(ServerKind::Vllm, &none).unwrap_err();
    assert!(e.contains("no choices"), "{e}");
}

#[test]
fn request_bodies_ask_each_kind_for_what_it_understands() {
    let params = SamplingParams::sampled(0.7, 0.9, 10).with_stop(&["\n\n"]);
    let req = CompletionRequest {
        tokens: &[3, 4],
        params: &params,
        seed: 42,
        max_tokens: 5,
    };
    let v = body(ServerKind::Vllm, "m", &req, None, &[9]);
    assert_eq!(v["prompt"], json!([3, 4]));
    assert_eq!(v["include_stop_str_in_output"], json!(true));
    assert_eq!(v["return_token_ids"], json!(true));
    assert_eq!(
        (v["seed"].clone(), v["n"].clone(), v["max_tokens"].clone()),
        (json!(42), json!(1), json!(5))
    );
    let s = body(ServerKind::Sglang, "m", &req, None, &[9]);
    assert_eq!(s["no_stop_trim"], json!(true));
    let t = body(ServerKind::Transformers, "m", &req, Some("de"), &[9]);
    let g: Value = serde_json::from_str(t["generation_config"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            g["do_sample"].clone(),
            g["top_k"].clone(),
            g["eos_token_id"].clone()
        ),
        (json!(true), json!(0), json!([9]))
    );
    assert_eq!(t["prompt"], json!("de"));
    assert!(t.get("include_stop_str_in_output").is_none());
    assert_eq!(t["stop"], json!(["\n\n"]));
    assert!(takes_token_ids(ServerKind::Ttc) && !takes_token_ids(ServerKind::Openai));
    assert_eq!(detect("vllm"), ServerKind::Vllm);
    assert_eq!(detect("local"), ServerKind::Transformers);
    assert_eq!(detect("ttc"), ServerKind::Ttc);
    assert_eq!(detect("organization-owner"), ServerKind::Openai);
}

#[test]
fn logprobs_read_vllm_shape_and_refuse_what_cannot_be_aligned() {
    // vLLM with return_tokens_as_token_ids, logprobs = 1: the sampled token is added to the
    // top list when it is not the most likely; the reader keeps the top 1.
    let v = json!({
        "tokens": ["token_id:3", "token_id:9"],
        "token_logprobs": [-1.5, -0.25],
        "top_logprobs": [
            {"token_id:5": -0.5, "token_id:3": -1.5},
            {"token_id:9": -0.25}
        ],
        "text_offset": [0, 1]
    });
    let lp = read_logprobs(&v, &[3, 9], 1).unwrap();
    assert_eq!(lp[0].token, 3);
    assert_eq!(lp[0].logprob, -1.5);
    assert_eq!(lp[0].top, vec![(5, -0.5)]);
    assert_eq!(lp[1].top, vec![(9, -0.25)]);
    // Keys by text (the server ignored return_tokens_as_token_ids): a named error.
    let by_text = json!({"token_logprobs": [-1.0], "top_logprobs": [{"d": -1.0}]});
    let e = read_logprobs(&by_text, &[3], 1).unwrap_err();
    assert!(e.contains("token_id:N"), "{e}");
    // Fewer entries than tokens.
    let e = read_logprobs(&v, &[3, 9, 1], 1).unwrap_err();
    assert!(e.contains("for 3 tokens"), "{e}");
    // Asked for, but the choice carries none: the URL is named.
    let params = SamplingParams::sampled(1.0, 1.0, 10).with_logprobs(1);
    let req = CompletionRequest {
        tokens: &[0, 1],
        params: &params,
        seed: 1,
        max_tokens: 10,
    };
    let tok = TokenInfo {
        eos: &[EOS],
        encode: &encode,
    };
    let r = resp("dd", Some("length"), None, Some(vec![3, 3]));
    let e = read(ServerKind::Vllm, &r, &req, &tok, "http://h:8000/v1").unwrap_err();
    assert!(
        e.contains("http://h:8000/v1") && e.contains("logprobs"),
        "{e}"
    );
}
