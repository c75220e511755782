//! Time ahead on a fresh run (DESIGN §1): once the data and tokenizer exist, `ttc pipeline
//! status` times every stage that declares its work by the cost model — at a probe's speed
//! while no stage of that kind ran, at the run's own speed after one did — and `ttc bench
//! cost-model` checks the model against the run's records.

mod common;

use common::ok;

fn smoke() -> String {
    common::repo()
        .join("pipelines/smoke.toml")
        .display()
        .to_string()
}

/// The status line of `stage`.
fn row<'a>(status: &'a str, stage: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stage))
        .unwrap_or_else(|| panic!("no row {stage}: {status}"))
}

#[test]
fn a_fresh_run_is_timed_by_the_cost_model_and_the_model_counts_real_tokens() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let p = smoke();
    // Nothing yet: no data shape, no estimate by the model.
    let status = ok(d, &["pipeline", "status", &p]);
    assert!(!status.contains("s cost"), "{status}");

    ok(d, &["pipeline", "run", &p, "--until", "tokenizer"]);
    let status = ok(d, &["pipeline", "status", &p]);
    for stage in [
        "policy",
        "verifier",
        "samples",
        "labels",
        "test-samples",
        "eval-prm",
    ] {
        assert!(row(&status, stage).ends_with("s cost"), "{stage}: {status}");
    }
    assert!(
        status.contains("by the cost model") && status.contains("a probe of the policy's shape"),
        "{status}"
    );

    // After the policy trained, training stages go at the run's speed, the rest at the probe's.
    ok(d, &["pipeline", "run", &p, "--until", "policy"]);
    let status = ok(d, &["pipeline", "status", &p]);
    assert!(!row(&status, "policy").contains("cost"), "{status}");
    assert!(row(&status, "verifier").ends_with("s cost"), "{status}");
    assert!(
        status.contains("this run's measured speed (") && status.contains("or a probe's ("),
        "{status}"
    );

    // The model's tokens for the policy against what its training counted.
    let out = ok(d, &["bench", "cost-model", "--preset", &p]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v["stages"].as_array().unwrap();
    let policy = rows.iter().find(|r| r["stage"] == "policy").unwrap();
    assert_eq!(policy["kind"], "train");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.join("checkpoints/smoke/policy/train_state.json")).unwrap(),
    )
    .unwrap();
    let seen = state["tokens_seen"].as_f64().unwrap();
    let predicted = policy["tokens"].as_f64().unwrap();
    assert!(
        (predicted / seen - 1.0).abs() < 0.1,
        "predicted {predicted} tokens, training saw {seen}"
    );
    assert!(policy["probe_s"].as_f64().unwrap() > 0.0, "{out}");
    // The only stage of its kind: nothing to predict it from.
    assert!(policy["leave_one_out_s"].is_null(), "{out}");
    assert!(
        v["probe_flops_per_s"]["generate"].as_f64().unwrap() > 0.0,
        "{out}"
    );
}
