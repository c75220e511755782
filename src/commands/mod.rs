//! One module per group of subcommands. The stage subcommands parse their flags into the
//! pipeline crate's stage types ([`stages`]); the utilities (`grade`, `check-steps`,
//! `model`, `bench`) are self-contained.

pub mod bench;
pub mod bench_search;
pub mod check_steps;
pub mod grade;
pub mod model;
pub mod pipeline;
pub mod pipeline_submit;
pub mod serve;
pub mod stage_args;
pub mod stages;
