//! `ttc bench search`: the wall time of search strategies on a run's own policy and PRM
//! (cpu backend), in interleaved repeats, one JSON line per strategy: the median wall, its
//! ratio to the first strategy's (the baseline, weighted best-of-N by default), tokens and
//! FLOPs per question.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use ttc_engine::{Engine, load_model};
use ttc_jobs::search_adapters::{PolicyGenerator, PrmVerifier};
use ttc_model::engine_spec::EngineSpec;
use ttc_pipeline::preset::Preset;
use ttc_search::{Knobs, SearchConfig, Strategy, Verifier};
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

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

#[derive(Serialize)]
struct SearchBenchReport {
    bench: &'static str,
    strategy: String,
    n: usize,
    questions: usize,
    repeats: usize,
    wall_s_median: f64,
    walls_s: Vec<f64>,
    /// Median wall over the baseline's (the first strategy).
    wall_vs_baseline: f64,
    generated_tokens_per_question: f64,
    verifier_tokens_per_question: f64,
    flops_per_question: f64,
    accuracy: f64,
}

pub fn run(a: &SearchBenchArgs, dirs: &Dirs) -> Result<()> {
    if a.strategies.is_empty() || a.repeats == 0 || a.questions == 0 {
        bail!("bench search: --strategies, --repeats and --questions must not be empty / 0");
    }
    let preset = Preset::load(&a.preset)?;
    let layout = dirs.layout(&preset);
    let section = preset.search.clone().unwrap_or_default();
    let (pdir, mdir) = (layout.policy_dir(false), layout.prm_dir(None));
    for d in [&pdir, &mdir] {
        if !d.join("config.json").exists() {
            bail!(
                "bench search: {} has no checkpoint (run `ttc pipeline run {} --until prm` first)",
                d.display(),
                a.preset.display()
            );
        }
    }
    let mut problems = load_problems(&layout.split_file("test"))?;
    problems.truncate(a.questions);
    let texts: Vec<String> = problems.iter().map(|p| p.problem.clone()).collect();
    let cpu = EngineSpec::cpu();
    let (policy, tok) = load_model(&pdir, &cpu)?;
    let (prm, prm_tok) = load_model(&mdir, &cpu)?;
    let engine = Engine::new(policy.as_ref(), &tok)?.with_prompt(PromptTemplate::load(&pdir)?);
    let prm_prompt = PromptTemplate::load(&mdir)?;
    let prm_format = ttc_jobs::prm_format::PrmFormat::load(&mdir)?;
    let cfg = SearchConfig {
        n: a.n,
        aggregation: section.aggregation,
        temperature: section.temperature,
        top_p: section.top_p,
        max_rounds: section.max_rounds,
        max_new_tokens: section.max_new_tokens,
        seed: section.seed,
    };
    let knobs = Knobs {
        width: a.width,
        ..Knobs::default()
    };
    let strategies: Vec<Strategy> = a
        .strategies
        .iter()
        .map(|s| Strategy::parse(s, a.n, &knobs).with_context(|| format!("--strategies {s}")))
        .collect::<Result<_>>()?;
    for s in &strategies {
        cfg.validate(s)?;
    }
    let qs: Vec<usize> = (0..problems.len()).collect();
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); strategies.len()];
    let mut last: Vec<Vec<ttc_search::Outcome>> = vec![Vec::new(); strategies.len()];
    for _ in 0..a.repeats {
        for (i, s) in strategies.iter().enumerate() {
            let mut generator =
                PolicyGenerator::new(&engine, texts.clone(), cfg.temperature, cfg.top_p);
            let mut ver = PrmVerifier::with_format(
                Engine::new(prm.as_ref(), &prm_tok)?.with_prompt(prm_prompt.clone()),
                texts.clone(),
                prm_format,
            )?;
            let v: Option<&mut dyn Verifier> = s.needs_verifier().then_some(&mut ver);
            let t = Instant::now();
            last[i] = ttc_search::run(s, &cfg, &qs, &mut generator, v)?;
            walls[i].push(t.elapsed().as_secs_f64());
        }
    }
    let median = |w: &[f64]| {
        let mut w = w.to_vec();
        w.sort_by(f64::total_cmp);
        w[w.len() / 2]
    };
    let base = median(&walls[0]);
    let nq = problems.len() as f64;
    for ((s, w), outs) in strategies.iter().zip(&walls).zip(&last) {
        let sum = |f: &dyn Fn(&ttc_search::Outcome) -> f64| outs.iter().map(f).sum::<f64>() / nq;
        let right = |o: &ttc_search::Outcome| {
            let p = &problems[o.question];
            f64::from(u8::from(
                o.answer()
                    .is_some_and(|x| ttc_task::grader::is_equivalent(x, &p.answer)),
            ))
        };
        let r = SearchBenchReport {
            bench: "search",
            strategy: s.label(),
            n: a.n,
            questions: problems.len(),
            repeats: a.repeats,
            wall_s_median: median(w),
            walls_s: w.clone(),
            wall_vs_baseline: median(w) / base,
            generated_tokens_per_question: sum(&|o| o.accounting.generated_tokens as f64),
            verifier_tokens_per_question: sum(&|o| o.accounting.verifier_tokens as f64),
            flops_per_question: sum(&|o| o.accounting.flops),
            accuracy: sum(&right),
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
