//! `ttc eval policy [--large] [--split S]`: greedy pass@1 per level of a policy checkpoint
//! on a split (`pass_at_1_<split>.json` beside the weights; one JSON line on stdout).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ttc_task::math500::load_problems;

use crate::preset::Preset;
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, model_files};
use crate::run::stage::{Ctx, Stage};
use crate::stages::shared::training::eval_policy;

pub struct EvalPolicyStage {
    large: bool,
    split: String,
    max_new_tokens: usize,
    engine: ttc_model::engine_spec::EngineSpec,
}

impl EvalPolicyStage {
    pub fn new(preset: &Preset, large: bool, split: &str) -> Result<EvalPolicyStage> {
        if !["train", "val", "test"].contains(&split) {
            bail!("--split: expected train, val or test, got {split:?}");
        }
        let pc = if large {
            &preset.policy_large
        } else {
            &preset.policy
        };
        Ok(EvalPolicyStage {
            large,
            split: split.to_string(),
            // An imported policy has no [policy] section: its test samples' length.
            max_new_tokens: pc
                .as_ref()
                .map(|p| p.eval_max_new_tokens)
                .or(preset.test_samples.as_ref().map(|t| t.max_new_tokens))
                .unwrap_or(400),
            engine: crate::preset::engine_choice::resolve(preset, &None),
        })
    }

    fn name(&self) -> &'static str {
        if self.large { "policy-large" } else { "policy" }
    }
}

impl Stage for EvalPolicyStage {
    fn id(&self) -> String {
        if self.split == "test" {
            format!("eval-{}", self.name())
        } else {
            format!("eval-{}-{}", self.name(), self.split)
        }
    }
    /// Greedy solutions of its split's questions.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let tokens = shape.generated(shape.rows(&self.split) as f64);
        shape.lm_work(self.large, WorkKind::Generate, tokens)
    }
    fn config(&self) -> serde_json::Value {
        let c = serde_json::json!({"split": self.split, "max_new_tokens": self.max_new_tokens});
        crate::preset::engine_choice::with_engine(c, "engine", &self.engine)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![layout.split_file(&self.split)];
        i.extend(model_files(&layout.policy_dir(self.large)));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![
            layout
                .policy_dir(self.large)
                .join(format!("pass_at_1_{}.json", self.split)),
        ]
    }
    fn command(&self) -> String {
        format!(
            "eval policy{} --split {}",
            if self.large { " --large" } else { "" },
            self.split
        )
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let dir = ctx.layout.policy_dir(self.large);
        let problems = load_problems(&ctx.layout.split_file(&self.split))?;
        let tok = ttc_engine::checkpoint_tokenizer(&dir)
            .with_context(|| format!("{}: the policy's tokenizer", dir.display()))?;
        let r = eval_policy(
            ctx,
            &dir,
            &problems,
            &tok,
            self.max_new_tokens,
            &self.split,
            &self.engine,
        )?;
        let out = dir.join(format!("pass_at_1_{}.json", self.split));
        ttc_core::atomic::write_atomic(&out, &serde_json::to_vec_pretty(&r)?)?;
        let per_level: serde_json::Map<String, serde_json::Value> = r
            .per_level
            .iter()
            .map(|(l, acc)| (format!("level{l}"), serde_json::json!(acc.rate())))
            .collect();
        println!(
            "{}",
            serde_json::json!({"policy": self.name(), "split": self.split, "n": r.overall.total,
                "pass_at_1": r.overall.rate(), "per_level": per_level})
        );
        eprintln!("eval: wrote {}", out.display());
        Ok(())
    }
}
