//! `[prm] head = "generative"` (DESIGN §6, lever (b)): the PRM's starting checkpoint given
//! Math-Shepherd's step tag, and the labelled samples laid out as Math-Shepherd's reader
//! reads them (`question step ки\nstep ки`), each step's label at its tag.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ttc_engine::load_model;
use ttc_jobs::step_scorer::StepScorer;
use ttc_model::engine_spec::EngineSpec;
use ttc_train::prm::{StepLayout, StepTarget, prm_examples_in};
use ttc_train::sft_data::Example;

use crate::stages::shared::prm_data::LabelledData;

/// The tagged starting checkpoint and the tokens its reader compares.
pub struct Tagged {
    pub dir: PathBuf,
    pub good: u32,
    pub bad: u32,
}

/// Where the tagged copy of a PRM's starting checkpoint lives while it trains (`out` with
/// `.tagged-init` appended; removed once the PRM is saved).
pub fn tagged_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".tagged-init");
    out.with_file_name(name)
}

/// `init` with Math-Shepherd's step tag, written to `dir`, its reader's good / bad tokens,
/// and the labelled samples of `data` as examples in Math-Shepherd's layout (the tagged
/// checkpoint's tokenizer and prompt), EOS after the last tag: (question index, example).
/// The tagged checkpoint is loaded once, for its reader.
pub fn prepare(
    init: &Path,
    dir: &Path,
    data: &LabelledData,
    target: StepTarget,
    outcome: bool,
) -> Result<(Tagged, Vec<(u32, Example)>)> {
    ttc_jobs::step_tag::add_step_tag(init, dir)
        .with_context(|| format!("{}: adding Math-Shepherd's step tag", init.display()))?;
    let (model, tok) = load_model(dir, &EngineSpec::cpu())?;
    let scorer = StepScorer::for_checkpoint(model.as_ref(), &tok, dir)?;
    let (good, bad) = scorer
        .reader()
        .good_bad()
        .context("a Math-Shepherd reader reads two tokens")?;
    let eos = *model
        .config()
        .eos_ids()
        .first()
        .context("the PRM's config names no EOS token")?;
    let layout = |problem: &str, steps: &[String]| -> ttc_train::Result<StepLayout> {
        let l = scorer
            .layout(problem, steps)
            .map_err(|e| ttc_train::Error::Config(e.to_string()))?;
        let mut tokens = l.tokens;
        tokens.push(eos);
        Ok(StepLayout {
            tokens,
            prompt_len: l.shared,
            reads: l.reads,
        })
    };
    let examples = prm_examples_in(
        &layout,
        &data.problems,
        &data.samples,
        &data.labels,
        target,
        outcome,
    )?;
    let tagged = Tagged {
        dir: dir.to_path_buf(),
        good,
        bad,
    };
    Ok((tagged, examples))
}
