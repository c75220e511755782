//! The report's PRM section: step AUROC, first-error F1 and calibration.

use anyhow::Result;
use ttc_eval::verifier_metrics::CalibrationBin;

use super::cells::*;
use super::doc::Block;
use super::figures::{Axes, Series, line_chart};
use crate::run::stage::Ctx;

/// Appends the section to `b` (its numbers feed no finding yet).
pub fn prm(ctx: &Ctx, b: &mut Vec<Block>, _findings: &mut Vec<Vec<String>>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    // PRM.
    b.push(Block::Heading("Process reward model".into()));
    let pe = base.join("prm").join("prm_eval.json");
    if pe.exists() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&pe)?)?;
        // The PRM and any ablation PRM evaluated beside it (`ttc eval prm --labels`).
        let mut evals = vec![("prm".to_string(), v)];
        for l in crate::preset::LabelKind::ALL {
            let f = base.join(format!("prm-{}", l.name())).join("prm_eval.json");
            if let Ok(bytes) = std::fs::read(&f) {
                let e: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                evals.push((format!("prm-{} (ablation)", l.name()), e));
            }
        }
        // The preset's [[prm.variants]], each in prm-<name>/.
        for v in ctx.preset.prm.iter().flat_map(|p| &p.variants) {
            let f = base.join(format!("prm-{}", v.name)).join("prm_eval.json");
            if let Ok(bytes) = std::fs::read(&f) {
                let e: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                evals.push((format!("prm-{}", v.name), e));
            }
        }
        let who = crate::preset::likelihood_name(ctx.preset.verifier.is_some());
        b.push(prm_table(&evals, who));
        if let Some(t) = per_level_table(&evals[0].1, who) {
            b.push(Block::Para(format!(
                "Within-question AUROC per level (test): where the PRM keeps what {who} knows, and where neither knows."
            )));
            b.push(t);
        }
        let cal: Vec<CalibrationBin> =
            read_if_present(&base.join("prm").join("calibration_mc.parquet"))?;
        if !cal.is_empty() {
            let pts: Vec<(f64, f64)> = cal
                .iter()
                .filter(|r| r.n > 0)
                .map(|r| (r.mean_score, r.mean_target))
                .collect();
            let diag = Series {
                label: "ideal".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                intervals: vec![],
            };
            let cal = Series {
                label: "PRM".into(),
                points: pts,
                intervals: vec![],
            };
            b.push(Block::Figure {
                file: "prm_calibration.svg".into(),
                svg: line_chart(
                    &Axes {
                        title: "PRM calibration (held-out steps)",
                        x: "mean PRM score",
                        y: "mean MC label",
                        log2_x: false,
                        y_range: (0.0, 1.0),
                    },
                    &[cal, diag],
                )?,
                caption: "PRM step scores against Monte Carlo labels, in score deciles".into(),
            });
        }
    } else {
        missing(b, "PRM evaluation", &format!("ttc eval prm --preset {p}"));
    }

    Ok(())
}

fn num(x: &serde_json::Value) -> String {
    x.as_f64().map_or("–".into(), |x| format!("{x:.3}"))
}

/// "0.581 [0.560, 0.603] (412 q)": the within-question AUROC and its bootstrap interval.
fn within_cell(w: &serde_json::Value) -> String {
    match (w["mean"].as_f64(), w["lo"].as_f64(), w["hi"].as_f64()) {
        (Some(m), Some(lo), Some(hi)) => {
            format!("{m:.3} [{lo:.3}, {hi:.3}] ({} q)", w["questions"])
        }
        _ => "–".into(),
    }
}

/// "0.531 / 0.564 (433 q)": how often the reference outscores its one-slip copy.
fn slip_cell(s: &serde_json::Value) -> String {
    match s["pairs"].as_u64() {
        Some(n) => format!("{} / {} ({n} q)", num(&s["at_slip"]), num(&s["last_step"])),
        None => "–".into(),
    }
}

/// One column per evaluated PRM: what it trained on and how well it verifies.
/// `who`: whose likelihood the evaluation scored with (the policy's own or the verifier's).
fn prm_table(evals: &[(String, serde_json::Value)], who: &str) -> Block {
    let mut header = vec!["metric".to_string()];
    header.extend(evals.iter().map(|(name, v)| match v["recipe"].as_str() {
        Some(r) => format!(
            "{name}: {r}, {} labels",
            v["labels"].as_str().unwrap_or("soft")
        ),
        None => format!("{name}: {} labels", v["labels"].as_str().unwrap_or("soft")),
    }));
    let row = |metric: &str, f: &dyn Fn(&serde_json::Value) -> String| {
        let mut r = vec![metric.to_string()];
        r.extend(evals.iter().map(|(_, v)| f(v)));
        r
    };
    Block::Table {
        header,
        rows: vec![
            row("step AUROC vs MC labels (held-out)", &|v| {
                num(&v["step_auroc_vs_mc"])
            }),
            row("step AUROC vs true verdicts (test)", &|v| {
                num(&v["test_step_auroc_vs_true"])
            }),
            row("first-error F1", &|v| num(&v["first_error"]["f1"])),
            row(
                "within-question AUROC of the last step (test; bootstrap 95%)",
                &|v| within_cell(&v["within_question_auroc"]),
            ),
            row(
                "within-question AUROC on the held-out labelled questions (val: choose by this)",
                &|v| within_cell(&v["val_within_question_auroc"]),
            ),
            row(
                "reference above its one-slip copy, at the slip / last step (test)",
                &|v| slip_cell(&v["slip_pairs"]),
            ),
            row(
                &format!("{who}: within-question AUROC (test; bootstrap 95%)"),
                &|v| within_cell(&v["policy_likelihood"]["within_question_auroc"]),
            ),
            row(
                "… minus this PRM's, paired over the same questions (95%)",
                &|v| {
                    let d = &v["policy_likelihood"]["minus_prm_within_question_auroc"];
                    match (d["mean"].as_f64(), d["lo"].as_f64(), d["hi"].as_f64()) {
                        (Some(m), Some(lo), Some(hi)) => format!(
                            "{m:+.3} [{lo:+.3}, {hi:+.3}]: {}",
                            d["verdict"].as_str().unwrap_or("")
                        ),
                        _ => "–".into(),
                    }
                },
            ),
            row(
                &format!("{who}: step AUROC vs true verdicts (test)"),
                &|v| num(&v["policy_likelihood"]["test_step_auroc_vs_true"]),
            ),
            row(
                &format!("{who}: first-error F1, calibrated on the held-out MC labels"),
                &|v| num(&v["policy_likelihood"]["calibrated"]["first_error"]["f1"]),
            ),
            row(
                &format!("{who}: reference above its one-slip copy, at the slip / last step"),
                &|v| slip_cell(&v["policy_likelihood"]["slip_pairs"]),
            ),
            row(
                "picked at the largest N with a wrong step scored above 0.5 (reward hacking; step checker): best-of-N / weighted, PRM | likelihood",
                &|v| {
                    let h = |x: &serde_json::Value| match x["questions"].as_u64() {
                        Some(_) => format!(
                            "{} / {}",
                            num(&x["best_of_n"]),
                            num(&x["weighted_best_of_n"])
                        ),
                        None => "–".into(),
                    };
                    match v["reward_hacking"]["n"].as_u64() {
                        Some(n) => format!(
                            "N={n}: {} | {}",
                            h(&v["reward_hacking"]),
                            h(&v["policy_likelihood"]["reward_hacking"])
                        ),
                        None => "–".into(),
                    }
                },
            ),
            row(
                "weighted best-of-N at the largest N: PRM / likelihood / majority",
                &|v| {
                    let last = |s: &serde_json::Value| s.as_array().and_then(|a| a.last()).cloned();
                    match (
                        last(&v["selection"]),
                        last(&v["policy_likelihood"]["selection"]),
                    ) {
                        (Some(p), Some(l)) => format!(
                            "N={}: {} / {} / {}",
                            p["n"],
                            num(&p["weighted_best_of_n"]),
                            num(&l["weighted_best_of_n"]),
                            num(&p["majority"])
                        ),
                        _ => "–".into(),
                    }
                },
            ),
        ],
    }
}

/// Per level: the PRM's within-question AUROC beside the likelihood's (`who`'s; `None` when
/// the evaluation has no per-level numbers for both).
fn per_level_table(v: &serde_json::Value, who: &str) -> Option<Block> {
    let prm = v["within_question_auroc"]["per_level"].as_object()?;
    let lik = v["policy_likelihood"]["within_question_auroc"]["per_level"].as_object()?;
    let rows = prm
        .iter()
        .map(|(level, p)| {
            vec![
                level.clone(),
                p["questions"].to_string(),
                num(&p["mean"]),
                lik.get(level).map_or("–".into(), |l| num(&l["mean"])),
            ]
        })
        .collect();
    Some(Block::Table {
        header: ["level", "questions", "PRM", who]
            .map(String::from)
            .to_vec(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_level_rows_pair_the_prm_with_the_policy_likelihood() {
        let v = serde_json::json!({
            "within_question_auroc": {"per_level": {
                "1": {"mean": 0.55, "questions": 78}, "2": {"mean": 0.5, "questions": 9}}},
            "policy_likelihood": {"within_question_auroc": {"per_level": {
                "1": {"mean": 0.987, "questions": 78}}}},
        });
        let Some(Block::Table { header, rows }) = per_level_table(&v, "likelihood") else {
            panic!("no table")
        };
        assert_eq!(header.len(), 4);
        assert_eq!(rows[0], ["1", "78", "0.550", "0.987"]);
        assert_eq!(rows[1], ["2", "9", "0.500", "–"]);
        // No likelihood block (a policy on a server): no table.
        let skipped = serde_json::json!({
            "within_question_auroc": v["within_question_auroc"].clone(),
            "policy_likelihood": {"skipped": "a model on a server returns no logits"},
        });
        assert!(per_level_table(&skipped, "likelihood").is_none());
    }
}
