//! `ttc serve`: an OpenAI-compatible server over ttc's own engines.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::commands::bench::EngineArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// A checkpoint directory to serve (repeat for several models). Each answers to its
    /// canonical path (the name ttc's remote engine asks for by default), to the path as
    /// given, and to the `--name` in the same position.
    #[arg(long = "checkpoint", required = true)]
    pub checkpoints: Vec<PathBuf>,
    /// Extra names, one per `--checkpoint` in order (e.g. a short model id).
    #[arg(long = "name")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Address to bind (127.0.0.1: this machine only; 0.0.0.0 to serve the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: any free port; the URL is printed on the first line of stdout).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Require `Authorization: Bearer KEY` (default: the TTC_API_KEY environment variable
    /// if set, else no key).
    #[arg(long)]
    pub api_key: Option<String>,
    /// Requests that may wait per model beyond the live ones; more get 429.
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
    /// Largest `n` a request may ask.
    #[arg(long, default_value_t = 256)]
    pub max_n: usize,
    /// Largest `max_tokens` a request may ask (default: the model's context).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Sequences per decode forward.
    #[arg(long, default_value_t = 256)]
    pub max_batch: usize,
    /// Sequences decoded at once per model (continuous batching admits new requests up to
    /// this many).
    #[arg(long, default_value_t = 1024)]
    pub max_active: usize,
    /// Computed sequences kept per model so requests that resend a prefix (search sends a
    /// path's whole text every step) compute only what is new; 0 turns it off.
    #[arg(long, default_value_t = 1024)]
    pub prefix_cache: usize,
    /// `logprobs` (top alternatives per token) a request may ask for at most (vLLM's
    /// `--max-logprobs`).
    #[arg(long, default_value_t = 20)]
    pub max_logprobs: usize,
}

pub fn run(a: ServeArgs) -> Result<()> {
    if !a.names.is_empty() && a.names.len() != a.checkpoints.len() {
        anyhow::bail!(
            "--name: {} names for {} checkpoints (give one per --checkpoint, or none)",
            a.names.len(),
            a.checkpoints.len()
        );
    }
    let spec = a.engine.spec()?;
    spec.check_build().map_err(|m| anyhow::anyhow!("--{m}"))?;
    let mut served = Vec::new();
    let mut ctx = usize::MAX;
    for (i, dir) in a.checkpoints.iter().enumerate() {
        let (model, tokenizer) = ttc_engine::load_model(dir, &spec)
            .with_context(|| format!("--checkpoint {}", dir.display()))?;
        ctx = ctx.min(model.max_positions());
        let mut names = vec![ttc_engine::served_name(dir), dir.display().to_string()];
        names.extend(a.names.get(i).cloned());
        // Each name once, the canonical path first (`/v1/models` lists them all).
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        served.push(ttc_serve::Served {
            names,
            model,
            tokenizer,
        });
    }
    let limits = ttc_serve::Limits {
        max_n: a.max_n,
        max_tokens: a.max_tokens.unwrap_or(ctx),
        queue: a.queue,
        max_batch: a.max_batch,
        max_active: a.max_active,
        prefix_cache: a.prefix_cache,
        max_logprobs: a.max_logprobs,
    };
    let key = a.api_key.or_else(|| std::env::var("TTC_API_KEY").ok());
    let addr: SocketAddr = format!("{}:{}", a.host, a.port)
        .parse()
        .with_context(|| format!("--host {} --port {}: not an address", a.host, a.port))?;
    let names: Vec<String> = served.iter().map(|s| s.names[0].clone()).collect();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = ttc_serve::Server::bind(addr, served, limits, key)
            .await
            .with_context(|| format!("binding {addr}"))?;
        println!("ttc serve: listening on http://{}", server.addr);
        eprintln!(
            "serving {} on {} ({})",
            names.join(", "),
            server.addr,
            spec.describe()
        );
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
