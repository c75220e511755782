//! The report's exchange section: accuracy per oracle bin of the larger policy (greedy) and
//! of the policy with compute-optimal test-time compute at each FLOPs-matched budget N(R).

use anyhow::Result;
use ttc_data::rows::{CsvRow, ExchangeRow};
use ttc_eval::exchange::RATIOS;

use super::cells::missing;
use super::doc::Block;
use super::figures::{Axes, Series, as_categories, grouped_bars};
use crate::run::stage::Ctx;

/// Appends the section to `b` and its checks of the paper's claims to `findings`.
pub fn exchange(ctx: &Ctx, b: &mut Vec<Block>, findings: &mut Vec<Vec<String>>) -> Result<()> {
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    b.push(Block::Heading(
        "Test-time compute vs a larger model (FLOPs-matched)".into(),
    ));
    if !report_blocks(&base, b, findings)? {
        missing(
            b,
            "The exchange",
            &format!(
                "just stage policy-large; ttc eval policy --large --split test --preset {p}; ttc eval exchange --preset {p}"
            ),
        );
    }
    Ok(())
}

/// The report's exchange section: a figure of accuracy per oracle bin (the larger policy
/// greedy vs the policy with compute-optimal test-time compute at each R), the table, and
/// one finding per R.
fn report_blocks(
    base: &std::path::Path,
    blocks: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) -> Result<bool> {
    let file = base.join("exchange").join("exchange.parquet");
    if !file.exists() {
        return Ok(false);
    }
    let rows: Vec<ExchangeRow> = ttc_core::table::read_parquet(&file)?;
    let oracle: Vec<&ExchangeRow> = rows.iter().filter(|r| r.bins == "oracle").collect();
    let mut series = Vec::new();
    for r in RATIOS {
        let pts: Vec<(f64, f64)> = oracle
            .iter()
            .filter(|x| x.ratio_r == r)
            .map(|x| (f64::from(x.bin), x.small_compute_optimal))
            .collect();
        let budget = oracle
            .iter()
            .find(|x| x.ratio_r == r)
            .map_or(String::new(), |x| x.budget.to_string());
        series.push(Series {
            label: format!("policy + compute-optimal, R={r} (N={budget})"),
            points: pts,
            intervals: vec![],
        });
        let wins: Vec<String> = oracle
            .iter()
            .filter(|x| x.ratio_r == r && x.winner == "small+ttc")
            .map(|x| x.bin.to_string())
            .collect();
        findings.push(vec![
            format!("at equal FLOPs (R={r}) test-time compute beats a ~14× larger model on easy bins, not on hard ones"),
            "measured".into(),
            format!(
                "policy+TTC wins in oracle bins [{}] of {}",
                wins.join(" "),
                oracle.iter().filter(|x| x.ratio_r == r).count()
            ),
        ]);
    }
    let large: Vec<(f64, f64)> = oracle
        .iter()
        .filter(|x| x.ratio_r == RATIOS[0])
        .map(|x| (f64::from(x.bin), x.large_greedy))
        .collect();
    let large_iv: Vec<(f64, f64)> = oracle
        .iter()
        .filter(|x| x.ratio_r == RATIOS[0])
        .map(|x| (x.large_lo95, x.large_hi95))
        .collect();
    series.push(Series {
        label: "larger policy, greedy".into(),
        points: large,
        intervals: large_iv,
    });
    let cats = as_categories(&mut series, "bin ");
    blocks.push(Block::Figure {
        file: "exchange.svg".into(),
        svg: grouped_bars(
            &Axes {
                title: "FLOPs-matched: policy + test-time compute vs larger policy",
                x: "oracle difficulty bin (1 = easiest)",
                y: "accuracy",
                log2_x: false,
                y_range: (0.0, 1.0),
            },
            &cats,
            &series,
        )?,
        caption: "Per oracle bin: the larger policy's greedy accuracy (95% intervals) and the policy's compute-optimal accuracy at the FLOPs-matched budget N(R) = 3(r−1)/R + r".into(),
    });
    if let Some(v) = std::fs::read(base.join("exchange").join("policies.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        let (text, same_data) = policies_para(&v);
        blocks.push(Block::Para(text));
        if let Some(same) = same_data {
            findings.push(vec![
                "the larger model is trained on the same data as the policy (a fair exchange)"
                    .into(),
                if same { "holds" } else { "does not hold" }.into(),
                format!(
                    "{:.2}M vs {:.2}M training tokens",
                    v["larger"]["training_tokens"].as_f64().unwrap_or(0.0) / 1e6,
                    v["policy"]["training_tokens"].as_f64().unwrap_or(0.0) / 1e6
                ),
            ]);
        }
    }
    blocks.push(Block::Table {
        header: [
            "bins",
            "bin",
            "R",
            "N(R)",
            "budget used",
            "capped",
            "policy + CO",
            "questions",
            "larger greedy",
            "lo95",
            "hi95",
            "questions",
            "winner",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows.iter().map(CsvRow::fields).collect(),
    });
    Ok(true)
}

/// The sentence under the exchange figure: both policies' size, training tokens and greedy
/// pass@1, and whether the larger one saw as much data as the policy (the paper's setting).
fn policies_para(v: &serde_json::Value) -> (String, Option<bool>) {
    let one = |k: &str| {
        let p = &v[k];
        let tokens = p["training_tokens"].as_f64();
        let greedy = p["greedy_pass_at_1_test"].as_f64();
        (
            format!(
                "{:.2}M parameters, {}, greedy pass@1 on test {}",
                p["params"].as_f64().unwrap_or(f64::NAN) / 1e6,
                tokens.map_or("training tokens unknown (imported)".into(), |t| format!(
                    "{:.2}M training tokens",
                    t / 1e6
                )),
                greedy.map_or("not measured".into(), |g| format!("{:.1}%", 100.0 * g)),
            ),
            tokens,
        )
    };
    let ((small, ts), (large, tl)) = (one("policy"), one("larger"));
    let same_data = ts.zip(tl).map(|(s, l)| l >= 0.95 * s);
    let mut text = format!("Policies compared: the policy — {small}; the larger policy — {large}.");
    if same_data == Some(false) {
        text.push_str(
            " The larger policy saw fewer training tokens than the policy (the paper trains both on the same data), so this comparison favours test-time compute.",
        );
    }
    (text, same_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_para_flags_a_larger_model_trained_on_less_data() {
        let v = |large_tokens: u64| {
            serde_json::json!({
                "policy": {"params": 1.7e6, "training_tokens": 6_000_000u64, "greedy_pass_at_1_test": 0.338},
                "larger": {"params": 24e6, "training_tokens": large_tokens, "greedy_pass_at_1_test": null},
            })
        };
        let (text, fair) = policies_para(&v(1_500_000));
        assert_eq!(fair, Some(false));
        assert!(
            text.contains("1.70M parameters, 6.00M training tokens, greedy pass@1 on test 33.8%"),
            "{text}"
        );
        assert!(
            text.contains("not measured") && text.contains("favours test-time compute"),
            "{text}"
        );
        let (text, fair) = policies_para(&v(6_000_000));
        assert_eq!(fair, Some(true));
        assert!(!text.contains("favours"), "{text}");
        let mut imported = v(6_000_000);
        imported["larger"]["training_tokens"] = serde_json::Value::Null;
        let (text, fair) = policies_para(&imported);
        assert_eq!(fair, None);
        assert!(
            text.contains("training tokens unknown (imported)"),
            "{text}"
        );
    }
}
