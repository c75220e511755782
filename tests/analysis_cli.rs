//! `ttc eval sweep | bins | compute-optimal` on handmade scored samples.

use serde::Serialize;

mod common;
use common::{stderr, ttc};

/// The columns of `reports/<run>/prm/scores.parquet`.
#[derive(Serialize)]
struct Scored {
    question_id: String,
    question_index: u32,
    level: u8,
    sample_id: u32,
    answer: Option<String>,
    correct: bool,
    first_error: Option<u32>,
    step_scores: Vec<f32>,
}

#[test]
fn sweep_bins_and_compute_optimal_from_scored_samples() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("a.toml");
    std::fs::write(&p, "name = \"a\"\n[data]\ntrain = 10\nval = 2\ntest = 6\n").unwrap();
    let p = p.display().to_string();
    // Question q (0..6) has 4 samples; the first q·2/3 (rounded down) are right ("7"),
    // the others say "1". The PRM scores right answers 0.9 on questions 0–2, 0.1 on 3–5.
    let mut scored = Vec::new();
    let mut samples = Vec::new();
    for q in 0..6u32 {
        let right = (q * 2 / 3) as usize;
        for s in 0..4u32 {
            let ok = (s as usize) < right;
            let score = if ok == (q < 3) { 0.9 } else { 0.1 };
            scored.push(Scored {
                question_id: format!("t/{q}"),
                question_index: q,
                level: 1 + (q % 5) as u8,
                sample_id: s,
                answer: Some(if ok { "7" } else { "1" }.into()),
                correct: ok,
                first_error: None,
                step_scores: vec![0.5, score],
            });
            samples.push(ttc_data::rows::SampleRow {
                question_id: format!("t/{q}"),
                question_index: q,
                level: 1,
                sample_id: s,
                text: String::new(),
                steps: vec![],
                answer: None,
                correct: ok,
                finish: "eos".into(),
                generated_tokens: 10,
                step_verdicts: vec![],
                first_error: None,
            });
        }
    }
    let root = t.path();
    ttc_core::table::write_parquet(&root.join("reports/a/prm/scores.parquet"), &scored).unwrap();
    ttc_core::table::write_parquet(
        &root.join("datasets/a/samples-test/samples.parquet"),
        &samples,
    )
    .unwrap();
    // The test split and a tokenizer: the sweep counts each question's prompt tokens.
    for args in [
        &["data", "gen", "--preset", &p][..],
        &["tokenizer", "train", "--preset", &p][..],
    ] {
        let o = ttc(root, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    for d in ["policy", "prm"] {
        let o = ttc(
            root,
            &[
                "model",
                "init",
                "--size",
                "tiny",
                "--tokenizer",
                "checkpoints/a/tokenizer/tokenizer.json",
                "--out",
                &format!("checkpoints/a/{d}"),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let run = |args: &[&str]| {
        let o = ttc(root, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    // A search directory the preset does not run (left by an earlier preset, or run by
    // hand): the sweep names it and does not read it — its fingerprint could not cover it.
    let stray = root.join("reports/a/search/beam-m4-n4-last");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("results.parquet"), b"not parquet").unwrap();
    let o = ttc(root, &["eval", "sweep", "--preset", &p, "--seeds", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("left out 1 search result(s) not in the preset's [[search.runs]]")
            && stderr(&o).contains("beam-m4-n4-last"),
        "{}",
        stderr(&o)
    );
    let csv = std::fs::read_to_string(root.join("reports/a/sweep/accuracy.csv")).unwrap();
    let acc = |s: &str, n: &str| -> f64 {
        csv.lines()
            .find(|l| l.starts_with(&format!("{s},{n},")))
            .unwrap_or_else(|| panic!("{s} {n} in {csv}"))
            .split(',')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    // N=4 uses all samples. Right samples per question: 0, 0, 1, 2, 2, 3 (first in order).
    // Majority: q 3 and 4 tie 2–2 → the answer seen first ("7") wins; q 5 wins 3–1.
    assert!((acc("majority", "4") - 3.0 / 6.0).abs() < 1e-3, "{csv}");
    // Weighted: questions 0–2 score right answers high, 3–5 low → q 2 right (0.9 vs 0.3),
    // q 3 (2×0.1 vs 2×0.9) wrong, q 4 (2×0.1 vs 2×0.9) wrong, q 5 (3×0.1 vs 0.9) wrong.
    assert!((acc("weighted-bon", "4") - 1.0 / 6.0).abs() < 1e-3, "{csv}");
    run(&["eval", "bins", "--preset", &p, "--bins", "2"]);
    let bins = std::fs::read_to_string(root.join("reports/a/bins/bins.csv")).unwrap();
    assert_eq!(bins.lines().count(), 7, "{bins}");
    run(&["eval", "compute-optimal", "--preset", &p, "--bins", "2"]);
    let eff =
        std::fs::read_to_string(root.join("reports/a/compute_optimal/efficiency.csv")).unwrap();
    assert!(
        eff.lines()
            .any(|l| l.starts_with("oracle,prm,weighted-bon,4,")),
        "{eff}"
    );
    // The report: findings from these numbers, figures inline in the HTML.
    run(&["report", "--preset", &p]);
    let md = std::fs::read_to_string(root.join("reports/a/report.md")).unwrap();
    // Vanilla BoN also gets q 2 only (its one right sample scores 0.9): no gain to claim.
    // Verdicts come from paired bootstrap intervals over questions: with 6 questions even a
    // 33-point gap for majority is not significant, and the report says so.
    assert!(
        md.contains(
            "| weighted best-of-N beats vanilla best-of-N (N=4) | not significant | 16.7% vs 16.7%: +0.0 points (95% [+0.0, +0.0], paired over 6 questions) |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "PRM-weighted best-of-N beats majority voting (N=4) | not significant | 16.7% vs 50.0%: -33.3 points"
        ),
        "{md}"
    );
    assert!(md.contains("Revision chains: not computed yet"), "{md}");
    // The first screen: a count of the verdicts before the findings table.
    let summary = md
        .find("findings (each judged on a paired 95% interval)")
        .unwrap();
    assert!(summary < md.find("## Findings").unwrap(), "{md}");
    let html = std::fs::read_to_string(root.join("reports/a/report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 3, "figures inline");
    // Verdicts coloured, text left-aligned.
    assert!(
        html.contains("<td class=\"v-ns\">not significant</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"t\">weighted best-of-N beats vanilla"),
        "{html}"
    );
    assert!(
        root.join("reports/a/figures/accuracy_vs_budget.svg")
            .exists()
    );
    // Absolute bins: pass@1 0, 0, .25, .5, .5, .75 against edges .75 / .5 / .25.
    run(&["eval", "bins", "--preset", &p, "--bins", "4", "--absolute"]);
    let bins = std::fs::read_to_string(root.join("reports/a/bins/bins.csv")).unwrap();
    let header: Vec<&str> = bins.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "oracle_bin").unwrap();
    let got: Vec<&str> = bins
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(got, ["4", "4", "3", "2", "2", "1"], "{bins}");
}
