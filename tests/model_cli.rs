//! `ttc model …` and `ttc bench generate` driven as a user would.

use std::path::{Path, PathBuf};

mod common;
use common::{stderr, ttc};

fn tokenizer_json(dir: &Path) -> PathBuf {
    let preset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/smoke.toml");
    let p = preset.display().to_string();
    assert!(ttc(dir, &["data", "gen", "--preset", &p]).status.success());
    assert!(
        ttc(dir, &["tokenizer", "train", "--preset", &p])
            .status
            .success()
    );
    dir.join("checkpoints/smoke/tokenizer/tokenizer.json")
}

/// `ttc model init` of a tiny model with the smoke tokenizer, seed 3, into `out`.
fn init_tiny(dir: &Path, tok: &str, out: &str) -> std::process::Output {
    common::init_tiny(dir, tok, out, &["--seed", "3"])
}

#[test]
fn init_export_info_roundtrip() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let tok = tokenizer_json(p).display().to_string();
    let o = init_tiny(p, &tok, "m");
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(p.join("m").join(f).exists(), "{f}");
    }
    let o = ttc(p, &["model", "export", "--checkpoint", "m", "--out", "hf"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = std::fs::read(p.join("m/model.safetensors")).unwrap();
    let b = std::fs::read(p.join("hf/model.safetensors")).unwrap();
    assert_eq!(a, b, "export of an unchanged model is byte-identical");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("hf/reference.json")).unwrap()).unwrap();
    let vocab = r["shape"][2].as_u64().unwrap() as usize;
    assert_eq!(r["outputs"].as_array().unwrap().len(), 2 * 16 * vocab);
    let o = ttc(p, &["model", "info", "--checkpoint", "hf"]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        info["inference_flops_per_token"],
        2 * info["params"].as_u64().unwrap()
    );
    // A transformers bf16 checkpoint in three shards: described from its index and headers,
    // loaded, and its load's peak memory reported against its size on disk.
    let sharded =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/llama_bf16_sharded");
    let o = ttc(
        p,
        &[
            "model",
            "info",
            "--checkpoint",
            &sharded.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["files"].as_array().unwrap().len(), 3, "{info}");
    assert_eq!(
        info["stored_values_by_dtype"]["BF16"], info["stored_values"],
        "{info}"
    );
    // bf16 matrices stay bf16 (2 bytes a value); norms are f32.
    let params = info["params"].as_u64().unwrap();
    let memory = info["memory_bytes_loaded"].as_u64().unwrap();
    assert!(
        info["memory_half_weights"] == true
            && memory >= 2 * params
            && memory < 2 * params + params / 10,
        "{info}"
    );
    assert!(info["load_peak_rss_bytes"].as_u64().unwrap() > 0, "{info}");
    // Same seed, same weights.
    assert!(init_tiny(p, &tok, "m2").status.success());
    assert_eq!(a, std::fs::read(p.join("m2/model.safetensors")).unwrap());
}

#[test]
fn mismatched_tokenizer_and_truncated_weights_fail_clearly() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let tok = tokenizer_json(p).display().to_string();
    assert!(
        ttc(
            p,
            &[
                "model", "init", "--size", "tiny", "--vocab", "100", "--out", "small"
            ]
        )
        .status
        .success()
    );
    let o = ttc(
        p,
        &[
            "model",
            "export",
            "--checkpoint",
            "small",
            "--out",
            "x",
            "--tokenizer",
            &tok,
        ],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("vocab_size is 100") && !e.contains("panicked"),
        "{e}"
    );
    let w = p.join("small/model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    let o = ttc(
        p,
        &["model", "export", "--checkpoint", "small", "--out", "x"],
    );
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("model.safetensors") && !e.contains("panicked"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

/// A bench's stdout, one JSON value per line (it must have succeeded).
fn json_lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", stderr(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bench_generate_prints_json_per_batch() {
    let t = tempfile::tempdir().unwrap();
    let o = ttc(
        t.path(),
        &[
            "bench",
            "generate",
            "--size",
            "tiny",
            "--batch",
            "1,4",
            "--prompt-len",
            "8",
            "--new-tokens",
            "8",
        ],
    );
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["batch"], 4);
    assert_eq!(lines[1]["decode_tokens"], 32);
    assert_eq!(lines[1]["prefill_tokens"], 32);
    assert!(lines[1]["decode_tok_s"].as_f64().unwrap() > 0.0);
}

/// `--weights bf16 --bf16-kernel …`: one line per kernel and batch, each with the kernel's
/// name, the read bandwidth measured in the run and the decode bound it sets.
#[test]
fn bench_generate_times_each_bf16_kernel_against_the_bandwidth_bound() {
    let t = tempfile::tempdir().unwrap();
    let o = ttc(
        t.path(),
        &[
            "bench",
            "generate",
            "--size",
            "tiny",
            "--batch",
            "1,2",
            "--prompt-len",
            "4",
            "--new-tokens",
            "4",
            "--weights",
            "bf16",
            "--bf16-kernel",
            "portable,portable",
            "--threads",
            "1",
        ],
    );
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 4);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["kernel"], "portable");
        assert_eq!(l["weights"], "bf16");
        assert_eq!(l["batch"], [1, 2][i % 2]);
        let (bw, bytes) = (
            l["bandwidth_gb_s"].as_f64().unwrap(),
            l["weight_bytes"].as_f64().unwrap(),
        );
        let bound = l["bound_tok_s"].as_f64().unwrap();
        assert!(bw > 0.0 && bytes > 0.0);
        assert!((bound - l["batch"].as_f64().unwrap() * bw * 1e9 / bytes).abs() <= 1e-6 * bound);
        let pct = l["pct_of_bound"].as_f64().unwrap();
        assert!((pct - 100.0 * l["decode_tok_s"].as_f64().unwrap() / bound).abs() <= 1e-6 * pct);
    }
    let o = ttc(
        t.path(),
        &[
            "bench",
            "generate",
            "--size",
            "tiny",
            "--weights",
            "bf16",
            "--bf16-kernel",
            "fast",
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("fast"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_train_prints_json_for_training_and_forward_only() {
    let t = tempfile::tempdir().unwrap();
    for (extra, bench) in [(None, "train"), (Some("--forward-only"), "forward")] {
        let mut args = vec![
            "bench",
            "train",
            "--size",
            "tiny",
            "--batch",
            "2",
            "--seq-len",
            "16",
            "--steps",
            "2",
        ];
        args.extend(extra);
        let o = ttc(t.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let j: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        assert_eq!(j["bench"], bench);
        assert_eq!(j["tokens"], 2 * 16 * 2);
        assert!(j["tok_s"].as_f64().unwrap() > 0.0);
    }
}

/// A checkpoint with a tokenizer that is not ttc's — an imported model's, and so every PRM
/// or revision model trained for it — exports with its tokenizer files as they are: the
/// tokenizer, its config and chat template (as transformers 5 saved them), its generation
/// config.
#[test]
fn a_checkpoint_with_a_foreign_tokenizer_exports_with_its_files() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    let tok = tokenizer_json(p).display().to_string();
    let o = init_tiny(p, &tok, "m");
    assert!(o.status.success(), "{}", stderr(&o));
    let tf5 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf5");
    let files = [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "generation_config.json",
    ];
    for f in files {
        std::fs::copy(tf5.join(f), p.join("m").join(f)).unwrap();
    }
    let o = ttc(p, &["model", "export", "--checkpoint", "m", "--out", "hf"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in files {
        assert_eq!(
            std::fs::read(p.join("hf").join(f)).unwrap(),
            std::fs::read(tf5.join(f)).unwrap(),
            "{f} exported as it was"
        );
    }
    assert!(stderr(&o).contains("chat_template.jinja"), "{}", stderr(&o));

    // A likelihood PRM's reading rule goes with it, whichever tokenizer is exported beside.
    use ttc_jobs::prm_format::{Calibration, FORMAT_FILE, PrmFormat};
    let calibration = Calibration {
        slope: 5.5,
        intercept: 1.25,
    };
    PrmFormat::save_likelihood(&p.join("m"), calibration).unwrap();
    for (out, extra) in [("hf2", None), ("hf3", Some(tok.as_str()))] {
        let mut args = vec!["model", "export", "--checkpoint", "m", "--out", out];
        args.extend(extra.iter().flat_map(|t| ["--tokenizer", *t]));
        let o = ttc(p, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let (format, c) = PrmFormat::load_file(&p.join(out)).unwrap();
        assert_eq!(
            (format, c),
            (PrmFormat::Likelihood, Some(calibration)),
            "{out}"
        );
        assert!(stderr(&o).contains(FORMAT_FILE), "{}", stderr(&o));
    }
}
