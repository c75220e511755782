//! The DAG is written once, in the plan (DESIGN §1; STYLE 21): every stage a preset plans is
//! reachable from the CLI (`ttc pipeline status|run PRESET --until ID`) and from the
//! justfile (`just stage ID`), and the justfile orders no stage by hand — no recipe calls a
//! stage's own command, and no recipe depends on another to order stages.

use std::path::PathBuf;

mod common;

fn presets() -> Vec<PathBuf> {
    let mut p: Vec<PathBuf> = std::fs::read_dir(common::repo().join("pipelines"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    p.sort();
    assert!(p.len() >= 4, "{p:?}");
    p
}

/// Recipes of the justfile: (header line, body lines).
fn recipes() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(common::repo().join("justfile")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("    ") {
            if let Some(last) = out.last_mut() {
                last.1.push(line.trim().to_string());
            }
        } else if !line.starts_with('#') && line.contains(':') && !line.contains(":=") {
            out.push((line.to_string(), Vec::new()));
        }
    }
    out
}

#[test]
fn every_planned_stage_is_reachable_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for preset_path in presets() {
        let preset = ttc_pipeline::preset::Preset::load(&preset_path).unwrap();
        let plan = ttc_pipeline::plan::plan(&preset).unwrap();
        assert!(
            plan.len() > 3,
            "{}: {} stages",
            preset_path.display(),
            plan.len()
        );
        let p = preset_path.to_str().unwrap();
        for stage in &plan {
            let id = stage.id();
            let out = common::ttc(dir.path(), &["pipeline", "status", p, "--until", &id]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{p} --until {id:?}: {}",
                common::stderr(&out)
            );
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{id} "))),
                "{p}: `ttc pipeline status --until {id:?}` does not list it:\n{text}"
            );
        }
    }
}

#[test]
fn the_justfile_reaches_stages_through_the_plan_only() {
    let recipes = recipes();
    let stage = recipes
        .iter()
        .find(|(h, _)| h.starts_with("stage "))
        .expect("a `stage` recipe");
    assert_eq!(
        stage.1,
        ["{{ttc}} pipeline run {{preset}} --until \"{{id}}\""],
        "`just stage ID` must be the runner's --until"
    );
    // No recipe runs a stage's own command (that would be a second declaration of it).
    let mut commands = std::collections::BTreeSet::new();
    for preset_path in presets() {
        let preset = ttc_pipeline::preset::Preset::load(&preset_path).unwrap();
        for s in ttc_pipeline::plan::plan(&preset).unwrap() {
            commands.insert(s.command());
        }
    }
    for (header, body) in &recipes {
        for line in body {
            for c in &commands {
                assert!(
                    !line.contains(&format!("{{{{ttc}}}} {c}")),
                    "recipe {header:?} runs stage command `ttc {c}` by hand: use `just stage`"
                );
            }
        }
        // A dependency between recipes would order stages outside the plan.
        let deps = header.split_once(':').map(|x| x.1).unwrap_or("");
        assert!(
            !deps.contains('(') || deps.trim().starts_with("(pipeline "),
            "recipe {header:?} depends on another recipe"
        );
    }
}

/// A stage the preset does not plan is an error naming the stages it has.
#[test]
fn an_unknown_stage_is_named_with_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::repo().join("pipelines/smoke.toml");
    let out = common::ttc(
        dir.path(),
        &[
            "pipeline",
            "status",
            p.to_str().unwrap(),
            "--until",
            "no-such",
        ],
    );
    assert!(!out.status.success());
    let e = common::stderr(&out);
    assert!(e.contains("no such stage") && e.contains("policy"), "{e}");
}
