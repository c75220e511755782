//! Kill policy training with SIGKILL at several points and rerun: the run resumes from its
//! last checkpoint and ends with exactly the weights of an uninterrupted run; no partial
//! file is ever visible under a final name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn ttc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ttc"))
}

/// The smoke preset with one policy epoch (resume is what is tested, not the model).
fn preset() -> String {
    static P: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/smoke.toml"),
        )
        .unwrap();
        let short = text.replacen("epochs = 4.0", "epochs = 1.0", 1);
        assert_ne!(short, text, "smoke.toml: policy epochs changed");
        let p = std::env::temp_dir().join(format!("ttc-resume-{}.toml", std::process::id()));
        std::fs::write(&p, short).unwrap();
        p.display().to_string()
    })
    .clone()
}

fn prepare(dir: &Path) {
    for args in [["data", "gen"], ["tokenizer", "train"]] {
        let o = ttc()
            .current_dir(dir)
            .args(args)
            .args(["--preset", &preset()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

fn train(dir: &Path) {
    let o = ttc()
        .current_dir(dir)
        .args(["train", "policy", "--preset", &preset()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn committed_step(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("checkpoints/smoke/policy/train_state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["step"].as_u64())
        .unwrap_or(0) as usize
}

/// Start training, SIGKILL it once a checkpoint at or past `at` is committed.
fn train_and_kill(dir: &Path, at: usize) {
    let mut child = ttc()
        .current_dir(dir)
        .args(["train", "policy", "--preset", &preset()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while committed_step(dir) < at {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended ({status}) before reaching step {at}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no checkpoint at step {at}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Only complete files under final names: the model appears only when training ends.
    let pol = dir.join("checkpoints/smoke/policy");
    assert!(!pol.join("model.safetensors").exists());
    for e in std::fs::read_dir(&pol).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            ["train_state.json", "metrics.jsonl", "state"].contains(&name.as_str())
                || name.starts_with('.'),
            "unexpected {name}"
        );
    }
}

/// (step, training loss, validation loss) of each logged step.
fn losses(dir: &Path) -> Vec<(u64, f64, Option<f64>)> {
    std::fs::read_to_string(dir.join("checkpoints/smoke/policy/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["step"].as_u64().unwrap(),
                v["loss"].as_f64().unwrap(),
                v["val_loss"].as_f64(),
            )
        })
        .collect()
}

/// The same steps logged with the same losses. The weights are compared bit for bit; a
/// logged loss is a tensor sum the CPU backend may split across threads differently from run
/// to run, which can change its last bit (seen beside another training: 3.7076539993286133 vs
/// …137 with identical weights; the sum's gradient does not depend on its order), so losses
/// agree to 1e-9 relative.
fn assert_same_losses(a: &[(u64, f64, Option<f64>)], b: &[(u64, f64, Option<f64>)]) {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for (x, y) in a.iter().zip(b) {
        let same_val = match (x.2, y.2) {
            (Some(p), Some(q)) => close(p, q),
            (None, None) => true,
            _ => false,
        };
        assert!(x.0 == y.0 && close(x.1, y.1) && same_val, "{x:?} vs {y:?}");
    }
}

#[test]
fn killed_training_resumes_to_identical_weights() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    prepare(a.path());
    prepare(b.path());
    train(a.path());
    train_and_kill(b.path(), 10);
    let first = committed_step(b.path());
    train_and_kill(b.path(), first + 10);
    assert!(committed_step(b.path()) > first);
    train(b.path());
    let wa = std::fs::read(a.path().join("checkpoints/smoke/policy/model.safetensors")).unwrap();
    let wb = std::fs::read(b.path().join("checkpoints/smoke/policy/model.safetensors")).unwrap();
    assert!(
        wa == wb,
        "resumed run's weights differ from the uninterrupted run's"
    );
    assert_same_losses(&losses(a.path()), &losses(b.path()));
    // A finished run is not trained again.
    let o = ttc()
        .current_dir(b.path())
        .args(["train", "policy", "--preset", &preset()])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        wb,
        std::fs::read(b.path().join("checkpoints/smoke/policy/model.safetensors")).unwrap()
    );
}
