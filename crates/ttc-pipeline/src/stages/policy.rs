//! `ttc train policy [--large]` and `ttc train verifier`: supervised fine-tuning of the
//! policy (of the ~14× larger policy of the FLOPs-matched exchange; of the verifier, trained
//! past the policy) on the train split, prompt tokens masked (DESIGN §4); resumes a killed
//! run from its last checkpoint; ends with greedy pass@1 per level on val.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_train::policy_eval::policy_example;
use ttc_train::sft::{Init, SftRun};

use crate::preset::{PolicyConfig, Preset, VerifierInit};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs};
use crate::run::stage::{Ctx, Stage};
use crate::stages::shared::checkpoint::{eos_pad, policy_model_config};
use crate::stages::shared::training::{Job, eval_policy, fine_tune};

/// Which causal LM of the run a [`PolicyStage`] trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lm {
    /// `[policy]`.
    Policy,
    /// `[policy_large]`.
    Large,
    /// `[verifier]`: the policy's architecture, trained further.
    Verifier(VerifierInit),
}

/// The policy (`[policy]`), the larger policy (`[policy_large]`) or the verifier
/// (`[verifier]`).
pub struct PolicyStage {
    lm: Lm,
    config: PolicyConfig,
    /// Where the validation pass@1 after training runs (the preset's `[engine]`).
    engine: ttc_model::engine_spec::EngineSpec,
}

impl PolicyStage {
    /// `None` when the preset has no such section; an error when its values are bad.
    pub fn new(preset: &Preset, large: bool) -> Result<Option<PolicyStage>> {
        let (lm, config) = if large {
            (Lm::Large, preset.policy_large.clone())
        } else {
            (Lm::Policy, preset.policy.clone())
        };
        let Some(config) = config else {
            return Ok(None);
        };
        Self::of(preset, lm, config).map(Some)
    }

    /// The `[verifier]` stage; `None` when the preset has no such section.
    pub fn verifier(preset: &Preset) -> Result<Option<PolicyStage>> {
        let Some(v) = &preset.verifier else {
            return Ok(None);
        };
        let config = v.as_policy(preset.policy.as_ref())?;
        Self::of(preset, Lm::Verifier(v.init), config).map(Some)
    }

    fn of(preset: &Preset, lm: Lm, config: PolicyConfig) -> Result<PolicyStage> {
        config.train.validate_in(&section(lm))?;
        let mut engine = crate::preset::engine_choice::resolve(preset, &None);
        // A server serves the policy, not the verifier trained here: its pass@1 runs on
        // the local CPU.
        if matches!(lm, Lm::Verifier(_)) {
            engine = crate::preset::engine_choice::local_logits(&engine);
        }
        Ok(PolicyStage { lm, config, engine })
    }

    fn name(&self) -> &'static str {
        match self.lm {
            Lm::Policy => "policy",
            Lm::Large => "policy-large",
            Lm::Verifier(_) => "verifier",
        }
    }

    fn out_dir(&self, layout: &Layout) -> PathBuf {
        match self.lm {
            Lm::Policy => layout.policy_dir(false),
            Lm::Large => layout.policy_dir(true),
            Lm::Verifier(_) => layout.verifier_dir(),
        }
    }

    /// The checkpoint training starts from, if not fresh weights.
    fn init_dir(&self, layout: &Layout) -> Option<PathBuf> {
        (self.lm == Lm::Verifier(VerifierInit::Policy)).then(|| layout.policy_dir(false))
    }
}

/// The preset section of `lm`'s recipe.
fn section(lm: Lm) -> String {
    match lm {
        Lm::Policy => "policy.train",
        Lm::Large => "policy_large.train",
        Lm::Verifier(_) => "verifier.train",
    }
    .into()
}

impl Stage for PolicyStage {
    fn id(&self) -> String {
        self.name().into()
    }
    fn config(&self) -> serde_json::Value {
        // Not the engine: it runs only the validation pass@1, not the training.
        match self.lm {
            Lm::Policy => serde_json::json!({ "policy": self.config }),
            Lm::Large => serde_json::json!({ "policy_large": self.config }),
            Lm::Verifier(init) => serde_json::json!({ "verifier": self.config, "init": init }),
        }
    }
    /// Its epochs over the train split's prompts and solutions.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let tokens = self.config.train.epochs * shape.whole(shape.rows("train") as f64);
        shape.lm_work(self.lm == Lm::Large, WorkKind::Train, tokens)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.split_file("train"),
            layout.split_file("val"),
            layout.tokenizer_dir().join("tokenizer.json"),
        ];
        if let Some(d) = self.init_dir(layout) {
            i.extend(checkpoint_inputs(&d));
        }
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let dir = self.out_dir(layout);
        let mut o = checkpoint_inputs(&dir);
        o.push(dir.join("pass_at_1_val.json"));
        o
    }
    fn command(&self) -> String {
        match self.lm {
            Lm::Policy => "train policy",
            Lm::Large => "train policy --large",
            Lm::Verifier(_) => "train verifier",
        }
        .into()
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let (pc, name) = (&self.config, self.name());
        pc.train.check_device(&section(self.lm))?;
        let data_dir = ctx.layout.data_dir();
        let tok_path = ctx.layout.tokenizer_dir().join("tokenizer.json");
        let tok = ttc_task::tokenizer::load_tokenizer(&tok_path)?;
        let model_cfg = policy_model_config(pc, &tok)?;
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
        let out = self.out_dir(ctx.layout);
        let init_dir = self.init_dir(ctx.layout);
        let mut run_hash = ttc_core::hash::hash_json(&(
            &model_cfg,
            &pc.train,
            ttc_core::hash::hash_file(&data_dir.join(split_file("train")))?,
            ttc_core::hash::hash_file(&tok_path)?,
        ));
        if let Some(d) = &init_dir {
            let init = ttc_core::hash::hash_file(&d.join("model.safetensors"))?;
            run_hash = ttc_core::hash::hash_json(&(run_hash, init));
        }
        let job = Job {
            label: name,
            run: SftRun {
                model_cfg: &model_cfg,
                init: init_dir.as_deref().map_or(Init::Seeded, Init::From),
                cfg: &pc.train,
                train: &train,
                val: &val,
                pad,
                run_hash: &run_hash,
                out: &out,
                reading: None,
            },
            tokenizer: &tok_path,
            force: ctx.force,
        };
        let state = fine_tune(ctx, job)?;
        let eval_path = out.join("pass_at_1_val.json");
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if mtime(&eval_path) < mtime(&out.join("model.safetensors")) {
            let r = eval_policy(
                ctx,
                &out,
                &val_rows,
                &tok,
                pc.eval_max_new_tokens,
                "val",
                &self.engine,
            )?;
            let bytes = serde_json::to_vec_pretty(&r)?;
            ttc_core::atomic::write_atomic(&eval_path, &bytes)?;
        }
        let r: ttc_train::policy_eval::PassAtOne =
            serde_json::from_slice(&std::fs::read(&eval_path)?)?;
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
}
