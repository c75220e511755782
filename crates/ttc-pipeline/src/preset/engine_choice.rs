//! Which engine each stage runs on: the preset's `[engine]`, overridden per section
//! (`engine = { backend = "burn", device = "cuda" }` in `[samples]`, `[test_samples]`,
//! `[revision_samples]`, `[labels]`, `[search]` — with `verifier_engine` for the PRM —
//! and `[revision.chains]`). Scoring and evaluation stages (eval-prm, ORM scores, greedy
//! pass@1) use `[engine]`.
//!
//! The choice joins a stage's config (its fingerprint) only when it is not the default
//! cpu backend, so presets without `[engine]` keep their records.

use ttc_model::engine_spec::EngineSpec;

use crate::preset::Preset;

/// The engine of a section: its own, else the preset's `[engine]`, else cpu.
pub fn resolve(preset: &Preset, own: &Option<EngineSpec>) -> EngineSpec {
    own.clone()
        .or_else(|| preset.engine.clone())
        .unwrap_or_else(EngineSpec::cpu)
}

/// `config` with `"engine": spec` added when `spec` is not the default.
pub fn with_engine(
    mut config: serde_json::Value,
    key: &str,
    spec: &EngineSpec,
) -> serde_json::Value {
    if *spec != EngineSpec::cpu()
        && let Some(m) = config.as_object_mut()
    {
        m.insert(key.into(), serde_json::to_value(spec).expect("serializes"));
    }
    config
}

/// Check every engine choice of the preset; the message names the section and key. GPU
/// choices pass on a CPU build (so GPU presets plan anywhere); see [`check_build`].
pub fn validate(p: &Preset) -> Result<(), String> {
    each(p, EngineSpec::validate)
}

/// [`validate`], and that this build can run every choice (`cuda` needs `--features
/// cuda`): checked before a stage or pipeline runs.
pub fn check_build(p: &Preset) -> Result<(), String> {
    each(p, |e| e.check_build().map(|_| ()))
}

fn each(p: &Preset, check: impl Fn(&EngineSpec) -> Result<(), String>) -> Result<(), String> {
    let mut all: Vec<(&str, &Option<EngineSpec>)> = vec![("[engine] ", &p.engine)];
    for (name, s) in [
        ("[samples] engine.", &p.samples),
        ("[test_samples] engine.", &p.test_samples),
        ("[revision_samples] engine.", &p.revision_samples),
    ] {
        if let Some(s) = s {
            all.push((name, &s.engine));
        }
    }
    if let Some(l) = &p.labels {
        all.push(("[labels] engine.", &l.engine));
    }
    if let Some(s) = &p.search {
        all.push(("[search] engine.", &s.engine));
        all.push(("[search] verifier_engine.", &s.verifier_engine));
    }
    if let Some(r) = &p.revision {
        all.push(("[revision.chains] engine.", &r.chains.engine));
    }
    for (at, e) in all {
        if let Some(e) = e {
            check(e).map_err(|m| format!("{at}{m}"))?;
        }
    }
    Ok(())
}

/// The engine that reads the logits of a checkpoint trained here (the verifier, or a
/// likelihood model): `spec`, unless `spec` is a server — a server returns no logits and
/// serves the policy, not that checkpoint — then the local CPU (the same weights give the
/// same scores).
pub fn local_logits(spec: &EngineSpec) -> EngineSpec {
    local_logits_if(true, spec)
}

/// The engine that reads the PRM checkpoint in `dir`: `spec`, except that a likelihood PRM
/// (a causal LM read through its logits) runs on the local CPU where `spec` is a server.
pub fn prm_engine(dir: &std::path::Path, spec: &EngineSpec) -> anyhow::Result<EngineSpec> {
    let format = ttc_jobs::prm_format::PrmFormat::load(dir)?;
    let likelihood = format == ttc_jobs::prm_format::PrmFormat::Likelihood;
    let out = local_logits_if(likelihood, spec);
    if out != *spec {
        eprintln!(
            "{}: a likelihood PRM is read from its logits, which a server does not return: scored on the local CPU",
            dir.display()
        );
    }
    Ok(out)
}

fn local_logits_if(logits: bool, spec: &EngineSpec) -> EngineSpec {
    if !logits {
        return spec.clone();
    }
    if spec.backend == ttc_model::engine_spec::BackendKind::Openai {
        EngineSpec::cpu()
    } else {
        spec.clone()
    }
}
