//! `ttc eval prm`: the PRM against the truth it can be checked on (DESIGN §6): step AUROC
//! and calibration vs the MC labels of held-out questions and vs the step checker,
//! first-error F1, and best-of-N / weighted best-of-N vs majority on the test samples.

pub mod likelihood;
pub mod metrics;
pub mod scoring;
pub mod slip_pairs;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_data::rows::SampleRow;
use ttc_eval::prm_selection::selection_table;
use ttc_eval::verifier_metrics::{auroc, calibration};
use ttc_jobs::step_scorer::StepScorer;
use ttc_task::math500::load_problems;

use crate::preset::{LabelKind, Preset, PrmConfig, SamplesConfig, likelihood_name, prm_ablation};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs, prompt_files};
use crate::run::stage::{Ctx, Stage};
use crate::stages::prm_eval::metrics::within_question;
use crate::stages::prm_eval::scoring::score_samples;
use crate::stages::prm_eval::slip_pairs::slip_pairs;
use crate::stages::shared::prm_data;
use ttc_engine::load_model;
use ttc_eval::verifier_metrics::{first_error_over, judged_samples, steps_vs_truth};

pub struct PrmEvalStage {
    /// `None` for an imported PRM: no MC labels to compare with.
    config: Option<PrmConfig>,
    /// What the evaluated PRM trained on.
    labels: LabelKind,
    /// `Some(name)` for an ablation PRM (`prm-<name>/`): a label kind's or a variant's.
    ablation: Option<String>,
    /// Which of the two: the CLI flag that names it.
    by_variant: bool,
    engine: ttc_model::engine_spec::EngineSpec,
    /// The likelihood is the `[verifier]` model's, not the policy's own.
    verifier_lm: bool,
    /// `[test_samples]` (for the cost model).
    test: Option<SamplesConfig>,
}

impl PrmEvalStage {
    /// `labels`: evaluate the PRM trained on these labels (an ablation's when they are not
    /// the preset's).
    pub fn new(preset: &Preset, labels: Option<LabelKind>) -> PrmEvalStage {
        let config = preset.prm.clone();
        let ablation = prm_ablation(preset, labels);
        let labels =
            ablation.unwrap_or_else(|| config.as_ref().map(|c| c.labels).unwrap_or_default());
        let engine = crate::preset::engine_choice::resolve(preset, &None);
        PrmEvalStage {
            config,
            labels,
            ablation: ablation.map(|l| l.name().to_string()),
            by_variant: false,
            engine,
            verifier_lm: preset.verifier.is_some(),
            test: preset.test_samples.clone(),
        }
    }

    /// The PRM of the `[[prm.variants]]` entry `name` (`prm-<name>/`).
    pub fn variant(preset: &Preset, name: &str) -> Result<PrmEvalStage> {
        let base = preset.prm.as_ref().context("preset has no [prm] section")?;
        let config = base.variant(name)?;
        Ok(PrmEvalStage {
            labels: config.labels,
            config: Some(config),
            ablation: Some(name.to_string()),
            by_variant: true,
            engine: crate::preset::engine_choice::resolve(preset, &None),
            verifier_lm: preset.verifier.is_some(),
            test: preset.test_samples.clone(),
        })
    }
}

impl Stage for PrmEvalStage {
    fn id(&self) -> String {
        self.ablation
            .as_ref()
            .map_or("eval-prm".into(), |n| format!("eval-prm-{n}"))
    }
    /// The PRM's evaluation and its ablations' and variants', one family per head (they
    /// score the same test samples).
    fn work_units(&self) -> Option<(String, f64)> {
        let c = self.config.as_ref()?;
        Some((format!("eval prm, {} head", c.head.name()), 1.0))
    }
    /// The test samples through the PRM and through the likelihood verifier.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let solutions = self.test.as_ref()?.solutions(shape.rows("test"));
        Some(shape.policy_work(WorkKind::Score, 2.0 * shape.whole(solutions as f64)))
    }
    fn config(&self) -> serde_json::Value {
        let c = super::prm_train::labels_record(&self.config, self.labels);
        crate::preset::engine_choice::with_engine(c, "engine", &self.engine)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![layout.split_file("test"), layout.samples_file("test")];
        i.extend(checkpoint_inputs(&layout.prm_dir(self.ablation.as_deref())));
        // The model whose likelihood is the PRM's baseline (the policy's own or the
        // verifier's).
        i.extend(checkpoint_inputs(&layout.likelihood_dir(self.verifier_lm)));
        if self.config.is_some() {
            i.extend([
                layout.split_file("train"),
                layout.samples_file("train"),
                layout.labels_file(),
            ]);
        }
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = prompt_files(&layout.prm_dir(self.ablation.as_deref()));
        i.extend(prompt_files(&layout.likelihood_dir(self.verifier_lm)));
        i
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let d = layout.prm_eval_dir(self.ablation.as_deref());
        vec![
            d.join("prm_eval.json"),
            d.join("scores.parquet"),
            d.join("calibration_mc.parquet"),
        ]
    }
    fn command(&self) -> String {
        match &self.ablation {
            Some(n) if self.by_variant => format!("eval prm --variant {n}"),
            Some(n) => format!("eval prm --labels {n}"),
            None => "eval prm".into(),
        }
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let pc = &self.config;
        let mdir = ctx.layout.prm_dir(self.ablation.as_deref());
        let test_file = ctx.layout.samples_file("test");
        let engine = crate::preset::engine_choice::prm_engine(&mdir, &self.engine)?;
        let (model, tok) = load_model(&mdir, &engine)?;
        let scorer = StepScorer::for_checkpoint(model.as_ref(), &tok, &mdir)?;
        let out = ctx.layout.prm_eval_dir(self.ablation.as_deref());
        // Held-out labelled questions: step AUROC and calibration against MC labels.
        let held_out = match &pc {
            Some(pc) => Some(prm_data::held_out_set(
                ctx.layout,
                pc.val_fraction,
                pc.train.seed,
            )?),
            None => None,
        };
        // The held-out questions' samples also give a within-question AUROC on data no
        // test number saw: the one to choose a recipe by.
        let (sc, soft, truth, val_within) = match &held_out {
            Some(h) => {
                let val_scored = score_samples(ctx, &|i| scorer.score(i), &h.problems, &h.samples)?;
                let w = within_question(&val_scored, ctx.preset.analysis.bootstrap_seed);
                let (sc, soft, truth) = prm_data::label_pairs(&val_scored, &h.labels);
                (sc, soft, truth, Some(w))
            }
            None => Default::default(),
        };
        let mc_pos: Vec<bool> = soft.iter().map(|&s| s >= 0.5).collect();
        // Test samples: first-error F1 vs the step checker, selection vs majority.
        let test_split = load_problems(&ctx.layout.split_file("test"))?;
        let test_problems: HashMap<String, String> = test_split
            .iter()
            .map(|p| (p.unique_id.clone(), p.problem.clone()))
            .collect();
        let test_samples: Vec<SampleRow> = ttc_core::table::read_parquet(&test_file)?;
        let scored = score_samples(ctx, &|i| scorer.score(i), &test_problems, &test_samples)?;
        let judged = judged_samples(&test_samples);
        let fe = first_error_over(&scored, &judged, &|p| p);
        let (t_sc, t_ok) = steps_vs_truth(&scored, &judged);
        let within = within_question(&scored, ctx.preset.analysis.bootstrap_seed);
        let slips = slip_pairs(
            &|i| scorer.score(i),
            &test_split,
            ctx.preset.analysis.bootstrap_seed,
        )?;
        let n_per_q = test_samples
            .iter()
            .filter(|s| s.question_index == test_samples[0].question_index)
            .count();
        let ns: Vec<usize> = [1, 4, 16, 64]
            .into_iter()
            .filter(|&n| n <= n_per_q)
            .collect();
        let sel = selection_table(&scored, &ns);
        let hacking = ns
            .last()
            .and_then(|&n| ttc_eval::reward_hacking::reward_hacking(&scored, &judged, n));
        // A server returns no logits. The verifier, a small checkpoint trained here, is
        // then scored on the local CPU (the same weights: the same scores); the policy's
        // own likelihood (possibly a large imported model) is skipped.
        let likelihood_engine = if self.verifier_lm {
            crate::preset::engine_choice::local_logits(&self.engine)
        } else {
            self.engine.clone()
        };
        let (likelihood, likelihood_scored) = crate::stages::prm_eval::likelihood::evaluate(
            ctx,
            &ctx.layout.likelihood_dir(self.verifier_lm),
            &likelihood_engine,
            (&test_split, &test_samples),
            &scored,
            &ns,
            held_out.as_ref(),
        )?;
        let cal_mc = calibration(&sc, &soft, 10);
        let t_ok_f: Vec<f32> = t_ok.iter().map(|&b| b as u8 as f32).collect();
        let cal_true = calibration(&t_sc, &t_ok_f, 10);
        ttc_core::table::write_parquet(&out.join("scores.parquet"), &scored)?;
        if !likelihood_scored.is_empty() {
            // The same rows as `scores.parquet`, scored by the likelihood (calibrated when
            // there were MC labels to fit on): the sweep's likelihood-weighted best-of-N.
            ttc_core::table::write_parquet(
                &out.join("likelihood_scores.parquet"),
                &likelihood_scored,
            )?;
        }
        ttc_core::table::write_csv(&out.join("selection.csv"), &sel)?;
        ttc_core::table::write_parquet(&out.join("calibration_mc.parquet"), &cal_mc)?;
        ttc_core::table::write_csv(&out.join("calibration_mc.csv"), &cal_mc)?;
        ttc_core::table::write_csv(&out.join("calibration_true.csv"), &cal_true)?;
        let summary = serde_json::json!({
            "prm": mdir.display().to_string(),
            "labels": self.labels.name(),
            "recipe": pc.as_ref().map(recipe),
            "val_steps": sc.len(),
            "val_within_question_auroc": val_within,
            "reward_hacking": hacking,
            "step_auroc_vs_mc": auroc(&sc, &mc_pos),
            "step_auroc_vs_true": auroc(&sc, &truth),
            "test_samples": scored.len(),
            "test_step_auroc_vs_true": auroc(&t_sc, &t_ok),
            "first_error": fe,
            "within_question_auroc": within,
            "slip_pairs": slips,
            "selection": sel,
            "policy_likelihood": likelihood,
        });
        ttc_core::atomic::write_atomic(
            &out.join("prm_eval.json"),
            &serde_json::to_vec_pretty(&summary)?,
        )?;
        println!("{summary}");
        eprintln!(
            "eval prm: step AUROC vs MC {:.3}, vs truth (test) {:.3}; first-error F1 {:.3} (err {:.3} n={}, ok {:.3} n={}); wrote {}",
            auroc(&sc, &mc_pos).unwrap_or(f64::NAN),
            auroc(&t_sc, &t_ok).unwrap_or(f64::NAN),
            fe.f1,
            fe.acc_erroneous,
            fe.n_erroneous,
            fe.acc_correct,
            fe.n_correct,
            out.display()
        );
        eprintln!(
            "  within-question AUROC of the last step's score: {:.3} (95% [{:.3}, {:.3}], {} questions)",
            within["mean"].as_f64().unwrap_or(f64::NAN),
            within["lo"].as_f64().unwrap_or(f64::NAN),
            within["hi"].as_f64().unwrap_or(f64::NAN),
            within["questions"]
        );
        if let Some(s) = &slips {
            eprintln!(
                "  reference above its one-slip copy ({} test questions): at the slip {:.3}, at the last step {:.3}",
                s.pairs, s.at_slip, s.last_step
            );
        }
        let lw = &likelihood["within_question_auroc"];
        if let Some(m) = lw["mean"].as_f64() {
            eprintln!(
                "  {}, within-question AUROC: {m:.3} (95% [{:.3}, {:.3}]); minus the PRM's: {:+.3} (95% [{:+.3}, {:+.3}])",
                likelihood_name(self.verifier_lm),
                lw["lo"].as_f64().unwrap_or(f64::NAN),
                lw["hi"].as_f64().unwrap_or(f64::NAN),
                likelihood["minus_prm_within_question_auroc"]["mean"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                likelihood["minus_prm_within_question_auroc"]["lo"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                likelihood["minus_prm_within_question_auroc"]["hi"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            );
        }
        for r in &sel {
            eprintln!(
                "  N={:<3} majority {:.3}  best-of-N {:.3}  weighted {:.3}  pass@N {:.3}  ({} subsets)",
                r.n, r.majority, r.best_of_n, r.weighted_best_of_n, r.pass_at_n, r.subsets
            );
        }
        Ok(())
    }
}

/// How the evaluated PRM was made, in words for the report's header: its head, where it
/// started, its loss's scope and learning rate.
fn recipe(c: &PrmConfig) -> String {
    let head = match c.head {
        crate::preset::PrmHead::Score => "score head",
        crate::preset::PrmHead::Likelihood => "likelihood",
        crate::preset::PrmHead::Generative => "generative (Math-Shepherd's step tag)",
    };
    let init = match c.init.as_deref().and_then(|p| p.to_str()) {
        None | Some("policy") => "policy".to_string(),
        Some("verifier") => "verifier".to_string(),
        Some(p) => std::path::Path::new(p)
            .file_name()
            .map_or(p.to_string(), |f| f.to_string_lossy().into_owned()),
    };
    let scope = if c.within_question {
        ", within-question loss"
    } else {
        ""
    };
    let steps = if c.last_step_loss {
        ", last-step loss"
    } else {
        ""
    };
    let kept = if c.consensus {
        ", consensus-filtered"
    } else {
        ""
    };
    let budget = match (c.label_questions, c.label_rollouts) {
        (None, None) => String::new(),
        (q, r) => format!(
            ", labels of {} questions × {} rollouts",
            q.map_or("all".into(), |q| q.to_string()),
            r.map_or("all".into(), |r| r.to_string())
        ),
    };
    format!(
        "{head} from the {init}{scope}{steps}{kept}{budget}, lr {:e}",
        c.train.lr
    )
}
