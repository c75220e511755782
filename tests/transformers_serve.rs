//! A real third-party server: `transformers serve` (pip `transformers[serving]` + torch)
//! serving the transformers 5 fixture checkpoint (tests/fixtures/tf5_qwen3, as
//! `save_pretrained` wrote it), and the MATH-500 test samples of an imported-policy preset
//! drawn through it with `[engine] backend = "openai"` — the base URL in the OpenAI clients'
//! form (ending in `/v1`), no model name (the server's only model is used), the server's
//! kind found from its `/v1/models`. The same run with the URL without `/v1` gives the same
//! rows (the server decodes greedily, as the checkpoint's generation config says).
//!
//! Behind the `transformers-serve-tests` feature: `.ci/run` installs the server in a virtual
//! environment and runs it (`just test-transformers-serve`). The server program is
//! `$TTC_TRANSFORMERS`, else `transformers` on the PATH; the test fails — never skips — when
//! it cannot start.
#![cfg(feature = "transformers-serve-tests")]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ok, repo};

/// `transformers serve` on a free port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(checkpoint: &Path) -> Server {
        let program = std::env::var("TTC_TRANSFORMERS").unwrap_or_else(|_| "transformers".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&program)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(checkpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} serve: {e} (pip install 'transformers[serving]' torch)")
            });
        // Its log, kept for the failure message.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        loop {
            if health(&url) {
                return Server { child, url };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{program} serve exited ({status}):\n{}",
                    log.lock().unwrap()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(180),
                "{program} serve did not answer /health in 180 s:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET url/health` answers 200 (a bare HTTP/1.0 request: no client crate needed).
fn health(url: &str) -> bool {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = String::new();
    let _ = s.read_to_string(&mut head);
    head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")
}

fn preset(dir: &Path, name: &str, url: &str) -> String {
    let text = format!(
        r#"name = "{name}"
[problems]
test = "{}"
[import]
policy = "{}"
chat = {{}}
[engine]
backend = "openai"
urls = ["{url}"]
[test_samples]
n = 2
max_new_tokens = 12
seed = 3
questions = 4
chunk = 4
"#,
        repo().join("tests/fixtures/math500/test.jsonl").display(),
        repo().join("tests/fixtures/tf5_qwen3").display()
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn samples(dir: &Path, name: &str) -> Vec<ttc_data::rows::SampleRow> {
    ttc_core::table::read_parquet(
        &dir.join(format!("datasets/{name}/samples-test/samples.parquet")),
    )
    .unwrap()
}

#[test]
fn transformers_serve_behind_a_v1_base_url_draws_the_test_samples() {
    let server = Server::start(&repo().join("tests/fixtures/tf5_qwen3"));
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let v1 = preset(d, "tf", &format!("{}/v1", server.url));
    let out = ok(d, &["pipeline", "run", &v1, "--until", "test-samples"]);
    let rows = samples(d, "tf");
    assert_eq!(rows.len(), 8, "4 questions × 2 samples:\n{out}");
    for r in &rows {
        // The server returns text only: ttc re-tokenizes it, and the random-weight model's
        // text (bytes cut mid-character) can take more tokens than the 12 sampled.
        assert!(r.generated_tokens > 0, "an empty completion: {r:?}");
        assert!(
            ["stop", "eos", "length"].contains(&r.finish.as_str()),
            "finish {:?}: {r:?}",
            r.finish
        );
    }
    // The bare base URL reaches the same server and, greedy, the same completions.
    let bare = preset(d, "bare", &server.url);
    ok(d, &["pipeline", "run", &bare, "--until", "test-samples"]);
    let again = samples(d, "bare");
    let texts = |v: &[ttc_data::rows::SampleRow]| -> Vec<(u32, String, String)> {
        v.iter()
            .map(|r| (r.generated_tokens, r.text.clone(), r.finish.clone()))
            .collect()
    };
    assert_eq!(texts(&again), texts(&rows));
}
