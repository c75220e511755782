//! `ttc train orm` and `ttc eval revisions` (DESIGN §7): the revision verifier and
//! selection over revision chains.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_data::revision::{context_window, revision_prompt_in};
use ttc_data::rows::{ChainRow, RatioAccuracyRow, RevisionSelectionRow, csv_text};
use ttc_eval::revision_ratios::ratio_rows as split_rows;
use ttc_eval::revision_selection::{ScoredChain, selection_rows};
use ttc_jobs::step_scorer::StepScorer;
use ttc_model::LlamaConfig;
use ttc_task::grader::is_equivalent;
use ttc_task::math500::load_problems;
use ttc_task::steps::split_steps;
use ttc_task::tokenizer::PromptTemplate;
use ttc_train::prm::orm_example;
use ttc_train::sft::{Init, SftRun};

use super::revision::revision_config;
use crate::preset::{OrmConfig, Preset, RevisionConfig};
use crate::run::layout::{Layout, checkpoint_inputs};
use crate::run::stage::{Ctx, Stage};
use crate::stages::shared::checkpoint::training_text;
use crate::stages::shared::training::{Job, best_summary, fine_tune};

/// `ttc train orm`: the revision verifier, an outcome model (score head on the revision
/// model) trained on revision chains of train questions with the previous attempts in
/// context; label = the attempt's correctness.
pub struct OrmTrainStage {
    config: RevisionConfig,
    orm: OrmConfig,
}

/// `ttc eval revisions`: selection over the test chains (majority, ORM-weighted best-of-N,
/// hierarchical) at each chain length, and the sequential:parallel ratios.
pub struct RevisionEvalStage {
    config: RevisionConfig,
    engine: ttc_model::engine_spec::EngineSpec,
}

impl OrmTrainStage {
    pub fn new(preset: &Preset) -> Result<Self> {
        let config = revision_config(preset)?;
        let orm = config
            .orm
            .clone()
            .context("preset has no [revision.orm] section")?;
        orm.train.validate_in("revision.orm.train")?;
        Ok(OrmTrainStage { config, orm })
    }
}

impl RevisionEvalStage {
    pub fn new(preset: &Preset) -> Result<Self> {
        Ok(RevisionEvalStage {
            config: revision_config(preset)?,
            engine: crate::preset::engine_choice::resolve(preset, &None),
        })
    }
}

impl Stage for OrmTrainStage {
    fn id(&self) -> String {
        "orm".into()
    }
    fn config(&self) -> serde_json::Value {
        serde_json::json!({"orm": self.orm, "max_attempts": self.config.max_attempts})
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.split_file("train"),
            layout.chains_dir("train").join("chains.parquet"),
        ];
        i.extend(checkpoint_inputs(&layout.revision_model_dir()));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        checkpoint_inputs(&layout.orm_dir())
    }
    fn command(&self) -> String {
        "train orm".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        train(&self.config, &self.orm, ctx)
    }
}

impl Stage for RevisionEvalStage {
    fn id(&self) -> String {
        "eval-revisions".into()
    }
    fn config(&self) -> serde_json::Value {
        let c = serde_json::json!({"max_attempts": self.config.max_attempts});
        crate::preset::engine_choice::with_engine(c, "engine", &self.engine)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.split_file("test"),
            layout.chains_dir("test").join("chains.parquet"),
        ];
        i.extend(checkpoint_inputs(&layout.orm_dir()));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.revision_eval_dir();
        [
            "selection.parquet",
            "selection.csv",
            "ratios.parquet",
            "ratio_accuracy.parquet",
            "ratios.csv",
        ]
        .map(|f| d.join(f))
        .to_vec()
    }
    fn command(&self) -> String {
        "eval revisions".into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        eval(&self.config, &self.engine, ctx)
    }
}

/// Each chain's attempts in step order, keyed by (question index, chain).
fn chains_of(rows: &[ChainRow]) -> Vec<Vec<&ChainRow>> {
    let mut by: std::collections::BTreeMap<(u32, u32), Vec<&ChainRow>> = Default::default();
    for r in rows {
        by.entry((r.question_index, r.chain)).or_default().push(r);
    }
    by.into_values()
        .map(|mut v| {
            v.sort_by_key(|r| r.step);
            v
        })
        .collect()
}

/// One attempt as the ORM sees it: (question index, prompt with the previous attempts,
/// the attempt's steps, correct).
type InContext = (u32, String, Vec<String>, bool);

/// Every attempt of every chain, in its context.
fn attempts_in_context(
    chains: &[Vec<&ChainRow>],
    problems: &HashMap<String, String>,
    window: usize,
    template: &PromptTemplate,
    file: &std::path::Path,
) -> Result<Vec<InContext>> {
    let mut out = Vec::new();
    for c in chains {
        let texts: Vec<String> = c.iter().map(|r| r.text.clone()).collect();
        for (i, r) in c.iter().enumerate() {
            let p = problems.get(&r.question_id).with_context(|| {
                format!(
                    "{}: question {} is not in the split",
                    file.display(),
                    r.question_id
                )
            })?;
            let prompt = revision_prompt_in(template, p, &context_window(&texts[..i], window))?;
            out.push((r.question_index, prompt, split_steps(&r.text), r.correct));
        }
    }
    Ok(out)
}

fn train(rc: &RevisionConfig, oc: &OrmConfig, ctx: &Ctx) -> Result<()> {
    oc.train.check_device("revision.orm.train")?;
    let rdir = ctx.layout.revision_model_dir();
    let cfile = ctx.layout.chains_dir("train").join("chains.parquet");
    let text = training_text(&rdir).with_context(|| {
        format!(
            "{}: the revision model's tokenizer and prompt",
            rdir.display()
        )
    })?;
    let (tok, eos, pad) = (&text.tok, text.eos, text.pad);
    let problems: HashMap<String, String> = load_problems(&ctx.layout.split_file("train"))?
        .into_iter()
        .map(|p| (p.unique_id, p.problem))
        .collect();
    let rows: Vec<ChainRow> = ttc_core::table::read_parquet(&cfile)?;
    let items = attempts_in_context(
        &chains_of(&rows),
        &problems,
        rc.max_attempts,
        &text.prompt,
        &cfile,
    )?;
    let val_q =
        ttc_data::held_out::held_out(items.iter().map(|i| i.0), oc.val_fraction, oc.train.seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (q, prompt, steps, correct) in &items {
        let ids = text.prompt.encode_text(tok, prompt)?;
        if let Some(e) = orm_example(tok, &ids, steps, *correct, eos)? {
            if val_q.contains(q) {
                &mut val
            } else {
                &mut train
            }
            .push(e);
        }
    }
    if train.is_empty() {
        anyhow::bail!(
            "{}: no attempt with steps to train the ORM on",
            cfile.display()
        );
    }
    let model_cfg = LlamaConfig::load(&rdir.join("config.json"))?.with_score_head();
    let out = ctx.layout.orm_dir();
    let run_hash = ttc_core::hash::hash_json(&(
        &model_cfg,
        &oc,
        rc.max_attempts,
        ttc_model::io::checkpoint_files::hash_weights(&rdir)?,
        ttc_core::hash::hash_file(&cfile)?,
    ));
    let job = Job {
        label: "orm",
        run: SftRun {
            model_cfg: &model_cfg,
            init: Init::ScoreHeadFrom(&rdir),
            cfg: &oc.train,
            train: &train,
            val: &val,
            pad,
            run_hash: &run_hash,
            out: &out,
            calibration: None,
        },
        tokenizer: &rdir.join("tokenizer.json"),
        force: ctx.force,
    };
    let state = fine_tune(ctx, job)?;
    // The ORM reads attempts in the revision model's prompt format.
    if text.prompt != PromptTemplate::default() {
        text.prompt.save(&out)?;
    }
    let right = items.iter().filter(|i| i.3).count();
    eprintln!(
        "orm: {} train / {} val attempts ({:.1}% right), {} -> {}",
        train.len(),
        val.len(),
        100.0 * right as f64 / items.len().max(1) as f64,
        best_summary(&state, "BCE"),
        out.display()
    );
    Ok(())
}

/// Selection over revision chains on the test split.
fn eval(rc: &RevisionConfig, spec: &ttc_model::engine_spec::EngineSpec, ctx: &Ctx) -> Result<()> {
    let cfile = ctx.layout.chains_dir("test").join("chains.parquet");
    let mdir = ctx.layout.orm_dir();
    let problems_v = load_problems(&ctx.layout.split_file("test"))?;
    let gold: HashMap<&str, &str> = problems_v
        .iter()
        .map(|p| (p.unique_id.as_str(), p.answer.as_str()))
        .collect();
    let problems: HashMap<String, String> = problems_v
        .iter()
        .map(|p| (p.unique_id.clone(), p.problem.clone()))
        .collect();
    let rows: Vec<ChainRow> = ttc_core::table::read_parquet(&cfile)?;
    let chains = chains_of(&rows);
    let template = PromptTemplate::load(&mdir)?;
    let items = attempts_in_context(&chains, &problems, rc.max_attempts, &template, &cfile)?;
    let (model, tok) = ttc_engine::load_model(&mdir, spec)?;
    let scorer = StepScorer::new(model.as_ref(), &tok)?.with_prompt(template);
    let pb = ctx.progress.bar(items.len() as u64, "orm scores");
    let mut scores = Vec::with_capacity(items.len());
    for chunk in items.chunks(256) {
        let batch: Vec<(&str, &[String])> = chunk
            .iter()
            .map(|i| (i.1.as_str(), i.2.as_slice()))
            .collect();
        for s in scorer.score_prompts(&batch)? {
            scores.push(s.last().copied().unwrap_or(0.0));
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish();
    // Per chain: (answers, scores) in step order.
    let mut k = 0;
    let mut per_q: std::collections::BTreeMap<u32, Vec<ScoredChain>> = Default::default();
    for c in &chains {
        let ans: Vec<Option<String>> = c.iter().map(|r| r.answer.clone()).collect();
        let sc = scores[k..k + c.len()].to_vec();
        k += c.len();
        per_q
            .entry(c[0].question_index)
            .or_default()
            .push((ans, sc, c[0].question_id.as_str()));
    }
    let right = |qid: &str, a: Option<&str>| a.is_some_and(|a| is_equivalent(a, gold[qid]));
    let table = selection_rows(&per_q, &right);
    let out = ctx.layout.report_dir().join("revisions");
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
    ttc_core::table::write_parquet(&out.join("ratios.parquet"), &ratio_rows)?;
    let mut agg: std::collections::BTreeMap<(u32, u32, u32), (u64, u64)> = Default::default();
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
    // `ratios.parquet` holds the per-question rows; the accuracy per split is
    // `ratio_accuracy.parquet`, exported as `ratios.csv`.
    ttc_core::table::write_parquet(&out.join("ratio_accuracy.parquet"), &ratio_acc)?;
    ttc_core::atomic::write_atomic(
        &out.join("ratios.csv"),
        csv_text(RatioAccuracyRow::HEADER, &ratio_acc).as_bytes(),
    )?;
    crate::run::table_io::write_table(&out, "selection", RevisionSelectionRow::HEADER, &table)?;
    eprintln!(
        "eval revisions: wrote {} and ratios.csv ({} sequential:parallel splits)",
        out.join("selection.csv").display(),
        agg.len()
    );
    for r in &table {
        eprintln!(
            "  L={:<3} last {:.3}  majority {:.3}  orm {:.3}  hierarchical {:.3}  flat majority {:.3}",
            r.length, r.last, r.majority, r.orm_weighted, r.hierarchical, r.flat_majority
        );
    }
    Ok(())
}
