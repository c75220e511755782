//! `ttc train policy [--large]`: supervised fine-tuning of the policy (or of the ~14× larger
//! policy of the FLOPs-matched exchange) on the train split, prompt tokens masked (DESIGN §4);
//! resumes a killed run from its last checkpoint; ends with greedy pass@1 per level on val.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ttc_task::dataset::split_file;
use ttc_task::math500::load_problems;
use ttc_train::policy_eval::policy_example;
use ttc_train::sft::{Init, SftRun};

use crate::checkpoint::{eos_pad, policy_model_config};
use crate::layout::{Layout, checkpoint_inputs};
use crate::preset::{PolicyConfig, Preset};
use crate::stage::{Ctx, Stage};
use crate::training::{Job, eval_policy, fine_tune};

/// The policy (`[policy]`) or the larger policy (`[policy_large]`).
pub struct PolicyStage {
    large: bool,
    config: PolicyConfig,
    /// Where the validation pass@1 after training runs (the preset's `[engine]`).
    engine: ttc_model::engine_spec::EngineSpec,
}

impl PolicyStage {
    /// `None` when the preset has no such section; an error when its values are bad.
    pub fn new(preset: &Preset, large: bool) -> Result<Option<PolicyStage>> {
        let config = if large {
            preset.policy_large.clone()
        } else {
            preset.policy.clone()
        };
        let Some(config) = config else {
            return Ok(None);
        };
        let section = if large {
            "policy_large.train"
        } else {
            "policy.train"
        };
        config.train.validate_in(section)?;
        Ok(Some(PolicyStage {
            large,
            config,
            engine: crate::engine_choice::resolve(preset, &None),
        }))
    }

    fn name(&self) -> &'static str {
        if self.large { "policy-large" } else { "policy" }
    }
}

impl Stage for PolicyStage {
    fn id(&self) -> String {
        self.name().into()
    }
    fn config(&self) -> serde_json::Value {
        let key = if self.large { "policy_large" } else { "policy" };
        // Not the engine: it runs only the validation pass@1, not the training.
        serde_json::json!({ key: self.config })
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![
            layout.split_file("train"),
            layout.split_file("val"),
            layout.tokenizer_dir().join("tokenizer.json"),
        ]
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let dir = layout.policy_dir(self.large);
        let mut o = checkpoint_inputs(&dir);
        o.push(dir.join("pass_at_1_val.json"));
        o
    }
    fn command(&self) -> String {
        if self.large {
            "train policy --large".into()
        } else {
            "train policy".into()
        }
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let (pc, name) = (&self.config, self.name());
        pc.train.check_device(if self.large {
            "policy_large.train"
        } else {
            "policy.train"
        })?;
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
        let out = ctx.layout.policy_dir(self.large);
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
