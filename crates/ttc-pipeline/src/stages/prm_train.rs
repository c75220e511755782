//! `ttc train prm [--labels soft|hard|truth]`: the process reward model (DESIGN §6): the
//! policy's backbone with a score head, trained with BCE at each step's last token on the
//! MC labels (or, as an ablation, on the step checker's verdicts); early stopping on the
//! held-out questions' loss.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_eval::logistic::fit_logistic;
use ttc_model::LlamaConfig;
use ttc_train::likelihood_prm::step_prefix_means;
use ttc_train::loss::{StepCalibration, StepReading};
use ttc_train::prm::prm_examples;
use ttc_train::prm_slips::slip_examples;
use ttc_train::sft::{Init, SftRun};

use crate::preset::{LabelKind, Preset, PrmConfig, PrmHead, SamplesConfig, prm_ablation};
use crate::run::cost_model::{DataShape, Work, WorkKind};
use crate::run::layout::{Layout, checkpoint_inputs, prompt_files};
use crate::run::stage::{Ctx, Stage};
use crate::stages::shared::checkpoint::{same_tokenizer, training_text};
use crate::stages::shared::generative_prm;
use crate::stages::shared::label_budget::{self, LabelBudget};
use crate::stages::shared::prm_data;
use crate::stages::shared::training::{Job, best_summary, fine_tune};

pub struct PrmTrainStage {
    config: PrmConfig,
    /// What it trains on.
    labels: LabelKind,
    /// `Some(name)` for an ablation PRM (`prm-<name>/`): a label kind other than the
    /// preset's, or a `[[prm.variants]]` entry.
    ablation: Option<String>,
    /// Which of the two: the CLI flag that names it.
    by_variant: bool,
    /// `[samples]` (for the cost model).
    samples: Option<SamplesConfig>,
}

impl PrmTrainStage {
    /// `labels` overrides `[prm] labels`: another label kind trains an ablation PRM
    /// (`prm-<labels>/`).
    pub fn new(preset: &Preset, labels: Option<LabelKind>) -> Result<PrmTrainStage> {
        let config = preset.prm.clone().context("preset has no [prm] section")?;
        if !(0.0..1.0).contains(&config.val_fraction) {
            anyhow::bail!("prm.val_fraction: must be in [0, 1)");
        }
        config.train.validate_in("prm.train")?;
        let ablation = prm_ablation(preset, labels);
        let labels = ablation.unwrap_or(config.labels);
        Ok(PrmTrainStage {
            config,
            labels,
            ablation: ablation.map(|l| l.name().to_string()),
            by_variant: false,
            samples: preset.samples.clone(),
        })
    }

    /// The `[[prm.variants]]` entry `name` (`prm-<name>/`).
    pub fn variant(preset: &Preset, name: &str) -> Result<PrmTrainStage> {
        let base = preset.prm.as_ref().context("preset has no [prm] section")?;
        let config = base.variant(name)?;
        config
            .train
            .validate_in(&format!("prm.variants {name:?} train"))?;
        Ok(PrmTrainStage {
            labels: config.labels,
            config,
            ablation: Some(name.to_string()),
            by_variant: true,
            samples: preset.samples.clone(),
        })
    }
}

/// A PRM stage's config record: `hard` as earlier runs recorded it (so their records stay
/// valid), `labels` only for truth.
pub fn labels_record(prm: &impl serde::Serialize, labels: LabelKind) -> serde_json::Value {
    let mut c = serde_json::json!({ "prm": prm, "hard": labels == LabelKind::Hard });
    if labels == LabelKind::Truth {
        c["labels"] = labels.name().into();
    }
    c
}

impl Stage for PrmTrainStage {
    fn id(&self) -> String {
        self.ablation
            .as_ref()
            .map_or("prm".into(), |n| format!("prm-{n}"))
    }
    /// The PRM and its ablations and variants, one family per head (they train on the same
    /// labelled samples); the units are the epochs.
    fn work_units(&self) -> Option<(String, f64)> {
        Some((
            format!("prm train, {} head", self.config.head.name()),
            self.config.train.epochs,
        ))
    }
    /// Its epochs over the labelled samples.
    fn work(&self, shape: &DataShape) -> Option<Work> {
        let solutions = self.samples.as_ref()?.solutions(shape.rows("train"));
        let tokens = self.config.train.epochs * shape.whole(solutions as f64);
        Some(shape.policy_work(WorkKind::Train, tokens))
    }
    fn config(&self) -> serde_json::Value {
        labels_record(&self.config, self.labels)
    }
    fn inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        let mut i = vec![
            layout.samples_file("train"),
            layout.labels_file(),
            layout.split_file("train"),
        ];
        i.extend(checkpoint_inputs(&layout.policy_dir(false)));
        if let Some(init) = self.config.init_dir(layout) {
            i.extend(checkpoint_inputs(&init));
        }
        if self.config.consensus {
            i.extend(checkpoint_inputs(&layout.verifier_dir()));
        }
        i
    }
    fn optional_inputs(&self, layout: &Layout) -> Vec<PathBuf> {
        prompt_files(&layout.policy_dir(false))
    }
    fn outputs(&self, layout: &Layout) -> Vec<PathBuf> {
        checkpoint_inputs(&layout.prm_dir(self.ablation.as_deref()))
    }
    fn command(&self) -> String {
        match &self.ablation {
            Some(n) if self.by_variant => format!("train prm --variant {n}"),
            Some(n) => format!("train prm --labels {n}"),
            None => "train prm".into(),
        }
    }
    fn run(&self, ctx: &Ctx) -> Result<()> {
        let pc = &self.config;
        pc.train.check_device("prm.train")?;
        let labels = self.labels;
        let pdir = ctx.layout.policy_dir(false);
        let mut inp = prm_data::load(ctx.layout)?;
        let text = training_text(&pdir)
            .with_context(|| format!("{}: the policy's tokenizer and prompt", pdir.display()))?;
        let (tok, eos, pad) = (&text.tok, text.eos, text.pad);
        let val_q = prm_data::val_questions(&inp.labels, pc.val_fraction, pc.train.seed);
        if pc.label_questions.is_some() || pc.label_rollouts.is_some() {
            let budget = LabelBudget {
                questions: pc.label_questions,
                rollouts: pc.label_rollouts,
                seed: pc.train.seed,
            };
            let c = label_budget::cut(&mut inp.samples, &mut inp.labels, &val_q, budget)?;
            eprintln!(
                "prm: labelling budget: {} of {} train questions, {} of {} rollouts",
                c.questions, c.of_questions, c.rollouts_after, c.rollouts_before
            );
        }
        if pc.consensus {
            consensus_filter(ctx, &mut inp, &val_q)?;
        }
        // The backbone: the policy's, or another checkpoint of its tokenizer ([prm] init).
        let init_dir = pc.init_dir(ctx.layout);
        let init = init_dir.as_deref().unwrap_or(&pdir);
        if init != pdir {
            same_tokenizer(&pdir, init)?;
        }
        let out = ctx.layout.prm_dir(self.ablation.as_deref());
        // A generative PRM trains a copy of it with Math-Shepherd's step tag, in its layout.
        let (tagged, exs) = match pc.head {
            PrmHead::Generative if pc.slips > 0 => anyhow::bail!(
                "prm.slips: slipped solutions are laid out in ttc's format, not a generative PRM's"
            ),
            PrmHead::Generative => {
                let dir = generative_prm::tagged_dir(&out);
                let (t, exs) =
                    generative_prm::prepare(init, &dir, &inp, labels, pc.outcome_labels)?;
                (Some(t), exs)
            }
            _ => (
                None,
                prm_examples(
                    tok,
                    &text.prompt,
                    &inp.problems,
                    &inp.samples,
                    &inp.labels,
                    labels,
                    pc.outcome_labels,
                    eos,
                )?,
            ),
        };
        if pc.within_question && (pc.head != PrmHead::Likelihood || pc.slips > 0) {
            anyhow::bail!(
                "prm.within_question: needs head = \"likelihood\" and no slips (slip pairs have no question to compare within)"
            );
        }
        let mut exs = exs;
        if pc.last_step_loss {
            for (_, e) in &mut exs {
                ttc_train::prm::keep_last_step(e);
            }
        }
        if pc.within_question {
            for (q, e) in &mut exs {
                e.group = Some(*q);
            }
        }
        let (val, train): (Vec<_>, Vec<_>) = exs.into_iter().partition(|(q, _)| val_q.contains(q));
        let mut train: Vec<_> = train.into_iter().map(|(_, e)| e).collect();
        let labelled = train.len();
        if pc.slips > 0 {
            let questions = prm_data::slip_questions(ctx.layout, &inp, pc.slips)?;
            let seed = pc.train.seed;
            train.extend(slip_examples(
                tok,
                &text.prompt,
                &questions,
                labels,
                seed,
                eos,
            )?);
        }
        let val: Vec<_> = val.into_iter().map(|(_, e)| e).collect();
        if train.is_empty() {
            anyhow::bail!(
                "no labelled samples to train the PRM on (did every sample lack an answer?)"
            );
        }
        let likelihood = pc.head == PrmHead::Likelihood;
        // What training starts from: the tagged copy for a generative PRM.
        let start = tagged.as_ref().map_or(init, |t| t.dir.as_path());
        let init_cfg = LlamaConfig::load(&start.join("config.json"))?;
        let model_cfg = if pc.head == PrmHead::Score {
            init_cfg.with_score_head()
        } else {
            init_cfg
        };
        let mut run_hash = ttc_core::hash::hash_json(&(
            &model_cfg,
            &pc,
            labels == LabelKind::Hard,
            ttc_model::io::checkpoint_files::hash_weights(init)?,
            ttc_core::hash::hash_file(&ctx.layout.samples_file("train"))?,
            ttc_core::hash::hash_file(&ctx.layout.labels_file())?,
        ));
        if labels == LabelKind::Truth {
            run_hash = ttc_core::hash::hash_json(&(run_hash, labels.name()));
        }
        let id = self.id();
        let name = id.as_str();
        // A likelihood PRM reads its steps through a calibration fitted on the starting
        // checkpoint's likelihood of the training steps (then fixed while the LM learns).
        let calibration = if likelihood {
            let c = fit_step_calibration(init, &train, &pc.train, pad)?;
            eprintln!(
                "{name}: reading sigmoid({:.3} · mean log p + {:.3}), fitted on {} training steps",
                c.slope,
                c.intercept,
                train.iter().map(|e| e.scores.len()).sum::<usize>()
            );
            Some(c)
        } else {
            None
        };
        let reading = match (&tagged, calibration) {
            (Some(t), _) => Some(StepReading::Tag {
                good: t.good,
                bad: t.bad,
            }),
            (None, c) => c.map(StepReading::Likelihood),
        };
        let tokenizer = start.join("tokenizer.json");
        let job = Job {
            label: name,
            run: SftRun {
                model_cfg: &model_cfg,
                init: if pc.head == PrmHead::Score {
                    Init::ScoreHeadFrom(init)
                } else {
                    Init::From(start)
                },
                cfg: &pc.train,
                train: &train,
                val: &val,
                pad,
                run_hash: &run_hash,
                out: &out,
                reading,
            },
            tokenizer: &tokenizer,
            force: ctx.force,
        };
        let state = fine_tune(ctx, job)?;
        use ttc_jobs::prm_format::PrmFormat;
        match (&tagged, calibration) {
            (Some(t), _) => {
                // Math-Shepherd's format and prompt, as the tagged checkpoint has them.
                PrmFormat::MathShepherd.save(&out)?;
                ttc_task::tokenizer::PromptTemplate::load(&t.dir)?.save(&out)?;
                std::fs::remove_dir_all(&t.dir)
                    .with_context(|| format!("removing {}", t.dir.display()))?;
            }
            (None, Some(c)) => PrmFormat::save_likelihood(
                &out,
                ttc_jobs::prm_format::Calibration {
                    slope: c.slope,
                    intercept: c.intercept,
                },
            )?,
            (None, None) => PrmFormat::Ttc.save(&out)?,
        }
        // A PRM in ttc's formats reads steps in the policy's prompt format.
        if tagged.is_none() && text.prompt != ttc_task::tokenizer::PromptTemplate::default() {
            text.prompt.save(&out)?;
        }
        eprintln!(
            "{name}: {} train / {} val samples ({} labels){}, {} -> {}",
            labelled,
            val.len(),
            labels.name(),
            if pc.slips > 0 {
                format!(" + {} slip examples", train.len() - labelled)
            } else {
                String::new()
            },
            best_summary(&state, "BCE"),
            out.display()
        );
        Ok(())
    }
}

/// The reading of a likelihood PRM: a logistic fit of the training steps' labels on the
/// starting checkpoint's mean log-likelihood of each step's prefix.
fn fit_step_calibration(
    init: &std::path::Path,
    train: &[ttc_train::sft_data::Example],
    cfg: &ttc_train::sft::SftConfig,
    pad: u32,
) -> Result<StepCalibration> {
    let model =
        ttc_model::io::hf_io::load_checkpoint::<ttc_model::CpuBackend>(init, &Default::default())?;
    let pairs = step_prefix_means(&model, train, cfg.batch_tokens, pad);
    let x: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let y: Vec<f64> = pairs.iter().map(|p| p.1 as f64).collect();
    let (a, b) = fit_logistic(&x, &y).with_context(|| {
        format!(
            "{}: its likelihood of the {} training steps gives no logistic fit (all equal?)",
            init.display(),
            x.len()
        )
    })?;
    Ok(StepCalibration {
        slope: a as f32,
        intercept: b as f32,
    })
}

/// `[prm] consensus`: drop the labelled train samples (not the held-out questions') whose
/// Monte Carlo first error the `[verifier]` model's likelihood does not confirm.
fn consensus_filter(
    ctx: &Ctx,
    inp: &mut prm_data::LabelledData,
    val_q: &std::collections::HashSet<u32>,
) -> Result<()> {
    if ctx.preset.verifier.is_none() {
        anyhow::bail!(
            "[prm] consensus: needs a [verifier] model (its likelihood is the second judge)"
        );
    }
    let train_labels: Vec<ttc_data::rows::LabelRow> = inp
        .labels
        .iter()
        .filter(|l| !val_q.contains(&l.question_index))
        .cloned()
        .collect();
    let labelled: std::collections::HashSet<(u32, u32)> = train_labels
        .iter()
        .map(|l| (l.question_index, l.sample_id))
        .collect();
    let c = crate::stages::shared::consensus::consensus(
        ctx,
        &ctx.layout.verifier_dir(),
        &inp.problems,
        &inp.samples,
        &train_labels,
    )?;
    inp.samples.retain(|s| {
        let k = (s.question_index, s.sample_id);
        !labelled.contains(&k) || c.kept.contains(&k)
    });
    eprintln!(
        "prm: consensus filtering kept {} of {} labelled train samples (Monte Carlo and the verifier's likelihood agree on the first error)",
        c.kept.len(),
        c.judged
    );
    Ok(())
}
