//! `[prm] head = "generative"` (DESIGN §6, lever (b)): a PRM trained from the verifier as a
//! next-token prediction at Math-Shepherd's step tag is saved as a Math-Shepherd PRM — a
//! causal LM whose tokenizer has the tag `ки`, with Math-Shepherd's prompt and format file —
//! and evaluated through ttc's Math-Shepherd reader (checked against transformers'
//! model-card reading in `tests/fixtures/make_prm_fixtures.py`).

mod common;

use common::ok;

#[test]
fn a_generative_prm_is_trained_and_leaves_as_math_shepherd() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let p = d.join("generative.toml");
    let smoke = common::repo().join("pipelines/smoke.toml");
    let text = format!(
        "extends = {:?}\nname = \"smoke\"\n\n[[prm.variants]]\nname = \"generative\"\nhead = \"generative\"\ninit = \"verifier\"\n",
        smoke.display().to_string()
    );
    std::fs::write(&p, text).unwrap();
    let p = p.display().to_string();
    ok(
        d,
        &["pipeline", "run", &p, "--until", "eval-prm-generative"],
    );

    let ck = d.join("checkpoints/smoke/prm-generative");
    let read = |f: &str| std::fs::read_to_string(ck.join(f)).unwrap();
    assert!(read("prm_format.json").contains("\"math-shepherd\""));
    assert_eq!(read("prompt_template.txt"), "{problem} ");
    let tok: serde_json::Value = serde_json::from_str(&read("tokenizer.json")).unwrap();
    let tag = tok["added_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["content"] == "ки")
        .expect("the step tag is an added token");
    let cfg: serde_json::Value = serde_json::from_str(&read("config.json")).unwrap();
    assert_eq!(
        tag["id"].as_u64().unwrap() + 1,
        cfg["vocab_size"].as_u64().unwrap()
    );
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    // The verifier it started from is a row shorter, and untouched.
    let verifier: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("checkpoints/smoke/verifier/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        verifier["vocab_size"].as_u64().unwrap() + 1,
        cfg["vocab_size"].as_u64().unwrap()
    );
    assert!(
        !d.join("checkpoints/smoke/prm-generative.tagged-init")
            .exists()
    );

    let eval: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.join("reports/smoke/prm-generative/prm_eval.json")).unwrap(),
    )
    .unwrap();
    let recipe = eval["recipe"].as_str().unwrap();
    assert!(
        recipe.starts_with("generative (Math-Shepherd's step tag) from the verifier"),
        "{recipe}"
    );
    let scored: Vec<ttc_data::rows::ScoredSample> =
        ttc_core::table::read_parquet(&d.join("reports/smoke/prm-generative/scores.parquet"))
            .unwrap();
    assert!(!scored.is_empty());
    for s in &scored {
        assert!(s.step_scores.iter().all(|x| *x > 0.0 && *x < 1.0), "{s:?}");
    }
    // Training moved the tag's reading: the scores are not all one value.
    let first: Vec<f32> = scored
        .iter()
        .filter_map(|s| s.step_scores.first().copied())
        .collect();
    assert!(
        first.iter().any(|x| (x - first[0]).abs() > 1e-3),
        "{first:?}"
    );

    // A generative PRM lays steps out in its own format: slipped solutions (ttc's) are refused.
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("init = \"verifier\"", "init = \"verifier\"\nslips = 4"),
    )
    .unwrap();
    let o = common::ttc(
        d,
        &[
            "pipeline",
            "run",
            &bad.display().to_string(),
            "--until",
            "prm-generative",
        ],
    );
    let e = common::stderr(&o);
    assert!(!o.status.success() && e.contains("prm.slips"), "{e}");
}
