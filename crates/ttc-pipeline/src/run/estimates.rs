//! The wall each stage without one of its own is expected to take: scaled from a sibling
//! that ran ([`time_ahead::sibling_estimates`]), else by the cost model ([`cost_model`]) at
//! the run's measured speed for its kind of work, else at the probe's.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::preset::Preset;
use crate::run::cost_model::{self, DataShape, SpeedSource, WorkKind};
use crate::run::layout::Layout;
use crate::run::stage::Stage;
use crate::run::time_ahead;
use crate::stages::shared::data_shape;

/// Where an estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateBy {
    /// A sibling's last wall, scaled by the work units.
    Sibling,
    /// The cost model at the speed of the run's finished stages of the same kind.
    RunSpeed,
    /// The cost model at the speed the probe measured on this machine.
    Probe,
}

/// Estimates for one plan: the data's shape measured and the probe run at most once.
pub struct Estimator<'a> {
    preset: &'a Preset,
    layout: &'a Layout,
    stages: &'a [Box<dyn Stage>],
    shape: OnceCell<DataShape>,
    probe: OnceCell<BTreeMap<WorkKind, f64>>,
}

impl<'a> Estimator<'a> {
    pub fn new(preset: &'a Preset, layout: &'a Layout, stages: &'a [Box<dyn Stage>]) -> Self {
        Estimator {
            preset,
            layout,
            stages,
            shape: OnceCell::new(),
            probe: OnceCell::new(),
        }
    }

    /// The run's data shape, once its data and tokenizer exist (then kept).
    fn shape(&self) -> Option<&DataShape> {
        if self.shape.get().is_none() {
            let _ = self
                .shape
                .set(data_shape::measure(self.preset, self.layout)?);
        }
        self.shape.get()
    }

    /// For each stage whose `walls[i]` is `None`: its estimate and where it came from.
    pub fn estimate(&self, walls: &[Option<f64>]) -> Vec<Option<(f64, EstimateBy)>> {
        let units: Vec<_> = self.stages.iter().map(|s| s.work_units()).collect();
        let sib = time_ahead::sibling_estimates(&units, walls);
        let mut out: Vec<Option<(f64, EstimateBy)>> = sib
            .into_iter()
            .map(|e| e.map(|e| (e, EstimateBy::Sibling)))
            .collect();
        if out
            .iter()
            .zip(walls)
            .all(|(e, w)| e.is_some() || w.is_some())
        {
            return out;
        }
        let Some(shape) = self.shape() else {
            return out;
        };
        let works: Vec<_> = self.stages.iter().map(|s| s.work(shape)).collect();
        let run = cost_model::kind_speeds(&works, walls, None);
        // The probe only when a stage left has no sibling and no run speed for its kind.
        let needs_probe = (0..works.len()).any(|i| {
            out[i].is_none()
                && walls[i].is_none()
                && works[i].is_some_and(|w| !run.contains_key(&w.kind))
        });
        let empty = BTreeMap::new();
        let probe = if needs_probe {
            self.probe.get_or_init(|| {
                data_shape::probe(self.preset, self.layout, shape).unwrap_or_default()
            })
        } else {
            &empty
        };
        let model = cost_model::cost_estimates(&works, walls, probe);
        for (o, m) in out.iter_mut().zip(model) {
            if o.is_none() {
                *o = m.map(|(s, src)| {
                    let by = match src {
                        SpeedSource::Run => EstimateBy::RunSpeed,
                        SpeedSource::Probe => EstimateBy::Probe,
                    };
                    (s, by)
                });
            }
        }
        out
    }
}
