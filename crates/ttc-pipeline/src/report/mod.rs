//! `ttc report`: `reports/<run>/report.md` and `report.html` (figures inline, no network)
//! from the tables the evaluation stages wrote, with a findings section that checks each
//! of the paper's claims against this run's numbers. Sections whose inputs do not exist yet
//! say which stage makes them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::run::layout::Layout;
use crate::run::stage::{Ctx, Stage};
use doc::{Block, render_html, render_md};

mod beam_vs_bon;
mod cells;
mod compute_optimal;
pub mod doc;
mod exchange;
pub mod figures;
mod newer_strategies;
mod policy;
mod prm;
mod ratio_vs_parallel;
mod revision_bins;
mod revision_ratios;
mod revisions;
mod reward_hacking;
mod strategies;

/// `ttc report`: reads whatever evaluation tables exist (each one optional: a section
/// whose table is missing says which stage makes it).
pub struct ReportStage {
    /// The labels of the plan's searches (their results are read when present).
    searches: Vec<String>,
    /// The PRMs evaluated beside the preset's, read when present: the label kinds'
    /// ablations (`ttc eval prm --labels`) and the `[[prm.variants]]`.
    prm_evals: Vec<String>,
}

impl ReportStage {
    /// The report of `preset`'s run, reading the results of `searches`.
    pub fn new(preset: &crate::preset::Preset, searches: Vec<String>) -> Self {
        let mut prm_evals: Vec<String> = crate::preset::LabelKind::ALL
            .iter()
            .map(|l| l.name().to_string())
            .collect();
        prm_evals.extend(
            preset
                .prm
                .iter()
                .flat_map(|p| &p.variants)
                .map(|v| v.name.clone()),
        );
        ReportStage {
            searches,
            prm_evals,
        }
    }
}

impl Stage for ReportStage {
    fn id(&self) -> String {
        "report".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn inputs(&self, _: &Layout) -> Vec<PathBuf> {
        Vec::new()
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = Vec::new();
        for large in [false, true] {
            let d = layout.policy_dir(large);
            i.extend(["pass_at_1_test.json", "pass_at_1_val.json"].map(|f| d.join(f)));
        }
        let prm = layout.prm_eval_dir(None);
        i.extend(
            ["prm_eval.json", "scores.parquet", "calibration_mc.parquet"].map(|f| prm.join(f)),
        );
        i.extend(
            self.prm_evals
                .iter()
                .map(|n| layout.prm_eval_dir(Some(n)).join("prm_eval.json")),
        );
        i.push(layout.analysis_dir("sweep").join("rows.parquet"));
        i.push(layout.analysis_dir("bins").join("bins.parquet"));
        let co = layout.analysis_dir("compute_optimal");
        i.extend(
            [
                "efficiency.parquet",
                "revisions_per_bin.parquet",
                "revisions_efficiency.parquet",
                "revisions_by_bin.parquet",
            ]
            .map(|f| co.join(f)),
        );
        let ex = layout.analysis_dir("exchange");
        i.extend(["exchange.parquet", "policies.json"].map(|f| ex.join(f)));
        let rev = layout.revision_eval_dir();
        i.extend(
            [
                "selection.parquet",
                "ratio_accuracy.parquet",
                "ratios.parquet",
                "ratios_prm.parquet",
                "ratio_accuracy_prm.parquet",
            ]
            .map(|f| rev.join(f)),
        );
        let chains = layout.chains_dir("test");
        i.extend(["chains.parquet", "stats.json"].map(|f| chains.join(f)));
        i.extend(
            self.searches
                .iter()
                .map(|l| layout.search_dir().join(l).join("results.parquet")),
        );
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.report_dir();
        vec![d.join("report.md"), d.join("report.html")]
    }
    fn command(&self) -> String {
        "report".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        run(ctx, &self.searches)
    }
}

/// "Of N findings: a hold, b do not hold, c not significant, d not measurable." (verdicts
/// are the second column).
fn verdict_summary(findings: &[Vec<String>]) -> String {
    let count = |v: &str| {
        findings
            .iter()
            .filter(|r| r.get(1).is_some_and(|x| x == v))
            .count()
    };
    let mut parts = Vec::new();
    for (v, words) in [
        ("holds", "hold"),
        ("does not hold", "do not hold"),
        ("not significant", "not significant"),
        ("not measurable", "not measurable"),
    ] {
        let k = count(v);
        if k > 0 {
            parts.push(format!("{k} {words}"));
        }
    }
    let other = findings.len()
        - [
            "holds",
            "does not hold",
            "not significant",
            "not measurable",
        ]
        .iter()
        .map(|v| count(v))
        .sum::<usize>();
    if other > 0 {
        parts.push(format!("{other} with other verdicts"));
    }
    format!(
        "Of {} findings (each judged on a paired 95% interval): {}.",
        findings.len(),
        parts.join(", ")
    )
}

fn run(ctx: &Ctx, searches: &[String]) -> Result<()> {
    let started = Instant::now();
    let preset = ctx.preset;
    let base = ctx.layout.report_dir();
    let p = ctx.preset_path.display().to_string();
    let mut b: Vec<Block> = Vec::new();
    let mut findings: Vec<Vec<String>> = Vec::new();
    b.push(Block::Para(format!(
        "Run `{}` (preset `{p}`). Every accuracy carries a Wilson 95% interval and its count; budgets are generations N.",
        preset.name
    )));
    policy::policy(ctx, &mut b, &mut findings)?;
    prm::prm(ctx, &mut b, &mut findings)?;
    reward_hacking::reward_hacking(ctx, searches, &mut b)?;
    for section in [
        strategies::strategies,
        compute_optimal::compute_optimal,
        revisions::revisions,
        revision_ratios::revision_ratios,
        exchange::exchange,
    ] {
        section(ctx, &mut b, &mut findings)?;
    }
    // What a reader wants first: the accuracy-vs-FLOPs figure, a one-line count of the
    // verdicts, then the findings.
    let mut doc = Vec::new();
    if let Some(i) = b
        .iter()
        .position(|x| matches!(x, Block::Figure { file, .. } if file == "accuracy_vs_flops.svg"))
    {
        doc.push(b.remove(i));
    }
    if !findings.is_empty() {
        doc.push(Block::Para(verdict_summary(&findings)));
    }
    doc.push(Block::Heading("Findings".into()));
    if findings.is_empty() {
        doc.push(Block::Para(
            "No finding can be checked yet: run the evaluation stages.".into(),
        ));
    } else {
        doc.push(Block::Table {
            header: ["claim (Snell et al.)", "on this run", "numbers"]
                .map(String::from)
                .to_vec(),
            rows: findings,
        });
    }
    doc.extend(b);
    let title = format!("ttc report — {}", preset.name);
    let fig_dir = base.join("figures");
    ttc_core::atomic::remove_stale_temps(&fig_dir);
    for blk in &doc {
        if let Block::Figure { file, svg, .. } = blk {
            ttc_core::atomic::write_atomic(&fig_dir.join(file), svg.as_bytes())?;
        }
    }
    ttc_core::atomic::write_atomic(
        &base.join("report.md"),
        format!("# {title}\n{}", render_md(&doc)).as_bytes(),
    )?;
    ttc_core::atomic::write_atomic(
        &base.join("report.html"),
        render_html(&title, &doc).as_bytes(),
    )?;
    eprintln!(
        "report: wrote {} and report.html ({} figures) in {:.2}s",
        base.join("report.md").display(),
        doc.iter()
            .filter(|b| matches!(b, Block::Figure { .. }))
            .count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
