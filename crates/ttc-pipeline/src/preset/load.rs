//! Reading a preset file: what it `extends` merged in, unknown keys and wrong types named
//! with their file and line, sections checked against each other, relative paths resolved
//! against the preset's directory, and every engine choice validated — once, before any
//! stage is planned.

use std::path::Path;

use anyhow::{Context, Result};

use super::{Preset, extends};

impl Preset {
    /// Read a preset file (with what it `extends`), validate it once, and resolve its
    /// relative paths against its directory.
    pub fn load(path: &Path) -> Result<Preset> {
        let resolved = extends::resolve(path)?;
        let preset: Preset = if let [(_, text)] = resolved.files.as_slice() {
            toml::from_str(text).map_err(|e| {
                // toml's message spans several lines (a source excerpt); keep it on one.
                let msg = e.message();
                let at = e
                    .span()
                    .map(|s| {
                        let line = text[..s.start].matches('\n').count() + 1;
                        format!(":{line}")
                    })
                    .unwrap_or_default();
                anyhow::anyhow!("{}{at}: {msg}", path.display())
            })?
        } else {
            toml::Value::Table(resolved.table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    anyhow::anyhow!("{}", extends::locate(e.message(), &resolved.files))
                })?
        };
        if preset.name.is_empty()
            || !preset
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            anyhow::bail!(
                "{}: name: use letters, digits, '-' and '_' only, got {:?}",
                path.display(),
                preset.name
            );
        }
        let mut preset = preset;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(prm) = preset.prm.as_mut() {
            let resolve = |init: &mut Option<std::path::PathBuf>| {
                if let Some(i) = init
                    && !super::PRM_INIT_NAMES.iter().any(|n| i.as_os_str() == *n)
                {
                    *i = base.join(&*i);
                }
            };
            resolve(&mut prm.init);
            let names = prm
                .variant_names()
                .with_context(|| format!("preset {}", path.display()))?;
            // A variant's own init is relative to this preset too; every variant must parse.
            for v in &mut prm.variants {
                if let Some(toml::Value::String(i)) = v.overrides.get("init")
                    && !super::PRM_INIT_NAMES.contains(&i.as_str())
                {
                    let abs = base.join(i).to_string_lossy().into_owned();
                    v.overrides.insert("init".into(), toml::Value::String(abs));
                }
            }
            let mut configs = vec![("[prm]".to_string(), prm.clone())];
            for n in names {
                let v = prm
                    .variant(&n)
                    .with_context(|| format!("preset {}", path.display()))?;
                configs.push((format!("[[prm.variants]] {n:?}"), v));
            }
            let has_verifier = preset.verifier.is_some();
            for (what, c) in configs {
                if c.init
                    .as_deref()
                    .is_some_and(|i| i.as_os_str() == "verifier")
                    && !has_verifier
                {
                    anyhow::bail!(
                        "{}: {what}: init = \"verifier\" needs a [verifier] section (the checkpoint it starts from)",
                        path.display()
                    );
                }
            }
        }
        match (&preset.data, &mut preset.problems) {
            (Some(d), None) => d
                .validate()
                .with_context(|| format!("preset {}", path.display()))?,
            (None, Some(pf)) => {
                for p in [Some(&mut pf.test), pf.train.as_mut(), pf.val.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    *p = base.join(&*p);
                }
            }
            (Some(_), Some(_)) => anyhow::bail!(
                "{}: [data] and [problems] both given; use one (the synthetic task or problem files)",
                path.display()
            ),
            (None, None) => anyhow::bail!(
                "{}: no [data] (the synthetic task) or [problems] (JSONL files) section",
                path.display()
            ),
        }
        if let Some(im) = &mut preset.import {
            if preset.policy.is_some() {
                anyhow::bail!(
                    "{}: [import] policy and [policy] both given; a policy is imported or trained",
                    path.display()
                );
            }
            if im.prm.is_some() && preset.prm.is_some() {
                anyhow::bail!(
                    "{}: [import] prm and [prm] both given; a PRM is imported or trained",
                    path.display()
                );
            }
            im.policy = base.join(&im.policy);
            for p in [im.prm.as_mut(), im.policy_large.as_mut()]
                .into_iter()
                .flatten()
            {
                *p = base.join(&*p);
            }
            if im.prompt.is_some() && im.chat.is_some() {
                anyhow::bail!(
                    "{}: [import] gives both prompt and chat; the policy's prompt is one or the other",
                    path.display()
                );
            }
            if im.prm_prompt.is_some() && im.prm_chat.is_some() {
                anyhow::bail!(
                    "{}: [import] gives both prm_prompt and prm_chat; the PRM's prompt is one or the other",
                    path.display()
                );
            }
            for t in [im.prompt.as_deref(), im.prm_prompt.as_deref()]
                .into_iter()
                .flatten()
            {
                ttc_task::tokenizer::PromptTemplate::parse(t)
                    .with_context(|| format!("{}: [import]", path.display()))?;
            }
        }
        crate::preset::engine_choice::validate(&preset)
            .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
        Ok(preset)
    }
}
