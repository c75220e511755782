//! Supervised fine-tuning (the policy now; the revision model later): next-token loss on
//! the target part of each example, AdamW (β 0.9/0.95, weight decay), linear warmup +
//! cosine decay, gradient clipping, validation loss every `eval_every` steps.
//!
//! Resumable: every `checkpoint_every` steps the burn model and optimizer records are
//! written under `state/` with the step in their names, then `train_state.json` (the commit
//! point) is replaced atomically. A killed run restarts from the last committed step with
//! the same batches (seeded per epoch) and ends with the same weights as an uninterrupted
//! run. A NaN/inf loss stops training, keeping the last good checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::ElementConversion;
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use ttc_model::model::Transformer;
use ttc_model::{CpuAutodiff, LlamaConfig};

use crate::loss::{
    StepReading, likelihood_step_bce, masked_cross_entropy, masked_soft_bce, tag_logits,
};
use crate::schedule::warmup_cosine;
use crate::sft_data::{Example, epoch_batches, make_batch};
use crate::{Error, Result};

pub use crate::sft_config::SftConfig;

/// Progress of a run, as stored in `train_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: usize,
    pub total_steps: usize,
    /// Hash of (model config, training config, data) this state belongs to.
    pub run_hash: String,
    pub tokens_seen: u64,
    pub best_val_loss: Option<f64>,
    pub last_val_loss: Option<f64>,
    pub wall_time_s: f64,
    pub done: bool,
    /// Step of the kept best weights (`keep_best`).
    #[serde(default)]
    pub best_step: Option<usize>,
    /// Evaluations since the best one (for `patience`).
    #[serde(default)]
    pub evals_since_best: usize,
}

/// Where training starts.
#[derive(Debug, Clone, Copy)]
pub enum Init<'a> {
    /// Fresh weights from the config and `seed`.
    Seeded,
    /// The checkpoint in this directory (fine-tuning, e.g. the revision model).
    From(&'a Path),
    /// The causal checkpoint's backbone with a fresh score head (PRM / ORM).
    ScoreHeadFrom(&'a Path),
}

/// Loss of one batch and the number of positions it averages over: next-token
/// cross-entropy for a causal LM, soft-label BCE at the score positions for a score head,
/// and for a causal LM given a `reading` and scored examples (a PRM that stays an LM), soft-label
/// BCE of each step's score as it is read: its calibrated prefix likelihood, or its two tag
/// logits. `dropout` = (probability, the seed of this batch's mask).
pub fn batch_loss<B: burn::tensor::backend::Backend>(
    model: &Transformer<B>,
    batch: crate::sft_data::Batch<B>,
    (dropout, mask_seed): (f64, u64),
    reading: Option<StepReading>,
) -> (burn::tensor::Tensor<B, 1>, usize) {
    if let Some(StepReading::Tag { good, bad }) = reading {
        let logits = model.forward_dropout(batch.inputs, dropout, mask_seed);
        let steps = tag_logits(logits, good, bad);
        return (
            masked_soft_bce(steps, batch.score_targets, batch.score_mask),
            batch.score_count,
        );
    }
    let calibration = match reading {
        Some(StepReading::Likelihood(c)) => Some(c),
        _ => None,
    };
    if let (Some(c), Some((weights, labels))) = (calibration, batch.step_prefixes) {
        let k = labels.dims()[0];
        let logits = model.forward_dropout(batch.inputs, dropout, mask_seed);
        let groups = batch.step_groups.as_deref();
        return (
            likelihood_step_bce(logits, batch.targets, weights, labels, c, groups),
            k,
        );
    }
    if model.config().head() == ttc_model::config::Head::Score {
        let logits = model
            .forward_dropout(batch.inputs, dropout, mask_seed)
            .squeeze_dim::<2>(2);
        (
            masked_soft_bce(logits, batch.score_targets, batch.score_mask),
            batch.score_count,
        )
    } else {
        (
            masked_cross_entropy(model.forward(batch.inputs), batch.targets, batch.mask),
            batch.loss_tokens,
        )
    }
}

/// The seed stream of dropout masks (`derive_seed(seed, step, DROPOUT_STREAM)`).
const DROPOUT_STREAM: u64 = 0xD50F;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    pub tokens_seen: u64,
    pub tok_s: f64,
}

/// What the caller (the CLI's progress bar) hears.
pub enum Event<'a> {
    Start { step: usize, total: usize },
    Step(&'a Metric),
    Checkpoint(usize),
}

type CkptRecorder = BinFileRecorder<FullPrecisionSettings>;

fn state_dir(out: &Path) -> PathBuf {
    out.join("state")
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Read `train_state.json` if present.
pub fn load_state(out: &Path) -> Result<Option<TrainState>> {
    let p = out.join("train_state.json");
    match std::fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| ckpt_err(&p, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ttc_core::Error::io(p, e).into()),
    }
}

fn save_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).expect("serializes");
    Ok(ttc_core::atomic::write_atomic(path, &bytes)?)
}

fn save_metrics(out: &Path, metrics: &[Metric]) -> Result<()> {
    Ok(ttc_core::jsonl::write_jsonl(
        &out.join("metrics.jsonl"),
        metrics,
    )?)
}

/// Steps in the whole run: batches per epoch × epochs (fractional epochs cut the last).
pub fn total_steps(examples: &[Example], cfg: &SftConfig) -> usize {
    let per_epoch = epoch_batches(examples, cfg.batch_tokens, cfg.seed, 0).len();
    ((per_epoch as f64) * cfg.epochs).ceil().max(1.0) as usize
}

/// The batch (example indices) of global step `step`.
struct Schedule<'a> {
    examples: &'a [Example],
    cfg: &'a SftConfig,
    epoch: u64,
    start: usize,
    batches: Vec<Vec<usize>>,
}

impl<'a> Schedule<'a> {
    fn new(examples: &'a [Example], cfg: &'a SftConfig) -> Self {
        Schedule {
            examples,
            cfg,
            epoch: 0,
            start: 0,
            batches: epoch_batches(examples, cfg.batch_tokens, cfg.seed, 0),
        }
    }

    fn batch(&mut self, step: usize) -> &[usize] {
        while step >= self.start + self.batches.len() {
            self.start += self.batches.len();
            self.epoch += 1;
            self.batches = epoch_batches(
                self.examples,
                self.cfg.batch_tokens,
                self.cfg.seed,
                self.epoch,
            );
        }
        &self.batches[step - self.start]
    }
}

/// Mean loss over `examples` (no gradients), in batches of `batch_tokens`.
pub fn eval_loss<B: Backend>(
    model: &Transformer<B>,
    examples: &[Example],
    batch_tokens: usize,
    pad: u32,
    reading: Option<StepReading>,
) -> f64 {
    let dev = model.devices().into_iter().next().unwrap_or_default();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for b in epoch_batches(examples, batch_tokens, 0, 0) {
        let refs: Vec<&Example> = b.iter().map(|&i| &examples[i]).collect();
        let batch = make_batch::<B>(&refs, pad, &dev);
        let (l, count) = batch_loss(model, batch, (0.0, 0), reading);
        sum += l.into_scalar().elem::<f64>() * count as f64;
        n += count;
    }
    sum / n.max(1) as f64
}

/// One fine-tuning run: what [`train_sft`] trains, on what, and where it writes.
#[derive(Clone, Copy)]
pub struct SftRun<'a> {
    pub model_cfg: &'a LlamaConfig,
    pub init: Init<'a>,
    pub cfg: &'a SftConfig,
    pub train: &'a [Example],
    pub val: &'a [Example],
    /// Token id that pads a batch.
    pub pad: u32,
    /// Hash of everything the run depends on; a checkpoint with another hash is not resumed.
    pub run_hash: &'a str,
    pub out: &'a Path,
    /// A causal LM trained on scored examples learns them as this reading gives them (a
    /// likelihood PRM, a generative PRM); `None` for every other run.
    pub reading: Option<StepReading>,
}

/// Train (or resume) into `run.out`. The final model is written as an HF checkpoint
/// (`config.json`, `model.safetensors`) next to `train_state.json` and `metrics.jsonl`.
pub fn train_sft(run: SftRun<'_>, on: &mut dyn FnMut(Event)) -> Result<TrainState> {
    run.cfg.validate()?;
    match run.cfg.device.as_str() {
        #[cfg(feature = "cuda")]
        "cuda" => train_on::<burn::backend::Autodiff<ttc_model::GpuBackend>>(
            burn::backend::cuda::CudaDevice::default(),
            run,
            on,
        ),
        _ => train_on::<CpuAutodiff>(Default::default(), run, on),
    }
}

/// [`train_sft`] on backend `B` (CPU or CUDA): same steps, same checkpoints.
fn train_on<B: AutodiffBackend>(
    dev: B::Device,
    SftRun {
        model_cfg,
        init,
        cfg,
        train,
        val,
        pad,
        run_hash,
        out,
        reading,
    }: SftRun<'_>,
    on: &mut dyn FnMut(Event),
) -> Result<TrainState> {
    crate::tune_allocator_for_training();
    if train.is_empty() {
        return Err(Error::Config("no training examples".into()));
    }
    for (split, exs) in [("train", train), ("val", val)] {
        if let Some((i, e)) = exs
            .iter()
            .enumerate()
            .find(|(_, e)| e.tokens.len() > model_cfg.max_position_embeddings)
        {
            return Err(Error::Config(format!(
                "{split} example {} has {} tokens but max_position_embeddings is {}; raise it in the preset",
                i + 1,
                e.tokens.len(),
                model_cfg.max_position_embeddings
            )));
        }
    }
    let rec = CkptRecorder::new();
    let total = total_steps(train, cfg);
    let loaded = !matches!(init, Init::Seeded);
    let inner: Transformer<B::InnerBackend> = match init {
        Init::Seeded => ttc_model::init_seeded::<B::InnerBackend>(model_cfg, cfg.seed, &dev),
        Init::From(dir) => ttc_model::io::hf_io::load_checkpoint_as(dir, model_cfg, &dev)?,
        Init::ScoreHeadFrom(dir) => {
            ttc_model::io::hf_io::load_backbone_with_score_head(dir, cfg.seed, &dev)?
        }
    };
    if inner.config() != model_cfg {
        return Err(Error::Config(
            "the initial checkpoint's config differs from the model config to train".into(),
        ));
    }
    let mut model: Transformer<B> = Transformer::from_inner(inner);
    if loaded {
        // burn 0.21: a parameter built from a tensor of the inner (non-autodiff) backend
        // records require_grad = false, and `from_inner` keeps that — the loaded model
        // would get no gradients. Loading its record into a freshly initialised model keeps
        // the fresh parameters' require_grad and takes the loaded values.
        model =
            // Lazy parameters, all replaced by the record: never drawn.
            model_cfg.init::<B>(&dev).load_record(model.into_record());
    }
    let mut optim = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.95)
        .with_weight_decay(cfg.weight_decay)
        .with_grad_clipping(
            (cfg.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(cfg.grad_clip)),
        )
        .init::<B, Transformer<B>>();
    let mut state = TrainState {
        step: 0,
        total_steps: total,
        run_hash: run_hash.to_string(),
        tokens_seen: 0,
        best_val_loss: None,
        last_val_loss: None,
        wall_time_s: 0.0,
        done: false,
        best_step: None,
        evals_since_best: 0,
    };
    let mut metrics: Vec<Metric> = Vec::new();
    if let Some(prev) = load_state(out)?
        && prev.run_hash == run_hash
    {
        if prev.done {
            return Ok(prev);
        }
        if prev.step > 0 {
            let sd = state_dir(out);
            let mp = sd.join(format!("step-{}-model", prev.step));
            let op = sd.join(format!("step-{}-optim", prev.step));
            model = model
                .load_file(&mp, &rec, &dev)
                .map_err(|e| ckpt_err(&mp, e))?;
            let orec = rec.load(op.clone(), &dev).map_err(|e| ckpt_err(&op, e))?;
            optim = optim.load_record(orec);
            metrics = ttc_core::jsonl::read_jsonl::<Metric>(&out.join("metrics.jsonl"))?;
            metrics.retain(|m| m.step <= prev.step);
            state = prev;
        }
    }
    std::fs::create_dir_all(out).map_err(|e| ttc_core::Error::io(out, e))?;
    on(Event::Start {
        step: state.step,
        total,
    });
    let mut sched = Schedule::new(train, cfg);
    let started = Instant::now();
    let wall_before = state.wall_time_s;
    let mut window = (Instant::now(), 0u64);
    while state.step < total {
        let step = state.step;
        let lr = warmup_cosine(step, total, cfg.warmup_steps, cfg.lr, cfg.min_lr_ratio);
        let idx = sched.batch(step).to_vec();
        let refs: Vec<&Example> = idx.iter().map(|&i| &train[i]).collect();
        let batch = make_batch::<B>(&refs, pad, &dev);
        let tokens = batch.tokens;
        // The step's dropout mask from (seed, step): the same after a resume or beside another stage.
        let mask_seed = ttc_core::seed::derive_seed(cfg.seed, step as u64, DROPOUT_STREAM);
        let (loss, _) = batch_loss(&model, batch, (cfg.dropout, mask_seed), reading);
        let loss_v = loss.clone().into_scalar().elem::<f64>();
        if !loss_v.is_finite() {
            return Err(Error::Diverged(format!(
                "loss became {loss_v} at step {step}; the last good checkpoint (step {}) is kept in {}; lower the learning rate and rerun",
                checkpointed_step(out)?,
                out.display()
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        state.step += 1;
        state.tokens_seen += tokens as u64;
        window.1 += tokens as u64;
        let mut m = Metric {
            step: state.step,
            lr,
            loss: loss_v,
            val_loss: None,
            tokens_seen: state.tokens_seen,
            tok_s: window.1 as f64 / window.0.elapsed().as_secs_f64().max(1e-9),
        };
        if state.step.is_multiple_of(cfg.eval_every) || state.step == total {
            let vl = if val.is_empty() {
                loss_v
            } else {
                eval_loss(&model.valid(), val, cfg.batch_tokens, pad, reading)
            };
            m.val_loss = Some(vl);
            state.last_val_loss = Some(vl);
            if state.best_val_loss.is_none_or(|b| vl < b) {
                state.best_val_loss = Some(vl);
                state.evals_since_best = 0;
                if cfg.keep_best {
                    ttc_model::io::hf_io::save_checkpoint(&best_dir(out), &model.valid())?;
                    state.best_step = Some(state.step);
                }
            } else {
                state.evals_since_best += 1;
            }
            window = (Instant::now(), 0);
        }
        on(Event::Step(&m));
        metrics.push(m);
        state.wall_time_s = wall_before + started.elapsed().as_secs_f64();
        if cfg.patience > 0 && state.evals_since_best >= cfg.patience {
            break;
        }
        if state.step.is_multiple_of(cfg.checkpoint_every) && state.step < total {
            checkpoint(out, &model, &optim, &state, &metrics, &rec)?;
            on(Event::Checkpoint(state.step));
        }
    }
    if cfg.keep_best && state.best_step.is_some() {
        let bd = best_dir(out);
        for f in ["config.json", "model.safetensors"] {
            let (from, to) = (bd.join(f), out.join(f));
            let bytes = std::fs::read(&from).map_err(|e| ttc_core::Error::io(&from, e))?;
            ttc_core::atomic::write_atomic(&to, &bytes)?;
        }
    } else {
        ttc_model::io::hf_io::save_checkpoint(out, &model.valid())?;
    }
    state.done = true;
    state.wall_time_s = wall_before + started.elapsed().as_secs_f64();
    save_metrics(out, &metrics)?;
    save_json(&out.join("train_state.json"), &state)?;
    let _ = std::fs::remove_dir_all(state_dir(out));
    Ok(state)
}

/// Where `keep_best` keeps the best weights while training (inside `state/`).
fn best_dir(out: &Path) -> PathBuf {
    state_dir(out).join("best")
}

fn checkpointed_step(out: &Path) -> Result<usize> {
    Ok(load_state(out)?.map(|s| s.step).unwrap_or(0))
}

fn checkpoint<B: AutodiffBackend, O: Optimizer<Transformer<B>, B>>(
    out: &Path,
    model: &Transformer<B>,
    optim: &O,
    state: &TrainState,
    metrics: &[Metric],
    rec: &CkptRecorder,
) -> Result<()> {
    let sd = state_dir(out);
    std::fs::create_dir_all(&sd).map_err(|e| ttc_core::Error::io(&sd, e))?;
    let mp = sd.join(format!("step-{}-model", state.step));
    let op = sd.join(format!("step-{}-optim", state.step));
    // Versioned names: files of the committed step are never overwritten, so a kill at
    // any point leaves train_state.json pointing at complete files.
    model
        .clone()
        .save_file(&mp, rec)
        .map_err(|e| ckpt_err(&mp, e))?;
    rec.record(optim.to_record(), op.clone())
        .map_err(|e| ckpt_err(&op, e))?;
    save_metrics(out, metrics)?;
    let prev = load_state(out)?.map(|s| s.step);
    save_json(&out.join("train_state.json"), state)?;
    if let Some(p) = prev.filter(|&p| p != state.step) {
        for f in ["model", "optim"] {
            let _ = std::fs::remove_file(sd.join(format!("step-{p}-{f}.bin")));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "sft_tests.rs"]
mod tests;
