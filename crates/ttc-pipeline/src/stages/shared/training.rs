//! Training runs as the stages run them: a fine-tuning job behind a progress bar that
//! leaves a complete HF checkpoint, and greedy pass@1 of a policy.

use std::path::Path;

use anyhow::{Context, Result};
use ttc_train::policy_eval::greedy_pass_at_1;
use ttc_train::sft::{Event, SftRun, train_sft};

use crate::run::progress::Bar;
use crate::run::stage::Ctx;

/// A training run as the CLI runs it: the run itself, behind a labelled progress bar.
pub struct Job<'a> {
    pub label: &'a str,
    pub run: SftRun<'a>,
    /// The tokenizer written beside the weights.
    pub tokenizer: &'a Path,
    /// Remove `out` first.
    pub force: bool,
}

/// Train (or resume) into `job.out` behind a progress bar; then write the tokenizer
/// files next to the weights so the directory is a complete HF checkpoint.
pub fn fine_tune(ctx: &Ctx, job: Job<'_>) -> Result<ttc_train::sft::TrainState> {
    let run = job.run;
    if job.force {
        let _ = std::fs::remove_dir_all(run.out);
    }
    let pb = ctx.progress.bar(0, job.label);
    let state = train_sft(run, &mut on_event(pb.as_ref()))
        .with_context(|| format!("training into {}", run.out.display()))?;
    pb.finish();
    ttc_model::io::hf_io::write_tokenizer_files(
        run.out,
        job.tokenizer,
        run.model_cfg.max_position_embeddings,
    )?;
    Ok(state)
}

/// `N steps, best val <loss> X at step S in Ts`: how a fine-tuning run ended, for a stage's
/// one-line summary.
pub fn best_summary(state: &ttc_train::sft::TrainState, loss: &str) -> String {
    format!(
        "{} steps, best val {loss} {:.4} at step {} in {:.0}s",
        state.step,
        state.best_val_loss.unwrap_or(f64::NAN),
        state.best_step.map(|s| s.to_string()).unwrap_or("-".into()),
        state.wall_time_s
    )
}

/// The progress-bar side of a training run: steps, loss, val loss, tokens/s, ETA.
pub fn on_event<'a>(pb: &'a dyn Bar) -> impl FnMut(Event) + 'a {
    move |e| match e {
        Event::Start { step, total } => {
            pb.set_length(total as u64);
            pb.set_position(step as u64);
            pb.reset_eta();
        }
        Event::Step(m) => {
            pb.set_position(m.step as u64);
            let val = m
                .val_loss
                .map(|v| format!(" val {v:.3}"))
                .unwrap_or_default();
            pb.set_message(format!("loss {:.3}{val} {:.0} tok/s", m.loss, m.tok_s));
        }
        Event::Checkpoint(_) => {}
    }
}

/// Greedy pass@1 of a policy checkpoint on `problems`, with a progress bar.
pub fn eval_policy(
    ctx: &Ctx,
    dir: &Path,
    problems: &[ttc_task::Problem],
    tok: &ttc_task::tokenizer::Tokenizer,
    max_new_tokens: usize,
    label: &str,
    spec: &ttc_model::engine_spec::EngineSpec,
) -> Result<ttc_train::policy_eval::PassAtOne> {
    let (model, _) = ttc_engine::load_model(dir, spec)?;
    let pb = ctx
        .progress
        .bar(problems.len() as u64, &format!("pass@1 {label}"));
    let prompt = ttc_task::tokenizer::PromptTemplate::load(dir)?;
    let r = greedy_pass_at_1(
        model.as_ref(),
        tok,
        &prompt,
        spec.long_prompts,
        problems,
        max_new_tokens,
        &mut |n| pb.inc(n as u64),
    )?;
    pb.finish();
    Ok(r)
}
