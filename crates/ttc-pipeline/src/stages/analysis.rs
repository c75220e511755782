//! `ttc eval sweep`, `ttc eval bins`, `ttc eval compute-optimal` (DESIGN §9): accuracy
//! against budget, difficulty bins, and two-fold cross-validated compute-optimal selection.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use ttc_core::seed::derive_seed;
use ttc_eval::bins::{absolute_bin, quantile_bins};
use ttc_eval::cv::{Cell, compute_optimal};
use ttc_eval::stats::wilson95;
use ttc_search::select::{best_of_n, majority, weighted_best_of_n};

use ttc_data::rows::{
    BinRow, ComputeOptimalRow, CsvRow, EfficiencyRow, ScoredSample, SearchRow, SweepRow, csv_text,
};
use ttc_eval::co_tables::co_tables;

use crate::layout::Layout;
use crate::stage::{Ctx, Stage};

/// `[analysis]` (and the `ttc eval` flags that override it).
pub use crate::preset::AnalysisSection as AnalysisArgs;

/// `ttc eval sweep`: majority / best-of-N / weighted best-of-N at every budget over seeded
/// subsets of the test samples, plus every search result.
pub struct SweepStage {
    args: AnalysisArgs,
    /// The plan's searches (`reports/<run>/search/<label>/`), read when present.
    searches: Vec<String>,
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
    pub fn new(args: AnalysisArgs, searches: Vec<String>) -> Self {
        SweepStage { args, searches }
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
            layout.prm_eval_dir().join("scores.parquet"),
            layout.samples_file("test"),
            layout.policy_dir(false).join("config.json"),
            layout.prm_dir(false).join("config.json"),
        ];
        i.extend(
            self.searches
                .iter()
                .map(|l| layout.search_dir().join(l).join("results.parquet")),
        );
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![layout.analysis_dir("sweep").join("rows.parquet")]
    }
    fn command(&self) -> String {
        "eval sweep".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        sweep(&self.args, ctx)
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
        vec![layout.prm_eval_dir().join("scores.parquet")]
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
            i.extend([d.join("selection.parquet"), d.join("ratios.parquet")]);
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

/// `dir/<name>.parquet` (the stage contract) and `dir/<name>.csv` (its export for people).
pub fn write_table<R: CsvRow + serde::Serialize>(
    dir: &std::path::Path,
    name: &str,
    header: &str,
    rows: &[R],
) -> Result<()> {
    ttc_core::table::write_parquet(&dir.join(format!("{name}.parquet")), rows)?;
    ttc_core::atomic::write_atomic(
        &dir.join(format!("{name}.csv")),
        csv_text(header, rows).as_bytes(),
    )?;
    Ok(())
}

pub fn write_csv(path: &std::path::Path, header: &str, lines: &[String]) -> Result<()> {
    let mut s = format!("{header}\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    ttc_core::atomic::write_atomic(path, s.as_bytes())?;
    Ok(())
}

/// Majority / best-of-N / weighted best-of-N at every budget 1, 2, 4, … up to the samples
/// per question, over `seeds` random subsets each; plus every `ttc search` result.
fn sweep(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let scored = scored_samples(ctx)?;
    let samples: Vec<ttc_data::rows::SampleRow> =
        ttc_core::table::read_parquet(&ctx.layout.samples_dir("test").join("samples.parquet"))?;
    let tokens: HashMap<(u32, u32), u64> = samples
        .iter()
        .map(|s| ((s.question_index, s.sample_id), s.generated_tokens as u64))
        .collect();
    let p_policy = params(&ctx.layout.policy_dir(false))?;
    let p_prm = params(&ctx.layout.prm_dir(false))?;
    let mut by_q: BTreeMap<u32, Vec<&ScoredSample>> = BTreeMap::new();
    for s in &scored {
        by_q.entry(s.question_index).or_default().push(s);
    }
    let n_max = by_q.values().map(Vec::len).min().unwrap_or(0);
    let budgets: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n <= n_max)
        .collect();
    let mut rows = Vec::new();
    for (&q, ss) in &by_q {
        for &n in &budgets {
            // With N = all samples there is one subset; more seeds would repeat it.
            let seeds = if n == ss.len() { 1 } else { a.seeds };
            for seed in 0..seeds {
                let mut idx: Vec<usize> = (0..ss.len()).collect();
                idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(derive_seed(
                    seed,
                    u64::from(q),
                    n as u64,
                )));
                idx.truncate(n);
                idx.sort_unstable();
                let sub: Vec<&ScoredSample> = idx.iter().map(|&i| ss[i]).collect();
                let answers: Vec<Option<&str>> = sub.iter().map(|s| s.answer.as_deref()).collect();
                let last: Vec<f32> = sub
                    .iter()
                    .map(|s| s.step_scores.last().copied().unwrap_or(0.0))
                    .collect();
                let gen_tokens: u64 = sub
                    .iter()
                    .map(|s| {
                        tokens
                            .get(&(s.question_index, s.sample_id))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                for (name, pick, verified) in [
                    ("majority", majority(&answers), false),
                    ("bon", best_of_n(&answers, &last), true),
                    ("weighted-bon", weighted_best_of_n(&answers, &last), true),
                ] {
                    let ver = if verified { gen_tokens } else { 0 };
                    rows.push(SweepRow {
                        question_id: sub[0].question_id.clone(),
                        level: sub[0].level,
                        strategy: name.into(),
                        n: n as u32,
                        seed,
                        correct: pick.is_some_and(|i| sub[i].correct),
                        generations: n as u64,
                        generated_tokens: gen_tokens,
                        verifier_tokens: ver,
                        flops: 2.0 * (p_policy * gen_tokens as f64 + p_prm * ver as f64),
                    });
                }
            }
        }
    }
    // Tree searches: every finished `ttc search` run of this preset.
    let sdir = ctx.layout.search_dir();
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&sdir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("results.parquet")))
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    for f in runs.into_iter().filter(|f| f.exists()) {
        let rs: Vec<SearchRow> = ttc_core::table::read_parquet(&f)?;
        for r in rs
            .into_iter()
            .filter(|r| !["majority", "bon", "weighted-bon"].contains(&r.strategy.as_str()))
        {
            rows.push(SweepRow {
                question_id: r.question_id,
                level: r.level,
                strategy: r.strategy,
                n: r.n,
                seed: r.seed,
                correct: r.correct,
                generations: r.generations,
                generated_tokens: r.generated_tokens,
                verifier_tokens: r.verifier_tokens,
                flops: r.flops,
            });
        }
    }
    let out = ctx.layout.report_dir().join("sweep");
    ttc_core::table::write_parquet(&out.join("rows.parquet"), &rows)?;
    let mut acc: BTreeMap<(String, u32), (u64, u64, f64)> = BTreeMap::new();
    for r in &rows {
        let e = acc.entry((r.strategy.clone(), r.n)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
        e.2 += r.flops;
    }
    let lines: Vec<String> = acc
        .iter()
        .map(|((s, n), &(k, t, f))| {
            let (lo, hi) = wilson95(k, t);
            format!(
                "{s},{n},{:.4},{lo:.4},{hi:.4},{t},{:.4e}",
                k as f64 / t as f64,
                f / t as f64
            )
        })
        .collect();
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

/// Oracle and predicted difficulty bins of the test questions.
fn bins(a: &AnalysisArgs, ctx: &Ctx) -> Result<()> {
    let scored = scored_samples(ctx)?;
    let mut by_q: BTreeMap<&str, (u8, u32, u32, f64)> = BTreeMap::new();
    for s in &scored {
        let e = by_q
            .entry(s.question_id.as_str())
            .or_insert((s.level, 0, 0, 0.0));
        e.1 += 1;
        e.2 += u32::from(s.correct);
        e.3 += f64::from(s.step_scores.last().copied().unwrap_or(0.0));
    }
    let oracle: Vec<(String, f64)> = by_q
        .iter()
        .map(|(q, e)| (q.to_string(), f64::from(e.2) / f64::from(e.1)))
        .collect();
    let predicted: Vec<(String, f64)> = by_q
        .iter()
        .map(|(q, e)| (q.to_string(), e.3 / f64::from(e.1)))
        .collect();
    if a.bins == 0 || a.bins > 255 {
        anyhow::bail!("--bins: expected 1 to 255, got {}", a.bins);
    }
    let cut = |scores: &[(String, f64)]| -> BTreeMap<String, u8> {
        if a.absolute {
            let edges: Vec<f64> = (1..a.bins)
                .map(|i| 1.0 - i as f64 / a.bins as f64)
                .collect();
            scores
                .iter()
                .map(|(q, s)| (q.clone(), absolute_bin(*s, &edges)))
                .collect()
        } else {
            quantile_bins(scores, a.bins)
        }
    };
    let ob = cut(&oracle);
    let pb = cut(&predicted);
    let rows: Vec<BinRow> = oracle
        .iter()
        .zip(&predicted)
        .map(|((q, o), (_, p))| BinRow {
            question_id: q.clone(),
            level: by_q[q.as_str()].0,
            samples: by_q[q.as_str()].1,
            oracle_pass_at_1: *o,
            oracle_bin: ob[q],
            predicted_score: *p,
            predicted_bin: pb[q],
        })
        .collect();
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
    // Mean over seeds per (question, method, N).
    let mut mean: BTreeMap<(String, String, u32), (f64, u32)> = BTreeMap::new();
    for r in &rows {
        let e = mean
            .entry((r.question_id.clone(), r.strategy.clone(), r.n))
            .or_default();
        e.0 += f64::from(u8::from(r.correct));
        e.1 += 1;
    }
    // One question set for every method and budget: the questions every method covers
    // (searches may run on fewer questions than the test samples).
    let mut covered: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (q, m, _) in mean.keys() {
        covered.entry(m.clone()).or_default().insert(q.clone());
    }
    let common: std::collections::BTreeSet<String> = covered
        .values()
        .fold(None::<std::collections::BTreeSet<String>>, |acc, qs| {
            Some(acc.map_or_else(|| qs.clone(), |a| a.intersection(qs).cloned().collect()))
        })
        .unwrap_or_default();
    mean.retain(|(q, _, _), _| common.contains(q));
    eprintln!(
        "eval compute-optimal: {} methods over the {} questions every one covers",
        covered.len(),
        common.len()
    );
    let out = base.join("compute_optimal");
    let mut per_bin: Vec<ComputeOptimalRow> = Vec::new();
    let mut eff: Vec<EfficiencyRow> = Vec::new();
    for (kind, bin_of) in [
        (
            "oracle",
            bins.iter()
                .map(|b| (b.question_id.clone(), b.oracle_bin))
                .collect::<HashMap<_, _>>(),
        ),
        (
            "predicted",
            bins.iter()
                .map(|b| (b.question_id.clone(), b.predicted_bin))
                .collect(),
        ),
    ] {
        let cells: Vec<Cell> = mean
            .iter()
            .filter_map(|((q, m, n), (s, c))| {
                bin_of.get(q).map(|&bin| Cell {
                    question: q.clone(),
                    bin,
                    method: m.clone(),
                    budget: *n,
                    accuracy: s / f64::from(*c),
                })
            })
            .collect();
        let co = compute_optimal(&cells, a.cv_seed);
        let mut bon: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
        for ((_, m, n), (s, c)) in &mean {
            if m == "weighted-bon" {
                let e = bon.entry(*n).or_default();
                e.0 += s / f64::from(*c);
                e.1 += 1;
            }
        }
        let bon: Vec<(u32, f64)> = bon.iter().map(|(&n, &(s, q))| (n, s / q as f64)).collect();
        let (p, e) = co_tables(kind, &co, &bon);
        per_bin.extend(p);
        eff.extend(e);
    }
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
