//! The remote backend against a scripted server (raw HTTP on loopback): malformed,
//! truncated, slow, 429 and 500 answers are each a retry or a clear error naming the URL —
//! never a panic, never a silently short result.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ttc_model::LlamaConfig;
use ttc_model::engine_spec::EngineSpec;
use ttc_model::generation::FinishReason;
use ttc_model::remote::{CompletionRequest, RemoteGenerate};
use ttc_model::sampling::SamplingParams;
use ttc_remote::RemoteModel;

#[derive(Clone)]
enum Act {
    Ok,
    Status(u16),
    Malformed,
    Truncated,
    Slow(u64),
}

const OK_BODY: &str = r#"{"id":"c","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":"ab","finish_reason":"length","token_ids":[5,6]}],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}"#;
const MODELS: &str = r#"{"object":"list","data":[{"id":"m","object":"model","owned_by":"vllm"}]}"#;

fn reply(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A server answering `/v1/models` always and each completion with the next scripted act
/// (`Ok` once the script is spent). Returns its URL.
fn scripted(script: Vec<Act>) -> String {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", std_listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            std_listener.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let script = script.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read headers and the body (Content-Length).
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(h) = text.find("\r\n\r\n") {
                            let len = text[..h]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if buf.len() >= h + 4 + len {
                                break;
                            }
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let out = if head.starts_with("GET /v1/models") {
                        reply(200, MODELS)
                    } else {
                        let act = script.lock().unwrap().pop_front().unwrap_or(Act::Ok);
                        match act {
                            Act::Ok => reply(200, OK_BODY),
                            Act::Status(c) => {
                                reply(c, r#"{"error":{"message":"scripted","type":"x","code":0}}"#)
                            }
                            Act::Malformed => reply(200, "<html>not json</html>"),
                            Act::Truncated => {
                                let full = reply(200, OK_BODY);
                                full[..full.len() - 40].to_string()
                            }
                            Act::Slow(ms) => {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                reply(200, OK_BODY)
                            }
                        }
                    };
                    let _ = s.write_all(out.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
    });
    url
}

fn client(urls: &[&str], retries: u32) -> ttc_model::Result<RemoteModel> {
    let spec = EngineSpec {
        model: Some("m".into()),
        timeout_s: Some(1),
        retries: Some(retries),
        ..EngineSpec::openai(urls)
    };
    let tok = tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default());
    RemoteModel::connect(LlamaConfig::named("tiny", 320).unwrap(), tok, &spec, "m")
}

fn complete(m: &RemoteModel) -> ttc_model::Result<Vec<u32>> {
    let params = SamplingParams::sampled(1.0, 1.0, 8);
    let req = CompletionRequest {
        tokens: &[1, 2],
        params: &params,
        seed: 3,
        max_tokens: 8,
    };
    let mut out = m.complete(&[req])?;
    let c = out.pop().unwrap();
    assert_eq!(c.finish, FinishReason::Length);
    Ok(c.tokens)
}

#[test]
fn busy_failing_truncated_and_slow_answers_are_retried() {
    for script in [
        vec![Act::Status(429), Act::Status(429), Act::Ok],
        vec![Act::Status(500), Act::Status(503)],
        vec![Act::Truncated],
        vec![Act::Slow(2500)],
    ] {
        let url = scripted(script);
        let m = client(&[&url], 3).unwrap();
        assert_eq!(complete(&m).unwrap(), vec![5, 6]);
        assert!(!m.summary().contains("(0 retries)"), "{}", m.summary());
    }
}

#[test]
fn malformed_and_refused_answers_are_clear_errors() {
    let cases = [
        (vec![Act::Malformed], "not the JSON asked for"),
        (vec![Act::Status(400)], "400"),
        (vec![Act::Status(500); 10], "gave up after 3 attempts"),
    ];
    for (script, want) in cases {
        let url = scripted(script);
        let m = client(&[&url], 2).unwrap();
        let e = complete(&m).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(&url), "{want}: {e}");
    }
}

#[test]
fn a_dead_server_is_skipped_and_all_dead_is_an_error_naming_them() {
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let live = scripted(vec![]);
    let m = client(&[&dead, &live], 3).unwrap();
    for _ in 0..5 {
        assert_eq!(complete(&m).unwrap(), vec![5, 6]);
    }
    let e = client(&[&dead], 3).err().expect("no server").to_string();
    assert!(e.contains(&dead) && e.contains("no server answers"), "{e}");
}

#[test]
fn a_missing_api_key_variable_is_named_and_the_key_never_shows() {
    let url = scripted(vec![]);
    let spec = EngineSpec {
        model: Some("m".into()),
        api_key_env: Some("TTC_TEST_KEY_THAT_IS_NOT_SET".into()),
        ..EngineSpec::openai(&[&url])
    };
    let tok = tokenizers::Tokenizer::new(tokenizers::models::bpe::BPE::default());
    let cfg = LlamaConfig::named("tiny", 320).unwrap();
    let e = RemoteModel::connect(cfg, tok, &spec, "m")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("api_key_env") && e.contains("TTC_TEST_KEY_THAT_IS_NOT_SET"),
        "{e}"
    );
    // The key is sent as a bearer token but is not part of the spec's serialized form.
    let json = serde_json::to_string(&spec).unwrap();
    assert!(
        !json.contains("TTC_TEST_KEY") && !json.contains(&url),
        "{json}"
    );
}
