//! The smoke pipeline with `[engine] backend = "openai"` against `ttc serve` processes on
//! loopback, over a copy of an in-process (cpu) run: every stage that generates or scores
//! reruns through HTTP and its data files come out byte-identical to the in-process run's
//! (per-request seeds; the cpu decoder's outputs do not depend on the batch). Then the
//! failures: one of two servers killed mid-run (the other carries on, same data); both
//! killed (an error naming both URLs), restarted on new ports and rerun (the run resumes
//! and ends with the same data).

use std::io::{BufRead, BufReader};
mod common;

use common::copy_dir;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn ttc(dir: &Path, args: &[&str]) -> (bool, String) {
    let o = common::ttc(dir, args);
    (o.status.success(), common::stderr(&o))
}

fn smoke() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/smoke.toml")
}

/// The in-process run, made once for all tests.
fn cpu_run() -> &'static Path {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        let (ok, err) = ttc(t.path(), &["pipeline", "run", smoke().to_str().unwrap()]);
        assert!(ok, "{err}");
        t
    })
    .path()
}

/// A `ttc serve` process over a run's checkpoints; killed on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    /// Every checkpoint the smoke pipeline runs on a server.
    fn start(run: &Path) -> Serve {
        let mut args = Vec::new();
        for c in ["policy", "policy-large", "prm", "orm", "revision"] {
            args.push("--checkpoint".to_string());
            args.push(format!("checkpoints/smoke/{c}"));
        }
        Serve::with(run, &args)
    }

    /// `ttc serve --port 0 ARGS…` in `run`, once it listens.
    fn with(run: &Path, more: &[String]) -> Serve {
        let mut args = vec!["serve".to_string(), "--port".into(), "0".into()];
        args.extend(more.iter().cloned());
        let mut child = Command::new(env!("CARGO_BIN_EXE_ttc"))
            .current_dir(run)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("ttc serve: listening on ")
            .unwrap_or_else(|| panic!("ttc serve printed {line:?}"))
            .to_string();
        Serve { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The smoke preset on the servers at `urls`.
fn remote_preset(dir: &Path, urls: &[&str]) -> String {
    let text = std::fs::read_to_string(smoke()).unwrap();
    let list: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let p = dir.join("smoke-remote.toml");
    std::fs::write(
        &p,
        format!(
            "{text}\n[engine]\nbackend = \"openai\"\nurls = [{}]\nretries = 2\ntimeout_s = 60\n",
            list.join(", ")
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// Every data file (parquet) of a run, relative to it.
fn data_files(run: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    for d in ["datasets", "reports"] {
        walk(run, &run.join(d), &mut out);
    }
    out.sort();
    out
}

fn assert_same_data(run: &Path) {
    let cpu = cpu_run();
    let files = data_files(cpu);
    assert!(files.len() > 10, "{files:?}");
    assert_eq!(data_files(run), files);
    for f in &files {
        let (a, b) = (
            std::fs::read(cpu.join(f)).unwrap(),
            std::fs::read(run.join(f)).unwrap(),
        );
        assert!(a == b, "{} differs from the in-process run's", f.display());
    }
}

/// Stages that ran (not skipped) in the last pipeline run.
fn ran(run: &Path) -> Vec<String> {
    common::actions(run)
        .into_iter()
        .filter(|(_, a)| a == "ran")
        .map(|(s, _)| s)
        .collect()
}

fn remote_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let run = t.path().join(name);
    copy_dir(cpu_run(), &run);
    (t, run)
}

#[test]
fn the_smoke_pipeline_through_ttc_serve_matches_the_in_process_run_byte_for_byte() {
    let (t, run) = remote_copy("one");
    let server = Serve::start(&run);
    let p = remote_preset(t.path(), &[&server.url]);
    let (ok, err) = ttc(&run, &["pipeline", "run", &p]);
    assert!(ok, "{err}");
    let ran = ran(&run);
    for s in [
        "samples",
        "test-samples",
        "labels",
        "eval-prm",
        "chains-test",
        "revision-samples",
    ] {
        assert!(ran.iter().any(|r| r == s), "{s} did not rerun: {ran:?}");
    }
    assert!(ran.iter().any(|r| r.starts_with("search ")), "{ran:?}");
    assert!(
        err.contains(&format!("remote {} (ttc)", server.url)),
        "{err}"
    );
    assert_same_data(&run);
}

#[test]
fn a_killed_server_leaves_the_run_to_the_other_with_the_same_data() {
    let (t, run) = remote_copy("failover");
    let (mut a, b) = (Serve::start(&run), Serve::start(&run));
    let p = remote_preset(t.path(), &[&a.url, &b.url]);
    let dir = run.clone();
    let job = std::thread::spawn(move || ttc(&dir, &["pipeline", "run", &p]));
    std::thread::sleep(Duration::from_millis(1500));
    a.kill();
    let (ok, err) = job.join().unwrap();
    assert!(ok, "{err}");
    assert!(err.contains(&format!("{} taken out", a.url)), "{err}");
    assert_same_data(&run);
    drop(b);
}

#[test]
fn all_servers_down_is_an_error_naming_them_and_a_rerun_resumes() {
    let (t, run) = remote_copy("resume");
    let (mut a, mut b) = (Serve::start(&run), Serve::start(&run));
    let p = remote_preset(t.path(), &[&a.url, &b.url]);
    let dir = run.clone();
    let job = std::thread::spawn(move || ttc(&dir, &["pipeline", "run", &p]));
    std::thread::sleep(Duration::from_millis(1500));
    a.kill();
    b.kill();
    let (ok, err) = job.join().unwrap();
    assert!(!ok, "the run cannot finish without servers");
    assert!(err.contains(&a.url) && err.contains(&b.url), "{err}");
    // New servers on new ports: the URLs are not part of any stage's config.
    let (c, d) = (Serve::start(&run), Serve::start(&run));
    let p = remote_preset(t.path(), &[&c.url, &d.url]);
    let (ok, err) = ttc(&run, &["pipeline", "run", &p]);
    assert!(ok, "{err}");
    assert_same_data(&run);
}

/// `ttc serve --name policy`, asked the OpenAI clients' way: a base URL ending in `/v1`,
/// and the model by the name it was served under — or by no name, when the server serves
/// one model (under several names, one root). Both give the in-process run's samples.
#[test]
fn a_v1_base_url_and_a_served_name_reach_the_same_model() {
    let (t, served) = remote_copy("served");
    let args = [
        "--checkpoint",
        "checkpoints/smoke/policy",
        "--name",
        "policy",
    ];
    let server = Serve::with(&served, &args.map(String::from));
    let base = format!("{}/v1", server.url);
    let samples = "datasets/smoke/samples-test/samples.parquet";
    let want = std::fs::read(cpu_run().join(samples)).unwrap();
    for (name, model) in [("named", "model = \"policy\"\n"), ("unnamed", "")] {
        let run = t.path().join(name);
        copy_dir(cpu_run(), &run);
        let text = std::fs::read_to_string(smoke()).unwrap();
        let p = t.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "{text}\n[engine]\nbackend = \"openai\"\nurls = [{base:?}]\n{model}retries = 2\n"
            ),
        )
        .unwrap();
        let (ok, err) = ttc(
            &run,
            &[
                "pipeline",
                "run",
                p.to_str().unwrap(),
                "--until",
                "test-samples",
            ],
        );
        assert!(ok, "{name}: {err}");
        assert!(
            ran(&run).contains(&"test-samples".to_string()),
            "{name}: {err}"
        );
        assert!(
            std::fs::read(run.join(samples)).unwrap() == want,
            "{name}: samples differ from the in-process run's"
        );
    }
    drop(server);
}
