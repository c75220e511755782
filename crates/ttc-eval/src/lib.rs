//! ttc-eval: the analysis behind the report (DESIGN §9; Snell et al. §3, §5.3, §6.2).
//!
//! - [`bins`]: difficulty bins — quantile bins of oracle pass@1 or of a predicted score
//!   (level 1 easiest), or fixed edges;
//! - [`cv`]: compute-optimal selection with two-fold cross-validation over questions, and
//!   its efficiency against best-of-N;
//! - [`prm_selection`]: majority / best-of-N / weighted best-of-N over a PRM's scores;
//! - [`stats`]: Wilson 95% intervals.

pub mod bins;
pub mod cv;
pub mod prm_selection;
pub mod stats;
