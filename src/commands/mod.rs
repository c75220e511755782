//! One module per subcommand. Each parses its arguments, checks whether its stage is
//! already fresh (manifest), runs the library function with a progress bar, and prints a
//! one-line summary.

pub mod analysis;
pub mod bench;
pub mod check_steps;
pub mod data;
pub mod eval;
pub mod exchange;
pub mod figures;
pub mod grade;
pub mod import;
pub mod model;
pub mod orm;
pub mod pipeline;
pub mod pipeline_plan;
pub mod prm;
pub mod ratios;
pub mod report;
pub mod report_doc;
pub mod revision;
pub mod sample;
pub mod search;
pub mod tokenizer;
pub mod train;

use std::collections::BTreeMap;
use std::path::Path;

use ttc_core::manifest::Manifest;

/// True (and says so) when `dir` holds a finished stage with this config and these inputs.
pub fn is_fresh(
    stage: &str,
    dir: &Path,
    config_hash: &str,
    inputs: &BTreeMap<String, String>,
) -> anyhow::Result<bool> {
    let fresh = Manifest::load(dir)?.is_some_and(|m| m.is_fresh(dir, config_hash, inputs));
    if fresh {
        eprintln!(
            "{stage}: up to date ({}); --force to rebuild",
            dir.display()
        );
    }
    Ok(fresh)
}
