//! ttc-eval: the analysis behind the report (DESIGN §9; Snell et al. §3, §5.3, §6.2).
//!
//! - [`bins`]: difficulty bins — quantile bins of oracle pass@1 or of a predicted score
//!   (level 1 easiest), or fixed edges;
//! - [`co_tables`]: compute-optimal results as typed tables (per bin; efficiency vs a baseline);
//! - [`cv`]: compute-optimal selection with two-fold cross-validation over questions, and
//!   its efficiency against best-of-N;
//! - [`exchange`]: the FLOPs-matched budget N(R) against a larger model;
//! - [`prm_selection`]: majority / best-of-N / weighted best-of-N over a PRM's scores;
//! - [`sweep`]: accuracy against budget of the sampling strategies and the searches;
//! - [`revision_ratios`]: sequential:parallel splits of a budget, hierarchical selection;
//! - [`revision_selection`]: selection over revision chains at each chain length;
//! - [`stats`]: Wilson 95% intervals.

pub mod bins;
pub mod co_bootstrap;
pub mod co_tables;
pub mod cv;
pub mod exchange;
pub mod logistic;
pub mod paired;
pub mod prm_selection;
pub mod revision_drift;
pub mod revision_ratios;
pub mod revision_selection;
pub mod reward_hacking;
pub mod stats;
pub mod sweep;
pub mod verifier_metrics;
