//! `ttc train …`: the training stages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ttc_model::LlamaConfig;
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_train::policy_eval::{greedy_pass_at_1, policy_example};
use ttc_train::sft::{Event, Init, SftRun, train_sft};

use crate::Dirs;
use crate::preset::{PolicyConfig, Preset};

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning of the policy on the train split (prompt tokens masked):
    /// AdamW, warmup + cosine, clipping, validation loss; resumes a killed run from its
    /// last checkpoint; ends with greedy pass@1 per level on the validation split.
    /// Writes checkpoints/<run>/policy/ (or policy-large/ with --large).
    Policy(PolicyArgs),
    /// The process reward model: the policy's backbone with a score head, trained with
    /// soft-label BCE at each step's last token on the MC labels; early stopping on the
    /// held-out questions' loss. Writes checkpoints/<run>/prm/ (prm-hard/ with --hard).
    Prm(super::prm::PrmArgs),
    /// The revision model: fine-tuned from the policy on revision trajectories (previous
    /// wrong attempts in the prompt, loss on the correct target); keeps the checkpoint at
    /// the validation-loss minimum. Writes checkpoints/<run>/revision/.
    Revision(super::revision::RevisionArgs),
    /// The revision verifier: an outcome model (score head on the revision model) trained
    /// on revision chains of train questions with the previous attempts in context; label =
    /// the attempt's correctness. Writes checkpoints/<run>/orm/.
    Orm(super::orm::OrmArgs),
}

#[derive(Args)]
pub struct PolicyArgs {
    /// Pipeline preset (TOML).
    #[arg(long)]
    pub preset: PathBuf,
    /// Train the ~14× larger policy (`[policy_large]`) instead of `[policy]`.
    #[arg(long)]
    pub large: bool,
    /// Start over even if a finished or resumable run exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: TrainCommand, dirs: &Dirs) -> Result<()> {
    match cmd {
        TrainCommand::Policy(a) => policy(&a, dirs),
        TrainCommand::Prm(a) => super::prm::train(&a, dirs),
        TrainCommand::Revision(a) => super::revision::train(&a, dirs),
        TrainCommand::Orm(a) => super::orm::train(&a, dirs),
    }
}

/// The model config a policy section asks for, sized to the tokenizer.
pub fn policy_model_config(
    pc: &PolicyConfig,
    tok: &ttc_task::tokenizer::Tokenizer,
) -> Result<LlamaConfig> {
    let vocab = tok.get_vocab_size(true);
    let mut cfg = LlamaConfig::named(&pc.size, vocab)?;
    if let Some(v) = pc.hidden_size {
        cfg.hidden_size = v;
    }
    if let Some(v) = pc.intermediate_size {
        cfg.intermediate_size = v;
    }
    if let Some(v) = pc.num_hidden_layers {
        cfg.num_hidden_layers = v;
    }
    if let Some(v) = pc.num_attention_heads {
        cfg.num_attention_heads = v;
    }
    if let Some(v) = pc.num_key_value_heads {
        cfg.num_key_value_heads = Some(v);
    }
    cfg.max_position_embeddings = pc.max_position_embeddings;
    cfg.eos_token_id = tok.token_to_id(ttc_task::tokenizer::EOS).map(Into::into);
    cfg.pad_token_id = tok.token_to_id(ttc_task::tokenizer::PAD);
    cfg.bos_token_id = tok.token_to_id(ttc_task::tokenizer::BOS);
    cfg.validate().context("policy model config")?;
    Ok(cfg)
}

/// The tokenizer's EOS and padding ids (ttc's specials).
pub fn eos_pad(tok: &ttc_task::tokenizer::Tokenizer) -> Result<(u32, u32)> {
    let eos = tok
        .token_to_id(ttc_task::tokenizer::EOS)
        .context("tokenizer has no <|eos|>")?;
    let pad = tok
        .token_to_id(ttc_task::tokenizer::PAD)
        .context("tokenizer has no <|pad|>")?;
    Ok((eos, pad))
}

pub fn require(path: &Path, hint: &str) -> Result<()> {
    if !path.exists() {
        anyhow::bail!("{} not found: run `{hint}` first", path.display());
    }
    Ok(())
}

fn policy(a: &PolicyArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let (pc, name) = if a.large {
        (preset.policy_large.clone(), "policy-large")
    } else {
        (preset.policy.clone(), "policy")
    };
    let pc = pc.with_context(|| {
        format!(
            "{}: no [{}] section",
            a.preset.display(),
            if a.large { "policy_large" } else { "policy" }
        )
    })?;
    let data_dir = preset.data_dir(dirs);
    let tok_path = preset.tokenizer_dir(dirs).join("tokenizer.json");
    require(
        &data_dir.join(split_file("train")),
        &format!("ttc data gen --preset {}", a.preset.display()),
    )?;
    require(
        &tok_path,
        &format!("ttc tokenizer train --preset {}", a.preset.display()),
    )?;
    let tok = ttc_task::tokenizer::load_tokenizer(&tok_path)?;
    let model_cfg = policy_model_config(&pc, &tok)?;
    let (eos, pad) = eos_pad(&tok)?;
    let train_rows = load_problems(&data_dir.join(split_file("train")))?;
    let val_rows = load_problems(&data_dir.join(split_file("val")))?;
    let train: Vec<_> = train_rows
        .iter()
        .map(|p| policy_example(&tok, p, eos))
        .collect::<Result<_, _>>()?;
    let val: Vec<_> = val_rows
        .iter()
        .map(|p| policy_example(&tok, p, eos))
        .collect::<Result<_, _>>()?;
    let out = dirs.checkpoints_dir.join(&preset.name).join(name);
    let run_hash = ttc_core::hash::hash_json(&(
        &model_cfg,
        &pc.train,
        ttc_core::hash::hash_file(&data_dir.join(split_file("train")))?,
        ttc_core::hash::hash_file(&tok_path)?,
    ));
    let job = Job {
        label: name,
        run: SftRun {
            model_cfg: &model_cfg,
            init: Init::Seeded,
            cfg: &pc.train,
            train: &train,
            val: &val,
            pad,
            run_hash: &run_hash,
            out: &out,
        },
        tokenizer: &tok_path,
        force: a.force,
    };
    let state = fine_tune(job)?;
    let eval_path = out.join("pass_at_1_val.json");
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&eval_path) < mtime(&out.join("model.safetensors")) {
        let r = eval_policy(&out, &val_rows, &tok, pc.eval_max_new_tokens, "val")?;
        let bytes = serde_json::to_vec_pretty(&r)?;
        ttc_core::atomic::write_atomic(&eval_path, &bytes)?;
    }
    let r: ttc_train::policy_eval::PassAtOne = serde_json::from_slice(&std::fs::read(&eval_path)?)?;
    let levels: Vec<String> = r
        .per_level
        .iter()
        .map(|(l, acc)| format!("L{l} {:.0}%", 100.0 * acc.rate()))
        .collect();
    eprintln!(
        "{name}: {} steps, {} tokens, val loss {:.3} (best {:.3}) in {:.0}s; greedy pass@1 on val {:.1}% ({})",
        state.step,
        state.tokens_seen,
        state.last_val_loss.unwrap_or(f64::NAN),
        state.best_val_loss.unwrap_or(f64::NAN),
        state.wall_time_s,
        100.0 * r.overall.rate(),
        levels.join(", ")
    );
    Ok(())
}

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
pub fn fine_tune(job: Job<'_>) -> Result<ttc_train::sft::TrainState> {
    let run = job.run;
    if job.force {
        let _ = std::fs::remove_dir_all(run.out);
    }
    let pb = crate::progress::bar(0, job.label);
    let state = train_sft(run, &mut on_event(&pb))
        .with_context(|| format!("training into {}", run.out.display()))?;
    pb.finish_and_clear();
    ttc_model::hf_io::write_tokenizer_files(
        run.out,
        job.tokenizer,
        run.model_cfg.max_position_embeddings,
    )?;
    Ok(state)
}

/// The progress-bar side of a training run: steps, loss, val loss, tokens/s, ETA.
pub fn on_event(pb: &indicatif::ProgressBar) -> impl FnMut(Event) + '_ {
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
    dir: &Path,
    problems: &[ttc_task::Problem],
    tok: &ttc_task::tokenizer::Tokenizer,
    max_new_tokens: usize,
    label: &str,
) -> Result<ttc_train::policy_eval::PassAtOne> {
    let cfg = LlamaConfig::load(&dir.join("config.json"))?;
    let w = ttc_model::weights::read_safetensors(&dir.join("model.safetensors"))?;
    let model = ttc_model::cpu::CpuModel::from_weights(&cfg, &w)?;
    let pb = crate::progress::bar(problems.len() as u64, &format!("pass@1 {label}"));
    let r = greedy_pass_at_1(&model, tok, problems, max_new_tokens, &mut |n| {
        pb.inc(n as u64)
    })?;
    pb.finish_and_clear();
    Ok(r)
}
