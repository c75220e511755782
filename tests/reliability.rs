//! Fault injection as a user would meet it: two runs of one directory, outputs over
//! symlinks, corrupt and out-of-range checkpoints, oversized and zero-size presets, a closed
//! stdout pipe; and a seeded, bounded fuzz over preset and config.json values asserting that
//! every failure is one clear error line, never a panic.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{stderr, ttc};

fn smoke() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/smoke.toml")
        .display()
        .to_string()
}

/// A failure with one `error:` line and no panic, containing every needle.
fn clean_error(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected failure: {e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(e.starts_with("error: "), "{e}");
    for n in needles {
        assert!(e.contains(n), "missing {n:?} in {e}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

#[test]
fn a_second_run_of_one_directory_is_refused_naming_the_first() {
    let t = tempfile::tempdir().unwrap();
    let p = smoke();
    let mut first = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(t.path())
        .args(["pipeline", "run", &p])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = t.path().join("reports/smoke/.ttc-lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |s| s.is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no lock appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = ttc(t.path(), &["pipeline", "run", &p]);
    clean_error(&o, &["is in use by", &format!("pid {}", first.id())]);
    let o = ttc(t.path(), &["sample", "--split", "test", "--preset", &p]);
    clean_error(&o, &["is in use by"]);
    // A killed holder leaves its lock file behind; the next run takes it over.
    first.kill().unwrap();
    first.wait().unwrap();
    let o = ttc(t.path(), &["data", "gen", "--preset", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn outputs_never_replace_a_symlink_and_dash_is_stdout() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let input = write(d, "in.jsonl", "{\"pred\":\"1/2\",\"gold\":\"0.5\"}\n");
    write(d, "target.jsonl", "keep\n");
    std::os::unix::fs::symlink(d.join("target.jsonl"), d.join("link.jsonl")).unwrap();
    let o = ttc(d, &["grade", "--input", &input, "--output", "link.jsonl"]);
    clean_error(&o, &["link.jsonl", "not a regular file"]);
    assert!(
        std::fs::symlink_metadata(d.join("link.jsonl"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("target.jsonl")).unwrap(),
        "keep\n"
    );
    let o = ttc(d, &["grade", "--input", &input, "--output", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(row["equivalent"], true);
}

#[test]
fn grade_keeps_numbers_beyond_64_bits_as_written() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let big = "123456789012345678901234";
    let input = write(
        d,
        "in.jsonl",
        &format!("{{\"pred\":{big},\"gold\":\"{big}\"}}\n"),
    );
    let o = ttc(d, &["grade", "--input", &input, "--output", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains(&format!("\"pred\":{big}")), "{out}");
    assert!(out.contains("\"equivalent\":true"), "{out}");
}

#[test]
fn corrupt_and_out_of_range_checkpoints_fail_on_load() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let o = ttc(
        d,
        &[
            "model", "init", "--size", "tiny", "--vocab", "64", "--out", "m",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let info = |dir: &str| ttc(d, &["model", "info", "--checkpoint", dir]);
    assert!(info("m").status.success());
    // A NaN weight.
    let w = d.join("m/model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..12 + header].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::create_dir_all(d.join("nan")).unwrap();
    std::fs::copy(d.join("m/config.json"), d.join("nan/config.json")).unwrap();
    std::fs::write(d.join("nan/model.safetensors"), &bytes).unwrap();
    clean_error(&info("nan"), &["non-finite", "model.safetensors"]);
    // A truncated file.
    std::fs::write(d.join("nan/model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    clean_error(&info("nan"), &["model.safetensors"]);
    // config.json values out of range: each names its key.
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("m/config.json")).unwrap()).unwrap();
    for (key, value, needle) in [
        ("rms_norm_eps", serde_json::json!(0.0), "rms_norm_eps"),
        (
            "max_position_embeddings",
            serde_json::json!(0),
            "max_position_embeddings",
        ),
        ("hidden_size", serde_json::json!(1u64 << 40), "hidden_size"),
        ("rope_theta", serde_json::json!(-1.0), "rope_theta"),
        (
            "architectures",
            serde_json::json!(["GPT2LMHeadModel"]),
            "architectures",
        ),
        ("eos_token_id", serde_json::json!(64), "eos_token_id"),
    ] {
        let mut c = cfg.clone();
        c[key] = value;
        std::fs::write(d.join("nan/config.json"), c.to_string()).unwrap();
        std::fs::copy(
            d.join("m/model.safetensors"),
            d.join("nan/model.safetensors"),
        )
        .unwrap();
        clean_error(&info("nan"), &[needle, "config.json"]);
    }
}

#[test]
fn bad_sizes_zero_work_and_bad_problem_files_fail_before_any_work() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smoke = std::fs::read_to_string(smoke()).unwrap();
    for (name, text, needles) in [
        (
            "huge.toml",
            smoke.replace("train = 500", "train = 1000000000000"),
            vec!["[data] train"],
        ),
        (
            "zero.toml",
            smoke.replace("questions = 20", "questions = 0"),
            vec!["[test_samples] questions"],
        ),
        (
            "inf.toml",
            smoke.replace("temperature = 1.0", "temperature = inf"),
            vec!["temperature"],
        ),
        (
            "chunk.toml",
            smoke.replace("chunk = 5\n", "chunk = 0\n"),
            vec!["[revision.chains]"],
        ),
        (
            "max.toml",
            smoke.replace("train = 500", "train = 18446744073709551615"),
            vec!["max.toml:"],
        ),
        (
            "empty.toml",
            smoke.replace("test = 50", "test = 0"),
            vec!["[data] test"],
        ),
    ] {
        let p = write(d, name, &text);
        assert_ne!(text, smoke, "{name}: the replacement did not apply");
        let mut needles = needles;
        needles.push(name);
        let o = ttc(d, &["pipeline", "status", &p]);
        clean_error(&o, &needles);
        let o = ttc(d, &["pipeline", "run", &p]);
        clean_error(&o, &needles);
        assert!(!d.join("datasets").exists(), "{name}: work started");
    }
    // MATH-style problem files: a level outside 1–5 and an empty answer, each by file:line.
    let row = |level: u8, answer: &str| {
        format!(
            "{{\"problem\":\"p\",\"solution\":\"s\",\"answer\":\"{answer}\",\"subject\":\"a\",\"level\":{level},\"unique_id\":\"u{level}{answer}\"}}\n"
        )
    };
    for (rows, needle) in [
        (
            row(3, "1") + &row(7, "2"),
            "probs.jsonl:2: level must be 1 to 5",
        ),
        (row(3, "1") + &row(4, ""), "probs.jsonl:2: empty answer"),
        (String::new(), "no problems"),
    ] {
        write(d, "probs.jsonl", &rows);
        let p = write(
            d,
            "m.toml",
            "name = \"m\"\n[problems]\ntest = \"probs.jsonl\"\n",
        );
        clean_error(&ttc(d, &["data", "gen", "--preset", &p]), &[needle]);
    }
}

#[test]
fn a_tokenizer_with_ids_past_the_vocabulary_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let p = smoke();
    assert!(ttc(d, &["data", "gen", "--preset", &p]).status.success());
    assert!(
        ttc(d, &["tokenizer", "train", "--preset", &p])
            .status
            .success()
    );
    let tok_path = d.join("checkpoints/smoke/tokenizer/tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tok_path).unwrap()).unwrap();
    let vocab = tok["model"]["vocab"].as_object().unwrap().len();
    // A sparse vocabulary: one token's id far past the others (and past the model's).
    tok["model"]["vocab"]["far"] = serde_json::json!(5000);
    std::fs::write(d.join("far.json"), tok.to_string()).unwrap();
    let vocab_arg = (vocab + 64).to_string();
    let o = ttc(
        d,
        &[
            "model", "init", "--size", "tiny", "--vocab", &vocab_arg, "--out", "m",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ttc(
        d,
        &[
            "model",
            "export",
            "--checkpoint",
            "m",
            "--tokenizer",
            "far.json",
            "--out",
            "hf",
        ],
    );
    clean_error(&o, &["largest id 5000", "do not belong together"]);
}

#[test]
fn a_killed_writers_temp_files_are_cleared_by_the_next_run() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let figures = d.join("reports/smoke/figures");
    std::fs::create_dir_all(&figures).unwrap();
    std::fs::write(figures.join(".exchange.svg.tmpAbC123"), "half").unwrap();
    let o = ttc(d, &["report", "--preset", &smoke()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!figures.join(".exchange.svg.tmpAbC123").exists());
    assert!(d.join("reports/smoke/report.md").exists());
}

#[test]
fn check_steps_marks_a_bad_row_and_checks_the_rest() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let good = serde_json::json!({
        "problem": "Let a = 47. Let b = a * 3 - 18. Let c = b mod 7 + a. What is c?",
        "solution": "b = 123\n\nc = 51\n\n\\boxed{51}",
    });
    let bad = serde_json::json!({ "problem": "x".repeat(20_000), "solution": "y" });
    let input = write(d, "rows.jsonl", &format!("{good}\n{bad}\n"));
    let o = ttc(d, &["check-steps", "--input", &input, "--output", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["answer_correct"], true);
    let e = rows[1]["error"].as_str().unwrap();
    assert!(
        e.len() < 400,
        "the message quotes the problem: {} chars",
        e.len()
    );
    assert!(stderr(&o).contains("rows.jsonl:2"), "{}", stderr(&o));
}

#[test]
fn a_fresh_run_shows_no_partial_stage_and_os_errors_say_it_once() {
    let t = tempfile::tempdir().unwrap();
    let o = ttc(t.path(), &["pipeline", "status", &smoke()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !out.contains("partial"), "{out}");
    let o = ttc(
        t.path(),
        &["grade", "--input", "missing.jsonl", "--output", "x.jsonl"],
    );
    let e = stderr(&o);
    assert_eq!(e.matches("No such file").count(), 1, "{e}");
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let t = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(t.path())
        .args(["pipeline", "status", &smoke()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("stage"), "{first}");
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("panicked") && !e.contains("Broken pipe"), "{e}");
}

/// splitmix64, so the fuzz is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Exit 0, or 1 with one `error:` line; never a panic or a signal.
fn no_panic(o: &Output, what: &str) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{what}: {e}");
    match o.status.code() {
        Some(0) => {}
        Some(1) => assert!(
            e.trim()
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("error: ")),
            "{what}: {e}"
        ),
        other => panic!("{what}: exit {other:?}: {e}"),
    }
}

#[test]
fn fuzzed_presets_and_configs_never_panic() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smoke = std::fs::read_to_string(smoke()).unwrap();
    let values = [
        "0",
        "-1",
        "1",
        "3",
        "1e30",
        "inf",
        "nan",
        "-0.5",
        "2.5",
        "9223372036854775807",
        "\"x\"",
        "\"\"",
        "true",
        "[]",
        "[0]",
    ];
    let mut rng = Rng(2026);
    for i in 0..150 {
        // Replace the value of one `key = value` line (or drop the line).
        let lines: Vec<&str> = smoke.lines().collect();
        let candidates: Vec<usize> = (0..lines.len())
            .filter(|&k| {
                lines[k].contains(" = ")
                    && !lines[k].starts_with('#')
                    && !lines[k].starts_with("name")
            })
            .collect();
        let k = candidates[(rng.next() % candidates.len() as u64) as usize];
        let key = lines[k].split(" = ").next().unwrap();
        let new = match rng.next() % 5 {
            0 => String::new(),
            _ => format!("{key} = {}", rng.pick(&values)),
        };
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(j, l)| if j == k { new.clone() } else { l.to_string() } + "\n")
            .collect();
        let p = write(d, &format!("f{i}.toml"), &text);
        let o = ttc(d, &["pipeline", "status", &p]);
        no_panic(&o, &format!("{p} ({new:?})"));
    }
    // config.json values.
    let o = ttc(
        d,
        &[
            "model", "init", "--size", "tiny", "--vocab", "64", "--out", "m",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("m/config.json")).unwrap()).unwrap();
    let keys: Vec<String> = cfg.as_object().unwrap().keys().cloned().collect();
    let json_values = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1u64 << 40),
        serde_json::json!(1e300),
        serde_json::json!("x"),
        serde_json::json!(null),
        serde_json::json!([]),
        serde_json::json!(3),
    ];
    std::fs::create_dir_all(d.join("c")).unwrap();
    std::fs::copy(d.join("m/model.safetensors"), d.join("c/model.safetensors")).unwrap();
    for i in 0..100 {
        let mut c = cfg.clone();
        let key = &keys[(rng.next() % keys.len() as u64) as usize];
        let v = json_values[(rng.next() % json_values.len() as u64) as usize].clone();
        c[key.as_str()] = v.clone();
        std::fs::write(d.join("c/config.json"), c.to_string()).unwrap();
        let o = ttc(d, &["model", "info", "--checkpoint", "c"]);
        no_panic(&o, &format!("config {i}: {key} = {v}"));
    }
}
