//! Presets before any work: every shipped preset plans, and a preset with a mistake in it
//! fails naming the mistake without starting a stage.

mod common;

use common::{ok, repo, stderr, ttc};

fn preset() -> String {
    repo().join("pipelines/smoke.toml").display().to_string()
}

#[test]
fn every_shipped_preset_plans() {
    let d = tempfile::tempdir().unwrap();
    let dir = repo().join("pipelines");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let out = ok(d.path(), &["pipeline", "status", &p.display().to_string()]);
            assert!(out.contains("stages done"), "{}: {out}", p.display());
            n += 1;
        }
    }
    assert!(n >= 4, "presets: {n}");
}

#[test]
fn pipeline_config_errors_fail_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(preset()).unwrap();
    for (bad, expect) in [
        (
            text.replace("strategy = \"dvts\"", "strategy = \"dvtz\""),
            "dvtz",
        ),
        (
            format!("{text}\n[pipeline]\nmanual = [\"policy-huge\"]\n"),
            "policy-huge",
        ),
        (
            text.replace("[revision.chains]", "[revision.chain]"),
            "chain",
        ),
        (
            text.replace("init = \"policy\"", "init = \"prm\""),
            "unknown variant `prm`",
        ),
        (
            text.replace(
                "[verifier.train]\nepochs = 1.0",
                "[verifier.train]\nepochs = 0.0",
            ),
            "[verifier.train] epochs: must be > 0",
        ),
        // A [[prm.variants]] entry is checked as a [prm] section, and its name as a run
        // directory's that no label ablation takes.
        (
            text.replace("within_question = true", "within_questions = true"),
            "[[prm.variants]] \"likelihood\": unknown field `within_questions`",
        ),
        (
            text.replace("name = \"likelihood\"", "name = \"hard\""),
            "name \"hard\" is taken",
        ),
    ] {
        let p = d.path().join("bad.toml");
        std::fs::write(&p, bad).unwrap();
        let o = ttc(d.path(), &["pipeline", "run", p.to_str().unwrap()]);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(expect), "{err}");
        assert!(!d.path().join("datasets").exists(), "work started: {err}");
    }
}
