//! The run's [`DataShape`] for the cost model (`run::cost_model`): split sizes, mean prompt
//! and reference-solution lengths in the policy's tokens, and the policy's parameters; and
//! the probe that measures this machine's speed at each kind of work on the policy's shape.

use std::collections::BTreeMap;
use ttc_model::LlamaConfig;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::Tokenizer;

use crate::preset::Preset;
use crate::run::cost_model::{DataShape, WorkKind};
use crate::run::layout::Layout;
use crate::stages::shared::checkpoint::policy_model_config;

/// Questions whose lengths are averaged (the first of the train split, else the test's).
const MEASURED: usize = 500;

/// The shape of the run's data; `None` until the splits and a tokenizer exist (the data and
/// tokenizer stages, or an imported policy).
pub fn measure(preset: &Preset, layout: &Layout) -> Option<DataShape> {
    let tok = tokenizer(layout)?;
    let mut rows = BTreeMap::new();
    let mut measured = Vec::new();
    for split in ["train", "val", "test"] {
        let file = layout.split_file(split);
        if !file.exists() {
            continue;
        }
        let problems = load_problems(&file).ok()?;
        rows.insert(split.to_string(), problems.len());
        if measured.is_empty() {
            measured = problems.into_iter().take(MEASURED).collect();
        }
    }
    if measured.is_empty() {
        return None;
    }
    let count = |s: &str| tok.encode(s, false).map(|e| e.len() as f64).ok();
    let n = measured.len() as f64;
    let mut prompt = 0.0;
    let mut solution = 0.0;
    let mut steps = 0.0;
    for p in &measured {
        prompt += count(&p.problem)?;
        solution += count(&p.solution)? + 1.0;
        steps += ttc_task::steps::split_steps(&p.solution).len() as f64;
    }
    let params = |large| Some(model_config(preset, layout, large, &tok)?.num_params() as f64);
    Some(DataShape {
        rows,
        prompt_tokens: prompt / n,
        solution_tokens: solution / n,
        steps: steps / n,
        policy_params: params(false)?,
        large_params: params(true),
    })
}

/// This machine's FLOPs per second at each kind of work, on random weights of the policy's
/// config on the CPU backend, at the data's sequence length: training steps of the policy's
/// batch, forward passes, and a decode of 64 solutions' length (a second or two at the
/// default's size). `None` without a policy config.
pub fn probe(
    preset: &Preset,
    layout: &Layout,
    data: &DataShape,
) -> Option<BTreeMap<WorkKind, f64>> {
    let cfg = model_config(preset, layout, false, &tokenizer(layout)?)?;
    let params = cfg.num_params() as f64;
    let seq_len = ((data.prompt_tokens + data.solution_tokens).round() as usize).clamp(8, 2048);
    let batch_tokens = preset
        .policy
        .as_ref()
        .map_or(4096, |p| p.train.batch_tokens);
    let shape = ttc_train::bench::BenchShape {
        batch: (batch_tokens / seq_len).max(1),
        seq_len,
        steps: 3,
        seed: 0,
    };
    let train = ttc_train::bench::run_train_bench(&cfg, shape);
    let score = ttc_train::bench::run_forward_bench(&cfg, shape);
    let model = ttc_engine::bench::random_cpu_model(&cfg, 0).ok()?;
    let b = ttc_engine::bench::GenerateBench {
        batch: 64,
        prompt_len: (data.prompt_tokens.round() as usize).max(1),
        new_tokens: (data.solution_tokens.round() as usize).max(1),
        temperature: 1.0,
        seed: 0,
        threads: 0,
    };
    let generate = ttc_engine::bench::run_generate_bench(&model, &b).ok()?;
    let flops = |k: WorkKind, tok_s: f64| (k, k.flops_per_param() * params * tok_s);
    Some(BTreeMap::from([
        flops(WorkKind::Train, train.tok_s),
        flops(WorkKind::Score, score.tok_s),
        flops(WorkKind::Generate, generate.decode_tok_s),
    ]))
}

/// The policy's tokenizer: its checkpoint's, else the tokenizer stage's.
fn tokenizer(layout: &Layout) -> Option<Tokenizer> {
    let file = [
        layout.policy_dir(false).join("tokenizer.json"),
        layout.tokenizer_dir().join("tokenizer.json"),
    ]
    .into_iter()
    .find(|p| p.exists())?;
    ttc_task::tokenizer::load_tokenizer(&file).ok()
}

/// The policy's (or `[policy_large]`'s) model config: its checkpoint's, else the one its
/// preset section will train.
fn model_config(
    preset: &Preset,
    layout: &Layout,
    large: bool,
    tok: &Tokenizer,
) -> Option<LlamaConfig> {
    let cfg = layout.policy_dir(large).join("config.json");
    if cfg.exists() {
        return LlamaConfig::load(&cfg).ok();
    }
    let pc = if large {
        preset.policy_large.as_ref()
    } else {
        preset.policy.as_ref()
    };
    policy_model_config(pc?, tok).ok()
}
