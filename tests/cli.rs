//! End-to-end tests of the `ttc` binary, driven the way a user runs it.

use std::process::Output;

mod common;
use common::{repo, stderr, ttc};

fn smoke_preset() -> String {
    repo().join("pipelines/smoke.toml").display().to_string()
}

/// A failure is one `error:` line, a non-zero exit and no panic.
fn assert_clean_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in {err}");
    }
}

#[test]
fn data_gen_is_byte_reproducible_and_skips_when_fresh() {
    let t = tempfile::tempdir().unwrap();
    let preset = smoke_preset();
    for d in ["a", "b"] {
        let o = ttc(
            t.path(),
            &["--datasets-dir", d, "data", "gen", "--preset", &preset],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for split in ["train", "val", "test"] {
        let a = std::fs::read(t.path().join(format!("a/smoke/{split}.jsonl"))).unwrap();
        let b = std::fs::read(t.path().join(format!("b/smoke/{split}.jsonl"))).unwrap();
        assert!(!a.is_empty());
        assert_eq!(a, b, "{split} differs between runs");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path().join("a/smoke/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["counts"]["train"], 500);
    assert_eq!(m["counts"]["test_level5"], 10);
    let o = ttc(
        t.path(),
        &["--datasets-dir", "a", "data", "gen", "--preset", &preset],
    );
    assert!(stderr(&o).contains("up to date"), "{}", stderr(&o));
    // A changed output is noticed and rebuilt.
    std::fs::write(t.path().join("a/smoke/val.jsonl"), "").unwrap();
    let o = ttc(
        t.path(),
        &["--datasets-dir", "a", "data", "gen", "--preset", &preset],
    );
    assert!(stderr(&o).contains("data: wrote"), "{}", stderr(&o));
}

#[test]
fn tokenizer_trains_on_the_smoke_dataset() {
    let t = tempfile::tempdir().unwrap();
    let preset = smoke_preset();
    let o = ttc(t.path(), &["tokenizer", "train", "--preset", &preset]);
    assert_clean_error(&o, &["train.jsonl not found", "ttc data gen"]);
    assert!(
        ttc(t.path(), &["data", "gen", "--preset", &preset])
            .status
            .success()
    );
    let o = ttc(t.path(), &["tokenizer", "train", "--preset", &preset]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tok = t.path().join("checkpoints/smoke/tokenizer/tokenizer.json");
    let loaded = ttc_task::tokenizer::load_tokenizer(&tok).unwrap();
    let vocab = loaded.get_vocab_size(true);
    assert!((262..=320).contains(&vocab), "vocab {vocab}");
    let o = ttc(t.path(), &["tokenizer", "train", "--preset", &preset]);
    assert!(stderr(&o).contains("up to date"), "{}", stderr(&o));
}

#[test]
fn grade_writes_rows_back_with_verdicts() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"id": 7, "pred": "\\dfrac{1}{2}", "gold": "0.5", "note": "kept"}"#,
            "\n\n",
            r#"{"pred": "(4,2)", "gold": "(2,4)"}"#,
            "\n",
            r#"{"pred": 42, "gold": "42"}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = ttc(
        t.path(),
        &["grade", "--input", "in.jsonl", "--output", "out.jsonl"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(t.path().join("out.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["equivalent"], true);
    assert_eq!(rows[1]["equivalent"], false);
    assert_eq!(rows[2]["equivalent"], true);
    // Rows come back unchanged, keys in their original order, plus the verdict.
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with(r#"{"id":7,"pred":"#)
    );
    assert_eq!(rows[0]["note"], "kept");
}

#[test]
fn grade_extracts_boxed_answers_from_solutions() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("in.jsonl"),
        r#"{"pred": "so $x = \\boxed{\\frac{3}{6}}$.", "gold": "\\frac12"}"#,
    )
    .unwrap();
    let o = ttc(
        t.path(),
        &[
            "grade",
            "--input",
            "in.jsonl",
            "--output",
            "o.jsonl",
            "--extract",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(t.path().join("o.jsonl")).unwrap();
    assert!(out.contains(r#""equivalent":true"#), "{out}");
}

#[test]
fn check_steps_flags_the_first_wrong_step() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("s.jsonl"),
        concat!(
            r#"{"problem": "Let a = 47. Let b = a * 3 - 18. Let c = b mod 7 + a. What is c?", "#,
            r#""solution": "b = 47 * 3 - 18 = 141 - 18 = 123\n\nc = 123 mod 7 + 47 = 5 + 47 = 52\n\nThe answer is \\boxed{52}."}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = ttc(
        t.path(),
        &["check-steps", "--input", "s.jsonl", "--output", "o.jsonl"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let row: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.path().join("o.jsonl")).unwrap()).unwrap();
    assert_eq!(row["first_error"], 1);
    assert_eq!(
        row["verdicts"],
        serde_json::json!(["correct", "wrong", "wrong"])
    );
    assert_eq!(row["answer_correct"], false);
}

#[test]
fn bad_inputs_give_one_clear_error_line() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    // Missing file.
    let o = ttc(
        p,
        &["grade", "--input", "nope.jsonl", "--output", "o.jsonl"],
    );
    assert_clean_error(&o, &["nope.jsonl"]);
    let o = ttc(p, &["data", "gen", "--preset", "missing.toml"]);
    assert_clean_error(&o, &["missing.toml"]);
    // Malformed JSONL line: file and line named, nothing written.
    std::fs::write(
        p.join("bad.jsonl"),
        "{\"pred\":\"1\",\"gold\":\"1\"}\n{\"pred\": \n",
    )
    .unwrap();
    let o = ttc(p, &["grade", "--input", "bad.jsonl", "--output", "o.jsonl"]);
    assert_clean_error(&o, &["bad.jsonl:2:"]);
    assert!(!p.join("o.jsonl").exists());
    // A row without the field.
    std::fs::write(p.join("nofield.jsonl"), "{\"pred\":\"1\"}\n").unwrap();
    let o = ttc(
        p,
        &["grade", "--input", "nofield.jsonl", "--output", "o.jsonl"],
    );
    assert_clean_error(&o, &["nofield.jsonl:1:", "missing field `gold`"]);
    // Unknown preset key: file, line and key named.
    std::fs::write(
        p.join("typo.toml"),
        "name = \"x\"\n[data]\ntrain = 5\nval = 1\ntest = 1\ntrian = 3\n",
    )
    .unwrap();
    let o = ttc(p, &["data", "gen", "--preset", "typo.toml"]);
    assert_clean_error(&o, &["typo.toml:6", "unknown field `trian`"]);
    // Wrong type.
    std::fs::write(
        p.join("type.toml"),
        "name = \"x\"\n[data]\ntrain = \"many\"\nval = 1\ntest = 1\n",
    )
    .unwrap();
    let o = ttc(p, &["data", "gen", "--preset", "type.toml"]);
    assert_clean_error(&o, &["type.toml:3", "invalid type"]);
    // Knob out of range.
    std::fs::write(p.join("knob.toml"), "name = \"x\"\n[data]\ntrain = 5\nval = 1\ntest = 1\n[[data.levels]]\nsteps=[1,1]\nops=[1,1]\nmax_operand=9\noperators=[\"^\"]\n").unwrap();
    let o = ttc(p, &["data", "gen", "--preset", "knob.toml"]);
    assert_clean_error(&o, &["knob.toml", "data.levels"]);
    // Not an arith problem.
    std::fs::write(
        p.join("np.jsonl"),
        "{\"problem\":\"What?\",\"solution\":\"x\"}\n",
    )
    .unwrap();
    let o = ttc(
        p,
        &["check-steps", "--input", "np.jsonl", "--output", "o.jsonl"],
    );
    assert_clean_error(&o, &["np.jsonl:1"]);
    // Stage inputs missing or malformed: the missing file and the stage to run are named.
    std::fs::write(
        p.join("s.toml"),
        "name = \"s\"\n[data]\ntrain = 5\nval = 1\ntest = 1\n[samples]\nn = 2\n[prm]\nlabels = \"hard\"\n[prm.train]\nepochs = 1.0\n",
    )
    .unwrap();
    // An enum-like preset value is checked when the preset loads: file, line, allowed values.
    std::fs::write(
        p.join("f.toml"),
        "name = \"f\"\n[data]\ntrain = 5\nval = 1\ntest = 1\n[prm]\nlabels = \"fuzzy\"\n[prm.train]\nepochs = 1.0\n",
    )
    .unwrap();
    let o = ttc(p, &["data", "gen", "--preset", "f.toml"]);
    assert_clean_error(&o, &["f.toml:7", "fuzzy", "`soft`, `hard`, `truth`"]);
    let o = ttc(p, &["sample", "--preset", "s.toml"]);
    assert_clean_error(&o, &["policy/config.json", "ttc train policy"]);
    let o = ttc(p, &["sample", "--preset", "s.toml", "--split", "test"]);
    assert_clean_error(&o, &["[test_samples]"]);
    let o = ttc(p, &["sample", "--preset", "s.toml", "--shard", "4/4"]);
    assert!(!o.status.success() && stderr(&o).contains("shard `4/4`: expected i/n"));
    let o = ttc(p, &["label", "--preset", "s.toml"]);
    assert_clean_error(&o, &["[labels]"]);
    let o = ttc(p, &["train", "prm", "--preset", "s.toml"]);
    assert_clean_error(
        &o,
        &["samples-train/samples.parquet", "ttc sample --split train"],
    );
    // A truncated parquet file names itself.
    std::fs::write(p.join("t.parquet"), b"PAR1\x00\x01").unwrap();
    let e = ttc_core::table::read_parquet::<serde_json::Value>(&p.join("t.parquet")).unwrap_err();
    assert!(e.to_string().contains("t.parquet"), "{e}");
    // A tokenizer file that is not one.
    std::fs::write(p.join("tokenizer.json"), "{\"truncated\": ").unwrap();
    let e = ttc_task::tokenizer::load_tokenizer(&p.join("tokenizer.json")).unwrap_err();
    assert!(e.to_string().contains("tokenizer.json"), "{e}");
}

#[test]
fn every_subcommand_has_help() {
    let t = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["data", "gen", "--help"],
        vec!["tokenizer", "train", "--help"],
        vec!["grade", "--help"],
        vec!["check-steps", "--help"],
        vec!["train", "policy", "--help"],
        vec!["eval", "policy", "--help"],
        vec!["sample", "--help"],
        vec!["label", "--help"],
        vec!["train", "prm", "--help"],
        vec!["eval", "prm", "--help"],
        vec!["model", "init", "--help"],
        vec!["model", "export", "--help"],
        vec!["model", "info", "--help"],
        vec!["bench", "generate", "--help"],
        vec!["bench", "train", "--help"],
    ] {
        let o = ttc(t.path(), &args);
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}
