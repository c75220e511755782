//! The roots of a run's artifacts as the global flags give them.

use std::path::PathBuf;

use clap::Args;

/// Where artifacts live (relative to the working directory by default).
#[derive(Args, Clone)]
pub struct Dirs {
    /// Root of generated datasets (`<dir>/<run>/…`).
    #[arg(long, global = true, default_value = "datasets")]
    pub datasets_dir: PathBuf,
    /// Root of trained models and tokenizers (`<dir>/<run>/…`).
    #[arg(long, global = true, default_value = "checkpoints")]
    pub checkpoints_dir: PathBuf,
    /// Root of evaluation tables and reports (`<dir>/<run>/…`).
    #[arg(long, global = true, default_value = "reports")]
    pub reports_dir: PathBuf,
}

impl Dirs {
    /// These roots as the global flags that give them (for a job that must find them).
    pub fn as_args(&self) -> Vec<String> {
        [
            ("--datasets-dir", &self.datasets_dir),
            ("--checkpoints-dir", &self.checkpoints_dir),
            ("--reports-dir", &self.reports_dir),
        ]
        .iter()
        .flat_map(|(flag, dir)| [flag.to_string(), dir.display().to_string()])
        .collect()
    }

    /// The run layout of `preset` under these roots.
    pub fn layout(
        &self,
        preset: &ttc_pipeline::preset::Preset,
    ) -> ttc_pipeline::run::layout::Layout {
        ttc_pipeline::run::layout::Layout::new(
            &self.datasets_dir,
            &self.checkpoints_dir,
            &self.reports_dir,
            &preset.name,
        )
    }
}
