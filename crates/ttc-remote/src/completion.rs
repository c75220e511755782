//! One continuation as a completions request, and the answer read back the same way from
//! every server kind. What differs between servers, and how it is handled:
//!
//! | server | prompt | stop string in `text` | token ids back | `n` |
//! |---|---|---|---|---|
//! | `ttc serve` | ids | kept (`include_stop_str_in_output`) | yes | honoured |
//! | vLLM | ids | kept (`include_stop_str_in_output`), `stop_reason` names it | yes (`return_token_ids`, ≥ 0.10.2) | honoured |
//! | SGLang | ids | kept (`no_stop_trim`) | no: text re-tokenized | honoured |
//! | OpenAI-style (llama.cpp, TGI, …) | text | stripped: put back when `finish_reason` is "stop" and text came | no | varies |
//! | `transformers serve` | text | kept | no | ignored; greedy unless `generation_config` says `do_sample` (sent) |
//!
//! ttc always sends `n = 1` with its own seed per continuation (forks of one node get
//! different seeds), so results do not depend on how a server derives seeds for `n > 1`.
//! A server that returns no token ids has its text re-tokenized with the checkpoint's
//! tokenizer; an end of sequence (finish "stop" without a stop string) is booked as the
//! tokenizer's EOS token, as a local engine books it. Log-probabilities (when the params ask)
//! come back from servers that return token ids, keyed `token_id:N`.

use serde_json::{Value, json};
use ttc_model::engine_spec::ServerKind;
use ttc_model::generation::{FinishReason, TokenLogprob};
use ttc_model::remote::{Completion, CompletionRequest};

use crate::protocol::CompletionResponse;

/// How to speak to a server kind.
pub fn takes_token_ids(kind: ServerKind) -> bool {
    matches!(
        kind,
        ServerKind::Ttc | ServerKind::Vllm | ServerKind::Sglang
    )
}

/// The body of one continuation's request; `text` is the prompt as text (used by servers
/// that take no token ids); `eos` the model's end-of-sequence ids.
pub fn body(
    kind: ServerKind,
    model: &str,
    req: &CompletionRequest<'_>,
    text: Option<&str>,
    eos: &[u32],
) -> Value {
    let p = req.params;
    let prompt = match text {
        Some(t) => json!(t),
        None => json!(req.tokens),
    };
    let mut b = json!({
        "model": model,
        "prompt": prompt,
        "max_tokens": req.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "seed": req.seed,
        "n": 1,
    });
    let m = b.as_object_mut().expect("object");
    if !p.stop.is_empty() {
        m.insert("stop".into(), json!(p.stop));
    }
    if p.top_k > 0 {
        m.insert("top_k".into(), json!(p.top_k));
    }
    if let Some(k) = p.logprobs {
        m.insert("logprobs".into(), json!(k));
    }
    match kind {
        ServerKind::Ttc | ServerKind::Vllm => {
            m.insert("include_stop_str_in_output".into(), json!(true));
            m.insert("return_token_ids".into(), json!(true));
            if p.logprobs.is_some() {
                // vLLM's parameter: top_logprobs keyed "token_id:N", not by token text.
                m.insert("return_tokens_as_token_ids".into(), json!(true));
            }
        }
        ServerKind::Sglang => {
            m.insert("no_stop_trim".into(), json!(true));
        }
        ServerKind::Transformers => {
            // `transformers serve` starts from the checkpoint's generation config, which
            // samples greedily unless it says do_sample and keeps transformers' default
            // top_k = 50: ask for exactly ttc's sampling.
            let g = json!({
                "do_sample": p.temperature > 0.0,
                "temperature": p.temperature.max(1e-6),
                "top_p": p.top_p,
                "top_k": p.top_k,
                "eos_token_id": eos,
            });
            m.insert("generation_config".into(), json!(g.to_string()));
        }
        _ => {}
    }
    b
}

/// What the reader needs to know of the model's tokenizer.
pub struct TokenInfo<'a> {
    pub eos: &'a [u32],
    /// Text → ids (for servers that return only text).
    pub encode: &'a dyn Fn(&str) -> Result<Vec<u32>, String>,
}

/// Read the answer to `req` from `resp` (`url` names the server in errors).
pub fn read(
    kind: ServerKind,
    resp: &CompletionResponse,
    req: &CompletionRequest<'_>,
    tok: &TokenInfo<'_>,
    url: &str,
) -> Result<Completion, String> {
    let bad = |m: String| format!("{url}: {m}");
    let c = match resp.choices.as_slice() {
        [c, ..] => c,
        [] => return Err(bad("the answer has no choices".into())),
    };
    let stops = &req.params.stop;
    let finish = c.finish_reason.as_deref();
    let (tokens, finish) = match (&c.token_ids, finish) {
        (_, None) => {
            return Err(bad(
                "a choice without finish_reason (was it cut off?)".into()
            ));
        }
        (_, Some(f)) if f != "stop" && f != "length" => {
            return Err(bad(format!(
                "finish_reason {f:?} (expected \"stop\" or \"length\")"
            )));
        }
        (Some(ids), Some(f)) => {
            let finish = match f {
                "length" => FinishReason::Length,
                _ if ids.last().is_some_and(|t| tok.eos.contains(t)) => FinishReason::Eos,
                _ if stops.iter().any(|s| c.text.contains(s.as_str())) => FinishReason::Stop,
                // A stop string the server stripped although asked to keep it.
                _ if matches!(&c.stop_reason, Some(Value::String(s)) if stops.contains(s)) => {
                    FinishReason::Stop
                }
                _ => FinishReason::Eos,
            };
            (ids.clone(), finish)
        }
        (None, Some(f)) => {
            let mut text = c.text.clone();
            let finish = if f == "length" {
                FinishReason::Length
            } else if stops.iter().any(|s| text.contains(s.as_str())) {
                FinishReason::Stop
            } else if let Some(Value::String(s)) = &c.stop_reason
                && stops.contains(s)
            {
                text.push_str(s);
                FinishReason::Stop
            } else if !text.is_empty() && stops.len() == 1 && !keeps_stop_strings(kind) {
                // OpenAI-style servers strip the stop string and do not say whether one
                // fired; text before a "stop" is a stop string (an end of sequence right
                // after it shows as an empty completion next time).
                text.push_str(&stops[0]);
                FinishReason::Stop
            } else {
                FinishReason::Eos
            };
            let mut ids = (tok.encode)(&text).map_err(&bad)?;
            if finish == FinishReason::Eos {
                let eos = *tok.eos.first().ok_or_else(|| {
                    bad("the server ended a sequence but the tokenizer has no EOS token".into())
                })?;
                ids.push(eos);
            }
            (ids, finish)
        }
    };
    if tokens.is_empty() {
        return Err(bad("the server generated no token".into()));
    }
    // Re-tokenized text may take a few more tokens than the server sampled; ids the server
    // returned must respect the limit.
    if c.token_ids.is_some() && tokens.len() > req.max_tokens {
        return Err(bad(format!(
            "{} tokens generated where max_tokens is {}",
            tokens.len(),
            req.max_tokens
        )));
    }
    let logprobs = match req.params.logprobs {
        None => Vec::new(),
        Some(k) => {
            if c.token_ids.is_none() {
                return Err(bad(
                    "logprobs: the server returns no token ids to align them with (ttc serve and vLLM do)".into(),
                ));
            }
            let v = c
                .logprobs
                .as_ref()
                .ok_or_else(|| bad("logprobs were asked for and the choice has none".into()))?;
            read_logprobs(v, &tokens, k).map_err(|e| bad(format!("logprobs: {e}")))?
        }
    };
    Ok(Completion {
        tokens,
        finish,
        logprobs,
    })
}

/// A choice's `logprobs` in the completions API's shape (`tokens`, `token_logprobs`,
/// `top_logprobs`), keyed `token_id:N` (vLLM's `return_tokens_as_token_ids`; `ttc serve`
/// always): one entry per id of `ids`, its top `k` sorted most likely first (ties: lower id
/// first; vLLM adds the sampled token to its top list, which this drops again).
pub fn read_logprobs(v: &Value, ids: &[u32], k: usize) -> Result<Vec<TokenLogprob>, String> {
    let arr = |key: &str| {
        v.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("no {key:?} array"))
    };
    let chosen = arr("token_logprobs")?;
    let top = arr("top_logprobs")?;
    if chosen.len() != ids.len() || top.len() != ids.len() {
        return Err(format!(
            "{} token_logprobs and {} top_logprobs for {} tokens",
            chosen.len(),
            top.len(),
            ids.len()
        ));
    }
    let id_of = |key: &str| {
        key.strip_prefix("token_id:")
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| format!("top_logprobs key {key:?} is not \"token_id:N\" (ask with return_tokens_as_token_ids)"))
    };
    let mut out = Vec::with_capacity(ids.len());
    for (i, (&token, (c, t))) in ids.iter().zip(chosen.iter().zip(top)).enumerate() {
        let logprob =
            c.as_f64()
                .ok_or_else(|| format!("token_logprobs[{i}] is not a number"))? as f32;
        let map = t
            .as_object()
            .ok_or_else(|| format!("top_logprobs[{i}] is not an object"))?;
        let mut alts = Vec::with_capacity(map.len());
        for (key, lp) in map {
            let lp = lp
                .as_f64()
                .ok_or_else(|| format!("top_logprobs[{i}][{key:?}] is not a number"))?;
            alts.push((id_of(key)?, lp as f32));
        }
        alts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        alts.truncate(k);
        out.push(TokenLogprob {
            token,
            logprob,
            top: alts,
        });
    }
    Ok(out)
}

fn keeps_stop_strings(kind: ServerKind) -> bool {
    !matches!(kind, ServerKind::Openai)
}

/// The server kind from `/v1/models`' `owned_by`.
pub fn detect(owned_by: &str) -> ServerKind {
    match owned_by.to_ascii_lowercase().as_str() {
        "ttc" => ServerKind::Ttc,
        "vllm" => ServerKind::Vllm,
        "sglang" => ServerKind::Sglang,
        // `transformers serve` lists its models as owned by "local".
        "huggingface" | "transformers" | "local" => ServerKind::Transformers,
        _ => ServerKind::Openai,
    }
}

#[cfg(test)]
mod tests;
