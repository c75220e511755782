//! `ttc train orm` (DESIGN §7): the revision verifier, and the chains' attempts as it reads
//! them (`ttc eval revisions` is `revision_eval`).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_data::revision::{fitting_window, revision_prompt_in};
use ttc_data::rows::ChainRow;
use ttc_model::LlamaConfig;
use ttc_task::math500::load_problems;
use ttc_task::steps::split_steps;
use ttc_task::tokenizer::PromptTemplate;
use ttc_train::prm::orm_example;
use ttc_train::sft::{Init, SftRun};

use super::revision::{chain_attempts, revision_config};
use crate::preset::{OrmConfig, Preset, RevisionConfig};
use crate::run::cost_model::{DataShape, Work, WorkKind};
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

impl Stage for OrmTrainStage {
    fn id(&self) -> String {
        "orm".into()
    }
    /// Its epochs over the train chains' attempts, each with its attempts in context.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let (attempts, sequence) =
            chain_attempts(&self.config, "train", Some(self.orm.questions), shape);
        let tokens = self.orm.train.epochs * attempts * sequence;
        Some(shape.policy_work(WorkKind::Train, tokens))
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

/// Each chain's attempts in step order, keyed by (question index, chain).
pub(crate) fn chains_of(rows: &[ChainRow]) -> Vec<Vec<&ChainRow>> {
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

/// Whether a row of (prompt text, the attempt's steps) fits the model's context.
pub(crate) type Fits<'a> = dyn FnMut(&str, &[String]) -> Result<bool> + 'a;

/// Every attempt of every chain, in its context: the chain's last `window` attempts before
/// it that `fits` lets the row hold (the oldest leave first: `fitting_window`, the rule the
/// chains were generated under).
pub(crate) fn attempts_in_context(
    chains: &[Vec<&ChainRow>],
    problems: &HashMap<String, String>,
    window: usize,
    template: &PromptTemplate,
    file: &std::path::Path,
    fits: &mut Fits,
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
            let steps = split_steps(&r.text);
            let attempts = fitting_window(&texts[..i], window, &mut |w| {
                fits(&revision_prompt_in(template, p, w)?, &steps)
            })?;
            let prompt = revision_prompt_in(template, p, &attempts)?;
            out.push((r.question_index, prompt, steps, r.correct));
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
    let model_cfg = LlamaConfig::load(&rdir.join("config.json"))?.with_score_head();
    let max_pos = model_cfg.max_position_embeddings;
    let items = attempts_in_context(
        &chains_of(&rows),
        &problems,
        rc.max_attempts,
        &text.prompt,
        &cfile,
        &mut |prompt, steps| {
            let ids = text.prompt.encode_text(tok, prompt)?;
            Ok(orm_example(tok, &ids, steps, true, eos)?.is_none_or(|e| e.tokens.len() <= max_pos))
        },
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
            reading: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain whose attempts do not all fit: each attempt is shown with the last attempts
    /// before it that the row's room holds, the oldest leaving first, and the attempt's own
    /// steps are always kept.
    #[test]
    fn attempts_in_context_keep_what_the_context_holds() {
        let row = |step: u32, text: &str| ChainRow {
            question_id: "q".into(),
            question_index: 0,
            level: 1,
            chain: 0,
            step,
            text: text.into(),
            answer: None,
            correct: step == 3,
            generated_tokens: 1,
        };
        let rows = [
            row(0, "a1\n"),
            row(1, "bb2\n"),
            row(2, "ccc3\n"),
            row(3, "d4\n"),
        ];
        let problems = HashMap::from([("q".to_string(), "P".to_string())]);
        let template = PromptTemplate::default();
        let shown = |limit: usize| -> Vec<usize> {
            let items = attempts_in_context(
                &chains_of(&rows),
                &problems,
                3,
                &template,
                std::path::Path::new("chains.parquet"),
                &mut |prompt, steps| {
                    Ok(prompt.len() + steps.iter().map(String::len).sum::<usize>() <= limit)
                },
            )
            .unwrap();
            assert_eq!(items.len(), 4);
            items
                .iter()
                .map(|i| i.1.matches(ttc_data::revision::ATTEMPT_OPEN).count())
                .collect()
        };
        // Room for everything: 0, 1, 2, 3 attempts in context (the window is 3).
        assert_eq!(shown(10_000), [0, 1, 2, 3]);
        // Room for the question alone: no attempt in context anywhere.
        let alone = revision_prompt_in(&template, "P", &[]).unwrap().len() + "ccc3".len();
        assert_eq!(shown(alone), [0, 0, 0, 0]);
        // Room for one previous attempt at most: the newest one stays.
        let one = revision_prompt_in(&template, "P", &["ccc3"]).unwrap().len() + "ccc3".len();
        let items = shown(one);
        assert!(
            items.iter().all(|&n| n <= 1) && items[1..].contains(&1),
            "{items:?}"
        );
    }
}
