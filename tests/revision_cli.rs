//! `ttc revisions build` on a handmade sample table: trajectories with the documented k
//! cap, the nearest wrong attempt last, and a clean error without any correct sample.

use std::path::Path;

use ttc_data::rows::SampleRow;
use ttc_data::rows::TrajectoryRow;

mod common;
use common::{stderr, ttc};

fn row(q: u32, id: u32, text: &str, answer: Option<&str>, correct: bool) -> SampleRow {
    SampleRow {
        question_id: format!("arith/train/{q}"),
        question_index: q,
        level: 1,
        sample_id: id,
        text: text.into(),
        steps: vec![text.into()],
        answer: answer.map(str::to_string),
        correct,
        finish: "eos".into(),
        generated_tokens: 5,
        step_verdicts: Vec::new(),
        first_error: None,
    }
}

fn preset(dir: &Path) -> String {
    let p = dir.join("rev.toml");
    std::fs::write(
        &p,
        r#"name = "rev"
[data]
train = 10
val = 2
test = 2
[revision]
max_attempts = 4
seed = 5
[revision.train]
epochs = 1.0
batch_tokens = 512
lr = 1e-3
"#,
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn revisions_build_writes_trajectories_from_samples() {
    let t = tempfile::tempdir().unwrap();
    let p = preset(t.path());
    let sdir = t.path().join("datasets/rev/samples-revision");
    std::fs::create_dir_all(&sdir).unwrap();
    let samples = vec![
        row(0, 0, "a = 1 + 2 = 3 \\boxed{3}", Some("3"), true),
        row(0, 1, "a = 1 + 2 = 4 \\boxed{4}", Some("4"), false),
        row(0, 2, "a = 7 * 7 = 49 \\boxed{49}", Some("49"), false),
        row(1, 0, "b = 2 \\boxed{2}", Some("2"), true),
        row(1, 1, "garbled", None, false),
    ];
    ttc_core::table::write_parquet(&sdir.join("samples.parquet"), &samples).unwrap();
    let o = ttc(t.path(), &["revisions", "build", "--preset", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<TrajectoryRow> = ttc_core::table::read_parquet(
        &t.path().join("datasets/rev/revisions/trajectories.parquet"),
    )
    .unwrap();
    assert_eq!(rows.len(), 2, "one per correct sample");
    let q0 = rows.iter().find(|r| r.question_index == 0).unwrap();
    assert!(q0.k <= 2);
    if q0.k > 0 {
        assert_eq!(
            *q0.attempt_ids.last().unwrap(),
            1,
            "nearest wrong attempt last"
        );
    }
    let q1 = rows.iter().find(|r| r.question_index == 1).unwrap();
    assert_eq!(q1.k, 0, "the unanswered sample is not an attempt");
    // Rerun: fresh, skipped.
    let o = ttc(t.path(), &["revisions", "build", "--preset", &p]);
    assert!(o.status.success(), "{}", stderr(&o));
    // No correct sample anywhere: a clear error naming the file.
    let none = vec![row(0, 0, "x \\boxed{1}", Some("1"), false)];
    ttc_core::table::write_parquet(&sdir.join("samples.parquet"), &none).unwrap();
    let o = ttc(t.path(), &["revisions", "build", "--preset", &p]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("samples.parquet") && err.contains("no correct sample"),
        "{err}"
    );
}

/// Revision chains, the ORM and chain selection end to end on a tiny random revision model
/// (the plumbing; the default preset measures the numbers).
#[test]
fn revise_train_orm_and_eval_revisions_run_end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("chain.toml");
    std::fs::write(
        &p,
        r#"name = "chain"
[data]
train = 40
val = 4
test = 6
[revision]
max_attempts = 2
[revision.train]
epochs = 1.0
batch_tokens = 512
lr = 1e-3
[revision.chains]
chains = 2
steps = 3
max_new_tokens = 24
questions = 3
chunk = 2
[revision.orm]
questions = 4
[revision.orm.train]
epochs = 1.0
batch_tokens = 1024
lr = 1e-3
eval_every = 2
"#,
    )
    .unwrap();
    let p = p.display().to_string();
    let ok = |args: &[&str]| {
        let o = ttc(t.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stderr(&o)
    };
    ok(&["data", "gen", "--preset", &p]);
    ok(&["tokenizer", "train", "--preset", &p]);
    ok(&[
        "model",
        "init",
        "--size",
        "tiny",
        "--tokenizer",
        "checkpoints/chain/tokenizer/tokenizer.json",
        "--out",
        "checkpoints/chain/revision",
    ]);
    ok(&["revise", "--split", "train", "--preset", &p]);
    let rows: Vec<ttc_data::rows::ChainRow> =
        ttc_core::table::read_parquet(&t.path().join("datasets/chain/chains-train/chains.parquet"))
            .unwrap();
    assert_eq!(
        rows.len(),
        4 * 2 * 4,
        "4 questions x 2 chains x (1 + 3 steps)"
    );
    let e = ok(&["train", "orm", "--preset", &p]);
    assert!(e.contains("orm:"), "{e}");
    ok(&["revise", "--preset", &p]);
    let e = ok(&["eval", "revisions", "--preset", &p]);
    let csv =
        std::fs::read_to_string(t.path().join("reports/chain/revisions/selection.csv")).unwrap();
    let lengths: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(lengths, ["1", "2", "4"], "{e}\n{csv}");
    // A second revise is fresh.
    let e = ok(&["revise", "--preset", &p]);
    assert!(e.contains("up to date"), "{e}");
}
