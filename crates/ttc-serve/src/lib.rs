//! `ttc serve`: an OpenAI-compatible server over ttc's own engines (cpu or burn), for
//! driving from another machine, for testing the remote backend against, and for
//! benchmarking it (DESIGN §11).
//!
//! - [`worker`]: per model, a thread owning the engine — continuous batching;
//! - [`routes`]: the endpoints and their refusals (400 / 401 / 404 / 429 / 500).
//!
//! Binds 127.0.0.1 unless told otherwise.

pub mod bench;
mod limits;
pub mod prefix_cache;
pub mod routes;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::routing::{get, post};
use tokenizers::Tokenizer;
use ttc_model::Head;
use ttc_model::decoder::Decoder;

pub use crate::limits::Limits;
use crate::routes::{AppState, Entry};

/// A model to serve under `names`.
pub struct Served {
    pub names: Vec<String>,
    pub model: Box<dyn Decoder>,
    pub tokenizer: Tokenizer,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    router: Router,
    listener: tokio::net::TcpListener,
}

impl Server {
    /// Start one worker per model and bind `addr` (port 0: any free port).
    pub async fn bind(
        addr: SocketAddr,
        models: Vec<Served>,
        limits: Limits,
        api_key: Option<String>,
    ) -> std::io::Result<Server> {
        let mut entries = Vec::new();
        for s in models {
            let (tx, rx) = std::sync::mpsc::sync_channel(limits.queue);
            let max_positions = s.model.max_positions();
            let causal_lm = s.model.config().head() == Head::CausalLm;
            let vocab_size = s.model.config().vocab_size;
            let tok = s.tokenizer.clone();
            let (mb, ma, pc) = (limits.max_batch, limits.max_active, limits.prefix_cache);
            let name = s.names[0].clone();
            std::thread::Builder::new()
                .name(format!("serve {name}"))
                .spawn(move || worker::run(s.model, tok, rx, mb, ma, pc))?;
            entries.push(Entry {
                names: s.names,
                jobs: tx,
                tokenizer: s.tokenizer,
                max_positions,
                vocab_size,
                causal_lm,
            });
        }
        let state = Arc::new(AppState {
            models: entries,
            limits: limits.clone(),
            api_key,
            next_id: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/health", get(routes::health))
            .route("/v1/models", get(routes::models))
            .route("/v1/completions", post(routes::completions))
            .route("/pooling", post(routes::pooling))
            .fallback(routes::fallback)
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Server {
            addr,
            router,
            listener,
        })
    }

    /// Serve until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A server on its own thread and runtime (benchmarks, tests): dropped, it stops.
pub struct Background {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn start(
        models: Vec<Served>,
        limits: Limits,
        api_key: Option<String>,
    ) -> std::io::Result<Background> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = rt.block_on(Server::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            models,
            limits,
            api_key,
        ))?;
        let addr = server.addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = rt.block_on(server.run(async {
                let _ = rx.await;
            }));
        });
        Ok(Background {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
