//! `ttc search`: a search strategy over the PRM on a dataset split (DESIGN §8), batched
//! across questions, resumable in parts, one parquet row per question with its accounting.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ttc_core::manifest::Manifest;
use ttc_data::rows::SearchRow;
use ttc_data::shards::Parts;
use ttc_engine::Engine;
use ttc_jobs::checkpoint_verifier::verifier_for_checkpoint;
use ttc_jobs::likelihood_verifier::LikelihoodVerifier;
use ttc_jobs::search_adapters::PolicyGenerator;
use ttc_search::select::Aggregation;
use ttc_search::{SearchConfig, Strategy, Verifier};
use ttc_task::grader::is_equivalent;
use ttc_task::math500::load_problems;
use ttc_task::tokenizer::PromptTemplate;

use crate::preset::{LabelKind, Preset, SearchRunsConfig, SearchVerifier};
use crate::run::layout::{Layout, checkpoint_inputs, prompt_files};
use crate::run::parts::run_parts;
use ttc_engine::load_model;

use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::stage::{Ctx, Stage};

/// One search as asked for: a strategy at budget N with its knobs; what the preset's
/// `[search]` section does not say comes from it.
#[derive(Debug, Clone)]
pub struct SearchArgs {
    /// One of [`ttc_search::STRATEGY_NAMES`].
    pub strategy: String,
    pub n: usize,
    /// Beam width M (0: √N); the section's `width` when `None`.
    pub width: Option<usize>,
    /// The strategy's other knobs (`knobs.width` is not read: see `width`).
    pub knobs: ttc_search::Knobs,
    /// last, min, prod or mean; the section's when `None`.
    pub aggregation: Option<Aggregation>,
    pub split: String,
    /// The first this many questions; the section's `questions` when `None`.
    pub questions: Option<usize>,
    /// Search over the PRM trained on these labels (an ablation's, `prm-<labels>/`, when
    /// they are not the preset's).
    pub labels: Option<LabelKind>,
    /// What scores the steps: the PRM or a likelihood (the `[verifier]` model's, else the
    /// policy's own).
    pub verifier: SearchVerifier,
}

pub struct SearchRunStage {
    args: SearchArgs,
    strategy: Strategy,
    section: SearchRunsConfig,
    aggregation: Aggregation,
    cfg: SearchConfig,
    /// `Some` when searching over an ablation PRM.
    ablation: Option<LabelKind>,
    /// The likelihood verifier is the `[verifier]` model's, not the policy's own.
    verifier_lm: bool,
}

impl SearchRunStage {
    /// Validates the strategy, its budget and the section once.
    pub fn new(preset: &Preset, args: SearchArgs) -> Result<SearchRunStage> {
        let mut section: SearchRunsConfig = preset.search.clone().unwrap_or_default();
        let engine = crate::preset::engine_choice::resolve(preset, &section.engine);
        section.verifier_engine = Some(section.verifier_engine.unwrap_or(engine.clone()));
        section.engine = Some(engine);
        let width = args.width.unwrap_or(section.width);
        let knobs = ttc_search::Knobs {
            width,
            ..args.knobs
        };
        let strategy = Strategy::parse(&args.strategy, args.n, &knobs)
            .with_context(|| format!("search {} at N={}", args.strategy, args.n))?;
        let aggregation = args.aggregation.unwrap_or(section.aggregation);
        let cfg = SearchConfig {
            n: args.n,
            aggregation,
            temperature: section.temperature,
            top_p: section.top_p,
            max_rounds: section.max_rounds,
            max_new_tokens: section.max_new_tokens,
            seed: section.seed,
        };
        cfg.validate(&strategy)?;
        crate::preset::nonzero("search", "chunk", Some(section.chunk))?;
        crate::preset::nonzero("search", "questions", args.questions.or(section.questions))?;
        let ablation = crate::preset::prm_ablation(preset, args.labels);
        if !args.verifier.is_prm() && args.labels.is_some() {
            bail!("search: `labels` picks a PRM; the likelihood verifier uses none");
        }
        Ok(SearchRunStage {
            ablation,
            verifier_lm: preset.verifier.is_some(),
            args,
            strategy,
            section,
            aggregation,
            cfg,
        })
    }

    /// The output directory name: `<strategy label>-n<N>-<aggregation>`, `-prm-<labels>`
    /// over an ablation PRM, `-likelihood` over the likelihood, `-<split>` on a split other
    /// than test (a val search must not write over the test search's results).
    pub fn label(&self) -> String {
        let mut l = format!(
            "{}-n{}-{}",
            self.strategy.label(),
            self.args.n,
            self.aggregation.name()
        );
        if let Some(a) = self.ablation {
            l += &format!("-prm-{}", a.name());
        }
        if !self.args.verifier.is_prm() {
            l += crate::preset::LIKELIHOOD_SUFFIX;
        }
        if self.args.split != "test" {
            l += &format!("-{}", self.args.split);
        }
        l
    }

    fn needs_verifier(&self) -> bool {
        self.strategy.needs_verifier()
    }

    fn needs_prm(&self) -> bool {
        self.needs_verifier() && self.args.verifier.is_prm()
    }

    /// The model whose likelihood scores the steps, when the search uses one.
    fn likelihood_dir(&self, layout: &Layout) -> Option<PathBuf> {
        (self.needs_verifier() && !self.args.verifier.is_prm())
            .then(|| layout.likelihood_dir(self.verifier_lm))
    }

    /// [`Self::likelihood_dir`] when it is another checkpoint than the policy (the
    /// verifier's): its files are this search's inputs too.
    fn other_likelihood_dir(&self, layout: &Layout) -> Option<PathBuf> {
        self.likelihood_dir(layout)
            .filter(|d| *d != layout.policy_dir(false))
    }

    /// The strategy as rows name it: searches over the likelihood are another strategy.
    fn strategy_label(&self) -> String {
        let mut l = self.strategy.label();
        if !self.args.verifier.is_prm() {
            l += crate::preset::LIKELIHOOD_SUFFIX;
        }
        if self.args.split != "test" {
            l += &format!("-{}", self.args.split);
        }
        l
    }
}

impl Stage for SearchRunStage {
    fn id(&self) -> String {
        format!("search {}", self.label())
    }
    /// One family per strategy, verifier and split (the id without `-n{N}`); the units are
    /// the generations it makes: N per question.
    /// N solutions of each question.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let q = self
            .args
            .questions
            .or(self.section.questions)
            .unwrap_or(shape.rows(&self.args.split));
        let sequences = (q * self.args.n) as f64;
        Some(shape.policy_work(WorkKind::Generate, shape.generated(sequences)))
    }
    fn work_units(&self) -> Option<(String, f64)> {
        let family = self.id().replacen(&format!("-n{}-", self.args.n), "-", 1);
        let questions = self.args.questions.or(self.section.questions).unwrap_or(1);
        Some((family, (self.args.n * questions) as f64))
    }
    fn config(&self) -> serde_json::Value {
        let mut section = serde_json::to_value(&self.section).expect("serializes");
        // The runs list is the plan's business, not this search's.
        section.as_object_mut().map(|m| m.remove("runs"));
        let mut c = serde_json::json!({
            "search": section,
            "strategy": self.strategy,
            "cfg": self.cfg,
            "split": self.args.split,
            "questions": self.args.questions.or(self.section.questions),
        });
        // Absent for the PRM, so the records of earlier runs stay valid.
        if !self.args.verifier.is_prm() {
            c["verifier"] = serde_json::json!(self.args.verifier);
        }
        c
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![layout.split_file(&self.args.split)];
        i.extend(checkpoint_inputs(&layout.policy_dir(false)));
        if self.needs_prm() {
            i.extend(checkpoint_inputs(
                &layout.prm_dir(self.ablation.map(|l| l.name())),
            ));
        }
        if let Some(d) = self.other_likelihood_dir(layout) {
            i.extend(checkpoint_inputs(&d));
        }
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = prompt_files(&layout.policy_dir(false));
        // Only a PRM it waits for: the files of one it does not read (majority, DeepConf)
        // could appear between two array tasks' starts and split their fingerprints.
        if self.needs_prm() {
            i.extend(prompt_files(
                &layout.prm_dir(self.ablation.map(|l| l.name())),
            ));
        }
        if let Some(d) = self.other_likelihood_dir(layout) {
            i.extend(prompt_files(&d));
        }
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        vec![
            layout
                .search_dir()
                .join(self.label())
                .join("results.parquet"),
        ]
    }
    fn command(&self) -> String {
        let a = &self.args;
        let mut c = format!("search --strategy {} --n {}", a.strategy, a.n);
        if let Some(w) = a.width {
            c += &format!(" --width {w}");
        }
        let k = &a.knobs;
        let d = ttc_search::Knobs::default();
        if a.strategy == "lookahead" {
            c += &format!(" --lookahead {}", k.lookahead);
        }
        if k.dedup {
            c += " --dedup";
        }
        if let Some(t) = k.temperature {
            c += &format!(" --weight-temperature {t}");
        }
        if k.resampling != d.resampling {
            c += &format!(" --resampling {}", k.resampling.name());
        }
        if k.iterations != d.iterations {
            c += &format!(" --iterations {}", k.iterations);
        }
        if k.pick_best {
            c += " --best-particle";
        }
        if k.window != d.window {
            c += &format!(" --window {}", k.window);
        }
        if k.confidence != d.confidence {
            c += &format!(" --confidence {}", k.confidence);
        }
        if k.group != d.group {
            c += &format!(" --group {}", k.group);
        }
        if k.keep != d.keep {
            c += &format!(" --keep {}", k.keep);
        }
        if k.top_logprobs != d.top_logprobs {
            c += &format!(" --top-logprobs {}", k.top_logprobs);
        }
        if k.warmup != d.warmup {
            c += &format!(" --warmup {}", k.warmup);
        }
        if k.stop_at_steps {
            c += " --stop-at-steps";
        }
        if let Some(l) = self.ablation {
            c += &format!(" --labels {}", l.name());
        }
        if !a.verifier.is_prm() {
            c += " --verifier likelihood";
        }
        c
    }
    fn sharded(&self) -> bool {
        true
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let a = &self.args;
        let st = &self.section;
        let strategy = self.strategy;
        let agg_name = self.aggregation.name();
        let cfg = self.cfg.clone();
        let pdir = ctx.layout.policy_dir(false);
        let needs_prm = self.needs_prm();
        let likelihood_dir = self.likelihood_dir(ctx.layout);
        let likelihood = likelihood_dir.is_some();
        let strategy_label = self.strategy_label();
        let mdir = ctx.layout.prm_dir(self.ablation.map(|l| l.name()));
        let split_path = ctx.layout.split_file(&a.split);
        let mut problems = load_problems(&split_path)?;
        if let Some(q) = a.questions.or(st.questions) {
            problems.truncate(q);
        }
        let label = self.label();
        let out = ctx.layout.search_dir().join(&label);
        if ctx.force {
            let _ = std::fs::remove_dir_all(&out);
        }
        let started = Instant::now();
        let policy_spec = st.engine.clone().unwrap_or_default();
        let (policy, tok) = load_model(&pdir, &policy_spec)?;
        let engine = Engine::new(policy.as_ref(), &tok)?
            .with_prompt(PromptTemplate::load(&pdir)?)
            .with_long_prompts(policy_spec.long_prompts);
        if let Strategy::DeepConf {
            warmup: 1..,
            at_steps: false,
            ..
        } = strategy
            && policy.remote().is_some()
        {
            eprintln!(
                "search: the server samples on its own, so DeepConf online stops its traces at step boundaries here, not at the token (stop_at = \"step\" does the same on every engine)"
            );
        }
        let prm_prompt = PromptTemplate::load(&mdir)?;
        let prm = if needs_prm {
            let asked = st.verifier_engine.clone().unwrap_or_default();
            Some(load_model(
                &mdir,
                &crate::preset::engine_choice::prm_engine(&mdir, &asked)?,
            )?)
        } else {
            None
        };
        // The likelihood reads its model's logits (the policy's or the verifier's) on the
        // verifier's engine; a server returns none, so a model served remotely is scored
        // from its local checkpoint on the CPU (the same weights: the same scores as an
        // in-process run).
        let likelihood_model = match &likelihood_dir {
            Some(ldir) => {
                let asked = st.verifier_engine.clone().unwrap_or_default();
                let spec = crate::preset::engine_choice::local_logits(&asked);
                if spec != asked {
                    eprintln!(
                        "search: the likelihood verifier runs {} on the local CPU (a server returns no logits)",
                        ldir.display()
                    );
                }
                // The generator's own model when it is the same checkpoint on the same
                // engine (no second copy).
                let own = *ldir == pdir && spec == policy_spec;
                let prompt = PromptTemplate::load(ldir)?;
                (!own)
                    .then(|| load_model(ldir, &spec))
                    .transpose()?
                    .map(|m| (m, prompt))
            }
            None => None,
        };
        let texts: Vec<String> = problems.iter().map(|p| p.problem.clone()).collect();
        let file = out.join("results.parquet");
        let parts = Parts::open(&file, st.chunk, problems.len(), &ctx.fingerprint)?;
        let complete = run_parts(ctx, &parts, "search", |_, r| {
            let mut generator =
                PolicyGenerator::new(&engine, texts.clone(), cfg.temperature, cfg.top_p);
            let mut prm_verifier = match &prm {
                Some((m, t)) => Some(verifier_for_checkpoint(
                    Engine::new(m.as_ref(), t)?.with_prompt(prm_prompt.clone()),
                    texts.clone(),
                    &mdir,
                )?),
                None => None,
            };
            let mut likelihood_verifier = if likelihood {
                let (m, t, prompt) = match &likelihood_model {
                    Some(((m, t), prompt)) => (m.as_ref(), t, prompt),
                    None => (policy.as_ref(), &tok, engine.prompt()),
                };
                let e = Engine::new(m, t)?.with_prompt(prompt.clone());
                Some(LikelihoodVerifier::new(e, texts.clone())?)
            } else {
                None
            };
            let qs: Vec<usize> = r.collect();
            let ver = match (&mut prm_verifier, &mut likelihood_verifier) {
                (Some(v), _) => Some(&mut **v as &mut dyn Verifier),
                (None, Some(v)) => Some(v as &mut dyn Verifier),
                (None, None) => None,
            };
            let outcomes = ttc_search::run(&strategy, &cfg, &qs, &mut generator, ver)?;
            Ok(outcomes
                .into_iter()
                .map(|o| {
                    let p = &problems[o.question];
                    let right = |x: Option<&str>| x.is_some_and(|x| is_equivalent(x, &p.answer));
                    let acc = o.accounting;
                    // The pick, judged step by step where the task can be (arith).
                    let pick = o.chosen.map(|i| &o.solutions[i]);
                    let truth = pick.and_then(|s| {
                        ttc_task::step_checker::check_solution(&p.problem, &s.text).ok()
                    });
                    let picked_fooled = pick.zip(truth.as_ref()).and_then(|(s, t)| {
                        (!s.step_scores.is_empty()).then(|| {
                            ttc_eval::reward_hacking::fooled_at(t.first_error, &s.step_scores)
                        })
                    });
                    SearchRow {
                        question_id: p.unique_id.clone(),
                        question_index: o.question as u32,
                        level: p.level,
                        strategy: strategy_label.clone(),
                        width: match strategy {
                            Strategy::Beam { width, .. } | Strategy::Dvts { width } => width as u32,
                            _ => 0,
                        },
                        lookahead: match strategy {
                            Strategy::Beam { lookahead, .. } => lookahead as u32,
                            _ => 0,
                        },
                        aggregation: agg_name.to_string(),
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
                        picked_wrong_step: truth.as_ref().map(|t| t.first_error.is_some()),
                        picked_fooled,
                        picked_first_error: truth
                            .as_ref()
                            .and_then(|t| t.first_error)
                            .map(|f| f as u32),
                        picked_step_scores: match (pick, &truth) {
                            (Some(s), Some(_)) => s.step_scores.clone(),
                            _ => Vec::new(),
                        },
                    }
                })
                .collect())
        })?;
        if !complete {
            eprintln!(
                "search: shard {} done; other shards pending (then `ttc merge`)",
                ctx.shard
            );
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
            "strategy": strategy_label.clone(), "n": cfg.n, "aggregation": agg_name,
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
        let mut m = Manifest::new("search", &self.config(), cfg.seed);
        m.counts.insert("questions".into(), rows.len() as u64);
        m.counts.insert("correct".into(), correct as u64);
        m.wall_time_s = wall;
        m.save(&out)?;
        println!("{summary}");
        eprintln!(
            "search: {} N={} on {} {} questions: accuracy {:.1}% (any solution right {:.1}%), {} generated / {} computed / {} verifier tokens, {:.0} tok/s; wrote {} in {:.1}s",
            strategy_label,
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
}
