//! `ttc bench search`'s flags; the bench is `ttc_pipeline::search_bench`. One JSON line per
//! strategy.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use ttc_pipeline::preset::Preset;
use ttc_pipeline::search_bench::SearchBench;

use crate::dirs::Dirs;

#[derive(Args)]
pub struct SearchBenchArgs {
    /// Pipeline preset whose run's policy, PRM and test split are searched (run it first,
    /// e.g. `just smoke`); its `[search]` section gives the sampling and rounds.
    #[arg(long)]
    pub preset: PathBuf,
    /// Budget N.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Strategies (`ttc search --strategy` names), comma-separated; the first is the
    /// baseline the others' walls are divided by.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "weighted-bon,beam,pf,rebase"
    )]
    pub strategies: Vec<String>,
    /// Test questions searched, as one batch.
    #[arg(long, default_value_t = 50)]
    pub questions: usize,
    /// Interleaved repeats (every strategy once per repeat); the median wall is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Beam width M (beam, dvts).
    #[arg(long, default_value_t = 4)]
    pub width: usize,
}

pub fn run(a: &SearchBenchArgs, dirs: &Dirs) -> Result<()> {
    let layout = dirs.layout(&Preset::load(&a.preset)?);
    let bench = SearchBench {
        n: a.n,
        strategies: a.strategies.clone(),
        questions: a.questions,
        repeats: a.repeats,
        width: a.width,
    };
    for r in ttc_pipeline::search_bench::run(&a.preset, &layout, &bench)? {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
