//! Helpers shared by the end-to-end tests: run the `ttc` binary as a user would.

use std::path::Path;
use std::process::{Command, Output};

/// Run `ttc args…` in `dir`.
pub fn ttc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running ttc")
}

/// The repository's root (fixtures and presets are found from it).
#[allow(dead_code)] // not every test binary reads fixtures
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ttc args…` in `dir`, which must succeed; its stdout.
#[allow(dead_code)] // not every test binary expects success this way
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = ttc(dir, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The process's stderr as text.
#[allow(dead_code)] // not every test binary reads it
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `ttc model init --size tiny --tokenizer tok --out out extra…` in `dir`.
#[allow(dead_code)] // not every test binary builds a model
pub fn init_tiny(dir: &Path, tok: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "model",
        "init",
        "--size",
        "tiny",
        "--tokenizer",
        tok,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    ttc(dir, &args)
}

/// Copy a run directory (datasets, checkpoints, reports) to `to`.
#[allow(dead_code)] // used by the tests that rerun a run on another engine
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// (stage, action) of the last smoke run in `dir`, from reports/smoke/timings.csv.
#[allow(dead_code)] // used by the tests that rerun a run on another engine
pub fn actions(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("reports/smoke/timings.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

/// The relative paths of the files under `dir` ending in `.ext`, sorted.
#[allow(dead_code)] // used by the tests that compare whole runs
pub fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The files two runs of one preset must agree on: every table, checkpoint and the report
/// (wall times, tokens/s and unmerged parts are the only bytes allowed to differ).
#[allow(dead_code)] // used by the tests that compare whole runs
pub fn outputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = ["parquet", "safetensors", "csv", "jsonl", "md"]
        .iter()
        .flat_map(|e| files(dir, e))
        .filter(|f| !f.ends_with("timings.csv") && !f.ends_with("metrics.jsonl"))
        .filter(|f| !f.to_string_lossy().contains(".parts"))
        .collect();
    v.sort();
    v
}

/// Two runs wrote the same files with the same bytes ([`outputs`]); `how` names the
/// difference between them in the failure.
#[allow(dead_code)] // used by the tests that compare whole runs
pub fn assert_same_outputs(a: &Path, b: &Path, how: &str) {
    let (fa, fb) = (outputs(a), outputs(b));
    assert_eq!(fa, fb, "different files {how}");
    assert!(fa.len() > 30, "{fa:?}");
    for f in &fa {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{} differs {how}", f.display());
    }
}
