//! The smoke pipeline end to end on the burn backend (flex): run on the cpu backend first,
//! then the same preset with `[engine] backend = "burn"` over a copy of that run. Only the
//! stages that generate or score rerun (the engine joins their configs); data, tokenizer
//! and the policy are kept. The two backends agree to float rounding, so their outputs are
//! the same but for the few sampled tokens where rounding moves a draw across a boundary:
//! the test asks for ≥ 90% identical test samples and accuracies within 5 points.

mod common;

use common::{actions, copy_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

use ttc_data::rows::SampleRow;

fn preset() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/smoke.toml")
}

fn ttc(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn samples(dir: &Path) -> Vec<SampleRow> {
    ttc_core::table::read_parquet(&dir.join("datasets/smoke/samples-test/samples.parquet")).unwrap()
}

fn accuracy(rows: &[SampleRow]) -> f64 {
    rows.iter().filter(|r| r.correct).count() as f64 / rows.len().max(1) as f64
}

#[test]
fn the_smoke_pipeline_runs_on_the_burn_backend_with_the_cpu_backends_figures() {
    let t = tempfile::tempdir().unwrap();
    let cpu = t.path().join("cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    let p = preset().display().to_string();
    let (ok, _, err) = ttc(&cpu, &["pipeline", "run", &p]);
    assert!(ok, "{err}");
    let burn = t.path().join("burn");
    copy_dir(&cpu, &burn);
    let text = std::fs::read_to_string(preset()).unwrap();
    let bp = t.path().join("smoke-burn.toml");
    std::fs::write(&bp, format!("{text}\n[engine]\nbackend = \"burn\"\n")).unwrap();
    let (ok, _, err) = ttc(&burn, &["pipeline", "run", bp.to_str().unwrap()]);
    assert!(ok, "{err}");
    let acts = actions(&burn);
    let action = |s: &str| {
        acts.iter()
            .find(|(id, _)| id == s)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("no stage {s} in {acts:?}"))
    };
    for kept in ["data", "tokenizer", "policy"] {
        assert_eq!(action(kept), "skipped", "{kept}: {acts:?}");
    }
    for rerun in [
        "samples",
        "test-samples",
        "labels",
        "eval-prm",
        "chains-test",
    ] {
        assert_eq!(action(rerun), "ran", "{rerun}: {acts:?}");
    }
    let (a, b) = (samples(&cpu), samples(&burn));
    assert_eq!(a.len(), b.len());
    let same = a.iter().zip(&b).filter(|(x, y)| x.text == y.text).count();
    assert!(
        same * 10 >= a.len() * 9,
        "only {same} of {} test samples identical",
        a.len()
    );
    let (acc_a, acc_b) = (accuracy(&a), accuracy(&b));
    assert!(
        (acc_a - acc_b).abs() <= 0.05,
        "accuracy cpu {acc_a} vs burn {acc_b}"
    );
    assert!(burn.join("reports/smoke/report.html").exists());
}

#[test]
fn engine_errors_name_the_key_and_file_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(preset()).unwrap();
    let mut cases = vec![
        (format!("{text}\n[engine]\nbackend = \"tpu\"\n"), "tpu"),
        (
            format!("{text}\n[engine]\nbackend = \"burn\"\ndevice = \"gpu0\"\n"),
            "[engine] device",
        ),
        (
            text.replace(
                "[labels]\n",
                "[labels]\nengine = { backend = \"burn\", dtype = \"bf16\" }\n",
            ),
            "[labels] engine.dtype",
        ),
        (
            format!("{text}\n[engine]\nbackend = \"burn\"\nthreads = 3\n"),
            "threads",
        ),
        (
            format!("{text}\n[engine]\nbackend = \"openai\"\n"),
            "[engine] urls",
        ),
        (
            format!("{text}\n[engine]\nbackend = \"openai\"\nurls = [\"ftp://h:1\"]\n"),
            "is not an http:// or https:// URL",
        ),
        (
            format!("{text}\n[engine]\nbackend = \"cpu\"\nurls = [\"http://h:1\"]\n"),
            "urls: only with backend = \"openai\"",
        ),
        (
            format!(
                "{text}\n[engine]\nbackend = \"openai\"\nurls = [\"http://h:1\"]\nserver = \"tgi2\"\n"
            ),
            "tgi2",
        ),
    ];
    if !cfg!(feature = "cuda") {
        cases.push((
            format!("{text}\n[engine]\nbackend = \"burn\"\ndevice = \"cuda\"\n"),
            "--features cuda",
        ));
    }
    for (bad, expect) in cases {
        let p = d.path().join("bad.toml");
        std::fs::write(&p, bad).unwrap();
        let (ok, _, err) = ttc(d.path(), &["pipeline", "run", p.to_str().unwrap()]);
        assert!(!ok && err.contains(expect), "{expect}: {err}");
        assert!(err.contains("bad.toml"), "names the file: {err}");
        assert!(!d.path().join("datasets").exists(), "work started: {err}");
    }
}
