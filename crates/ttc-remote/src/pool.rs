//! The servers a remote engine spreads its requests over: least outstanding requests
//! first, a bounded number in flight on each, and a server that keeps failing taken out
//! while the others carry on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Consecutive failures (connection errors, timeouts, 5xx) after which a server is out.
pub const FAILURES_TO_DOWN: u32 = 3;

pub struct Server {
    pub url: String,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    down: AtomicBool,
    pub(crate) permits: Semaphore,
    /// The last error seen from it (for the message when every server is down).
    last_error: Mutex<Option<String>>,
}

pub struct Pool {
    pub servers: Vec<Server>,
}

/// A request holding a slot on a server; the slot is given back on drop.
pub struct Slot<'p> {
    pub index: usize,
    server: &'p Server,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.server.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A server's root from the URL a user gives: `http://host:8000`, or the OpenAI clients'
/// base URL `http://host:8000/v1` (as vLLM's docs and every tutorial write it). One rule: a
/// trailing `/` and then a trailing `/v1` are dropped, since ttc asks both `/v1/…` and the
/// root's `/pooling`.
pub fn server_root(url: &str) -> String {
    let u = url.trim_end_matches('/');
    u.strip_suffix("/v1").unwrap_or(u).to_string()
}

impl Pool {
    pub fn new(urls: &[String], max_in_flight: usize) -> Self {
        Pool {
            servers: urls
                .iter()
                .map(|u| Server {
                    url: server_root(u),
                    in_flight: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    down: AtomicBool::new(false),
                    permits: Semaphore::new(max_in_flight),
                    last_error: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// The live server with the fewest requests outstanding (ties: the first), preferring
    /// one other than `avoid` (the server a retry comes from); `None` when all are down.
    pub fn pick(&self, avoid: Option<usize>) -> Option<Slot<'_>> {
        let live: Vec<usize> = (0..self.servers.len())
            .filter(|&i| !self.servers[i].down.load(Ordering::Relaxed))
            .collect();
        let others: Vec<usize> = live.iter().copied().filter(|&i| Some(i) != avoid).collect();
        let from = if others.is_empty() { &live } else { &others };
        let index = from
            .iter()
            .copied()
            .min_by_key(|&i| self.servers[i].in_flight.load(Ordering::Relaxed))?;
        let server = &self.servers[index];
        server.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Slot { index, server })
    }

    pub fn success(&self, i: usize) {
        self.servers[i].failures.store(0, Ordering::Relaxed);
    }

    /// Count a failure of server `i`; it is taken out after [`FAILURES_TO_DOWN`] in a row.
    pub fn failure(&self, i: usize, error: &str) {
        let s = &self.servers[i];
        *s.last_error.lock().expect("not poisoned") = Some(error.to_string());
        if s.failures.fetch_add(1, Ordering::Relaxed) + 1 >= FAILURES_TO_DOWN
            && !s.down.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "remote: {} taken out after {FAILURES_TO_DOWN} failures in a row ({error}); the other servers carry on",
                s.url
            );
        }
    }

    /// Every server with its last error, for the message when all are down.
    pub fn describe_down(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                let e = s.last_error.lock().expect("not poisoned").clone();
                format!("{} ({})", s.url, e.unwrap_or_else(|| "no answer".into()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.url.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_with_or_without_v1_names_the_same_server() {
        for u in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
        ] {
            assert_eq!(server_root(u), "http://h:8000", "{u}");
        }
        // Only a trailing /v1 goes: a path that merely contains it stays.
        assert_eq!(server_root("http://h/v1x"), "http://h/v1x");
        assert_eq!(server_root("http://h/api/v1"), "http://h/api");
        let p = Pool::new(&["http://a:1/v1".into()], 1);
        assert_eq!(p.servers[0].url, "http://a:1");
    }

    #[test]
    fn least_outstanding_first_and_failing_servers_leave() {
        let p = Pool::new(&["http://a".into(), "http://b".into()], 4);
        let s1 = p.pick(None).unwrap();
        assert_eq!(s1.index, 0);
        let s2 = p.pick(None).unwrap();
        assert_eq!(s2.index, 1, "a has one outstanding");
        drop(s1);
        assert_eq!(p.pick(None).unwrap().index, 0);
        assert_eq!(
            p.pick(Some(0)).unwrap().index,
            1,
            "a retry avoids its server"
        );
        for _ in 0..FAILURES_TO_DOWN {
            p.failure(1, "connection refused");
        }
        assert_eq!(p.pick(Some(0)).unwrap().index, 0, "b is out");
        for _ in 0..FAILURES_TO_DOWN {
            p.failure(0, "timeout");
        }
        assert!(p.pick(None).is_none());
        let d = p.describe_down();
        assert!(
            d.contains("http://a (timeout)") && d.contains("http://b (connection refused)"),
            "{d}"
        );
        // A success resets the count: one more failure does not take a server out.
        let q = Pool::new(&["http://c".into()], 1);
        q.failure(0, "x");
        q.failure(0, "x");
        q.success(0);
        q.failure(0, "x");
        assert!(q.pick(None).is_some());
    }
}
