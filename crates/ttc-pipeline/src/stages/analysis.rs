//! `ttc eval sweep`, `ttc eval bins`, `ttc eval compute-optimal` (DESIGN §9): accuracy
//! against budget, difficulty bins, and two-fold cross-validated compute-optimal selection.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use ttc_eval::bins::difficulty_rows;

use crate::run::table_io::{write_csv, write_table};
use ttc_eval::sweep::{ModelSizes, accuracy_lines, sampled_rows, search_rows};

use ttc_data::rows::{
    BinRow, ComputeOptimalRow, CsvRow, EfficiencyRow, ScoredSample, SearchRow, SweepRow,
};
use ttc_eval::co_tables::sweep_co_tables;

use crate::run::layout::{Layout, prompt_files};
use crate::run::stage::{Ctx, Stage};

/// `[analysis]` (and the `ttc eval` flags that override it).
pub use crate::preset::AnalysisSection as AnalysisArgs;

/// `ttc eval sweep`: majority / best-of-N / weighted best-of-N at every budget over seeded
/// subsets of the test samples, plus the results of the preset's `[[search.runs]]`.
pub struct SweepStage {
    args: AnalysisArgs,
    /// The plan's searches (`reports/<run>/search/<label>/`): the only ones read, so the
    /// fingerprint covers every row (a directory left by a run since removed from the
    /// preset, or a search run by hand, is named and left out).
    searches: Vec<String>,
    /// The likelihood in `likelihood_scores.parquet` is the `[verifier]` model's (its size
    /// and prompt count in the FLOPs), not the policy's own.
    verifier_lm: bool,
}

/// `ttc eval bins`: oracle and predicted difficulty bins of the test questions.
pub struct BinsStage {
    args: AnalysisArgs,
}

/// `ttc eval compute-optimal`: two-fold cross-validated compute-optimal selection per bin.
pub struct ComputeOptimalStage {
    args: AnalysisArgs,
    /// The revision tables (`eval-revisions`) join the analysis.
    revisions: bool,
}

impl SweepStage {
    pub fn new(args: AnalysisArgs, searches: Vec<String>, verifier_lm: bool) -> Self {
        SweepStage {
            args,
            searches,
            verifier_lm,
        }
    }
}

impl BinsStage {
    pub fn new(args: AnalysisArgs) -> Self {
        BinsStage { args }
    }
}

impl ComputeOptimalStage {
    pub fn new(args: AnalysisArgs, revisions: bool) -> Self {
        ComputeOptimalStage { args, revisions }
    }
}

impl Stage for SweepStage {
    fn id(&self) -> String {
        "sweep".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"seeds": self.args.seeds})
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.prm_eval_dir(None).join("scores.parquet"),
            layout.samples_file("test"),
            layout.policy_dir(false).join("config.json"),
            layout.prm_dir(None).join("config.json"),
            // Prompt lengths (the FLOPs of sampled strategies count the prompt).
            layout.split_file("test"),
            layout.policy_dir(false).join("tokenizer.json"),
            layout.prm_dir(None).join("tokenizer.json"),
        ];
        i.extend(
            self.searches
                .iter()
                .map(|l| layout.search_dir().join(l).join("results.parquet")),
        );
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let lik = layout.likelihood_dir(self.verifier_lm);
        [
            prompt_files(&layout.policy_dir(false)),
            prompt_files(&layout.prm_dir(None)),
            // Best-of-N over the likelihood, when `eval prm` could score it.
            vec![
                layout.prm_eval_dir(None).join("likelihood_scores.parquet"),
                lik.join("config.json"),
                lik.join("tokenizer.json"),
            ],
            prompt_files(&lik),
        ]
        .concat()
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.analysis_dir("sweep").join("rows.parquet")]
    }
    fn command(&self) -> String {
        "eval sweep".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        sweep(&self.args, &self.searches, self.verifier_lm, ctx)
    }
}

impl Stage for BinsStage {
    fn id(&self) -> String {
        "bins".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"bins": self.args.bins, "absolute": self.args.absolute})
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.prm_eval_dir(None).join("scores.parquet")]
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.analysis_dir("bins").join("bins.parquet")]
    }
    fn command(&self) -> String {
        "eval bins".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        bins(&self.args, ctx)
    }
}

impl Stage for ComputeOptimalStage {
    fn id(&self) -> String {
        "compute-optimal".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "bins": self.args.bins,
            "cv_seed": self.args.cv_seed,
            "revision_cv_seed": self.args.revision_cv_seed,
        })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.analysis_dir("sweep").join("rows.parquet"),
            layout.analysis_dir("bins").join("bins.parquet"),
        ];
        if self.revisions {
            let d = layout.revision_eval_dir();
            // Under the ORM and the PRM (a plan with revisions and compute-optimal has both).
            i.extend([
                d.join("selection.parquet"),
                d.join("ratios.parquet"),
                d.join("selection_prm.parquet"),
                d.join("ratios_prm.parquet"),
            ]);
        }
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let co = layout.analysis_dir("compute_optimal");
        let mut tables = vec!["efficiency", "per_bin"];
        if self.revisions {
            tables.extend([
                "revisions_per_bin",
                "revisions_efficiency",
                "revisions_by_bin",
                "revisions_prm_per_bin",
                "revisions_prm_efficiency",
                "revisions_prm_by_bin",
            ]);
        }
        tables
            .into_iter()
            .flat_map(|t| [co.join(format!("{t}.parquet")), co.join(format!("{t}.csv"))])
            .collect()
    }
    fn command(&self) -> String {
        "eval compute-optimal".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        compute_optimal_cmd(&self.args, ctx)
    }
}

fn scored_samples(ctx: &Ctx) -> Result<Vec<ScoredSample>> {
    let f = ctx.layout.report_dir().join("prm").join("scores.parquet");
    Ok(ttc_core::table::read_parquet(&f)?)
}

pub fn params(dir: &std::path::Path) -> Result<f64> {
    Ok(ttc_model::LlamaConfig::load(&dir.join("config.json"))?.num_params() as f64)
}

/// Majority / best-of-N / weighted best-of-N at every budget 1, 2, 4, … up to the samples
/// per question, over `seeds` random subsets each, by the PRM and (when `eval prm` scored
/// them) by the likelihood; plus the `searches` (the preset's runs).
fn sweep(a: &AnalysisArgs, searches: &[String], verifier_lm: bool, ctx: &Ctx) -> Result<()> {
    let scored = scored_samples(ctx)?;
    let samples: Vec<ttc_data::rows::SampleRow> =
        ttc_core::table::read_parquet(&ctx.layout.samples_dir("test").join("samples.parquet"))?;
    let tokens: HashMap<(u32, u32), u64> = samples
        .iter()
        .map(|s| ((s.question_index, s.sample_id), s.generated_tokens as u64))
        .collect();
    let p_policy = params(&ctx.layout.policy_dir(false))?;
    let p_prm = params(&ctx.layout.prm_dir(None))?;
    let sizes = ModelSizes {
        policy: p_policy,
        prm: p_prm,
    };
    let prompts = prompt_tokens(ctx, &ctx.layout.prm_dir(None))?;
    let (mut rows, budgets) = sampled_rows(&scored, &tokens, &prompts, a.seeds, sizes);
    rows.extend(likelihood_rows(a, verifier_lm, &tokens, p_policy, ctx)?);
    let sdir = ctx.layout.search_dir();
    for label in searches {
        let f = sdir.join(label).join("results.parquet");
        let rs: Vec<SearchRow> = ttc_core::table::read_parquet(&f)?;
        rows.extend(search_rows(rs));
    }
    let ignored = undeclared_searches(&sdir, searches);
    if !ignored.is_empty() {
        eprintln!(
            "eval sweep: left out {} search result(s) not in the preset's [[search.runs]] (add a run to include one): {}",
            ignored.len(),
            ignored.join(", ")
        );
    }
    let out = ctx.layout.report_dir().join("sweep");
    ttc_core::table::write_parquet(&out.join("rows.parquet"), &rows)?;
    let lines = accuracy_lines(&rows);
    write_csv(
        &out.join("accuracy.csv"),
        "strategy,n,accuracy,lo95,hi95,rows,flops_per_question",
        &lines,
    )?;
    eprintln!(
        "eval sweep: {} rows, budgets {:?}; wrote {}",
        rows.len(),
        budgets,
        out.display()
    );
    for l in &lines {
        eprintln!("  {l}");
    }
    Ok(())
}

/// Search results under `dir` whose label is not one of `searches`, sorted.
fn undeclared_searches(dir: &std::path::Path, searches: &[String]) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("results.parquet").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|l| !searches.contains(l))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Best-of-N and weighted best-of-N over the likelihood in `likelihood_scores.parquet`
/// (strategies `bon-likelihood`, `weighted-bon-likelihood`; the verifier's FLOPs are its
/// model's); none when `eval prm` wrote no such file (a policy on a server).
fn likelihood_rows(
    a: &AnalysisArgs,
    verifier_lm: bool,
    tokens: &HashMap<(u32, u32), u64>,
    p_policy: f64,
    ctx: &Ctx,
) -> Result<Vec<SweepRow>> {
    let f = ctx
        .layout
        .prm_eval_dir(None)
        .join("likelihood_scores.parquet");
    if !f.exists() {
        return Ok(Vec::new());
    }
    let scored: Vec<ScoredSample> = ttc_core::table::read_parquet(&f)?;
    let dir = ctx.layout.likelihood_dir(verifier_lm);
    let sizes = ModelSizes {
        policy: p_policy,
        prm: params(&dir)?,
    };
    let prompts = prompt_tokens(ctx, &dir)?;
    let (rows, _) = sampled_rows(&scored, tokens, &prompts, a.seeds, sizes);
    Ok(rows
        .into_iter()
        .filter(|r| r.strategy != "majority")
        .map(|mut r| {
            r.strategy += crate::preset::LIKELIHOOD_SUFFIX;
            r
        })
        .collect())
}

/// Each test question's prompt tokens for the policy and for the verifier in `verifier`,
/// in each model's own tokenizer and prompt format.
fn prompt_tokens(ctx: &Ctx, verifier: &std::path::Path) -> Result<HashMap<u32, (u64, u64)>> {
    let problems = ttc_task::math500::load_problems(&ctx.layout.split_file("test"))?;
    let lengths = |dir: &std::path::Path| -> Result<Vec<u64>> {
        let tok = ttc_engine::checkpoint_tokenizer(dir)?;
        let template = ttc_task::tokenizer::PromptTemplate::load(dir)?;
        problems
            .iter()
            .map(|p| {
                template
                    .encode(&tok, &p.problem)
                    .map(|ids| ids.len() as u64)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
            })
            .collect()
    };
    let policy = lengths(&ctx.layout.policy_dir(false))?;
    let prm = lengths(verifier)?;
    Ok((0..problems.len())
        .map(|i| (i as u32, (policy[i], prm[i])))
        .collect())
}

/// Oracle and predicted difficulty bins of the test questions.
fn bins(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let scored = scored_samples(ctx)?;
    if a.bins == 0 || a.bins > 255 {
        anyhow::bail!("--bins: expected 1 to 255, got {}", a.bins);
    }
    let rows = difficulty_rows(&scored, a.bins, a.absolute);
    let out = ctx.layout.report_dir().join("bins");
    ttc_core::table::write_parquet(&out.join("bins.parquet"), &rows)?;
    ttc_core::table::write_csv(&out.join("bins.csv"), &rows)?;
    // How the two binnings and the task levels agree.
    let agree = rows
        .iter()
        .filter(|r| r.oracle_bin == r.predicted_bin)
        .count();
    eprintln!(
        "eval bins: {} questions in {} {} bins; predicted bin = oracle bin for {:.1}%; wrote {}",
        rows.len(),
        a.bins,
        if a.absolute { "absolute" } else { "quantile" },
        100.0 * agree as f64 / rows.len().max(1) as f64,
        out.display()
    );
    for b in 1..=a.bins as u8 {
        let r: Vec<&BinRow> = rows.iter().filter(|r| r.oracle_bin == b).collect();
        let mean = r.iter().map(|r| r.oracle_pass_at_1).sum::<f64>() / r.len().max(1) as f64;
        let lv = r.iter().map(|r| f64::from(r.level)).sum::<f64>() / r.len().max(1) as f64;
        eprintln!(
            "  oracle bin {b}: {} questions, mean pass@1 {:.3}, mean task level {:.2}",
            r.len(),
            mean,
            lv
        );
    }
    Ok(())
}

/// Two-fold CV compute-optimal accuracy per bin and budget, for oracle and predicted bins,
/// and its efficiency against weighted best-of-N.
fn compute_optimal_cmd(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let base = ctx.layout.report_dir();
    let sf = base.join("sweep").join("rows.parquet");
    let bf = base.join("bins").join("bins.parquet");
    let rows: Vec<SweepRow> = ttc_core::table::read_parquet(&sf)?;
    let bins: Vec<BinRow> = ttc_core::table::read_parquet(&bf)?;
    let co = sweep_co_tables(&rows, &bins, a.cv_seed, crate::preset::LIKELIHOOD_SUFFIX);
    eprintln!(
        "eval compute-optimal: {} methods over the {} questions every one covers",
        co.methods, co.questions
    );
    let (per_bin, eff) = (co.per_bin, co.efficiency);
    let out = base.join("compute_optimal");
    write_table(&out, "per_bin", ComputeOptimalRow::HEADER, &per_bin)?;
    write_table(
        &out,
        "efficiency",
        &EfficiencyRow::header("weighted_bon"),
        &eff,
    )?;
    super::ratios::compute_optimal_revisions(&base, &bins, a.revision_cv_seed)?;
    eprintln!("eval compute-optimal: wrote {}", out.display());
    for r in &eff {
        eprintln!("  {}", r.fields().join(","));
    }
    Ok(())
}
