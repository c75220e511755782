//! `ttc pipeline run` on the smoke preset: a second run skips every stage; SIGKILLed
//! halfway through each stage and rerun, it ends with the uninterrupted run's bytes (every
//! table, checkpoint and the report), and after every kill each parquet / safetensors file
//! under a final name is complete; a changed section reruns only what depends on it
//! (config errors: `pipeline_config.rs`).

mod common;

use common::files;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn preset() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines/smoke.toml")
        .display()
        .to_string()
}

fn pipeline(args: &[&str]) -> Vec<String> {
    ["pipeline", args[0], &preset()]
        .into_iter()
        .chain(args[1..].iter().copied())
        .map(str::to_string)
        .collect()
}

fn run(dir: &Path, args: &[String]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (stage, action, wall seconds) from reports/smoke/timings.csv.
fn timings(dir: &Path) -> Vec<(String, String, f64)> {
    std::fs::read_to_string(dir.join("reports/smoke/timings.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect()
}

/// Start a stage and SIGKILL it after `after` (it may finish first).
fn kill_after(dir: &Path, args: &[String], after: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// Every parquet and safetensors file under `dir` reads back whole.
fn assert_complete(dir: &Path, when: &str) {
    for f in files(dir, "parquet") {
        if f.components()
            .any(|c| c.as_os_str().to_string_lossy().ends_with(".parts"))
        {
            continue; // parts are written atomically too, checked by their merge
        }
        ttc_core::table::read_frame_parquet(&dir.join(&f))
            .unwrap_or_else(|e| panic!("after killing {when}: {} is partial: {e}", f.display()));
    }
    for f in files(dir, "safetensors") {
        ttc_model::io::weights::read_safetensors(&dir.join(&f))
            .unwrap_or_else(|e| panic!("after killing {when}: {} is partial: {e}", f.display()));
    }
}

#[test]
fn the_pipeline_skips_done_stages_and_resumes_killed_ones_to_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run(a.path(), &pipeline(&["run"]));
    let t = timings(a.path());
    assert!(t.len() >= 20, "{t:?}");
    assert!(t.iter().all(|x| x.1 == "ran"), "{t:?}");
    let status = run(a.path(), &pipeline(&["status"]));
    assert!(
        status.contains(&format!("{0} of {0} stages done", t.len())),
        "{status}"
    );
    // A second run does nothing.
    run(a.path(), &pipeline(&["run"]));
    assert!(timings(a.path()).iter().all(|x| x.1 == "skipped"));

    // Kill the pipeline halfway through each stage that takes a while, rerun, go on.
    for (stage, _, wall) in &t {
        let until = pipeline(&["run", "--until", stage]);
        if *wall >= 0.2 {
            kill_after(b.path(), &until, Duration::from_secs_f64(0.1 + wall / 2.0));
            assert_complete(b.path(), stage);
        }
        run(b.path(), &until);
    }
    run(b.path(), &pipeline(&["run"]));
    common::assert_same_outputs(a.path(), b.path(), "after kill + resume");

    // A changed search seed reruns the searches and what reads them, nothing upstream.
    let text = std::fs::read_to_string(preset()).unwrap();
    let changed = text.replace("seed = 14", "seed = 15");
    assert_ne!(changed, text);
    let p2 = a.path().join("smoke2.toml");
    std::fs::write(&p2, changed).unwrap();
    let p2 = p2.display().to_string();
    let status = run(a.path(), &["pipeline".into(), "status".into(), p2.clone()]);
    assert!(status.contains("stale (config changed)"), "{status}");
    run(a.path(), &["pipeline".into(), "run".into(), p2]);
    for (stage, action, _) in timings(a.path()) {
        let downstream = stage.starts_with("search ")
            || ["sweep", "compute-optimal", "exchange", "report"].contains(&stage.as_str());
        if !downstream {
            assert_eq!(action, "skipped", "{stage} reran");
        } else if stage.starts_with("search ") {
            assert_eq!(action, "ran", "{stage} did not rerun");
        }
    }
    shards_merge_to_the_unsharded_result(a.path(), b.path());
    ablation_prms_live_beside_the_prm(a.path());
    likelihood_guided_search_is_another_strategy(a.path());
}

/// Stderr of `ttc args…` in `dir`, which must succeed.
fn run_err(dir: &Path, args: &[&str]) -> String {
    let (ok, err) = ttc_status(dir, args);
    assert!(ok, "{args:?}: {err}");
    err
}

/// Run `ttc args` in `dir`: whether it succeeded, and its stderr.
fn ttc_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run `ttc args` in `dir`, expecting it to fail; its stderr.
fn run_fails(dir: &Path, args: &[&str]) -> String {
    let (ok, err) = ttc_status(dir, args);
    assert!(!ok, "{args:?} succeeded: {err}");
    err
}

/// On a finished smoke run in `dir`: a PRM trained on truth labels is an ablation beside
/// the PRM (its own checkpoint, evaluation, search and report column; the PRM untouched);
/// the preset's own labels are the PRM itself; `[labels] questions` rolls out fewer
/// questions and `[prm] outcome_labels` still trains on every sample; `[prm] slips` adds
/// slipped solutions of questions without samples.
fn ablation_prms_live_beside_the_prm(dir: &Path) {
    let p = preset();
    let prm = std::fs::read(dir.join("checkpoints/smoke/prm/model.safetensors")).unwrap();
    let err = run_err(dir, &["train", "prm", "--preset", &p, "--labels", "soft"]);
    assert!(err.contains("up to date"), "{err}");
    assert!(!dir.join("checkpoints/smoke/prm-soft").exists());
    let err = run_err(dir, &["train", "prm", "--preset", &p, "--labels", "truth"]);
    assert!(err.contains("(truth labels)"), "{err}");
    run_err(dir, &["eval", "prm", "--preset", &p, "--labels", "truth"]);
    let search = ["search", "--preset", &p, "--strategy", "beam", "--n", "4"];
    run_err(dir, &[&search[..], &["--labels", "truth"]].concat());
    // A search on val writes beside the test searches (`…-val/`), never over one of them.
    let results = || -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("reports/smoke/search"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|d| d.join("results.parquet").exists())
            .map(|d| {
                let name = d.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(d.join("results.parquet")).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = results();
    run_err(dir, &[&search[..], &["--split", "val"]].concat());
    let after = results();
    let new: Vec<&String> = after
        .iter()
        .filter(|a| !before.contains(a))
        .map(|a| &a.0)
        .collect();
    assert!(new.len() == 1 && new[0].ends_with("-val"), "{new:?}");
    assert!(
        before.iter().all(|b| after.contains(b)),
        "a test search's results changed"
    );
    run_err(dir, &["report", "--preset", &p, "--force"]);
    let eval: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("reports/smoke/prm-truth/prm_eval.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(eval["labels"], "truth");
    assert!(eval["within_question_auroc"].is_object() || eval["within_question_auroc"].is_null());
    // Every arith test question makes a reference / one-slip pair the PRM is checked on.
    let pairs = &eval["slip_pairs"];
    assert!(pairs["pairs"].as_u64().unwrap() >= 5, "{pairs}");
    for k in ["at_slip", "last_step"] {
        assert!((0.0..=1.0).contains(&pairs[k].as_f64().unwrap()), "{pairs}");
    }
    // The policy's own likelihood is judged on the same samples: the same subsets, the same
    // majority vote, and at N = 1 the same accuracy as the PRM's selection.
    let lk = &eval["policy_likelihood"];
    let (ps, ls) = (
        eval["selection"].as_array().unwrap(),
        lk["selection"].as_array().unwrap(),
    );
    assert_eq!(ps.len(), ls.len(), "{lk}");
    for (p, l) in ps.iter().zip(ls) {
        assert_eq!(p["subsets"], l["subsets"]);
        assert_eq!(p["majority"], l["majority"]);
        assert!((0.0..=1.0).contains(&l["weighted_best_of_n"].as_f64().unwrap()));
    }
    assert_eq!(ps[0]["n"], 1);
    assert_eq!(ps[0]["best_of_n"], ls[0]["best_of_n"]);
    assert!(lk["within_question_auroc"].is_object() || lk["within_question_auroc"].is_null());
    // Calibrated on the held-out questions' labels, its first-error F1 is a rate.
    assert!(lk["calibrated"]["val_steps"].as_u64().unwrap() > 0, "{lk}");
    let f1 = &lk["calibrated"]["first_error"]["f1"];
    assert!(
        f1.is_null() || (0.0..=1.0).contains(&f1.as_f64().unwrap()),
        "{lk}"
    );
    // Its scores of the test samples sit beside the PRM's: one row per sample, the same
    // samples and steps, and scores that are probabilities.
    let rows = |f: &str| -> Vec<ttc_data::rows::ScoredSample> {
        ttc_core::table::read_parquet(&dir.join("reports/smoke/prm-truth").join(f)).unwrap()
    };
    let (prm_rows, lk_rows) = (rows("scores.parquet"), rows("likelihood_scores.parquet"));
    assert_eq!(prm_rows.len(), lk_rows.len());
    for (p, l) in prm_rows.iter().zip(&lk_rows) {
        assert_eq!(
            (&p.question_id, p.sample_id, p.step_scores.len()),
            (&l.question_id, l.sample_id, l.step_scores.len())
        );
        assert!(
            l.step_scores.iter().all(|s| (0.0..=1.0).contains(s)),
            "{l:?}"
        );
    }
    // … and on the same one-slip pairs (same seed, same questions).
    assert_eq!(lk["slip_pairs"]["pairs"], pairs["pairs"], "{lk}");
    for k in ["at_slip", "last_step"] {
        assert!(
            (0.0..=1.0).contains(&lk["slip_pairs"][k].as_f64().unwrap()),
            "{lk}"
        );
    }
    assert!(
        std::fs::read_dir(dir.join("reports/smoke/search"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-prm-truth")),
        "no search over the truth PRM"
    );
    let report = std::fs::read_to_string(dir.join("reports/smoke/report.md")).unwrap();
    assert!(
        report.contains("prm-truth (ablation): score head from the policy, lr 1e-3, truth labels"),
        "{report}"
    );
    // The preset's [[prm.variants]] entry: trained, evaluated and in the same table, with
    // the reward-hacking and held-out rows.
    assert!(
        report.contains(
            "prm-likelihood: likelihood from the verifier, within-question loss, lr 1e-3, soft labels"
        ),
        "{report}"
    );
    assert!(report.contains("reward hacking"), "{report}");
    assert!(
        report.contains(
            "prm-consensus: likelihood from the verifier, last-step loss, consensus-filtered"
        ),
        "{report}"
    );
    // Reward hacking per strategy: each search's pick judged by the step checker, beam over
    // the PRM at its largest budget (N = 4) among them.
    assert!(
        report.contains("Reward hacking per strategy")
            && report
                .lines()
                .any(|l| l.starts_with("| beam-m2-n4-last | PRM | 4 |")),
        "{report}"
    );
    // The ratio budget (4 over 2 chains of 3): parallel-only 1:4 beside 2:2, from the
    // extra chains in parallel.parquet (2 more chains of 1 attempt per question).
    let extra: Vec<ttc_data::rows::ChainRow> =
        ttc_core::table::read_parquet(&dir.join("datasets/smoke/chains-test/parallel.parquet"))
            .unwrap();
    assert!(
        !extra.is_empty() && extra.iter().all(|r| r.chain >= 2 && r.step == 0),
        "{extra:?}"
    );
    let ratios = std::fs::read_to_string(dir.join("reports/smoke/revisions/ratios.csv")).unwrap();
    for split in ["4,1,4,", "4,2,2,"] {
        assert!(
            ratios.lines().any(|l| l.starts_with(split)),
            "no split {split} in {ratios}"
        );
    }
    // Revisions are selected by the PRM too: their tables, compute-optimal's, the report's.
    for f in [
        "revisions/selection_prm.csv",
        "revisions/ratios_prm.csv",
        "compute_optimal/revisions_prm_efficiency.csv",
    ] {
        assert!(dir.join("reports/smoke").join(f).exists(), "no {f}");
    }
    assert!(report.contains("hierarchical (PRM)"), "{report}");
    let lk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("reports/smoke/prm-likelihood/prm_eval.json")).unwrap(),
    )
    .unwrap();
    // (Null here: no held-out smoke question has both right and wrong samples.)
    assert!(lk.get("val_within_question_auroc").is_some(), "{lk}");
    assert_eq!(
        lk["recipe"],
        "likelihood from the verifier, within-question loss, lr 1e-3"
    );
    // No finding holds vacuously: the smoke policy's best-of-N does not improve with N (its
    // accuracy is ≈ 1% at every budget), so no efficiency N/N' can be claimed against it.
    let efficiency: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("compute-optimal needs fewer generations"))
        .collect();
    assert!(!efficiency.is_empty(), "{report}");
    for l in efficiency {
        assert!(l.contains("| not measurable |"), "{l}");
    }
    assert!(
        report.contains("reference above its one-slip copy"),
        "{report}"
    );
    assert!(report.contains("the verifier's likelihood"), "{report}");
    assert_eq!(
        prm,
        std::fs::read(dir.join("checkpoints/smoke/prm/model.safetensors")).unwrap(),
        "the ablation touched the PRM"
    );
    let err = run_fails(dir, &["train", "prm", "--preset", &p, "--labels", "exact"]);
    assert!(err.contains("expected soft, hard or truth"), "{err}");

    // Roll out 8 of the 24 sampled questions; the PRM still sees every sample's outcome.
    let text = std::fs::read_to_string(&p).unwrap();
    let o = text
        .replace("[labels]\n", "[labels]\nquestions = 8\n")
        .replace("[prm]\n", "[prm]\noutcome_labels = true\n");
    let po = dir.join("smoke-outcome.toml");
    std::fs::write(&po, o).unwrap();
    let po = po.display().to_string();
    run_err(dir, &["label", "--preset", &po]);
    let labels: Vec<ttc_data::rows::LabelRow> =
        ttc_core::table::read_parquet(&dir.join("datasets/smoke/labels/labels.parquet")).unwrap();
    assert!(!labels.is_empty() && labels.iter().all(|l| l.question_index < 8));
    let err = run_err(dir, &["train", "prm", "--preset", &po]);
    let counts: Vec<usize> = err
        .split("prm: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .take(2)
        .collect();
    let samples: Vec<ttc_data::rows::SampleRow> =
        ttc_core::table::read_parquet(&dir.join("datasets/smoke/samples-train/samples.parquet"))
            .unwrap();
    let with_steps = samples.iter().filter(|s| !s.steps.is_empty()).count();
    assert_eq!(counts.iter().sum::<usize>(), with_steps, "{err}");

    // Slipped solutions of 12 questions no sample was drawn for: two examples each (the
    // reference and its slip) beside the labelled ones; more than the split holds is refused.
    let slips = |n: usize| {
        let ps = dir.join(format!("smoke-slips{n}.toml"));
        std::fs::write(
            &ps,
            text.replace("[prm]\n", &format!("[prm]\nslips = {n}\n")),
        )
        .unwrap();
        ps.display().to_string()
    };
    let err = run_err(dir, &["train", "prm", "--preset", &slips(12)]);
    let made: usize = err
        .split(" slip examples")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no slip count in: {err}"));
    assert!(made.is_multiple_of(2) && (16..=24).contains(&made), "{err}");
    let err = run_fails(dir, &["train", "prm", "--preset", &slips(1_000_000)]);
    assert!(err.contains("prm.slips = 1000000"), "{err}");
}

/// On a finished smoke run: the preset's beam search over the verifier's likelihood wrote
/// its own results (its own strategy name, verifier tokens counted), the sweep and the
/// report carry it beside the PRM's beam search, and it takes no PRM labels; the verifier
/// was trained on from the policy; the sweep selects by the calibrated likelihood on the
/// PRM's subsets; compute-optimal chooses within each verifier's methods.
fn likelihood_guided_search_is_another_strategy(dir: &Path) {
    verifier_is_trained_past_the_policy(dir);
    let rows: Vec<ttc_data::rows::SearchRow> = ttc_core::table::read_parquet(
        &dir.join("reports/smoke/search/beam-m2-n4-last-likelihood/results.parquet"),
    )
    .unwrap();
    let prm: Vec<ttc_data::rows::SearchRow> = ttc_core::table::read_parquet(
        &dir.join("reports/smoke/search/beam-m2-n4-last/results.parquet"),
    )
    .unwrap();
    assert_eq!(rows.len(), prm.len());
    assert!(
        rows.iter()
            .all(|r| r.strategy == "beam-m2-likelihood" && r.n == 4)
    );
    assert!(rows.iter().map(|r| r.verifier_tokens).sum::<u64>() > 0);
    let sweep: Vec<ttc_data::rows::SweepRow> =
        ttc_core::table::read_parquet(&dir.join("reports/smoke/sweep/rows.parquet")).unwrap();
    assert!(sweep.iter().any(|r| r.strategy == "beam-m2-likelihood"));
    let report = std::fs::read_to_string(dir.join("reports/smoke/report.md")).unwrap();
    assert!(report.contains("beam-m2-likelihood"), "{report}");
    let p = preset();
    let search = |more: &[&str]| {
        let base = ["search", "--preset", &p, "--strategy", "beam", "--n", "4"];
        run_fails(dir, &[&base[..], more].concat())
    };
    let err = search(&["--verifier", "likelihood", "--labels", "truth"]);
    assert!(err.contains("the likelihood verifier uses none"), "{err}");
    let err = search(&["--verifier", "orm"]);
    assert!(err.contains("expected prm or likelihood"), "{err}");
    // Best-of-N over the likelihood rides on the PRM's subsets: the same (question, N,
    // seed) cells, the verifier's FLOPs on top of the policy's.
    let cells = |s: &str| -> std::collections::BTreeSet<(String, u32, u64)> {
        sweep
            .iter()
            .filter(|r| r.strategy == s)
            .map(|r| (r.question_id.clone(), r.n, r.seed))
            .collect()
    };
    assert!(!cells("weighted-bon").is_empty());
    for s in ["bon-likelihood", "weighted-bon-likelihood"] {
        assert_eq!(cells(s), cells("weighted-bon"), "{s}");
    }
    assert!(
        sweep
            .iter()
            .filter(|r| r.strategy == "weighted-bon-likelihood")
            .all(|r| r.verifier_tokens > 0 && r.flops > 0.0)
    );
    // One compute-optimal pool per verifier, each against its own weighted best-of-N.
    let eff: Vec<ttc_data::rows::EfficiencyRow> = ttc_core::table::read_parquet(
        &dir.join("reports/smoke/compute_optimal/efficiency.parquet"),
    )
    .unwrap();
    for (v, against) in [
        ("prm", "weighted-bon"),
        ("prm", "bon"),
        ("likelihood", "weighted-bon-likelihood"),
        ("likelihood", "bon-likelihood"),
    ] {
        assert!(
            eff.iter()
                .any(|r| r.verifier == v && r.against == against && r.bins == "oracle"),
            "{eff:?}"
        );
    }
    let per_bin: Vec<ttc_data::rows::ComputeOptimalRow> =
        ttc_core::table::read_parquet(&dir.join("reports/smoke/compute_optimal/per_bin.parquet"))
            .unwrap();
    for r in &per_bin {
        for m in [&r.chosen_fold0, &r.chosen_fold1] {
            // "" where a fold has no question of the bin.
            let own = m.is_empty()
                || m == "majority"
                || m.ends_with("-likelihood") == (r.verifier == "likelihood");
            assert!(own, "{r:?} chose outside its pool");
        }
    }
    assert!(
        report.contains("weighted best-of-N over the likelihood"),
        "{report}"
    );
}

/// On a finished smoke run: `[verifier] init = "policy"` trained on from the policy's
/// checkpoint into its own directory (same architecture, other weights), the likelihood
/// in `eval prm` is the verifier's and calibrated: its scores are `sigmoid(a·ln p + b)`,
/// so none reaches above `sigmoid(b)` (p ≤ 1, a > 0).
fn verifier_is_trained_past_the_policy(dir: &Path) {
    let ck = dir.join("checkpoints/smoke");
    let read = |f: &str| std::fs::read(ck.join(f)).unwrap();
    assert_eq!(read("verifier/config.json"), read("policy/config.json"));
    assert_ne!(
        read("verifier/model.safetensors"),
        read("policy/model.safetensors")
    );
    assert!(ck.join("verifier/pass_at_1_val.json").exists());
    let eval: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("reports/smoke/prm/prm_eval.json")).unwrap(),
    )
    .unwrap();
    let lk = &eval["policy_likelihood"];
    assert!(lk["model"].as_str().unwrap().ends_with("verifier"), "{lk}");
    let (a, b) = (
        lk["calibrated"]["a"].as_f64().unwrap(),
        lk["calibrated"]["b"].as_f64().unwrap(),
    );
    let rows: Vec<ttc_data::rows::ScoredSample> =
        ttc_core::table::read_parquet(&dir.join("reports/smoke/prm/likelihood_scores.parquet"))
            .unwrap();
    let top = 1.0 / (1.0 + (-b).exp());
    if a > 0.0 {
        assert!(
            rows.iter()
                .flat_map(|r| &r.step_scores)
                .all(|&s| f64::from(s) <= top + 1e-6),
            "scores above sigmoid(b) = {top}: not calibrated"
        );
    }
    // The verifier needs the policy's checkpoint: its stage is the policy's downstream.
    let p = preset();
    let err = run_err(dir, &["train", "verifier", "--preset", &p]);
    assert!(err.contains("up to date"), "{err}");
}

/// `--shard i/n` + `ttc merge` on dir `a` equal one unsharded run on dir `b` (both hold a
/// finished smoke pipeline); merging before every shard is done names the missing chunk.
fn shards_merge_to_the_unsharded_result(a: &Path, b: &Path) {
    let text = std::fs::read_to_string(preset()).unwrap();
    let p3 = a.join("smoke3.toml");
    std::fs::write(&p3, text.replace("seed = 13", "seed = 99")).unwrap();
    let p3 = p3.display().to_string();
    let sample = |extra: &[&str]| -> Vec<String> {
        ["sample", "--split", "test", "--preset", &p3]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    run(a, &sample(&["--shard", "1/2"]));
    let merge: Vec<String> = ["merge".to_string()]
        .into_iter()
        .chain(sample(&[]))
        .collect();
    let merge_args: Vec<&str> = merge.iter().map(String::as_str).collect();
    let err = run_fails(a, &merge_args);
    assert!(err.contains("1 of 2 parts missing (chunks 0)"), "{err}");
    run(a, &sample(&["--shard", "0/2"]));
    run(a, &merge);
    run(b, &sample(&[]));
    let f = "datasets/smoke/samples-test/samples.parquet";
    assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap());
}
