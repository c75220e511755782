//! The runner on a stage written for the test (the whole contract of a new stage: one type),
//! and the plan of the shipped smoke preset: its DAG derived from the files stages read; no
//! two stages that could run side by side write into one folder.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ttc_data::shards::Shard;
use ttc_pipeline::plan::plan;
use ttc_pipeline::preset::Preset;
use ttc_pipeline::run::layout::Layout;
use ttc_pipeline::run::progress::Silent;
use ttc_pipeline::run::record::Hashes;
use ttc_pipeline::run::runner::{Options, Ran, needs, run_stage};
use ttc_pipeline::run::stage::{Ctx, Mode, Stage};

/// Upper-cases `datasets/<run>/in.txt` into `reports/<run>/out.txt`, with `suffix` appended.
struct Shout {
    suffix: String,
}

impl Stage for Shout {
    fn id(&self) -> String {
        "shout".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "suffix": self.suffix })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.data_dir().join("in.txt")]
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.report_dir().join("out.txt")]
    }
    fn command(&self) -> String {
        "shout".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let text = std::fs::read_to_string(ctx.layout.data_dir().join("in.txt"))?;
        let out = format!("{}{}", text.to_uppercase(), self.suffix);
        ttc_core::atomic::write_atomic(&ctx.layout.report_dir().join("out.txt"), out.as_bytes())?;
        Ok(())
    }
}

fn smoke() -> (Preset, PathBuf) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/smoke.toml");
    (Preset::load(&path).unwrap(), path)
}

fn layout(root: &Path) -> Layout {
    Layout::new(
        &root.join("datasets"),
        &root.join("checkpoints"),
        &root.join("reports"),
        "smoke",
    )
}

fn run(stage: &dyn Stage, preset: &Preset, path: &Path, layout: &Layout) -> Result<Ran> {
    let o = Options {
        preset,
        preset_path: path,
        layout,
        mode: Mode::Run,
        shard: Shard::ALL,
        force: false,
        progress: &Silent,
    };
    run_stage(stage, &[], &o, &mut Hashes::default()).map(|r| r.0)
}

#[test]
fn a_stage_reruns_exactly_when_its_config_inputs_or_outputs_change() {
    let t = tempfile::tempdir().unwrap();
    let (preset, path) = smoke();
    let l = layout(t.path());
    let shout = Shout { suffix: "!".into() };
    let e = run(&shout, &preset, &path, &l).unwrap_err();
    assert!(format!("{e:#}").contains("in.txt not found"), "{e:#}");
    ttc_core::atomic::write_atomic(&l.data_dir().join("in.txt"), b"hi").unwrap();
    let out = l.report_dir().join("out.txt");
    assert_eq!(run(&shout, &preset, &path, &l).unwrap(), Ran::Ran);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "HI!");
    assert_eq!(run(&shout, &preset, &path, &l).unwrap(), Ran::Skipped);
    // A changed input, a changed config, a tampered output: each reruns it once.
    ttc_core::atomic::write_atomic(&l.data_dir().join("in.txt"), b"ho").unwrap();
    assert_eq!(run(&shout, &preset, &path, &l).unwrap(), Ran::Ran);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "HO!");
    let quiet = Shout { suffix: ".".into() };
    assert_eq!(run(&quiet, &preset, &path, &l).unwrap(), Ran::Ran);
    assert_eq!(run(&quiet, &preset, &path, &l).unwrap(), Ran::Skipped);
    std::fs::write(&out, "tampered").unwrap();
    assert_eq!(run(&quiet, &preset, &path, &l).unwrap(), Ran::Ran);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "HO.");
}

#[test]
fn the_smoke_plan_orders_stages_and_derives_their_needs_from_files() {
    let (preset, _) = smoke();
    let stages = plan(&preset).unwrap();
    let ids: Vec<String> = stages.iter().map(|s| s.id()).collect();
    assert_eq!(ids.first().map(String::as_str), Some("data"));
    assert_eq!(ids.last().map(String::as_str), Some("report"));
    for s in [
        "search beam-m2-n2-last",
        "search dvts-m2-n4-last",
        "chains-train",
        "exchange",
    ] {
        assert!(ids.iter().any(|i| i == s), "{s} missing from {ids:?}");
    }
    let l = layout(Path::new("/r"));
    let needs_of = |id: &str| {
        let s = stages.iter().find(|s| s.id() == id).unwrap();
        let mut n = needs(s.as_ref(), &stages, &l);
        n.sort();
        n
    };
    assert_eq!(needs_of("labels"), ["data", "policy", "samples"]);
    assert_eq!(needs_of("prm"), ["data", "labels", "policy", "samples"]);
    assert_eq!(needs_of("bins"), ["eval-prm"]);
    assert_eq!(
        needs_of("compute-optimal"),
        ["bins", "eval-revisions", "sweep"]
    );
    // Every stage needs only stages planned before it.
    for (i, s) in stages.iter().enumerate() {
        for n in needs(s.as_ref(), &stages, &l) {
            let j = ids.iter().position(|x| *x == n).unwrap();
            assert!(j < i, "{} needs {n}, planned after it", ids[i]);
        }
    }
}

/// Stages running side by side (`--jobs`, Slurm) each clear stale temp files from their
/// outputs' folders: two stages of a shipped preset write into one folder only when the
/// DAG orders them (one reads, through some path, what the other writes).
#[test]
fn stages_that_share_a_folder_never_run_side_by_side() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let preset = Preset::load(&p).unwrap();
        let layout = Layout::new(
            std::path::Path::new("d"),
            std::path::Path::new("c"),
            std::path::Path::new("r"),
            &preset.name,
        );
        let stages = plan(&preset).unwrap();
        let edges = ttc_pipeline::run::runner::edges(&stages, &layout);
        // upstream[i]: every stage i waits for, directly or not (edges point upstream,
        // and a stage's upstreams come earlier in the plan).
        let mut upstream: Vec<std::collections::HashSet<usize>> = Vec::new();
        for e in &edges {
            let mut all: std::collections::HashSet<usize> = e.iter().copied().collect();
            for &u in e {
                all.extend(upstream[u].iter().copied());
            }
            upstream.push(all);
        }
        let mut writers: std::collections::HashMap<std::path::PathBuf, Vec<usize>> =
            Default::default();
        for (i, s) in stages.iter().enumerate() {
            for o in s.outputs(&layout) {
                let w = writers
                    .entry(o.parent().unwrap().to_path_buf())
                    .or_default();
                if !w.contains(&i) {
                    w.push(i);
                }
            }
        }
        for (d, w) in &writers {
            for (k, &a) in w.iter().enumerate() {
                for &b in &w[k + 1..] {
                    assert!(
                        upstream[b].contains(&a) || upstream[a].contains(&b),
                        "{}: {} and {} could run side by side, both writing into {}",
                        p.display(),
                        stages[a].id(),
                        stages[b].id(),
                        d.display()
                    );
                }
            }
        }
        n += 1;
    }
    assert!(n >= 4);
}
