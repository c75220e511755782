//! [`RemoteModel`]: a checkpoint served by an OpenAI-compatible server, as the engine's
//! [`Decoder`] (config, context, per-token scores of a score-head model through
//! `/pooling`) and [`RemoteGenerate`] (continuations through `/v1/completions`).
//!
//! The checkpoint directory is still read locally for `config.json` (the FLOPs
//! accounting needs the parameter count) and `tokenizer.json` (prompts are encoded here,
//! so every backend sees the same token ids).

use std::time::Duration;

use futures_util::future::join_all;
use tokenizers::Tokenizer;
use ttc_model::cpu::Row;
use ttc_model::decoder::{Decoder, KvCache, check_rows};
use ttc_model::engine_spec::{BackendKind, EngineSpec, ServerKind};
use ttc_model::remote::{Completion, CompletionRequest, RemoteGenerate, RemoteSeq};
use ttc_model::{Error, Head, LlamaConfig, Result};

use crate::completion::{self, TokenInfo};
use crate::pool::Pool;
use crate::protocol::{CompletionResponse, ModelList, PoolingResponse};
use crate::transport::{Settings, Transport};

pub struct RemoteModel {
    cfg: LlamaConfig,
    head_outputs: usize,
    max_positions: usize,
    tokenizer: Tokenizer,
    eos: Vec<u32>,
    kind: ServerKind,
    model: String,
    transport: Transport,
}

fn remote(m: impl Into<String>) -> Error {
    Error::Remote(m.into())
}

/// Servers that list every model they serve in `/v1/models` (others, such as `transformers
/// serve`, load a model by path on first request and list what they have loaded).
fn needs_listing(kind: ServerKind) -> bool {
    matches!(
        kind,
        ServerKind::Ttc | ServerKind::Vllm | ServerKind::Sglang
    )
}

/// The model to ask for when the preset names none: `default_name` (the checkpoint's
/// canonical path, `ttc serve`'s name for it) where the server lists it; else the server's
/// only model — its cards all share one `root`, as vLLM lists `--served-model-name a b` —
/// by the name that is its root, else its first; else, for a server that lists every model,
/// an error naming them all.
pub fn default_model(
    list: &ModelList,
    default_name: &str,
    kind: ServerKind,
    url: &str,
) -> Result<String> {
    if list.data.iter().any(|c| c.id == default_name) {
        return Ok(default_name.to_string());
    }
    let root = |c: &crate::protocol::ModelCard| c.root.clone().unwrap_or_else(|| c.id.clone());
    let roots: std::collections::BTreeSet<String> = list.data.iter().map(root).collect();
    if roots.len() == 1 {
        let r = roots.into_iter().next().expect("one");
        let id = list
            .data
            .iter()
            .find(|c| c.id == r)
            .unwrap_or(&list.data[0])
            .id
            .clone();
        return Ok(id);
    }
    if needs_listing(kind) {
        let ids: Vec<&str> = list.data.iter().map(|c| c.id.as_str()).collect();
        return Err(Error::Config(format!(
            "{url} serves {} models {ids:?}: set the engine's model = \"…\" to the one to use",
            roots.len()
        )));
    }
    Ok(default_name.to_string())
}

impl RemoteModel {
    /// Connect to the servers `spec` names for the model with config `cfg` and tokenizer
    /// `tokenizer`. Its name on the servers: `spec.model`; else `default_name` where a
    /// server lists it; else the one model the first server lists ([`default_model`]).
    /// Every server is asked `/v1/models` once: the kind is detected (unless set), the
    /// model must be listed (ttc, vLLM, SGLang), and a server that does not answer starts
    /// out counted as failing. No answer at all is an error naming the URLs.
    pub fn connect(
        cfg: LlamaConfig,
        tokenizer: Tokenizer,
        spec: &EngineSpec,
        default_name: &str,
    ) -> Result<Self> {
        if spec.backend != BackendKind::Openai {
            return Err(remote("RemoteModel needs backend = \"openai\""));
        }
        spec.validate()
            .map_err(|m| Error::Config(format!("engine {m}")))?;
        let api_key = match &spec.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                Error::Config(format!(
                    "engine api_key_env: the environment variable {var} is not set"
                ))
            })?),
            None => None,
        };
        let settings = Settings {
            timeout: Duration::from_secs(spec.timeout_s.unwrap_or(300)),
            retries: spec.retries.unwrap_or(6),
            api_key,
            backoff: Duration::from_millis(100),
        };
        let pool = Pool::new(&spec.urls, spec.max_in_flight.unwrap_or(256));
        let transport = Transport::new(pool, settings).map_err(remote)?;
        let probes = transport.rt.block_on(join_all(
            (0..transport.pool.servers.len())
                .map(|i| transport.get_from::<ModelList>(i, "/v1/models")),
        ));
        let mut lists = Vec::new();
        let mut errors = Vec::new();
        for (i, p) in probes.into_iter().enumerate() {
            match p {
                Ok(list) => lists.push((i, list)),
                Err(e) => {
                    transport.pool.failure(i, &e);
                    errors.push(e);
                }
            }
        }
        let answered = lists.len();
        let detect = |list: &ModelList| {
            let owned = list.data.first().map(|c| c.owned_by.as_str()).unwrap_or("");
            if spec.server == ServerKind::Auto {
                completion::detect(owned)
            } else {
                spec.server
            }
        };
        let kind = lists.first().map_or(spec.server, |(_, list)| detect(list));
        let model = match (&spec.model, lists.first()) {
            (Some(m), _) => m.clone(),
            (None, Some((i, list))) => {
                default_model(list, default_name, kind, &transport.pool.servers[*i].url)?
            }
            (None, None) => default_name.to_string(),
        };
        let mut max_positions = cfg.max_position_embeddings;
        for (i, list) in &lists {
            let url = &transport.pool.servers[*i].url;
            let card = list.data.iter().find(|c| c.id == model);
            if card.is_none() && needs_listing(detect(list)) {
                let ids: Vec<&str> = list.data.iter().map(|c| c.id.as_str()).collect();
                return Err(Error::Config(format!(
                    "{url} serves {ids:?}, not {model:?}: set the engine's model = \"…\" to the name the server uses"
                )));
            }
            if let Some(n) = card.and_then(|c| c.max_model_len) {
                max_positions = max_positions.min(n);
            }
        }
        if answered == 0 {
            return Err(remote(format!(
                "no server answers /v1/models: {}",
                errors.join("; ")
            )));
        }
        let head_outputs = match cfg.head() {
            Head::Score | Head::ProcessReward => cfg.labels(),
            Head::CausalLm => cfg.vocab_size,
        };
        if kind == ServerKind::Openai && head_outputs != cfg.vocab_size {
            return Err(Error::Config(format!(
                "a score-head model needs a server with /pooling (ttc serve, vLLM); {} is an OpenAI-style server",
                transport.pool.urls()
            )));
        }
        let eos = ttc_model::generation::eos_ids(&cfg, &tokenizer);
        Ok(RemoteModel {
            cfg,
            head_outputs,
            max_positions,
            tokenizer,
            eos,
            kind,
            model,
            transport,
        })
    }

    /// The server kind in use (detected or configured).
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// Requests, retries and the servers' reported usage so far.
    pub fn summary(&self) -> String {
        self.transport.stats.summary()
    }

    fn is_lm(&self) -> bool {
        self.cfg.head() == Head::CausalLm
    }

    async fn one(&self, req: &CompletionRequest<'_>) -> std::result::Result<Completion, String> {
        let text = if completion::takes_token_ids(self.kind) {
            None
        } else {
            Some(
                self.tokenizer
                    .decode(req.tokens, false)
                    .map_err(|e| format!("tokenizer: {e}"))?,
            )
        };
        let body = completion::body(self.kind, &self.model, req, text.as_deref(), &self.eos);
        let resp: CompletionResponse = self.transport.post("/v1/completions", &body).await?;
        if let Some(u) = &resp.usage {
            self.transport.stats.usage(u);
        }
        let encode = |t: &str| -> std::result::Result<Vec<u32>, String> {
            self.tokenizer
                .encode(t, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| format!("tokenizer: {e}"))
        };
        let info = TokenInfo {
            eos: &self.eos,
            encode: &encode,
        };
        completion::read(self.kind, &resp, req, &info, &self.transport.pool.urls())
    }

    /// Per-token head outputs of `tokens` (`[tokens][head_outputs]`).
    async fn pool(&self, tokens: &[u32]) -> std::result::Result<Vec<Vec<f32>>, String> {
        let body =
            serde_json::json!({"model": self.model, "input": tokens, "task": "token_classify"});
        let resp: PoolingResponse = self.transport.post("/pooling", &body).await?;
        if let Some(u) = &resp.usage {
            self.transport.stats.usage(u);
        }
        let urls = self.transport.pool.urls();
        let item = resp
            .data
            .into_iter()
            .next()
            .ok_or_else(|| format!("{urls}: /pooling answered no data"))?;
        if item.data.len() != tokens.len() || item.data.iter().any(|r| r.len() != self.head_outputs)
        {
            return Err(format!(
                "{urls}: /pooling answered {} rows of {} outputs for {} tokens of a {}-output head",
                item.data.len(),
                item.data.first().map_or(0, Vec::len),
                tokens.len(),
                self.head_outputs
            ));
        }
        Ok(item.data)
    }
}

impl Drop for RemoteModel {
    fn drop(&mut self) {
        let s = &self.transport.stats;
        if s.requests.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            eprintln!(
                "remote {} ({}): {}",
                self.transport.pool.urls(),
                self.kind.name(),
                self.summary()
            );
        }
    }
}

impl RemoteGenerate for RemoteModel {
    fn complete(&self, reqs: &[CompletionRequest<'_>]) -> Result<Vec<Completion>> {
        let outs = self
            .transport
            .rt
            .block_on(join_all(reqs.iter().map(|r| self.one(r))));
        outs.into_iter()
            .enumerate()
            .map(|(i, o)| o.map_err(|m| remote(format!("completion {i}: {m}"))))
            .collect()
    }
}

impl Decoder for RemoteModel {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn head_outputs(&self) -> usize {
        self.head_outputs
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }

    fn new_cache(&self) -> KvCache {
        KvCache::Remote(RemoteSeq::default())
    }

    /// Append `rows` to the sequences; for a score-head model, the outputs at `out_rows`
    /// come from one `/pooling` request per sequence that has any (the whole sequence is
    /// sent: servers key their prefix caches on it).
    fn forward(
        &self,
        caches: &mut [KvCache],
        rows: &[Row],
        out_rows: &[usize],
    ) -> Result<Vec<f32>> {
        check_rows(caches, rows, out_rows, self.max_positions)?;
        if let Some(i) = caches.iter().position(|c| !matches!(c, KvCache::Remote(_))) {
            return Err(Error::Config(format!(
                "sequence {i} holds a {} cache; the openai backend needs its own",
                caches[i].kind()
            )));
        }
        let mut new: Vec<Vec<u32>> = vec![Vec::new(); caches.len()];
        for r in rows {
            new[r.seq].push(r.token);
        }
        if !out_rows.is_empty() && self.is_lm() {
            return Err(remote(
                "a served causal LM returns no logits; its continuations come from /v1/completions",
            ));
        }
        let mut wants: Vec<Vec<(usize, usize)>> = vec![Vec::new(); caches.len()];
        for (k, &o) in out_rows.iter().enumerate() {
            let r = &rows[o];
            wants[r.seq].push((k, r.pos));
        }
        for (c, n) in caches.iter_mut().zip(&new) {
            if let KvCache::Remote(c) = c {
                c.tokens.extend_from_slice(n);
            }
        }
        let asked: Vec<usize> = (0..caches.len())
            .filter(|&s| !wants[s].is_empty())
            .collect();
        let seqs: Vec<&[u32]> = asked
            .iter()
            .map(|&s| match &caches[s] {
                KvCache::Remote(c) => c.tokens.as_slice(),
                _ => unreachable!("checked above"),
            })
            .collect();
        let answers = self
            .transport
            .rt
            .block_on(join_all(seqs.iter().map(|t| self.pool(t))));
        let h = self.head_outputs;
        let mut out = vec![0f32; out_rows.len() * h];
        for (&s, a) in asked.iter().zip(answers) {
            let per_token = a.map_err(remote)?;
            for &(k, pos) in &wants[s] {
                out[k * h..(k + 1) * h].copy_from_slice(&per_token[pos]);
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!(
            "openai ({}) {}",
            self.kind.name(),
            self.transport.pool.urls()
        )
    }

    fn remote(&self) -> Option<&dyn RemoteGenerate> {
        self.is_lm().then_some(self as &dyn RemoteGenerate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(cards: &[(&str, Option<&str>)]) -> ModelList {
        serde_json::from_value(serde_json::json!({
            "object": "list",
            "data": cards
                .iter()
                .map(|(id, root)| serde_json::json!({"id": id, "object": "model", "owned_by": "vllm", "root": root}))
                .collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn with_no_model_named_the_servers_only_model_is_used() {
        let url = "http://h:8000";
        // The checkpoint's own path, where listed (ttc serve's default name).
        let l = list(&[("/ck/policy", None), ("policy", Some("/ck/policy"))]);
        assert_eq!(
            default_model(&l, "/ck/policy", ServerKind::Ttc, url).unwrap(),
            "/ck/policy"
        );
        // vLLM `--served-model-name policy`: one card whose root is the model's path.
        let l = list(&[("policy", Some("/models/qwen"))]);
        assert_eq!(
            default_model(&l, "/local/qwen", ServerKind::Vllm, url).unwrap(),
            "policy"
        );
        // Several names of one model (one root): the name that is the root.
        let l = list(&[("/srv/p", Some("/srv/p")), ("p", Some("/srv/p"))]);
        assert_eq!(
            default_model(&l, "/local/p", ServerKind::Ttc, url).unwrap(),
            "/srv/p"
        );
        // Two models: an error naming them, where the server lists every model it serves.
        let l = list(&[("a", Some("/m/a")), ("b", Some("/m/b"))]);
        let e = default_model(&l, "/local/x", ServerKind::Vllm, url)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http://h:8000 serves 2 models") && e.contains("\"a\", \"b\""),
            "{e}"
        );
        // A server that loads models by path on request: the checkpoint's path.
        assert_eq!(
            default_model(&l, "/local/x", ServerKind::Transformers, url).unwrap(),
            "/local/x"
        );
    }
}
