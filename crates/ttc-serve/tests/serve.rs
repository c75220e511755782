//! `ttc serve` on loopback: a bounded load test (every request answered or refused with
//! 429, none lost, answers equal to the in-process engine's for the same seeds), the
//! refusals (400 / 401 / 404), and `/pooling` against the in-process score head.

use std::sync::Arc;

use serde_json::{Value, json};
use ttc_engine::Engine;
use ttc_model::sampling::SamplingParams;
use ttc_serve::{Background, Limits, Served};

mod common;

use common::{cfg, model, tokenizer};

fn prompt(i: usize) -> Vec<u32> {
    (0..5 + i % 4)
        .map(|j| ((i * 7 + j * 3) % 60) as u32)
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn post(url: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let c = reqwest::Client::new();
    let mut r = c.post(url).json(body);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[test]
fn a_burst_is_answered_or_refused_and_batching_changes_no_result() {
    let c = cfg();
    let limits = Limits {
        queue: 2,
        max_active: 6,
        ..Limits::default()
    };
    let server = Background::start(
        vec![Served {
            names: vec!["m".into()],
            model: model(&c),
            tokenizer: tokenizer(),
        }],
        limits,
        None,
    )
    .unwrap();
    let url = format!("{}/v1/completions", server.url());
    let clients = 40;
    let answers: Vec<(usize, u16, Value)> = rt().block_on(async {
        let url = Arc::new(url);
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let body = json!({"model": "m", "prompt": prompt(i), "max_tokens": 12,
                        "temperature": 1.0, "seed": i, "n": 1 + i % 3});
                    let (s, v) = post(&url, &body, None).await;
                    (i, s, v)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(answers.len(), clients, "every request answered");
    let ok: Vec<_> = answers.iter().filter(|a| a.1 == 200).collect();
    let busy = answers.iter().filter(|a| a.1 == 429).count();
    assert_eq!(ok.len() + busy, clients, "only 200 or 429: {answers:?}");
    assert!(!ok.is_empty());
    // The same continuations in-process, one request at a time: identical.
    let local = model(&c);
    let tok = tokenizer();
    let engine = Engine::new(local.as_ref(), &tok).unwrap();
    for (i, _, v) in ok {
        let n = 1 + i % 3;
        let choices = v["choices"].as_array().unwrap();
        assert_eq!(choices.len(), n);
        let params = SamplingParams::sampled(1.0, 1.0, 12);
        for (j, ch) in choices.iter().enumerate() {
            let s = engine.prefill(&[prompt(*i)]).unwrap();
            let (_, g) = engine
                .decode(s, &params, &[*i as u64 + j as u64])
                .unwrap()
                .pop()
                .unwrap();
            let ids: Vec<u32> = serde_json::from_value(ch["token_ids"].clone()).unwrap();
            assert_eq!(ids, g.tokens, "request {i} choice {j}");
            assert_eq!(ch["finish_reason"], "length");
        }
        assert_eq!(v["usage"]["completion_tokens"], json!(12 * n));
    }
}

#[test]
fn bad_requests_get_a_status_and_a_message_naming_the_parameter() {
    let c = cfg();
    let prm = c.with_score_head();
    let limits = Limits {
        max_n: 4,
        max_tokens: 100,
        ..Limits::default()
    };
    let server = Background::start(
        vec![
            Served {
                names: vec!["m".into()],
                model: model(&c),
                tokenizer: tokenizer(),
            },
            Served {
                names: vec!["prm".into()],
                model: model(&prm),
                tokenizer: tokenizer(),
            },
        ],
        limits,
        Some("sekret".into()),
    )
    .unwrap();
    let base = server.url();
    let comp = format!("{base}/v1/completions");
    rt().block_on(async {
        let key = Some("sekret");
        let cases = [
            (json!({"model": "m", "prompt": [1, 2], "n": 9}), 400, "n: 9"),
            (
                json!({"model": "m", "prompt": [1, 2], "max_tokens": 101}),
                400,
                "max_tokens: 101",
            ),
            (
                json!({"model": "m", "prompt": [1, 2], "stream": true}),
                400,
                "stream",
            ),
            (
                json!({"model": "m", "prompt": [1, 2], "temprature": 0.5}),
                400,
                "unknown field `temprature`",
            ),
            (json!({"model": "m", "prompt": [1, 99]}), 400, "token id 99"),
            (
                json!({"model": "m", "prompt": vec![1; 20_000]}),
                400,
                "leave no room",
            ),
            (
                json!({"model": "x", "prompt": [1]}),
                404,
                "\"x\" is not served",
            ),
            (json!({"prompt": [1]}), 400, "several models"),
            (json!({"model": "prm", "prompt": [1]}), 400, "/pooling"),
        ];
        for (body, status, want) in cases {
            let (s, v) = post(&comp, &body, key).await;
            let msg = v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(s == status && msg.contains(want), "{body}: {s} {v}");
        }
        let (s, _) = post(&comp, &json!({"model": "m", "prompt": [1, 2]}), None).await;
        assert_eq!(s, 401);
        let (s, v) = post(
            &comp,
            &json!({"model": "m", "prompt": [1, 2], "max_tokens": 3}),
            key,
        )
        .await;
        assert_eq!(
            (s, v["choices"][0]["token_ids"].as_array().unwrap().len()),
            (200, 3)
        );
        let h = reqwest::get(format!("{base}/health")).await.unwrap();
        assert_eq!(h.status().as_u16(), 200);
    });
}

#[test]
fn pooling_returns_the_score_heads_outputs_at_every_token() {
    let prm = cfg().with_score_head();
    let server = Background::start(
        vec![Served {
            names: vec!["prm".into()],
            model: model(&prm),
            tokenizer: tokenizer(),
        }],
        Limits::default(),
        None,
    )
    .unwrap();
    let tokens = prompt(3);
    let (s, v) = rt().block_on(post(
        &format!("{}/pooling", server.url()),
        &json!({"model": "prm", "input": tokens}),
        None,
    ));
    assert_eq!(s, 200, "{v}");
    let got: Vec<Vec<f32>> = serde_json::from_value(v["data"][0]["data"].clone()).unwrap();
    let local = model(&prm);
    let mut caches = vec![local.new_cache()];
    let rows: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(pos, &token)| ttc_model::cpu::Row { seq: 0, token, pos })
        .collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let want = local.forward(&mut caches, &rows, &all).unwrap();
    assert_eq!(got.concat(), want);
}

#[test]
fn a_resent_prefix_comes_from_the_prefix_cache_with_the_same_answer() {
    let c = cfg();
    let server = Background::start(
        vec![Served {
            names: vec!["m".into()],
            model: model(&c),
            tokenizer: tokenizer(),
        }],
        Limits::default(),
        None,
    )
    .unwrap();
    let url = format!("{}/v1/completions", server.url());
    let ask = |prompt: Vec<u32>, seed: u64| {
        let body = json!({"prompt": prompt, "max_tokens": 6, "seed": seed});
        let (s, v) = rt().block_on(post(&url, &body, None));
        assert_eq!(s, 200, "{v}");
        let ids: Vec<u32> = serde_json::from_value(v["choices"][0]["token_ids"].clone()).unwrap();
        (
            ids,
            v["usage"]["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap(),
        )
    };
    let p = prompt(2);
    let (first, cached) = ask(p.clone(), 4);
    assert_eq!(cached, 0);
    let (again, cached) = ask(p.clone(), 4);
    assert_eq!((again.clone(), cached), (first.clone(), p.len() as u64));
    // The next step of that path: everything it holds is reused.
    let path: Vec<u32> = p.iter().chain(&first).copied().collect();
    let (next, cached) = ask(path.clone(), 5);
    assert_eq!(cached, path.len() as u64);
    // A server without the cache gives the same tokens.
    let plain = Background::start(
        vec![Served {
            names: vec!["m".into()],
            model: model(&c),
            tokenizer: tokenizer(),
        }],
        Limits {
            prefix_cache: 0,
            ..Limits::default()
        },
        None,
    )
    .unwrap();
    let body = json!({"prompt": path, "max_tokens": 6, "seed": 5});
    let (_, v) = rt().block_on(post(
        &format!("{}/v1/completions", plain.url()),
        &body,
        None,
    ));
    let ids: Vec<u32> = serde_json::from_value(v["choices"][0]["token_ids"].clone()).unwrap();
    assert_eq!(ids, next);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}
