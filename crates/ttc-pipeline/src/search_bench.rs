//! The search bench (`ttc bench search`): the wall time of search strategies on a run's own
//! policy and PRM (cpu backend), in interleaved repeats — the median wall, its ratio to the
//! first strategy's (the baseline), tokens and FLOPs per question.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use ttc_engine::{Engine, load_model};
use ttc_jobs::checkpoint_verifier::verifier_for_checkpoint;
use ttc_jobs::search_adapters::PolicyGenerator;
use ttc_model::engine_spec::EngineSpec;
use ttc_search::{Knobs, SearchConfig, Strategy, Verifier};
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

use crate::preset::Preset;
use crate::run::layout::Layout;

/// What to time.
#[derive(Debug, Clone)]
pub struct SearchBench {
    /// Budget N.
    pub n: usize,
    /// `ttc search --strategy` names; the first is the baseline.
    pub strategies: Vec<String>,
    /// Test questions searched, as one batch.
    pub questions: usize,
    /// Interleaved repeats; the median wall is reported.
    pub repeats: usize,
    /// Beam width M (beam, dvts).
    pub width: usize,
}

#[derive(Debug, Serialize)]
pub struct SearchBenchReport {
    pub bench: &'static str,
    pub strategy: String,
    pub n: usize,
    pub questions: usize,
    pub repeats: usize,
    pub wall_s_median: f64,
    pub walls_s: Vec<f64>,
    /// Median wall over the baseline's (the first strategy).
    pub wall_vs_baseline: f64,
    pub generated_tokens_per_question: f64,
    pub verifier_tokens_per_question: f64,
    pub flops_per_question: f64,
    pub accuracy: f64,
}

/// Run every strategy of `a` on the run of `preset_path` (laid out by `layout`), in
/// interleaved repeats; one report per strategy, the first the baseline.
pub fn run(preset_path: &Path, layout: &Layout, a: &SearchBench) -> Result<Vec<SearchBenchReport>> {
    if a.strategies.is_empty() || a.repeats == 0 || a.questions == 0 {
        bail!("bench search: --strategies, --repeats and --questions must not be empty / 0");
    }
    let preset = Preset::load(preset_path)?;
    let section = preset.search.clone().unwrap_or_default();
    let (pdir, mdir) = (layout.policy_dir(false), layout.prm_dir(None));
    for d in [&pdir, &mdir] {
        if !d.join("config.json").exists() {
            bail!(
                "bench search: {} has no checkpoint (run `ttc pipeline run {} --until prm` first)",
                d.display(),
                preset_path.display()
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
            let mut ver = verifier_for_checkpoint(
                Engine::new(prm.as_ref(), &prm_tok)?.with_prompt(prm_prompt.clone()),
                texts.clone(),
                &mdir,
            )?;
            let v: Option<&mut dyn Verifier> = s.needs_verifier().then_some(ver.as_mut());
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
    let mut reports = Vec::new();
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
        reports.push(r);
    }
    Ok(reports)
}
