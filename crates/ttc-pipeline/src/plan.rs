//! The DAG a preset configures (DESIGN §1 order: data → policy → verifier → samples → labels → PRM →
//! test samples → PRM evaluation → searches → revision data → revision model → chains → ORM
//! → revision selection → sweep → bins → compute-optimal → exchange → report). One line per
//! stage; the edges follow from the files each stage reads and writes.

use anyhow::{Result, bail};

use crate::preset::Preset;
use crate::report::ReportStage;
use crate::run::stage::Stage;
use crate::stages::analysis::{BinsStage, ComputeOptimalStage, SweepStage};
use crate::stages::data::DataStage;
use crate::stages::eval_policy::EvalPolicyStage;
use crate::stages::exchange::ExchangeStage;
use crate::stages::import::{ImportStage, Imported};
use crate::stages::labels::LabelsStage;
use crate::stages::orm::OrmTrainStage;
use crate::stages::policy::PolicyStage;
use crate::stages::prm_eval::PrmEvalStage;
use crate::stages::prm_train::PrmTrainStage;
use crate::stages::revision::{ChainsStage, RevisionTrainStage, RevisionsBuildStage};
use crate::stages::revision_eval::RevisionEvalStage;
use crate::stages::samples::{SampleSplit, SamplesStage};
use crate::stages::search::{SearchArgs, SearchRunStage};
use crate::stages::tokenizer::TokenizerStage;

/// The stages `preset` configures, in dependency order; every stage's config is validated
/// here, before any stage runs.
pub fn plan(preset: &Preset) -> Result<Vec<Box<dyn Stage>>> {
    let mut out: Vec<Box<dyn Stage>> = vec![Box::new(DataStage::new(preset))];
    match (
        PolicyStage::new(preset, false)?,
        ImportStage::new(preset, false),
    ) {
        (Some(policy), _) => {
            out.push(Box::new(TokenizerStage::new(preset)));
            out.push(Box::new(policy));
        }
        (None, Some(import)) => out.push(Box::new(import)),
        (None, None) => return Ok(out),
    }
    let verifier_lm = PolicyStage::verifier(preset)?;
    if let Some(v) = verifier_lm {
        out.push(Box::new(v));
    }
    let large = PolicyStage::new(preset, true)?;
    let imported_large = ImportStage::of(preset, Imported::PolicyLarge);
    let has_large = large.is_some() || imported_large.is_some();
    match (large, imported_large) {
        (Some(large), _) => out.push(Box::new(large)),
        (None, Some(import)) => out.push(Box::new(import)),
        (None, None) => {}
    }
    if has_large {
        out.push(Box::new(EvalPolicyStage::new(preset, true, "test")?));
    }
    let trained_prm = preset.samples.is_some() && preset.labels.is_some() && preset.prm.is_some();
    let imported_prm = ImportStage::new(preset, true);
    let has_prm = trained_prm || imported_prm.is_some();
    if let Some(import) = imported_prm {
        out.push(Box::new(import));
    }
    if trained_prm {
        out.push(Box::new(SamplesStage::new(preset, SampleSplit::Train)?));
        out.push(Box::new(LabelsStage::new(preset)?));
        out.push(Box::new(PrmTrainStage::new(preset, None)?));
    }
    let has_test = preset.test_samples.is_some();
    if has_test {
        out.push(Box::new(SamplesStage::new(preset, SampleSplit::Test)?));
    }
    if has_prm && has_test {
        out.push(Box::new(PrmEvalStage::new(preset, None)));
    }
    // The PRM's variants ([[prm.variants]]), trained and evaluated beside it.
    if let Some(pc) = preset.prm.as_ref().filter(|_| trained_prm) {
        for name in pc.variant_names()? {
            out.push(Box::new(PrmTrainStage::variant(preset, &name)?));
            if has_test {
                out.push(Box::new(PrmEvalStage::variant(preset, &name)?));
            }
        }
    }
    if let Some(section) = &preset.search {
        // A search over the likelihood needs no PRM; one over the PRM with none to use is
        // an entry the plan cannot honour — an error, never silently dropped.
        for (i, r) in section.runs.iter().enumerate() {
            if r.verifier.is_prm() && !has_prm {
                bail!(
                    "[[search.runs]] entry {} ({} at N = {:?}): it searches over the PRM, and this preset has none ([prm] with [samples] and [labels], or [import] prm); add one, or set verifier = \"likelihood\"",
                    i + 1,
                    r.strategy.name(),
                    r.budgets
                );
            }
            for &n in &r.budgets {
                out.push(Box::new(SearchRunStage::new(preset, search_args(r, n))?));
            }
        }
    }
    let mut revisions = false;
    if preset.revision_samples.is_some() && preset.revision.is_some() {
        out.push(Box::new(SamplesStage::new(preset, SampleSplit::Revision)?));
        out.push(Box::new(RevisionsBuildStage::new(preset)?));
        out.push(Box::new(RevisionTrainStage::new(preset)?));
        out.push(Box::new(ChainsStage::new(preset, "test", None)?));
        if revisions_selected(preset) {
            out.push(Box::new(ChainsStage::new(preset, "train", None)?));
            out.push(Box::new(OrmTrainStage::new(preset)?));
            out.push(Box::new(RevisionEvalStage::new(preset)?));
            revisions = true;
        }
    }
    if has_prm && has_test {
        let a = preset.analysis.clone();
        out.push(Box::new(sweep_stage(preset, a.clone())?));
        out.push(Box::new(BinsStage::new(a.clone())));
        out.push(Box::new(ComputeOptimalStage::new(a.clone(), revisions)));
        if has_large {
            out.push(Box::new(ExchangeStage::new(a)));
        }
    }
    out.push(Box::new(ReportStage::new(preset, searches_of(preset)?)));
    check_ids(&out)?;
    Ok(out)
}

/// The preset plans revision selection (an ORM over chains), so compute-optimal weighs
/// sequential against parallel revisions too.
pub fn revisions_selected(preset: &Preset) -> bool {
    preset.revision_samples.is_some() && preset.revision.as_ref().is_some_and(|r| r.orm.is_some())
}

/// The sweep as the plan configures it with `analysis` (a command line may override it).
pub fn sweep_stage(
    preset: &Preset,
    analysis: crate::preset::AnalysisSection,
) -> Result<SweepStage> {
    Ok(SweepStage::new(
        analysis,
        searches_of(preset)?,
        preset.verifier.is_some(),
    ))
}

/// Stages a user runs by hand beside the plan — the PRM trained on other labels (`ttc train
/// prm --labels …`) — so a hint can name the command that writes a missing file.
pub fn by_hand(preset: &Preset) -> Result<Vec<Box<dyn Stage>>> {
    let mut out: Vec<Box<dyn Stage>> = Vec::new();
    if preset.samples.is_some() && preset.labels.is_some() && preset.prm.is_some() {
        for l in crate::preset::LabelKind::ALL {
            out.push(Box::new(PrmTrainStage::new(preset, Some(l))?));
        }
    }
    Ok(out)
}

/// Every kind of stage, configured as the embedded default preset configures it (plus what
/// [`by_hand`] adds), so a hint can name the command that writes a file the preset at hand
/// plans no stage for. Outputs depend on the layout passed to them, not on this preset.
pub fn every_stage() -> Result<Vec<Box<dyn Stage>>> {
    let preset: Preset = toml::from_str(include_str!("../../../pipelines/default.toml"))?;
    let mut all = plan(&preset)?;
    all.extend(by_hand(&preset)?);
    Ok(all)
}

/// The output labels of the preset's `[[search.runs]]`.
pub fn searches_of(preset: &Preset) -> Result<Vec<String>> {
    let mut labels = Vec::new();
    if let Some(section) = &preset.search {
        for r in &section.runs {
            for &n in &r.budgets {
                labels.push(SearchRunStage::new(preset, search_args(r, n))?.label());
            }
        }
    }
    Ok(labels)
}

/// The search of run `r` at budget `n`, as the plan runs it.
fn search_args(r: &crate::preset::SearchRun, n: usize) -> SearchArgs {
    SearchArgs {
        strategy: r.strategy.name().to_string(),
        n,
        width: r.width,
        knobs: r.knobs(),
        aggregation: None,
        split: "test".into(),
        questions: None,
        labels: None,
        verifier: r.verifier,
    }
}

/// Two stages with one id would share a record.
fn check_ids(stages: &[Box<dyn Stage>]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in stages {
        if !seen.insert(s.id()) {
            bail!("the plan has stage {:?} twice", s.id());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hints' catalogue of every kind of stage builds from the embedded default preset
    /// (a default.toml it cannot read would leave missing-file errors without a command).
    #[test]
    fn every_stage_builds_from_the_default_preset() {
        let ids: Vec<String> = every_stage().unwrap().iter().map(|s| s.id()).collect();
        for id in [
            "data",
            "tokenizer",
            "policy",
            "prm",
            "test-samples",
            "orm",
            "report",
        ] {
            assert!(ids.iter().any(|i| i == id), "{id} not in {ids:?}");
        }
    }

    /// An imported policy and searches over its likelihood: planned without a PRM. Over the
    /// PRM with none: an error naming the entry.
    /// A PRM variant that never ran is estimated from a trained sibling of its head: the
    /// ablation preset's variants share the default PRM's families.
    #[test]
    fn prm_variants_are_siblings_of_the_prm_with_their_head() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let preset = Preset::load(&root.join("pipelines/prm-ablation.toml")).unwrap();
        let stages = plan(&preset).unwrap();
        let units = |id: &str| {
            stages
                .iter()
                .find(|s| s.id() == id)
                .and_then(|s| s.work_units())
                .unwrap_or_else(|| panic!("{id}: no work units"))
        };
        assert_eq!(units("prm-likelihood-last").0, units("prm").0);
        assert_eq!(units("eval-prm-likelihood-seed5").0, units("eval-prm").0);
        assert_ne!(units("prm-score").0, units("prm").0);
        assert_eq!(units("prm").1, 2.0, "the default's epochs");
        // The report reads every variant's evaluation, so a new one makes it stale.
        let layout = crate::run::layout::Layout::new(
            std::path::Path::new("d"),
            std::path::Path::new("c"),
            std::path::Path::new("r"),
            &preset.name,
        );
        let report = stages.iter().find(|s| s.id() == "report").unwrap();
        let reads = report.optional_inputs(&layout);
        for v in ["generative", "likelihood-r4", "truth"] {
            let f = layout.prm_eval_dir(Some(v)).join("prm_eval.json");
            assert!(reads.contains(&f), "{v}: {reads:?}");
        }
    }

    #[test]
    fn searches_over_the_likelihood_need_no_prm() {
        let text = |verifier: &str| {
            format!(
                "name = \"p\"\n[problems]\ntest = \"t.jsonl\"\n[import]\npolicy = \"m\"\n[test_samples]\nn = 4\n[search]\n[[search.runs]]\nstrategy = \"beam\"\nbudgets = [4]\nverifier = \"{verifier}\"\n"
            )
        };
        let preset: Preset = toml::from_str(&text("likelihood")).unwrap();
        let ids: Vec<String> = plan(&preset).unwrap().iter().map(|s| s.id()).collect();
        assert!(
            ids.iter()
                .any(|i| i.starts_with("search beam") && i.ends_with("likelihood")),
            "{ids:?}"
        );
        let preset: Preset = toml::from_str(&text("prm")).unwrap();
        let e = plan(&preset).err().unwrap().to_string();
        assert!(
            e.contains("[[search.runs]] entry 1 (beam at N = [4])") && e.contains("likelihood"),
            "{e}"
        );
    }
}
