//! The smoke pipeline under SIGKILL: every stage is killed partway (at a fraction of its
//! uninterrupted run time) and rerun; the final data files equal an uninterrupted run's,
//! and after every kill each parquet / safetensors file under a final name is complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn preset() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/smoke.toml")
        .display()
        .to_string()
}

fn stages() -> Vec<Vec<String>> {
    let p = preset();
    let s = |a: &str| -> Vec<String> {
        a.split_whitespace()
            .map(str::to_string)
            .chain(["--preset".to_string(), p.clone()])
            .collect()
    };
    vec![
        s("data gen"),
        s("tokenizer train"),
        s("train policy"),
        s("sample --split train"),
        s("label"),
        s("train prm"),
        s("sample --split test"),
        s("eval prm"),
        s("search --strategy beam --n 4 --width 2"),
        s("search --strategy dvts --n 4 --width 2"),
        s("eval sweep"),
    ]
}

fn run(dir: &Path, args: &[String]) -> Duration {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    t.elapsed()
}

/// Start a stage and SIGKILL it after `after` (it may finish first).
fn kill_after(dir: &Path, args: &[String], after: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
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

/// Every parquet and safetensors file under `dir` reads back whole.
fn assert_complete(dir: &Path, when: &str) {
    for f in files(dir, "parquet") {
        if f.components()
            .any(|c| c.as_os_str().to_string_lossy().ends_with(".parts"))
        {
            continue; // parts are written atomically too, checked by their merge
        }
        ttc_core::table::read_frame_parquet(&dir.join(&f))
            .unwrap_or_else(|e| panic!("after killing {when}: {} is partial: {e}", f.display()));
    }
    for f in files(dir, "safetensors") {
        ttc_model::weights::read_safetensors(&dir.join(&f))
            .unwrap_or_else(|e| panic!("after killing {when}: {} is partial: {e}", f.display()));
    }
}

#[test]
fn killed_stages_resume_to_the_uninterrupted_result() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let times: Vec<Duration> = stages().iter().map(|s| run(a.path(), s)).collect();
    for (s, t) in stages().iter().zip(&times) {
        kill_after(b.path(), s, t.mul_f64(0.5).max(Duration::from_millis(30)));
        assert_complete(b.path(), &s.join(" "));
        run(b.path(), s);
    }
    let data = [
        "datasets/smoke/samples-train/samples.parquet",
        "datasets/smoke/labels/labels.parquet",
        "datasets/smoke/samples-test/samples.parquet",
        "reports/smoke/search/beam-m2-n4-last/results.parquet",
        "reports/smoke/search/dvts-m2-n4-last/results.parquet",
        "reports/smoke/sweep/rows.parquet",
        "checkpoints/smoke/policy/model.safetensors",
        "checkpoints/smoke/prm/model.safetensors",
    ];
    for f in data {
        let (x, y) = (
            std::fs::read(a.path().join(f)),
            std::fs::read(b.path().join(f)),
        );
        assert!(x.is_ok(), "{f} missing in the uninterrupted run");
        assert!(
            x.unwrap() == y.unwrap_or_default(),
            "{f} differs after kill + resume"
        );
    }
}
