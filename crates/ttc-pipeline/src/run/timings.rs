//! A run's per-stage wall times (`reports/<run>/timings.csv`, `timings.json`).

use anyhow::Result;
use serde::Serialize;

use crate::run::layout::Layout;

/// One stage of a run: what the runner did with it and how long it took.
#[derive(Serialize)]
pub struct Timing {
    pub stage: String,
    /// `ran`, `skipped` or `manual`.
    pub action: &'static str,
    pub wall_s: f64,
    /// The wall its record holds (its last run's).
    pub recorded_wall_s: f64,
}

/// `reports/<run>/timings.csv` and `timings.json`, atomically.
pub fn write_timings(layout: &Layout, t: &[Timing]) -> Result<()> {
    let dir = layout.report_dir();
    let mut csv = String::from("stage,action,wall_s,recorded_wall_s\n");
    for x in t {
        csv += &format!(
            "{},{},{:.1},{:.1}\n",
            x.stage, x.action, x.wall_s, x.recorded_wall_s
        );
    }
    ttc_core::atomic::write_atomic(&dir.join("timings.csv"), csv.as_bytes())?;
    ttc_core::atomic::write_atomic(&dir.join("timings.json"), &serde_json::to_vec_pretty(t)?)?;
    Ok(())
}
