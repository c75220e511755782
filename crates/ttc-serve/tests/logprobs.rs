//! Log-probabilities out of the engine: asking for them changes no sampled token; each is
//! the raw distribution's (equal to a from-scratch forward of the same prefix); `ttc serve`
//! answers `logprobs` in vLLM's completions shape, and the openai backend reads them back
//! equal to the in-process engine's.

use serde_json::{Value, json};
use ttc_engine::Engine;
use ttc_model::decoder::Decoder;
use ttc_model::engine_spec::{EngineSpec, ServerKind};
use ttc_model::sampling::{SamplingParams, token_logprob};
use ttc_serve::{Background, Limits, Served};

mod common;

use common::{cfg, model, tokenizer};

fn prompts() -> Vec<Vec<u32>> {
    (0..4)
        .map(|i| (0..5 + i).map(|j| ((i * 7 + j * 3) % 60) as u32).collect())
        .collect()
}

#[test]
fn logprobs_are_the_raw_distributions_and_come_back_from_the_server_unchanged() {
    let c = cfg();
    let m = model(&c);
    let mut e = Engine::untokenized(m.as_ref());
    e.set_eos(Vec::new());
    let plain = SamplingParams::sampled(0.8, 0.9, 12);
    let asked = plain.clone().with_logprobs(3);
    let seeds = [1, 2, 3, 4];
    let run = |e: &Engine, p: &SamplingParams| {
        let seqs = e.prefill(&prompts()).unwrap();
        e.decode(seqs, p, &seeds).unwrap()
    };
    let without = run(&e, &plain);
    let with = run(&e, &asked);
    for ((_, a), (_, b)) in without.iter().zip(&with) {
        assert_eq!(a.tokens, b.tokens, "asking for logprobs changed the sample");
        assert!(a.logprobs.is_empty());
        assert_eq!(b.logprobs.len(), b.tokens.len());
    }
    // Each token's entry equals the distribution of a from-scratch prefill of its prefix
    // (temperature 1, unfiltered: not the 0.8 / top-p 0.9 it was sampled with).
    for (p, (_, g)) in prompts().iter().zip(&with) {
        for (i, lp) in g.logprobs.iter().enumerate() {
            let mut prefix = p.clone();
            prefix.extend(&g.tokens[..i]);
            let s = e.prefill(&[prefix]).unwrap().remove(0);
            let want = token_logprob(&s.logits, g.tokens[i], 3);
            assert_eq!(lp.token, g.tokens[i]);
            assert!(
                (lp.logprob - want.logprob).abs() < 1e-4,
                "{lp:?} vs {want:?}"
            );
            assert_eq!(lp.top.len(), 3);
            for (a, b) in lp.top.iter().zip(&want.top) {
                assert!(a.0 == b.0 && (a.1 - b.1).abs() < 1e-4, "{lp:?} vs {want:?}");
            }
            assert!(lp.top.windows(2).all(|w| w[0].1 >= w[1].1));
            assert!(lp.top[0].1 >= lp.logprob);
            let mass: f32 = lp.top.iter().map(|t| t.1.exp()).sum();
            assert!(mass <= 1.0 + 1e-5);
        }
    }
    // Through `ttc serve` and the openai backend: the same tokens, the same log-probs.
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
    let spec = EngineSpec {
        model: Some("m".into()),
        server: ServerKind::Ttc,
        ..EngineSpec::openai(&[&server.url()])
    };
    let remote = ttc_remote::RemoteModel::connect(c.clone(), tokenizer(), &spec, "m").unwrap();
    let mut er = Engine::untokenized(&remote as &dyn Decoder);
    er.set_eos(Vec::new());
    let served = run(&er, &asked);
    for ((_, a), (_, b)) in with.iter().zip(&served) {
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.logprobs, b.logprobs);
    }
    // The wire format is vLLM's: tokens by text unless asked as ids, the sampled token
    // added to `top_logprobs` when it is not among the top k, and more than the server's
    // maximum refused with a message naming the parameter.
    let url = format!("{}/v1/completions", server.url());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let post = |body: Value| {
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    let (status, v) = post(json!({"model": "m", "prompt": [1, 2, 3], "max_tokens": 6,
        "temperature": 1.0, "seed": 7, "logprobs": 1, "return_tokens_as_token_ids": true}));
    assert_eq!(status, 200, "{v}");
    let lp = &v["choices"][0]["logprobs"];
    let ids = v["choices"][0]["token_ids"].as_array().unwrap();
    assert_eq!(lp["token_logprobs"].as_array().unwrap().len(), ids.len());
    assert_eq!(lp["text_offset"].as_array().unwrap().len(), ids.len());
    for (t, id) in lp["top_logprobs"].as_array().unwrap().iter().zip(ids) {
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert!((1..=2).contains(&keys.len()), "{t}");
        assert!(
            keys.contains(&&format!("token_id:{id}")),
            "{t} lacks the sampled {id}"
        );
    }
    let (status, v) = post(json!({"model": "m", "prompt": [1, 2], "logprobs": 21}));
    assert_eq!(status, 400);
    assert!(v.to_string().contains("logprobs: 21"), "{v}");
}
