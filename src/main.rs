//! `ttc`: the command-line front of the test-time-compute pipeline. Parses arguments and
//! dispatches to `commands::*`; all real work lives in the library crates.

mod commands;
mod preset;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// ttc — scaling LLM test-time compute (Snell et al., 2024): train a policy, a process
/// reward model and a revision model, then measure search and revision strategies across
/// generation budgets.
#[derive(Parser)]
#[command(name = "ttc", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub dirs: Dirs,
    #[command(subcommand)]
    pub command: Command,
}

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

#[derive(Subcommand)]
pub enum Command {
    /// The whole DAG of a preset: `run` (skips finished stages, resumes a killed one,
    /// writes reports/<run>/timings.csv) and `status` (done / stale / missing per stage).
    #[command(subcommand)]
    Pipeline(commands::pipeline::PipelineCommand),
    /// Problem datasets.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Tokenizers.
    #[command(subcommand)]
    Tokenizer(commands::tokenizer::TokenizerCommand),
    /// Judge answers: read JSONL rows with `pred` and `gold`, write each row back with
    /// `"equivalent": true|false`.
    Grade(commands::grade::GradeArgs),
    /// Judge each step of arith solutions: read JSONL rows with `problem` and `solution`,
    /// write each row back with `verdicts`, `first_error` and `answer_correct`.
    CheckSteps(commands::check_steps::CheckStepsArgs),
    /// Sample N solutions per question from the policy (parquet: text, steps, answer,
    /// correctness, true step verdicts), in resumable parts; `--shard i/n` for arrays.
    Sample(commands::sample::SampleArgs),
    /// Monte Carlo step labels of the train samples: rollouts from every step prefix
    /// (prefix-shared KV cache); soft = fraction right, hard = any right.
    Label(commands::sample::LabelArgs),
    /// Search over the PRM (majority, best-of-N, beam, lookahead, DVTS) on a split,
    /// batched across questions; parquet rows with accuracy and compute accounting.
    Search(commands::search::SearchArgs),
    /// Join the parts that `--shard i/n` runs wrote into a stage's output (the last job of
    /// a Slurm array): computes nothing, fails naming the missing chunks if any shard has not
    /// finished. E.g. `ttc merge sample --split test --preset p.toml`.
    #[command(subcommand)]
    Merge(MergeCommand),
    /// Revision data: trajectories of wrong attempts → a correct answer.
    #[command(subcommand)]
    Revisions(commands::revision::RevisionsCommand),
    /// Revision chains with the revision model on a split: each attempt conditioned on
    /// the last `max_attempts` ones; per-step pass@1 and right→wrong rates.
    Revise(commands::revision::ReviseArgs),
    /// The report: reports/<run>/report.md and report.html (SVG figures inline) with a
    /// findings section checking the paper's claims on this run.
    Report(commands::report::ReportArgs),
    /// Bring a user's HF checkpoint in as this run's policy or PRM (`[import]`).
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
    /// Training stages.
    #[command(subcommand)]
    Train(commands::train::TrainCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
    /// Model checkpoints (HF format).
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Benchmarks (print JSON).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

/// The sharded stages `ttc merge` can join.
#[derive(Subcommand)]
pub enum MergeCommand {
    /// `ttc sample` parts.
    Sample(commands::sample::SampleArgs),
    /// `ttc label` parts.
    Label(commands::sample::LabelArgs),
    /// `ttc search` parts.
    Search(commands::search::SearchArgs),
    /// `ttc revise` parts.
    Revise(commands::revision::ReviseArgs),
}

/// Run one subcommand (also how `ttc pipeline run` runs its stages, in process).
pub fn dispatch(command: Command, dirs: &Dirs) -> anyhow::Result<()> {
    match command {
        Command::Pipeline(c) => commands::pipeline::run(c, dirs),
        Command::Data(c) => commands::data::run(c, dirs),
        Command::Tokenizer(c) => commands::tokenizer::run(c, dirs),
        Command::Grade(a) => commands::grade::run(a),
        Command::CheckSteps(a) => commands::check_steps::run(a),
        Command::Bench(c) => commands::bench::run(c),
        Command::Model(c) => commands::model::run(c),
        Command::Sample(a) => commands::sample::sample(&a, dirs),
        Command::Label(a) => commands::sample::label(&a, dirs),
        Command::Search(a) => commands::search::run(&a, dirs),
        Command::Merge(c) => {
            commands::sample::MERGE_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
            match c {
                MergeCommand::Sample(a) => commands::sample::sample(&a, dirs),
                MergeCommand::Label(a) => commands::sample::label(&a, dirs),
                MergeCommand::Search(a) => commands::search::run(&a, dirs),
                MergeCommand::Revise(a) => commands::revision::revise(&a, dirs),
            }
        }
        Command::Revisions(c) => commands::revision::run(c, dirs),
        Command::Revise(a) => commands::revision::revise(&a, dirs),
        Command::Report(a) => commands::report::run(&a, dirs),
        Command::Train(c) => commands::train::run(c, dirs),
        Command::Import(c) => commands::import::run(c, dirs),
        Command::Eval(c) => commands::eval::run(c, dirs),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command, &cli.dirs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the whole context chain, outermost first.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
