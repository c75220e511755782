//! The DAG `ttc pipeline` runs: which stages a preset configures, what each reads and
//! writes (DESIGN §1 order: data → policy → samples → labels → PRM → revision data →
//! revision → ORM → oracle samples → search → revision eval → bins + CV → exchange → report).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use ttc_task::dataset::split_file;

use crate::Dirs;
use crate::preset::Preset;

/// One node of the DAG.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    /// The subcommand, without `--preset`.
    pub args: Vec<String>,
    /// The preset sections (and arguments) that configure it; hashed.
    pub config: serde_json::Value,
    /// Stages whose outputs it reads.
    pub after: Vec<String>,
    /// Files it writes; its downstream stages' inputs.
    pub outputs: Vec<PathBuf>,
}

fn section<T: Serialize>(name: &str, v: &Option<T>) -> Option<(String, serde_json::Value)> {
    v.as_ref().map(|v| {
        (
            name.to_string(),
            serde_json::to_value(v).expect("serializes"),
        )
    })
}

/// The stages `preset` configures, in dependency order.
pub fn plan(preset: &Preset, dirs: &Dirs) -> Result<Vec<Stage>> {
    let mut out: Vec<Stage> = Vec::new();
    let ck = dirs.checkpoints_dir.join(&preset.name);
    let rep = dirs.reports_dir.join(&preset.name);
    let data = preset.data_dir(dirs);
    let mut add = |name: &str,
                   args: &str,
                   config: Vec<Option<(String, serde_json::Value)>>,
                   after: &[&str],
                   outputs: Vec<PathBuf>| {
        let config: serde_json::Map<String, serde_json::Value> = config
            .into_iter()
            .flatten()
            .chain([("args".to_string(), serde_json::json!(args))])
            .collect();
        out.push(Stage {
            name: name.to_string(),
            args: args.split_whitespace().map(str::to_string).collect(),
            config: serde_json::Value::Object(config),
            after: after.iter().map(|s| s.to_string()).collect(),
            outputs,
        });
    };
    let splits: Vec<&str> = match &preset.problems {
        Some(pf) => pf.splits().into_iter().map(|(s, _)| s).collect(),
        None => vec!["train", "val", "test"],
    };
    add(
        "data",
        "data gen",
        vec![
            section("data", &preset.data),
            section("problems", &preset.problems),
        ],
        &[],
        splits.iter().map(|s| data.join(split_file(s))).collect(),
    );
    let model = |d: &Path| vec![d.join("model.safetensors"), d.join("config.json")];
    let pdir = super::sample::policy_dir(preset, dirs);
    let imported = |d: &Path, prompt: bool| {
        let mut o = model(d);
        o.push(d.join("tokenizer.json"));
        if prompt {
            o.push(d.join(ttc_task::tokenizer::PROMPT_FILE));
        }
        o
    };
    match (&preset.policy, &preset.import) {
        (Some(policy), _) => {
            add(
                "tokenizer",
                "tokenizer train",
                vec![section("tokenizer", &Some(&preset.tokenizer))],
                &["data"],
                vec![preset.tokenizer_dir(dirs).join("tokenizer.json")],
            );
            let mut pout = model(&pdir);
            pout.push(pdir.join("pass_at_1_val.json"));
            add(
                "policy",
                "train policy",
                vec![section("policy", &Some(policy))],
                &["data", "tokenizer"],
                pout,
            );
        }
        (None, Some(im)) => add(
            "policy",
            "import policy",
            vec![section("import", &Some(im))],
            &[],
            imported(&pdir, im.prompt.is_some()),
        ),
        (None, None) => return Ok(out),
    }
    let large = preset.policy_large.is_some();
    if large {
        let d = ck.join("policy-large");
        let mut o = model(&d);
        o.push(d.join("pass_at_1_val.json"));
        add(
            "policy-large",
            "train policy --large",
            vec![section("policy_large", &preset.policy_large)],
            &["data", "tokenizer"],
            o,
        );
        add(
            "eval-policy-large",
            "eval policy --large --split test",
            vec![],
            &["data", "policy-large"],
            vec![d.join("pass_at_1_test.json")],
        );
    }
    let samples =
        |split: &str| super::sample::samples_dir(preset, dirs, split).join("samples.parquet");
    let trained_prm = preset.samples.is_some() && preset.labels.is_some() && preset.prm.is_some();
    let imported_prm = preset.import.as_ref().filter(|im| im.prm.is_some());
    let has_prm = trained_prm || imported_prm.is_some();
    if let Some(im) = imported_prm {
        add(
            "prm",
            "import prm",
            vec![section("import", &Some(im))],
            &[],
            imported(
                &super::prm::prm_dir(preset, dirs, false),
                im.prm_prompt.is_some() || im.prompt.is_some(),
            ),
        );
    }
    if trained_prm {
        add(
            "samples",
            "sample --split train",
            vec![section("samples", &preset.samples)],
            &["data", "policy"],
            vec![samples("train")],
        );
        add(
            "labels",
            "label",
            vec![section("labels", &preset.labels)],
            &["policy", "samples"],
            vec![data.join("labels").join("labels.parquet")],
        );
        add(
            "prm",
            "train prm",
            vec![section("prm", &preset.prm)],
            &["policy", "samples", "labels"],
            model(&super::prm::prm_dir(
                preset,
                dirs,
                preset.prm.as_ref().is_some_and(|p| p.labels == "hard"),
            )),
        );
    }
    let has_test = preset.test_samples.is_some();
    if has_test {
        add(
            "test-samples",
            "sample --split test",
            vec![section("test_samples", &preset.test_samples)],
            &["data", "policy"],
            vec![samples("test")],
        );
    }
    if has_prm && has_test {
        add(
            "eval-prm",
            "eval prm",
            vec![section("prm", &preset.prm)],
            if trained_prm {
                &["data", "prm", "test-samples", "labels"]
            } else {
                &["data", "prm", "test-samples"]
            },
            vec![
                rep.join("prm").join("prm_eval.json"),
                rep.join("prm").join("scores.parquet"),
            ],
        );
    }
    let mut searches = Vec::new();
    if let (true, Some(st)) = (has_prm, &preset.search) {
        for r in &st.runs {
            for &n in &r.budgets {
                let label = super::search::run_label(
                    st,
                    &r.strategy,
                    n,
                    r.width,
                    r.lookahead,
                    r.dedup,
                    None,
                )
                .with_context(|| format!("[[search.runs]] {} at N={n}", r.strategy))?;
                let mut args = format!("search --strategy {} --n {n}", r.strategy);
                if let Some(w) = r.width {
                    args += &format!(" --width {w}");
                }
                if r.strategy == "lookahead" {
                    args += &format!(" --lookahead {}", r.lookahead);
                }
                if r.dedup {
                    args += " --dedup";
                }
                let name = format!("search {label}");
                add(
                    &name,
                    &args,
                    vec![section("search", &Some(st))],
                    &["data", "policy", "prm"],
                    vec![
                        super::search::search_dir(preset, dirs)
                            .join(&label)
                            .join("results.parquet"),
                    ],
                );
                searches.push(name);
            }
        }
    }
    let mut report_after: Vec<String> = Vec::new();
    if let (Some(rs), Some(rc)) = (&preset.revision_samples, &preset.revision) {
        add(
            "revision-samples",
            "sample --split revision",
            vec![section("revision_samples", &Some(rs))],
            &["data", "policy"],
            vec![samples("revision")],
        );
        let rcfg = vec![section("revision", &Some(rc))];
        add(
            "revisions",
            "revisions build",
            rcfg.clone(),
            &["revision-samples"],
            vec![super::revision::revisions_dir(preset, dirs).join("trajectories.parquet")],
        );
        add(
            "revision",
            "train revision",
            rcfg.clone(),
            &["policy", "revisions"],
            model(&super::revision::revision_model_dir(preset, dirs)),
        );
        let chains = |s: &str| super::revision::chains_dir(preset, dirs, s).join("chains.parquet");
        add(
            "chains-test",
            "revise --split test",
            rcfg.clone(),
            &["data", "revision"],
            vec![chains("test")],
        );
        report_after.push("chains-test".into());
        if rc.orm.is_some() {
            add(
                "chains-train",
                "revise --split train",
                rcfg.clone(),
                &["data", "revision"],
                vec![chains("train")],
            );
            add(
                "orm",
                "train orm",
                rcfg.clone(),
                &["revision", "chains-train"],
                model(&super::orm::orm_dir(preset, dirs)),
            );
            add(
                "eval-revisions",
                "eval revisions",
                rcfg,
                &["data", "orm", "chains-test"],
                vec![
                    rep.join("revisions").join("selection.csv"),
                    rep.join("revisions").join("ratios.parquet"),
                ],
            );
            report_after.push("eval-revisions".into());
        }
    }
    if has_prm && has_test {
        let mut after: Vec<&str> = vec!["eval-prm", "test-samples", "policy", "prm"];
        after.extend(searches.iter().map(String::as_str));
        add(
            "sweep",
            "eval sweep",
            vec![],
            &after,
            vec![rep.join("sweep").join("rows.parquet")],
        );
        add(
            "bins",
            "eval bins",
            vec![],
            &["eval-prm"],
            vec![rep.join("bins").join("bins.parquet")],
        );
        let mut co_after = vec!["sweep", "bins"];
        let co = rep.join("compute_optimal");
        // Every file the report reads, so that a change in any of them makes it stale.
        let mut co_out = vec![co.join("efficiency.csv"), co.join("per_bin.csv")];
        if report_after.iter().any(|s| s == "eval-revisions") {
            co_after.push("eval-revisions");
            co_out.extend(
                [
                    "revisions_per_bin.csv",
                    "revisions_efficiency.csv",
                    "revisions_by_bin.csv",
                ]
                .map(|f| co.join(f)),
            );
        }
        add(
            "compute-optimal",
            "eval compute-optimal",
            vec![],
            &co_after,
            co_out,
        );
        report_after.extend(["eval-prm", "sweep", "bins", "compute-optimal"].map(String::from));
        if large {
            add(
                "exchange",
                "eval exchange",
                vec![],
                &[
                    "compute-optimal",
                    "bins",
                    "eval-policy-large",
                    "policy",
                    "policy-large",
                ],
                vec![
                    rep.join("exchange").join("exchange.csv"),
                    rep.join("exchange").join("policies.json"),
                ],
            );
            report_after.push("exchange".into());
        }
    }
    report_after.extend(searches);
    let after: Vec<&str> = report_after.iter().map(String::as_str).collect();
    add(
        "report",
        "report",
        vec![],
        &after,
        vec![rep.join("report.md"), rep.join("report.html")],
    );
    for s in &out {
        if let Some(up) = s.after.iter().find(|u| !out.iter().any(|x| &x.name == *u)) {
            anyhow::bail!(
                "stage {} needs stage {up}, which this preset does not configure",
                s.name
            );
        }
    }
    Ok(out)
}
