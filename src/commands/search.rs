//! `ttc search`: a search strategy over the PRM on a dataset split (DESIGN §8), batched
//! across questions, resumable in parts, one parquet row per question with its accounting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use ttc_core::manifest::Manifest;
use ttc_data::shards::{Parts, Shard};
use ttc_engine::search_adapters::{PolicyGenerator, PrmVerifier};
use ttc_model::generate::Engine;
use ttc_search::select::Aggregation;
use ttc_search::{SearchConfig, Strategy, Verifier};
use ttc_task::dataset::split_file;
use ttc_task::grader::is_equivalent;
use ttc_task::math500::load_problems;

use super::prm::prm_dir;
use super::sample::{load_cpu, policy_dir, run_parts};
use super::train::require;
use crate::Dirs;
use crate::preset::{Preset, SearchStage};
use ttc_task::tokenizer::PromptTemplate;

#[derive(Args)]
pub struct SearchArgs {
    /// Pipeline preset (TOML); its optional [search] section sets sampling, rounds, width,
    /// aggregation, seed and how many questions.
    #[arg(long)]
    pub preset: PathBuf,
    /// majority | bon | weighted-bon | beam | lookahead | dvts.
    #[arg(long)]
    pub strategy: String,
    /// Budget N: samples, beams, or DVTS leaves.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Beam width M (beam, lookahead, dvts); 0 = √N. Default: the preset's (4).
    #[arg(long)]
    pub width: Option<usize>,
    /// Lookahead steps k (strategy `lookahead`).
    #[arg(long, default_value_t = 2)]
    pub lookahead: usize,
    /// Drop beam candidates whose text repeats an earlier candidate's.
    #[arg(long)]
    pub dedup: bool,
    /// Step-score aggregation: last | min | prod | mean. Default: the preset's (last).
    #[arg(long)]
    pub aggregation: Option<String>,
    /// Dataset split to search.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only the first this many questions (default: the preset's, else all).
    #[arg(long)]
    pub questions: Option<usize>,
    /// Use the PRM trained on hard labels (checkpoints/<run>/prm-hard).
    #[arg(long)]
    pub hard: bool,
    /// Run only chunks c with c % n == i (one Slurm array task).
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Start over even if the output is up to date.
    #[arg(long)]
    pub force: bool,
}

/// One searched question.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRow {
    pub question_id: String,
    pub question_index: u32,
    pub level: u8,
    pub strategy: String,
    pub width: u32,
    pub lookahead: u32,
    pub aggregation: String,
    pub n: u32,
    pub seed: u64,
    pub answer: Option<String>,
    pub correct: bool,
    /// Some finished solution is right (the search's oracle ceiling).
    pub any_correct: bool,
    pub solutions: u32,
    pub rounds: u32,
    pub generations: u64,
    pub continuations: u64,
    pub generated_tokens: u64,
    pub computed_tokens: u64,
    pub verifier_tokens: u64,
    pub flops: f64,
}

/// `reports/<run>/search/`.
pub fn search_dir(preset: &Preset, dirs: &Dirs) -> PathBuf {
    dirs.reports_dir.join(&preset.name).join("search")
}

/// The output directory name of one search: `<strategy label>-n<N>-<aggregation>`.
pub fn run_label(
    st: &SearchStage,
    strategy: &str,
    n: usize,
    width: Option<usize>,
    lookahead: usize,
    dedup: bool,
    aggregation: Option<&str>,
) -> Result<String> {
    let s = Strategy::parse(strategy, n, width.unwrap_or(st.width), lookahead, dedup)?;
    let agg = aggregation.unwrap_or(&st.aggregation);
    Ok(format!("{}-n{n}-{agg}", s.label()))
}

pub fn run(a: &SearchArgs, dirs: &Dirs) -> Result<()> {
    let preset = Preset::load(&a.preset)?;
    let st: SearchStage = preset.search.clone().unwrap_or_default();
    let width = a.width.unwrap_or(st.width);
    let strategy = Strategy::parse(&a.strategy, a.n, width, a.lookahead, a.dedup)?;
    let agg_name = a.aggregation.clone().unwrap_or(st.aggregation.clone());
    let aggregation = Aggregation::parse(&agg_name).with_context(|| {
        format!("aggregation: expected last, min, prod or mean, got {agg_name:?}")
    })?;
    let cfg = SearchConfig {
        n: a.n,
        aggregation,
        temperature: st.temperature,
        top_p: st.top_p,
        max_rounds: st.max_rounds,
        max_new_tokens: st.max_new_tokens,
        seed: st.seed,
    };
    cfg.validate(&strategy)?;
    if st.chunk == 0 {
        anyhow::bail!("search.chunk: must be at least 1");
    }
    let pdir = policy_dir(&preset, dirs);
    require(
        &pdir.join("model.safetensors"),
        &format!("ttc train policy --preset {}", a.preset.display()),
    )?;
    let needs_prm = strategy != Strategy::Majority;
    let mdir = prm_dir(&preset, dirs, a.hard);
    if needs_prm {
        require(
            &mdir.join("model.safetensors"),
            &format!(
                "ttc train prm{} --preset {}",
                if a.hard { " --hard" } else { "" },
                a.preset.display()
            ),
        )?;
    }
    let split_path = preset.data_dir(dirs).join(split_file(&a.split));
    let mut problems = load_problems(&split_path)?;
    if let Some(q) = a.questions.or(st.questions) {
        problems.truncate(q);
    }
    let label = run_label(
        &st,
        &a.strategy,
        a.n,
        a.width,
        a.lookahead,
        a.dedup,
        Some(&agg_name),
    )?;
    let out = search_dir(&preset, dirs).join(&label);
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "policy".to_string(),
        ttc_core::hash::hash_file(&pdir.join("model.safetensors"))?,
    );
    if needs_prm {
        inputs.insert(
            "prm".to_string(),
            ttc_core::hash::hash_file(&mdir.join("model.safetensors"))?,
        );
    }
    for (k, d) in [("prompt", &pdir), ("prm_prompt", &mdir)] {
        if let Some(h) = super::sample::prompt_hash(d)? {
            inputs.insert(k.to_string(), h);
        }
    }
    inputs.insert("split".to_string(), ttc_core::hash::hash_file(&split_path)?);
    let key = (&strategy, &cfg, &a.split, problems.len(), st.chunk);
    let cfg_hash = ttc_core::hash::hash_json(&key);
    if a.force {
        let _ = std::fs::remove_dir_all(&out);
    } else if super::is_fresh("search", &out, &cfg_hash, &inputs)? {
        return Ok(());
    }
    let started = Instant::now();
    let (policy, tok) = load_cpu(&pdir)?;
    let engine = Engine::new(&policy, &tok)?.with_prompt(PromptTemplate::load(&pdir)?);
    let prm_prompt = PromptTemplate::load(&mdir)?;
    let prm = if needs_prm {
        Some(load_cpu(&mdir)?)
    } else {
        None
    };
    let texts: Vec<String> = problems.iter().map(|p| p.problem.clone()).collect();
    let file = out.join("results.parquet");
    let parts = Parts::open(
        &file,
        st.chunk,
        problems.len(),
        &format!("{cfg_hash}{inputs:?}"),
    )?;
    let shard = a.shard.unwrap_or(Shard::ALL);
    let complete = run_parts(&parts, shard, "search", |_, r| {
        let mut generator =
            PolicyGenerator::new(&engine, texts.clone(), cfg.temperature, cfg.top_p);
        let mut verifier = match &prm {
            Some((m, t)) => Some(PrmVerifier::new(
                Engine::new(m, t)?.with_prompt(prm_prompt.clone()),
                texts.clone(),
            )?),
            None => None,
        };
        let qs: Vec<usize> = r.collect();
        let ver = verifier.as_mut().map(|v| v as &mut dyn Verifier);
        let outcomes = ttc_search::run(&strategy, &cfg, &qs, &mut generator, ver)?;
        Ok(outcomes
            .into_iter()
            .map(|o| {
                let p = &problems[o.question];
                let right = |x: Option<&str>| x.is_some_and(|x| is_equivalent(x, &p.answer));
                let acc = o.accounting;
                SearchRow {
                    question_id: p.unique_id.clone(),
                    question_index: o.question as u32,
                    level: p.level,
                    strategy: strategy.label(),
                    width: match strategy {
                        Strategy::Beam { width, .. } | Strategy::Dvts { width } => width as u32,
                        _ => 0,
                    },
                    lookahead: match strategy {
                        Strategy::Beam { lookahead, .. } => lookahead as u32,
                        _ => 0,
                    },
                    aggregation: agg_name.clone(),
                    n: cfg.n as u32,
                    seed: cfg.seed,
                    correct: right(o.answer()),
                    answer: o.answer().map(str::to_string),
                    any_correct: o.solutions.iter().any(|s| right(s.answer.as_deref())),
                    solutions: o.solutions.len() as u32,
                    rounds: o.rounds as u32,
                    generations: acc.generations,
                    continuations: acc.continuations,
                    generated_tokens: acc.generated_tokens,
                    computed_tokens: acc.computed_tokens,
                    verifier_tokens: acc.verifier_tokens,
                    flops: acc.flops,
                }
            })
            .collect())
    })?;
    if !complete {
        eprintln!("search: shard {shard} done; other shards pending (then `ttc merge`)");
        return Ok(());
    }
    let rows: Vec<SearchRow> = parts.merge()?;
    let wall = started.elapsed().as_secs_f64();
    let n = rows.len().max(1) as f64;
    let sum = |f: fn(&SearchRow) -> u64| rows.iter().map(f).sum::<u64>();
    let correct = rows.iter().filter(|r| r.correct).count();
    let any = rows.iter().filter(|r| r.any_correct).count();
    let (generated, computed, verifier) = (
        sum(|r| r.generated_tokens),
        sum(|r| r.computed_tokens),
        sum(|r| r.verifier_tokens),
    );
    let summary = serde_json::json!({
        "strategy": strategy.label(), "n": cfg.n, "aggregation": agg_name,
        "split": a.split, "questions": rows.len(),
        "accuracy": correct as f64 / n, "any_correct": any as f64 / n,
        "generated_tokens": generated, "computed_tokens": computed, "verifier_tokens": verifier,
        "flops": rows.iter().map(|r| r.flops).sum::<f64>(),
        "wall_s": wall, "generated_tok_s": generated as f64 / wall.max(1e-9),
        "computed_tok_s": (computed + verifier) as f64 / wall.max(1e-9),
    });
    ttc_core::atomic::write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    let mut m = Manifest::new("search", &key, cfg.seed);
    m.inputs = inputs;
    m.record_output(&out, "results.parquet")?;
    m.record_output(&out, "summary.json")?;
    m.counts.insert("questions".into(), rows.len() as u64);
    m.counts.insert("correct".into(), correct as u64);
    m.wall_time_s = wall;
    m.save(&out)?;
    println!("{summary}");
    eprintln!(
        "search: {} N={} on {} {} questions: accuracy {:.1}% (any solution right {:.1}%), {} generated / {} computed / {} verifier tokens, {:.0} tok/s; wrote {} in {:.1}s",
        strategy.label(),
        cfg.n,
        rows.len(),
        a.split,
        100.0 * correct as f64 / n,
        100.0 * any as f64 / n,
        generated,
        computed,
        verifier,
        (computed + verifier) as f64 / wall.max(1e-9),
        file.display(),
        wall
    );
    Ok(())
}
