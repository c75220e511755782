//! The per-stage subcommands: each parses its flags into the pipeline crate's stage type
//! and hands it to the runner, which skips it when up to date, runs it and records it.

use std::path::Path;

use anyhow::{Context, Result};
use ttc_data::shards::Shard;
use ttc_pipeline::preset::Preset;
use ttc_pipeline::run::stage::Stage;
use ttc_pipeline::stages::analysis::{AnalysisArgs, BinsStage, ComputeOptimalStage};
use ttc_pipeline::stages::data::DataStage;
use ttc_pipeline::stages::eval_policy::EvalPolicyStage;
use ttc_pipeline::stages::exchange::ExchangeStage;
use ttc_pipeline::stages::import::{ImportStage, Imported};
use ttc_pipeline::stages::labels::LabelsStage;
use ttc_pipeline::stages::orm::OrmTrainStage;
use ttc_pipeline::stages::policy::PolicyStage;
use ttc_pipeline::stages::prm_eval::PrmEvalStage;
use ttc_pipeline::stages::prm_train::PrmTrainStage;
use ttc_pipeline::stages::revision::{ChainsStage, RevisionTrainStage, RevisionsBuildStage};
use ttc_pipeline::stages::revision_eval::RevisionEvalStage;
use ttc_pipeline::stages::samples::{SampleSplit, SamplesStage};
use ttc_pipeline::stages::search::{SearchArgs as SearchOptions, SearchRunStage};
use ttc_pipeline::stages::tokenizer::TokenizerStage;
use ttc_search::select::Aggregation;

use super::stage_args::*;
use crate::dirs::Dirs;

impl AnalysisFlags {
    fn resolve(&self, preset: &Preset) -> AnalysisArgs {
        preset
            .analysis
            .overridden(self.seeds, self.bins, self.absolute)
    }
}

/// Load `preset_path`, build its stage with `make`, and run it through the runner.
pub fn run_one(
    dirs: &Dirs,
    preset_path: &Path,
    force: bool,
    shard: Option<Shard>,
    merge_only: bool,
    make: impl FnOnce(&Preset) -> Result<Box<dyn Stage>>,
) -> Result<()> {
    ttc_pipeline::run::runner::run_stage_of_preset(
        preset_path,
        &|p| dirs.layout(p),
        force,
        shard,
        merge_only,
        &crate::progress::Bars,
        make,
    )
}

fn boxed<S: Stage + 'static>(s: S) -> Box<dyn Stage> {
    Box::new(s)
}

pub fn data(c: DataCommand, dirs: &Dirs) -> Result<()> {
    let DataCommand::Gen(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(DataStage::new(p)))
    })
}

pub fn tokenizer(c: TokenizerCommand, dirs: &Dirs) -> Result<()> {
    let TokenizerCommand::Train(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(TokenizerStage::new(p)))
    })
}

pub fn import(c: ImportCommand, dirs: &Dirs) -> Result<()> {
    let (a, which, key) = match &c {
        ImportCommand::Policy(a) => (a, Imported::Policy, "policy"),
        ImportCommand::Prm(a) => (a, Imported::Prm, "prm"),
        ImportCommand::PolicyLarge(a) => (a, Imported::PolicyLarge, "policy_large"),
    };
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        let s = ImportStage::of(p, which)
            .with_context(|| format!("{}: no [import] {key}", a.preset.display()))?;
        Ok(boxed(s))
    })
}

pub fn train(c: TrainCommand, dirs: &Dirs) -> Result<()> {
    match c {
        TrainCommand::Policy(a) => {
            run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
                let s = PolicyStage::new(p, a.large)?.with_context(|| {
                    format!(
                        "{}: no [{}] section",
                        a.common.preset.display(),
                        if a.large { "policy_large" } else { "policy" }
                    )
                })?;
                Ok(boxed(s))
            })
        }
        TrainCommand::Verifier(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            PolicyStage::verifier(p)?
                .with_context(|| format!("{}: no [verifier] section", a.preset.display()))
                .map(boxed)
        }),
        TrainCommand::Prm(a) => run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
            Ok(match &a.variant {
                Some(v) => boxed(PrmTrainStage::variant(p, v)?),
                None => boxed(PrmTrainStage::new(p, a.labels)?),
            })
        }),
        TrainCommand::Revision(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(RevisionTrainStage::new(p)?))
        }),
        TrainCommand::Orm(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(OrmTrainStage::new(p)?))
        }),
    }
}

pub fn sample(a: &SampleArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    let split = SampleSplit::parse(&a.split)?;
    run_one(
        dirs,
        &a.common.preset,
        a.common.force,
        a.shard,
        merge_only,
        |p| Ok(boxed(SamplesStage::new(p, split)?)),
    )
}

pub fn label(a: &LabelArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    run_one(
        dirs,
        &a.common.preset,
        a.common.force,
        a.shard,
        merge_only,
        |p| Ok(boxed(LabelsStage::new(p)?)),
    )
}

pub fn search(a: &SearchArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    let aggregation = a
        .aggregation
        .as_deref()
        .map(|s| {
            Aggregation::parse(s).with_context(|| {
                format!("aggregation: expected last, min, prod or mean, got {s:?}")
            })
        })
        .transpose()?;
    let opts = SearchOptions {
        strategy: a.strategy.clone(),
        n: a.n,
        width: a.width,
        knobs: ttc_search::Knobs {
            width: 0,
            lookahead: a.lookahead,
            dedup: a.dedup,
            temperature: a.weight_temperature,
            resampling: a.resampling,
            iterations: a.iterations,
            pick_best: a.best_particle,
            window: a.window,
            confidence: a.confidence,
            group: a.group,
            keep: a.keep,
            top_logprobs: a.top_logprobs,
            warmup: a.warmup,
            stop_at_steps: a.stop_at_steps,
        },
        aggregation,
        split: a.split.clone(),
        questions: a.questions,
        labels: a.labels,
        verifier: a.verifier,
    };
    run_one(dirs, &a.preset, a.force, a.shard, merge_only, |p| {
        Ok(boxed(SearchRunStage::new(p, opts)?))
    })
}

pub fn revisions(c: RevisionsCommand, dirs: &Dirs) -> Result<()> {
    let RevisionsCommand::Build(a) = c;
    run_one(dirs, &a.preset, a.force, None, false, |p| {
        Ok(boxed(RevisionsBuildStage::new(p)?))
    })
}

pub fn revise(a: &ReviseArgs, dirs: &Dirs, merge_only: bool) -> Result<()> {
    run_one(dirs, &a.preset, a.force, a.shard, merge_only, |p| {
        Ok(boxed(ChainsStage::new(p, &a.split, a.questions)?))
    })
}

pub fn eval(c: EvalCommand, dirs: &Dirs) -> Result<()> {
    match c {
        EvalCommand::Policy(a) => {
            run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
                Ok(boxed(EvalPolicyStage::new(p, a.large, &a.split)?))
            })
        }
        EvalCommand::Prm(a) => run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
            Ok(match &a.variant {
                Some(v) => boxed(PrmEvalStage::variant(p, v)?),
                None => boxed(PrmEvalStage::new(p, a.labels)),
            })
        }),
        EvalCommand::Revisions(a) => run_one(dirs, &a.preset, a.force, None, false, |p| {
            Ok(boxed(RevisionEvalStage::new(p)?))
        }),
        EvalCommand::Sweep(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                Ok(boxed(ttc_pipeline::plan::sweep_stage(p, f.resolve(p))?))
            })
        }
        EvalCommand::Bins(f) => run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
            Ok(boxed(BinsStage::new(f.resolve(p))))
        }),
        EvalCommand::ComputeOptimal(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                let revisions = ttc_pipeline::plan::revisions_selected(p);
                Ok(boxed(ComputeOptimalStage::new(f.resolve(p), revisions)))
            })
        }
        EvalCommand::Exchange(f) => {
            run_one(dirs, &f.common.preset, f.common.force, None, false, |p| {
                Ok(boxed(ExchangeStage::new(f.resolve(p))))
            })
        }
    }
}

pub fn report(a: &ReportArgs, dirs: &Dirs) -> Result<()> {
    run_one(dirs, &a.common.preset, a.common.force, None, false, |p| {
        Ok(boxed(ttc_pipeline::report::ReportStage::new(
            p,
            ttc_pipeline::plan::searches_of(p)?,
        )))
    })
}
