//! The HTTP side of `ttc serve`: `/v1/completions`, `/pooling`, `/v1/models`, `/health`.
//! Bodies are parsed here (not by an extractor) so every refusal is an OpenAI-style error
//! JSON with a message: 400 for a bad parameter (naming it), 401 without the API key, 404
//! for an unknown model, 429 when the queue is full, 500 when the engine fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokenizers::Tokenizer;
use tokio::sync::oneshot;
use ttc_engine::{FinishReason, Generation};
use ttc_model::sampling::SamplingParams;
use ttc_remote::protocol::{
    Choice, CompletionBody, CompletionResponse, ErrorBody, ErrorDetail, ModelCard, ModelList,
    PoolingBody, PoolingItem, PoolingResponse, Prompt, PromptDetails, Usage,
};

use crate::limits::Limits;
use crate::worker::{CompleteJob, Job, PoolJob};

/// One served model.
pub struct Entry {
    /// Names it answers to (the first is listed).
    pub names: Vec<String>,
    pub jobs: SyncSender<Job>,
    pub tokenizer: Tokenizer,
    pub max_positions: usize,
    pub vocab_size: usize,
    pub causal_lm: bool,
}

pub struct AppState {
    pub models: Vec<Entry>,
    pub limits: Limits,
    pub api_key: Option<String>,
    pub next_id: AtomicU64,
}

pub type Shared = Arc<AppState>;

/// A refused or failed request, answered as an OpenAI-style error.
pub struct Refusal {
    code: StatusCode,
    message: String,
}

fn error(code: StatusCode, msg: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: msg.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        respond(self.code, self.message)
    }
}

fn respond(code: StatusCode, msg: String) -> Response {
    let kind = match code.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    let body = ErrorBody {
        error: ErrorDetail {
            message: msg,
            kind: kind.into(),
            code: code.as_u16(),
        },
    };
    (code, Json(body)).into_response()
}

fn authorized(st: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(key) = &st.api_key else {
        return Ok(());
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(key.as_str()) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (Authorization: Bearer …)",
        ))
    }
}

fn find<'a>(st: &'a AppState, name: &Option<String>) -> Result<&'a Entry, Refusal> {
    match name {
        None if st.models.len() == 1 => Ok(&st.models[0]),
        None => Err(error(
            StatusCode::BAD_REQUEST,
            "model: this server has several models; name one",
        )),
        Some(n) => st
            .models
            .iter()
            .find(|m| m.names.contains(n))
            .ok_or_else(|| {
                let have: Vec<&str> = st.models.iter().map(|m| m.names[0].as_str()).collect();
                error(
                    StatusCode::NOT_FOUND,
                    format!("model {n:?} is not served here (serving {have:?})"),
                )
            }),
    }
}

pub async fn health() -> &'static str {
    "ok"
}

pub async fn models(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r.into_response();
    }
    // Every name a model answers to, each a card with the model's own (first) name as its
    // root, as vLLM lists `--served-model-name a b`.
    let data = st
        .models
        .iter()
        .flat_map(|m| {
            m.names.iter().map(|n| ModelCard {
                id: n.clone(),
                object: "model".into(),
                owned_by: "ttc".into(),
                max_model_len: Some(m.max_positions),
                root: Some(m.names[0].clone()),
            })
        })
        .collect();
    Json(ModelList {
        object: "list".into(),
        data,
    })
    .into_response()
}

/// Prompts as token ids (text is encoded without special tokens, as the engine does).
fn prompts(p: &Prompt, m: &Entry, max: usize) -> Result<Vec<Vec<u32>>, String> {
    let tok = &m.tokenizer;
    let enc = |t: &str| {
        tok.encode(t, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| format!("prompt: {e}"))
    };
    let out = match p {
        Prompt::Ids(ids) => vec![ids.clone()],
        Prompt::IdBatch(b) => b.clone(),
        Prompt::Text(t) => vec![enc(t)?],
        Prompt::TextBatch(b) => b.iter().map(|t| enc(t)).collect::<Result<_, _>>()?,
    };
    if out.is_empty() {
        return Err("prompt: empty batch".into());
    }
    let vocab = m.vocab_size as u32;
    for (i, ids) in out.iter().enumerate() {
        if ids.is_empty() {
            return Err(format!("prompt {i}: no tokens"));
        }
        if let Some(t) = ids.iter().find(|&&t| t >= vocab) {
            return Err(format!(
                "prompt {i}: token id {t} is outside the vocabulary of {vocab}"
            ));
        }
        if ids.len() >= max {
            return Err(format!(
                "prompt {i}: {} tokens leave no room in the model's context of {max} positions",
                ids.len()
            ));
        }
    }
    Ok(out)
}

/// The body's parameters checked against the limits; the message names the parameter.
fn check(b: &CompletionBody, limits: &Limits) -> Result<(), String> {
    if b.stream {
        return Err("stream: streaming is not supported; send stream = false".into());
    }
    if b.echo {
        return Err("echo: not supported".into());
    }
    if let Some(k) = b.logprobs
        && k as usize > limits.max_logprobs
    {
        return Err(format!(
            "logprobs: {k} is more than the {} this server returns",
            limits.max_logprobs
        ));
    }
    if b.n == 0 || b.n > limits.max_n {
        return Err(format!("n: {} is outside 1..={}", b.n, limits.max_n));
    }
    if b.max_tokens == 0 || b.max_tokens > limits.max_tokens {
        return Err(format!(
            "max_tokens: {} is outside 1..={}",
            b.max_tokens, limits.max_tokens
        ));
    }
    ttc_core::sampling_rules::check_temperature(b.temperature)?;
    ttc_core::sampling_rules::check_top_p(b.top_p)
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

fn queue<T>(
    tx: &SyncSender<Job>,
    job: Job,
    rx: oneshot::Receiver<T>,
) -> Result<oneshot::Receiver<T>, Refusal> {
    match tx.try_send(job) {
        Ok(()) => Ok(rx),
        Err(TrySendError::Full(_)) => Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "the server's queue is full; retry later",
        )),
        Err(TrySendError::Disconnected(_)) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model's worker stopped",
        )),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn completions(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match completions_inner(&st, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn completions_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Refusal> {
    authorized(st, headers)?;
    let b: CompletionBody = parse(body)?;
    let m = find(st, &b.model)?;
    if !m.causal_lm {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "model: a score-head model has no completions; use /pooling",
        ));
    }
    check(&b, &st.limits).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let ids =
        prompts(&b.prompt, m, m.max_positions).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let stop = b.stop.as_ref().map(|s| s.strings()).unwrap_or_default();
    let params = SamplingParams {
        temperature: b.temperature,
        top_p: b.top_p,
        top_k: b.top_k.max(0) as usize,
        max_new_tokens: b.max_tokens,
        stop: stop.clone(),
        logprobs: b.logprobs.map(|k| k as usize),
    };
    let prompt_tokens: usize = ids.iter().map(Vec::len).sum();
    let (tx, rx) = oneshot::channel();
    let job = Job::Complete(CompleteJob {
        prompts: ids,
        n: b.n,
        params,
        seed: b.seed.unwrap_or(0),
        reply: tx,
    });
    let rx = queue(&m.jobs, job, rx)?;
    let done = match rx.await {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(_) => return Err(stopped()),
    };
    let mut choices = Vec::new();
    let mut completion_tokens = 0;
    for g in done.generations.into_iter().flatten() {
        completion_tokens += g.tokens.len() as u64;
        let logprobs = b
            .logprobs
            .map(|_| logprobs_json(&g, &m.tokenizer, b.return_tokens_as_token_ids));
        match choice(choices.len(), g, &stop, b.include_stop_str_in_output) {
            Ok(c) => choices.push(Choice { logprobs, ..c }),
            Err(e) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
        }
    }
    let id = st.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(Json(CompletionResponse {
        id: format!("cmpl-{id}"),
        object: "text_completion".into(),
        created: now(),
        model: m.names[0].clone(),
        choices,
        usage: Some(Usage {
            prompt_tokens: prompt_tokens as u64,
            completion_tokens,
            total_tokens: prompt_tokens as u64 + completion_tokens,
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: Some(done.cached_tokens as u64),
            }),
        }),
    })
    .into_response())
}

/// A generation's log-probabilities in the completions API's shape, as vLLM answers
/// `logprobs = k`: `tokens`, `token_logprobs`, `top_logprobs` (the k most likely, plus the
/// sampled token when it is not among them) and `text_offset`. Tokens are their text, or
/// `token_id:N` with `return_tokens_as_token_ids`.
fn logprobs_json(g: &Generation, tok: &Tokenizer, as_ids: bool) -> serde_json::Value {
    let name = |id: u32| {
        if as_ids {
            format!("token_id:{id}")
        } else {
            tok.decode(&[id], false).unwrap_or_default()
        }
    };
    let mut offset = 0;
    let (mut tokens, mut chosen, mut top, mut offsets) = (vec![], vec![], vec![], vec![]);
    for t in &g.logprobs {
        let text = name(t.token);
        offsets.push(offset);
        offset += tok.decode(&[t.token], false).map_or(0, |s| s.len());
        let mut m = serde_json::Map::new();
        for &(id, lp) in &t.top {
            m.insert(name(id), serde_json::json!(lp));
        }
        m.entry(text.clone())
            .or_insert_with(|| serde_json::json!(t.logprob));
        tokens.push(text);
        chosen.push(t.logprob);
        top.push(serde_json::Value::Object(m));
    }
    serde_json::json!({
        "tokens": tokens,
        "token_logprobs": chosen,
        "top_logprobs": top,
        "text_offset": offsets,
    })
}

/// A generation as a choice: "stop" with the stop string in `stop_reason` (kept in the
/// text only when asked) or null at end of sequence; "length".
fn choice(index: usize, g: Generation, stop: &[String], keep_stop: bool) -> Result<Choice, String> {
    let mut text = g.text;
    let (finish, stop_reason) = match g.finish {
        FinishReason::Length => ("length", None),
        FinishReason::Eos => ("stop", None),
        FinishReason::Stop => {
            let s = stop.iter().find(|s| text.ends_with(s.as_str())).cloned();
            if let Some(s) = &s
                && !keep_stop
            {
                text.truncate(text.len() - s.len());
            }
            ("stop", s.map(serde_json::Value::String))
        }
        FinishReason::NonFinite => {
            return Err("the model's logits are not finite (NaN or inf)".into());
        }
        // The server admits no confidence gate; vLLM's word for a sequence cut short.
        FinishReason::LowConfidence => ("abort", None),
    };
    Ok(Choice {
        index,
        text,
        finish_reason: Some(finish.into()),
        stop_reason,
        token_ids: Some(g.tokens),
        logprobs: None,
    })
}

pub async fn pooling(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match pooling_inner(&st, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn pooling_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Refusal> {
    authorized(st, headers)?;
    let b: PoolingBody = parse(body)?;
    let m = find(st, &b.model)?;
    if m.causal_lm {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "model: a causal LM has no per-token scores here; /pooling serves score-head models",
        ));
    }
    let ids = prompts(&b.input, m, m.max_positions + 1)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.replace("prompt", "input")))?;
    let prompt_tokens: usize = ids.iter().map(Vec::len).sum();
    let (tx, rx) = oneshot::channel();
    let rx = queue(
        &m.jobs,
        Job::Pool(PoolJob {
            inputs: ids,
            reply: tx,
        }),
        rx,
    )?;
    let out = match rx.await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(_) => return Err(stopped()),
    };
    let id = st.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(Json(PoolingResponse {
        id: format!("pool-{id}"),
        object: "list".into(),
        created: now(),
        model: m.names[0].clone(),
        data: out
            .into_iter()
            .enumerate()
            .map(|(index, data)| PoolingItem {
                index,
                object: "pooling".into(),
                data,
            })
            .collect(),
        usage: Some(Usage {
            prompt_tokens: prompt_tokens as u64,
            completion_tokens: 0,
            total_tokens: prompt_tokens as u64,
            prompt_tokens_details: None,
        }),
    })
    .into_response())
}

pub async fn fallback() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint (have /v1/completions, /v1/models, /pooling, /health)",
    )
    .into_response()
}

fn stopped() -> Refusal {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the model's worker stopped",
    )
}
