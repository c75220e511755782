//! The report's policy section: greedy pass@1 per task level.

use anyhow::Result;

use super::cells::*;
use super::doc::Block;
use crate::run::stage::Ctx;

/// Appends the section to `b` (it checks no claim of the paper).
pub fn policy(ctx: &Ctx, b: &mut Vec<Block>, _findings: &mut Vec<Vec<String>>) -> Result<()> {
    let p = ctx.preset_path.display().to_string();
    // Policy.
    b.push(Block::Heading("Policy".into()));
    let pdir = ctx.layout.policy_dir(false);
    let pass = ["test", "val"]
        .iter()
        .map(|s| (s, pdir.join(format!("pass_at_1_{s}.json"))))
        .find(|(_, f)| f.exists());
    match pass {
        Some((split, file)) => {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
            let mut rows = Vec::new();
            if let Some(per) = v["per_level"].as_object() {
                for (l, x) in per {
                    let (k, n) = (x["correct"].as_u64(), x["total"].as_u64());
                    let cell = match (k, n) {
                        (Some(k), Some(n)) => acc_cell(k, n),
                        _ => x.as_f64().map(pct).unwrap_or_default(),
                    };
                    rows.push(vec![l.clone(), cell]);
                }
            }
            b.push(Block::Para(format!(
                "Greedy pass@1 on the {split} split, per task level."
            )));
            b.push(Block::Table {
                header: vec!["level".into(), "pass@1".into()],
                rows,
            });
        }
        None => missing(b, "Policy pass@1", &format!("ttc eval policy --preset {p}")),
    }

    Ok(())
}
