//! `ttc`: the command-line front of the test-time-compute pipeline. Parses arguments and
//! dispatches to `commands::*`; all real work lives in the library crates.

mod commands;
mod dirs;
mod output;
mod progress;

use dirs::Dirs;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
pub enum Command {
    /// The whole DAG of a preset: `run` (skips finished stages, resumes a killed one,
    /// writes reports/<run>/timings.csv) and `status` (done / stale / missing per stage).
    #[command(subcommand)]
    Pipeline(commands::pipeline::PipelineCommand),
    /// Problem datasets.
    #[command(subcommand)]
    Data(commands::stage_args::DataCommand),
    /// Tokenizers.
    #[command(subcommand)]
    Tokenizer(commands::stage_args::TokenizerCommand),
    /// Judge answers: read JSONL rows with `pred` and `gold`, write each row back with
    /// `"equivalent": true|false`.
    Grade(commands::grade::GradeArgs),
    /// Judge each step of arith solutions: read JSONL rows with `problem` and `solution`,
    /// write each row back with `verdicts`, `first_error` and `answer_correct`.
    CheckSteps(commands::check_steps::CheckStepsArgs),
    /// Sample N solutions per question from the policy (parquet: text, steps, answer,
    /// correctness, true step verdicts), in resumable parts; `--shard i/n` for arrays.
    Sample(commands::stage_args::SampleArgs),
    /// Monte Carlo step labels of the train samples: rollouts from every step prefix
    /// (prefix-shared KV cache); soft = fraction right, hard = any right.
    Label(commands::stage_args::LabelArgs),
    /// Search over the PRM (majority, best-of-N, beam, lookahead, DVTS) on a split,
    /// batched across questions; parquet rows with accuracy and compute accounting.
    Search(commands::stage_args::SearchArgs),
    /// Join the parts that `--shard i/n` runs wrote into a stage's output (the last job of
    /// a Slurm array): computes nothing, fails naming the missing chunks if any shard has not
    /// finished. E.g. `ttc merge sample --split test --preset p.toml`.
    #[command(subcommand)]
    Merge(MergeCommand),
    /// Revision data: trajectories of wrong attempts → a correct answer.
    #[command(subcommand)]
    Revisions(commands::stage_args::RevisionsCommand),
    /// Revision chains with the revision model on a split: each attempt conditioned on
    /// the last `max_attempts` ones; per-step pass@1 and right→wrong rates.
    Revise(commands::stage_args::ReviseArgs),
    /// The report: reports/<run>/report.md and report.html (SVG figures inline) with a
    /// findings section checking the paper's claims on this run.
    Report(commands::stage_args::ReportArgs),
    /// Bring a user's HF checkpoint in as this run's policy or PRM (`[import]`).
    #[command(subcommand)]
    Import(commands::stage_args::ImportCommand),
    /// Training stages.
    #[command(subcommand)]
    Train(commands::stage_args::TrainCommand),
    /// Evaluations.
    #[command(subcommand)]
    Eval(commands::stage_args::EvalCommand),
    /// Model checkpoints (HF format).
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Benchmarks (print JSON).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// An OpenAI-compatible server over ttc's engines: /v1/completions (n, stop, seed per
    /// request, include_stop_str_in_output, token ids back), /pooling (per-token scores of
    /// a PRM / ORM), /v1/models, /health; continuous batching; 429 when the queue is full.
    Serve(commands::serve::ServeArgs),
}

/// The sharded stages `ttc merge` can join.
#[derive(Subcommand)]
pub enum MergeCommand {
    /// `ttc sample` parts.
    Sample(commands::stage_args::SampleArgs),
    /// `ttc label` parts.
    Label(commands::stage_args::LabelArgs),
    /// `ttc search` parts.
    Search(commands::stage_args::SearchArgs),
    /// `ttc revise` parts.
    Revise(commands::stage_args::ReviseArgs),
}

/// Run one subcommand.
pub fn dispatch(command: Command, dirs: &Dirs) -> anyhow::Result<()> {
    use commands::stages;
    match command {
        Command::Pipeline(c) => commands::pipeline::run(c, dirs),
        Command::Data(c) => stages::data(c, dirs),
        Command::Tokenizer(c) => stages::tokenizer(c, dirs),
        Command::Grade(a) => commands::grade::run(a),
        Command::CheckSteps(a) => commands::check_steps::run(a),
        Command::Bench(c) => commands::bench::run(c, dirs),
        Command::Serve(a) => commands::serve::run(a),
        Command::Model(c) => commands::model::run(c),
        Command::Sample(a) => stages::sample(&a, dirs, false),
        Command::Label(a) => stages::label(&a, dirs, false),
        Command::Search(a) => stages::search(&a, dirs, false),
        Command::Merge(c) => match c {
            MergeCommand::Sample(a) => stages::sample(&a, dirs, true),
            MergeCommand::Label(a) => stages::label(&a, dirs, true),
            MergeCommand::Search(a) => stages::search(&a, dirs, true),
            MergeCommand::Revise(a) => stages::revise(&a, dirs, true),
        },
        Command::Revisions(c) => stages::revisions(c, dirs),
        Command::Revise(a) => stages::revise(&a, dirs, false),
        Command::Report(a) => stages::report(&a, dirs),
        Command::Train(c) => stages::train(c, dirs),
        Command::Import(c) => stages::import(c, dirs),
        Command::Eval(c) => stages::eval(c, dirs),
    }
}

fn main() -> ExitCode {
    // A closed pipe (`ttc pipeline status | head -1`) ends the process quietly, as it does
    // for other Unix tools, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
