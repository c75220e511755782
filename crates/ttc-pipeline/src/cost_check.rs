//! The cost model checked against a run's records (`ttc bench cost-model`): every stage that
//! declares a work and has a recorded wall, predicted (a) leave-one-out, at the speed of the
//! run's other stages of its kind — what `ttc pipeline status` does once some stages ran —
//! and (b) at the probe's speed, as on a fresh run. The spread of predicted / recorded is
//! the model's accuracy.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::preset::Preset;
use crate::run::cost_model::{self, DataShape, WorkKind};
use crate::run::layout::Layout;
use crate::run::record;
use crate::stages::shared::data_shape;

/// One stage's prediction beside its record.
#[derive(Debug, Clone, Serialize)]
pub struct CostRow {
    pub stage: String,
    pub kind: &'static str,
    pub tokens: f64,
    pub flops: f64,
    pub recorded_s: f64,
    /// At the run's other stages' speed for its kind (none: it is the only one).
    pub leave_one_out_s: Option<f64>,
    /// At the probe's speed.
    pub probe_s: Option<f64>,
}

/// The check of one run.
#[derive(Debug, Clone, Serialize)]
pub struct CostCheck {
    pub bench: &'static str,
    pub prompt_tokens: f64,
    pub solution_tokens: f64,
    pub steps: f64,
    pub policy_params: f64,
    /// FLOPs per second per kind: the run's recorded stages', and the probe's.
    pub run_flops_per_s: BTreeMap<&'static str, f64>,
    pub probe_flops_per_s: BTreeMap<&'static str, f64>,
    pub stages: Vec<CostRow>,
    /// The median over stages of max(predicted / recorded, recorded / predicted).
    pub median_factor_leave_one_out: Option<f64>,
    pub median_factor_probe: Option<f64>,
    /// The same for the run's whole recorded wall (the sum of its stages').
    pub total_recorded_s: f64,
    pub total_probe_s: f64,
}

/// The check of the run `preset` configures in `layout` (it must have run).
pub fn run(preset: &Preset, layout: &Layout) -> Result<CostCheck> {
    let stages = crate::plan::plan(preset)?;
    let shape: DataShape = data_shape::measure(preset, layout).with_context(|| {
        format!(
            "{}: no data shape (the run's splits and tokenizer; run the data and tokenizer stages first)",
            layout.data_dir().display()
        )
    })?;
    let mut walls = Vec::new();
    for s in &stages {
        let r = record::load_record(&record::record_path(s.as_ref(), layout))?;
        walls.push(r.map(|r| r.wall_s).filter(|w| *w > 0.0));
    }
    let works: Vec<_> = stages.iter().map(|s| s.work(&shape)).collect();
    let probe = data_shape::probe(preset, layout, &shape)
        .context("the probe needs the policy's config (a [policy] section or its checkpoint)")?;
    let loo: BTreeMap<usize, f64> = cost_model::leave_one_out(&works, &walls)
        .into_iter()
        .map(|(i, p, _)| (i, p))
        .collect();
    let mut rows = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        let (Some(w), Some(t)) = (works[i], walls[i]) else {
            continue;
        };
        rows.push(CostRow {
            stage: s.id(),
            kind: w.kind.name(),
            tokens: w.tokens,
            flops: w.flops(),
            recorded_s: t,
            leave_one_out_s: loo.get(&i).copied(),
            probe_s: probe.get(&w.kind).map(|v| w.flops() / v),
        });
    }
    let factor = |pick: fn(&CostRow) -> Option<f64>| {
        let mut f: Vec<f64> = rows
            .iter()
            .filter_map(|r| pick(r).map(|p| (p / r.recorded_s).max(r.recorded_s / p)))
            .collect();
        f.sort_by(f64::total_cmp);
        (!f.is_empty()).then(|| f[f.len() / 2])
    };
    let named = |m: BTreeMap<WorkKind, f64>| m.into_iter().map(|(k, v)| (k.name(), v)).collect();
    Ok(CostCheck {
        bench: "cost-model",
        prompt_tokens: shape.prompt_tokens,
        solution_tokens: shape.solution_tokens,
        steps: shape.steps,
        policy_params: shape.policy_params,
        run_flops_per_s: named(cost_model::kind_speeds(&works, &walls, None)),
        probe_flops_per_s: named(probe),
        median_factor_leave_one_out: factor(|r| r.leave_one_out_s),
        median_factor_probe: factor(|r| r.probe_s),
        total_recorded_s: rows.iter().map(|r| r.recorded_s).sum(),
        total_probe_s: rows.iter().filter_map(|r| r.probe_s).sum(),
        stages: rows,
    })
}
