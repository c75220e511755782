//! Sending one JSON request to the pool: retries with exponential backoff on connection
//! errors, timeouts, truncated bodies, 429 and 5xx (on another server where there is
//! one); a clear error naming the URL for anything else (4xx, a body that is not the JSON
//! asked for). The API key is sent as a bearer token and never appears in a message.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::pool::Pool;

/// Connection settings of a remote engine.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub retries: u32,
    pub api_key: Option<String>,
    /// First backoff; doubled per attempt, at most 5 s.
    pub backoff: Duration,
}

pub struct Transport {
    pub pool: Pool,
    pub settings: Settings,
    http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Runtime,
    pub stats: crate::stats::Stats,
}

/// Why an attempt failed.
enum Failure {
    /// Worth another attempt (connection, timeout, truncated body, 5xx).
    Retry(String),
    /// The server is alive but busy (429): retried without counting against the server.
    Busy(String),
    /// Not worth retrying (4xx, malformed answer).
    Fatal(String),
}

/// 429s tolerated per request (with backoff) before giving up.
const BUSY_LIMIT: u32 = 200;

impl Transport {
    pub fn new(pool: Pool, settings: Settings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(Transport {
            pool,
            settings,
            http,
            rt,
            stats: Default::default(),
        })
    }

    /// GET `path` from server `i` once (no retries): for probing each server at start.
    pub async fn get_from<T: DeserializeOwned>(&self, i: usize, path: &str) -> Result<T, String> {
        let url = format!("{}{path}", self.pool.servers[i].url);
        let mut req = self.http.get(&url);
        if let Some(k) = &self.settings.api_key {
            req = req.bearer_auth(k);
        }
        match self.attempt(req, &url).await {
            Ok(v) => Ok(v),
            Err(Failure::Retry(m) | Failure::Busy(m) | Failure::Fatal(m)) => Err(m),
        }
    }

    /// POST `body` to `path` on the pool, retrying as the module says.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        let mut failed_at = None;
        let mut attempts = 0u32;
        let mut busy = 0u32;
        loop {
            let Some(slot) = self.pool.pick(failed_at) else {
                return Err(format!(
                    "every server is down: {}",
                    self.pool.describe_down()
                ));
            };
            let server = &self.pool.servers[slot.index];
            let permit = server.permits.acquire().await.expect("never closed");
            let url = format!("{}{path}", server.url);
            let mut req = self.http.post(&url).json(body);
            if let Some(k) = &self.settings.api_key {
                req = req.bearer_auth(k);
            }
            self.stats.request();
            let outcome = self.attempt(req, &url).await;
            drop(permit);
            let index = slot.index;
            drop(slot);
            let wait = match outcome {
                Ok(v) => {
                    self.pool.success(index);
                    return Ok(v);
                }
                Err(Failure::Fatal(m)) => return Err(m),
                Err(Failure::Busy(m)) => {
                    busy += 1;
                    self.stats.retry();
                    if busy > BUSY_LIMIT {
                        return Err(format!("{m}: still overloaded after {BUSY_LIMIT} retries"));
                    }
                    failed_at = Some(index);
                    busy.min(6)
                }
                Err(Failure::Retry(m)) => {
                    self.pool.failure(index, &m);
                    attempts += 1;
                    self.stats.retry();
                    if attempts > self.settings.retries {
                        return Err(format!(
                            "{m} (gave up after {attempts} attempts; servers: {})",
                            self.pool.urls()
                        ));
                    }
                    failed_at = Some(index);
                    attempts.min(6)
                }
            };
            let backoff = (self.settings.backoff * 2u32.pow(wait.saturating_sub(1)))
                .min(Duration::from_secs(5));
            tokio::time::sleep(backoff).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, Failure> {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(Failure::Retry(format!(
                    "{url}: no answer within {:?}",
                    self.settings.timeout
                )));
            }
            Err(e) => return Err(Failure::Retry(format!("{url}: {}", error_chain(&e)))),
        };
        let status = resp.status();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return Err(Failure::Retry(format!(
                    "{url}: the answer broke off ({})",
                    error_chain(&e)
                )));
            }
        };
        let snippet = || text.chars().take(300).collect::<String>();
        if status.as_u16() == 429 {
            return Err(Failure::Busy(format!(
                "{url}: 429 overloaded: {}",
                snippet()
            )));
        }
        if status.is_server_error() {
            return Err(Failure::Retry(format!("{url}: {status}: {}", snippet())));
        }
        if !status.is_success() {
            return Err(Failure::Fatal(format!("{url}: {status}: {}", snippet())));
        }
        serde_json::from_str(&text).map_err(|e| {
            Failure::Fatal(format!(
                "{url}: the answer is not the JSON asked for ({e}): {}",
                snippet()
            ))
        })
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
