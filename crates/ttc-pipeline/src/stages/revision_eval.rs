//! `ttc eval revisions` (DESIGN §7): selection over the test split's revision chains — the
//! chain's last answer, majority and verifier-weighted best-of-N within a chain, hierarchical
//! and flat selection across a question's chains — and the sequential:parallel splits of
//! each budget, under each selector the run has: the ORM (trained on revision chains, the
//! previous attempts in context) and, where the run has one, the PRM (each attempt judged on
//! its own, as it judges any solution).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;
use ttc_data::rows::{ChainRow, RatioAccuracyRow, RevisionSelectionRow, csv_text};
use ttc_eval::revision_ratios::ratio_rows as split_rows;
use ttc_eval::revision_selection::{ScoredChain, selection_rows};
use ttc_jobs::step_scorer::StepScorer;
use ttc_task::grader::is_equivalent;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

use super::orm::{attempts_in_context, chains_of};
use super::revision::{chain_attempts, revision_config};
use crate::preset::{Preset, RevisionConfig};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs};
use crate::run::stage::{Ctx, Stage};

/// A verifier that picks among revision attempts, and the suffix of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// `selection.csv`, `ratios.parquet`, …
    Orm,
    /// `selection_prm.csv`, `ratios_prm.parquet`, …
    Prm,
}

impl Selector {
    pub fn suffix(self) -> &'static str {
        match self {
            Selector::Orm => "",
            Selector::Prm => "_prm",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Selector::Orm => "ORM",
            Selector::Prm => "PRM",
        }
    }
    /// The files `ttc eval revisions` writes for this selector.
    fn outputs(self, dir: &Path) -> Vec<PathBuf> {
        let s = self.suffix();
        [
            format!("selection{s}.parquet"),
            format!("selection{s}.csv"),
            format!("ratios{s}.parquet"),
            format!("ratio_accuracy{s}.parquet"),
            format!("ratios{s}.csv"),
        ]
        .map(|f| dir.join(f))
        .to_vec()
    }
}

/// `ttc eval revisions`: selection over the test chains at each chain length, and the
/// sequential:parallel ratios, under the ORM and (where the run has one) the PRM.
pub struct RevisionEvalStage {
    config: RevisionConfig,
    engine: ttc_model::engine_spec::EngineSpec,
    /// The run has a PRM (trained or imported): it selects too.
    prm: bool,
}

impl RevisionEvalStage {
    pub fn new(preset: &Preset) -> Result<Self> {
        let trained = preset.samples.is_some() && preset.labels.is_some() && preset.prm.is_some();
        let imported = preset.import.as_ref().is_some_and(|i| i.prm.is_some());
        Ok(RevisionEvalStage {
            config: revision_config(preset)?,
            engine: crate::preset::engine_choice::resolve(preset, &None),
            prm: trained || imported,
        })
    }

    fn selectors(&self) -> Vec<Selector> {
        let mut s = vec![Selector::Orm];
        if self.prm {
            s.push(Selector::Prm);
        }
        s
    }
}

impl Stage for RevisionEvalStage {
    fn id(&self) -> String {
        "eval-revisions".into()
    }
    /// The test chains' attempts scored by each selector.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let (attempts, sequence) = chain_attempts(&self.config, "test", None, shape);
        let tokens = self.selectors().len() as f64 * attempts * sequence;
        Some(shape.policy_work(WorkKind::Score, tokens))
    }
    fn config(&self) -> serde_json::Value {
        let mut c = serde_json::json!({"max_attempts": self.config.max_attempts});
        if self.prm {
            c["prm"] = true.into();
        }
        if self.config.chains.ratio_budget > 0 {
            c["ratio_budget"] = self.config.chains.ratio_budget.into();
        }
        crate::preset::engine_choice::with_engine(c, "engine", &self.engine)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.split_file("test"),
            layout.chains_dir("test").join("chains.parquet"),
        ];
        if self.config.chains.ratio_budget > 0 {
            i.push(layout.chains_dir("test").join("parallel.parquet"));
        }
        i.extend(checkpoint_inputs(&layout.orm_dir()));
        if self.prm {
            i.extend(checkpoint_inputs(&layout.prm_dir(None)));
        }
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.revision_eval_dir();
        self.selectors()
            .into_iter()
            .flat_map(|s| s.outputs(&d))
            .collect()
    }
    fn command(&self) -> String {
        "eval revisions".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        eval(self, ctx)
    }
}

/// Selection over revision chains on the test split, under each selector.
fn eval(stage: &RevisionEvalStage, ctx: &Ctx) -> Result<()> {
    let (rc, spec) = (&stage.config, &stage.engine);
    let cfile = ctx.layout.chains_dir("test").join("chains.parquet");
    let problems_v = load_problems(&ctx.layout.split_file("test"))?;
    let gold: HashMap<&str, &str> = problems_v
        .iter()
        .map(|p| (p.unique_id.as_str(), p.answer.as_str()))
        .collect();
    let problems: HashMap<String, String> = problems_v
        .iter()
        .map(|p| (p.unique_id.clone(), p.problem.clone()))
        .collect();
    let mut rows: Vec<ChainRow> = ttc_core::table::read_parquet(&cfile)?;
    // The ratio budget's extra chains (shorter, after the full ones) join the splits only.
    let full_chains = rc.chains.chains as u32;
    if rc.chains.ratio_budget > 0 {
        let pfile = ctx.layout.chains_dir("test").join("parallel.parquet");
        rows.extend(ttc_core::table::read_parquet::<ChainRow>(&pfile)?);
    }
    let chains = chains_of(&rows);
    let right = |qid: &str, a: Option<&str>| a.is_some_and(|a| is_equivalent(a, gold[qid]));
    let out = ctx.layout.revision_eval_dir();
    for selector in stage.selectors() {
        let scores = match selector {
            Selector::Orm => {
                let mdir = ctx.layout.orm_dir();
                let template = PromptTemplate::load(&mdir)?;
                let (model, tok) = ttc_engine::load_model(&mdir, spec)?;
                let scorer = StepScorer::new(model.as_ref(), &tok)?.with_prompt(template.clone());
                let max_pos = model.max_positions();
                let items = attempts_in_context(
                    &chains,
                    &problems,
                    rc.max_attempts,
                    &template,
                    &cfile,
                    &mut |prompt, steps| {
                        Ok(steps.is_empty()
                            || scorer.prompt_layout(prompt, steps)?.tokens.len() <= max_pos)
                    },
                )?;
                let batch: Vec<(&str, &[String])> = items
                    .iter()
                    .map(|i| (i.1.as_str(), i.2.as_slice()))
                    .collect();
                last_scores(ctx, "orm scores", &batch, &|b| scorer.score_prompts(b))?
            }
            Selector::Prm => {
                let mdir = ctx.layout.prm_dir(None);
                let engine = crate::preset::engine_choice::prm_engine(&mdir, spec)?;
                let (model, tok) = ttc_engine::load_model(&mdir, &engine)?;
                let scorer = StepScorer::for_checkpoint(model.as_ref(), &tok, &mdir)?;
                let steps: Vec<Vec<String>> = chains
                    .iter()
                    .flatten()
                    .map(|r| ttc_task::steps::split_steps(&r.text))
                    .collect();
                let batch: Vec<(&str, &[String])> = chains
                    .iter()
                    .flatten()
                    .zip(&steps)
                    .map(|(r, st)| (problems[&r.question_id].as_str(), st.as_slice()))
                    .collect();
                last_scores(ctx, "prm scores", &batch, &|b| scorer.score(b))?
            }
        };
        // Per chain: (answers, scores) in step order; every chain for the splits, the full
        // ones for selection along a chain.
        let mut k = 0;
        let mut per_q: BTreeMap<u32, Vec<ScoredChain>> = Default::default();
        let mut per_q_full: BTreeMap<u32, Vec<ScoredChain>> = Default::default();
        for c in &chains {
            let ans: Vec<Option<String>> = c.iter().map(|r| r.answer.clone()).collect();
            let sc = scores[k..k + c.len()].to_vec();
            k += c.len();
            let chain = (ans, sc, c[0].question_id.as_str());
            if c[0].chain < full_chains {
                per_q_full
                    .entry(c[0].question_index)
                    .or_default()
                    .push(chain.clone());
            }
            per_q.entry(c[0].question_index).or_default().push(chain);
        }
        let table = selection_rows(&per_q_full, &right);
        write_selector_tables(&out, selector, &table, &per_q, &right)?;
    }
    Ok(())
}

/// The last step's score of each (problem, steps) item (0 for an item without steps),
/// scored in batches behind a progress bar.
fn last_scores(
    ctx: &Ctx,
    what: &str,
    items: &[(&str, &[String])],
    score: &crate::stages::prm_eval::scoring::ScoreSteps,
) -> Result<Vec<f32>> {
    let pb = ctx.progress.bar(items.len() as u64, what);
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(256) {
        for s in score(chunk)? {
            out.push(s.last().copied().unwrap_or(0.0));
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish();
    Ok(out)
}

/// The selection table (`table`) and the sequential:parallel splits of `per_q`'s chains
/// under one selector.
fn write_selector_tables(
    out: &Path,
    selector: Selector,
    table: &[RevisionSelectionRow],
    per_q: &BTreeMap<u32, Vec<ScoredChain>>,
    right: &dyn Fn(&str, Option<&str>) -> bool,
) -> Result<()> {
    let sfx = selector.suffix();
    // Sequential : parallel splits of each budget.
    let mut ratio_rows = Vec::new();
    for chains in per_q.values() {
        let qid = chains[0].2;
        let owned: Vec<(Vec<Option<String>>, Vec<f32>)> = chains
            .iter()
            .map(|(a, s, _)| (a.clone(), s.clone()))
            .collect();
        ratio_rows.extend(split_rows(qid, &owned, &|a| right(qid, a)));
    }
    ttc_core::table::write_parquet(&out.join(format!("ratios{sfx}.parquet")), &ratio_rows)?;
    let mut agg: BTreeMap<(u32, u32, u32), (u64, u64)> = Default::default();
    for r in &ratio_rows {
        let e = agg.entry((r.n, r.sequential, r.parallel)).or_default();
        e.0 += u64::from(r.correct);
        e.1 += 1;
    }
    let ratio_acc: Vec<RatioAccuracyRow> = agg
        .iter()
        .map(|(&(n, sequential, parallel), &(k, t))| {
            let (lo95, hi95) = ttc_eval::stats::wilson95(k, t);
            RatioAccuracyRow {
                n,
                sequential,
                parallel,
                accuracy: k as f64 / t as f64,
                lo95,
                hi95,
                questions: t,
            }
        })
        .collect();
    // `ratios*.parquet` holds the per-question rows; the accuracy per split is
    // `ratio_accuracy*.parquet`, exported as `ratios*.csv`.
    ttc_core::table::write_parquet(
        &out.join(format!("ratio_accuracy{sfx}.parquet")),
        &ratio_acc,
    )?;
    ttc_core::atomic::write_atomic(
        &out.join(format!("ratios{sfx}.csv")),
        csv_text(RatioAccuracyRow::HEADER, &ratio_acc).as_bytes(),
    )?;
    crate::run::table_io::write_table(
        out,
        &format!("selection{sfx}"),
        RevisionSelectionRow::HEADER,
        table,
    )?;
    eprintln!(
        "eval revisions ({}): wrote {} and ratios{sfx}.csv ({} sequential:parallel splits)",
        selector.name(),
        out.join(format!("selection{sfx}.csv")).display(),
        agg.len()
    );
    for r in table {
        eprintln!(
            "  L={:<3} last {:.3}  majority {:.3}  weighted {:.3}  hierarchical {:.3}  flat majority {:.3}",
            r.length, r.last, r.majority, r.orm_weighted, r.hierarchical, r.flat_majority
        );
    }
    Ok(())
}
