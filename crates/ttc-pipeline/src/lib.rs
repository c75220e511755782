//! ttc-pipeline: a run of the paper's pipeline (DESIGN §1).
//!
//! - [`preset`]: a run's whole configuration, validated once into typed values (what it
//!   `extends` merged in), and which engine each stage runs on;
//! - [`run`]: the framework — the `Stage` trait (id, typed config, inputs, outputs, `run`),
//!   the run layout (every path of a run), the runner and its records (freshness from one
//!   fingerprint per stage), the run lock, resumable parts, progress;
//! - [`stages`]: one type per stage, each stage's private helpers beside it;
//! - [`report`]: the report stage and its sections;
//! - [`plan`]: the stages a preset configures, in order — the one place the DAG is written;
//! - [`search_bench`]: search strategies timed on a run's own policy and PRM;
//! - [`cost_check`]: the cost model's estimates checked against a run's recorded walls.
//!
//! How a stage is added: write `stages/<name>.rs` with a type implementing [`run::stage::Stage`]
//! (its config, the files it reads, the files it writes, `run`), and add one line to
//! [`plan::plan`]. The runner derives its place in the DAG from its inputs.

pub mod cost_check;
pub mod plan;
pub mod preset;
pub mod report;
pub mod run;
pub mod search_bench;
pub mod stages;
