//! ttc-pipeline: a run of the paper's pipeline (DESIGN §1).
//!
//! - [`preset`]: a run's whole configuration, validated once into typed values;
//! - [`layout`]: every path of a run (datasets/, checkpoints/, reports/);
//! - [`stage`]: the `Stage` trait — id, typed config, inputs, outputs, `run`;
//! - [`stages`]: one type per stage; [`report`]: the report stage and its sections;
//! - [`plan`]: the stages a preset configures, in order;
//! - [`runner`] + [`record`]: freshness from one fingerprint per stage, records, timings;
//! - [`run_lock`]: one writer per run directory.
//!
//! How a stage is added: write `stages/<name>.rs` with a type implementing [`stage::Stage`]
//! (its config, the files it reads, the files it writes, `run`), and add one line to
//! [`plan::plan`]. The runner derives its place in the DAG from its inputs.

pub mod checkpoint;
pub mod engine_choice;
pub mod layout;
pub mod parts;
pub mod plan;
pub mod policy_likelihood;
pub mod preset;
pub mod prm_data;
pub mod progress;
pub mod record;
pub mod report;
pub mod run_lock;
pub mod runner;
pub mod scoring;
pub mod slip_pairs;
pub mod stage;
pub mod stages;
pub mod table_io;
pub mod training;
