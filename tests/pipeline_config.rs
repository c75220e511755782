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

/// A manual stage runs when a stage asked for by name needs it, never for the report, which
/// reads what exists: `just stage report` must not start hours of training.
#[test]
fn the_report_by_name_leaves_manual_stages_out() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(preset()).unwrap();
    let p = d.path().join("manual.toml");
    std::fs::write(
        &p,
        format!("{text}\n[pipeline]\nmanual = [\"policy-large\"]\n"),
    )
    .unwrap();
    let p = p.display().to_string();
    let has = |out: &str, stage: &str| {
        out.lines()
            .any(|l| l.split_whitespace().next() == Some(stage))
    };
    let report = ok(d.path(), &["pipeline", "status", &p, "--until", "report"]);
    assert!(
        !has(&report, "policy-large") && has(&report, "report"),
        "{report}"
    );
    let exchange = ok(d.path(), &["pipeline", "status", &p, "--until", "exchange"]);
    assert!(has(&exchange, "policy-large"), "{exchange}");
}

/// `ttc pipeline submit --dry-run`: one sbatch call per stage (arrays + merges for the
/// sharded ones), waiting on the jobs of the stages it reads from, a GPU only where the stage
/// runs on cuda; the script is valid bash. The real submission: `tests/slurm.rs`.
#[test]
fn submit_follows_the_plan() {
    let d = tempfile::tempdir().unwrap();
    let script = |preset: &str, extra: &[&str]| {
        let p = repo().join("pipelines").join(preset).display().to_string();
        let mut args = vec!["pipeline", "submit", p.as_str(), "--dry-run"];
        args.extend_from_slice(extra);
        let s = ok(d.path(), &args);
        let f = d.path().join("jobs.sh");
        std::fs::write(&f, &s).unwrap();
        let syntax = std::process::Command::new("bash")
            .arg("-n")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            syntax.status.success(),
            "{}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        s
    };
    let line = |s: &str, job: &str| -> String {
        s.lines()
            .find(|l| l.contains(&format!("--job-name={job} ")))
            .unwrap_or_else(|| panic!("no job {job} in\n{s}"))
            .to_string()
    };
    let gpu = script("gpu.toml", &[]);
    let data = line(&gpu, "ttc-gpu-data");
    assert!(
        !data.contains("--gres") && !data.contains("--dependency"),
        "{data}"
    );
    assert!(line(&gpu, "ttc-gpu-policy").contains("'--gres=gpu:1'"));
    assert!(line(&gpu, "ttc-gpu-policy").contains("--dependency=afterok:$j0:$j1 "));

    let smoke = script(
        "smoke.toml",
        &["--array-tasks", "3", "--sbatch-arg=--account=lab"],
    );
    assert!(!smoke.contains("--gres"), "a CPU preset asks for no GPU");
    assert!(smoke.lines().skip(2).all(|l| l.contains("'--account=lab'")));
    let jobs: Vec<&str> = smoke.lines().skip(2).collect();
    let at = |job: &str| {
        jobs.iter()
            .position(|l| l.contains(&format!("--job-name={job} ")))
            .unwrap()
    };
    let (samples, merge) = (at("ttc-smoke-samples"), at("ttc-smoke-samples-merge"));
    assert!(jobs[samples].contains("'--array=0-2'"));
    assert!(jobs[samples].contains("--shard \"$SLURM_ARRAY_TASK_ID/3\""));
    assert!(jobs[merge].contains(&format!("--dependency=afterok:$j{samples} ")));
    assert!(jobs[merge].contains(" --merge"));
    // Labels read the samples: they wait for the merge, not the array.
    assert!(jobs[at("ttc-smoke-labels")].contains(&format!("$j{merge}")));
    assert!(!jobs[at("ttc-smoke-labels")].contains(&format!("$j{samples}:")));
    assert!(
        !jobs[at("ttc-smoke-policy")].contains("--array"),
        "training is one job"
    );
    assert!(
        jobs.last()
            .unwrap()
            .contains("--job-name=ttc-smoke-report ")
    );

    // What a job runs: an unknown stage, or a shard of a stage that has no chunks, is
    // refused by name before any work.
    let smoke_path = preset();
    for (args, expect) in [
        (vec!["policy-huge"], "no stage \"policy-huge\""),
        (
            vec!["policy", "--shard", "0/2"],
            "stage policy is not cut into chunks",
        ),
    ] {
        let mut a = vec!["pipeline", "stage", smoke_path.as_str()];
        a.extend(args);
        let o = ttc(d.path(), &a);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(expect), "{err}");
    }
    assert!(!d.path().join("datasets").exists(), "work started");

    // A mistake in [slurm] fails naming the key, before anything is submitted.
    let text = std::fs::read_to_string(preset()).unwrap();
    for (bad, expect) in [
        ("[slurm]\ntime = \"soon\"\n", "[slurm] time"),
        (
            "[slurm.stages.polcy]\ntime = \"10\"\n",
            "\"polcy\": no such stage",
        ),
        ("[slurm]\ncpus = 4\n", "unknown field `cpus`"),
    ] {
        let p = d.path().join("bad.toml");
        std::fs::write(&p, format!("{text}\n{bad}")).unwrap();
        let o = ttc(
            d.path(),
            &["pipeline", "submit", p.to_str().unwrap(), "--dry-run"],
        );
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(expect), "{err}");
    }
}
