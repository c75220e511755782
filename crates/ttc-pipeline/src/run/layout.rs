//! The run layout: the one place that knows every path of a run (STYLE 19; DESIGN §1).
//! `datasets/<run>/`, `checkpoints/<run>/` and `reports/<run>/`; no stage formats a path
//! by hand.

use std::path::{Path, PathBuf};

use ttc_task::dataset::split_file;

/// The three roots of generated artifacts and the run's name.
#[derive(Debug, Clone)]
pub struct Layout {
    pub datasets_dir: PathBuf,
    pub checkpoints_dir: PathBuf,
    pub reports_dir: PathBuf,
    pub run: String,
}

impl Layout {
    /// The default roots (`datasets/`, `checkpoints/`, `reports/` under the working
    /// directory) for run `run`.
    pub fn new(datasets: &Path, checkpoints: &Path, reports: &Path, run: &str) -> Layout {
        Layout {
            datasets_dir: datasets.to_path_buf(),
            checkpoints_dir: checkpoints.to_path_buf(),
            reports_dir: reports.to_path_buf(),
            run: run.to_string(),
        }
    }

    /// `datasets/<run>/`: the problems and everything derived from them.
    pub fn data_dir(&self) -> PathBuf {
        self.datasets_dir.join(&self.run)
    }

    /// `datasets/<run>/<split>.jsonl`.
    pub fn split_file(&self, split: &str) -> PathBuf {
        self.data_dir().join(split_file(split))
    }

    /// `checkpoints/<run>/`.
    pub fn checkpoint_root(&self) -> PathBuf {
        self.checkpoints_dir.join(&self.run)
    }

    /// `checkpoints/<run>/tokenizer/`.
    pub fn tokenizer_dir(&self) -> PathBuf {
        self.checkpoint_root().join("tokenizer")
    }

    /// `checkpoints/<run>/policy/` (or `policy-large/`).
    pub fn policy_dir(&self, large: bool) -> PathBuf {
        self.checkpoint_root()
            .join(if large { "policy-large" } else { "policy" })
    }

    /// `checkpoints/<run>/verifier/`: the language model trained past the policy
    /// (`[verifier]`).
    pub fn verifier_dir(&self) -> PathBuf {
        self.checkpoint_root().join("verifier")
    }

    /// The model whose likelihood is the "likelihood" verifier: the `[verifier]` model when
    /// the preset trains one (`verifier_lm`), else the policy itself.
    pub fn likelihood_dir(&self, verifier_lm: bool) -> PathBuf {
        if verifier_lm {
            self.verifier_dir()
        } else {
            self.policy_dir(false)
        }
    }

    /// `checkpoints/<run>/prm/`, or `prm-<labels>/` for an ablation: a PRM trained on
    /// other labels than the preset's `[prm] labels` (`ttc train prm --labels`).
    pub fn prm_dir(&self, ablation: Option<&str>) -> PathBuf {
        self.checkpoint_root().join(prm_name(ablation))
    }

    /// `checkpoints/<run>/revision/`.
    pub fn revision_model_dir(&self) -> PathBuf {
        self.checkpoint_root().join("revision")
    }

    /// `checkpoints/<run>/orm/`.
    pub fn orm_dir(&self) -> PathBuf {
        self.checkpoint_root().join("orm")
    }

    /// `datasets/<run>/samples-<split>/`.
    pub fn samples_dir(&self, split: &str) -> PathBuf {
        self.data_dir().join(format!("samples-{split}"))
    }

    /// `datasets/<run>/samples-<split>/samples.parquet`.
    pub fn samples_file(&self, split: &str) -> PathBuf {
        self.samples_dir(split).join("samples.parquet")
    }

    /// `datasets/<run>/labels/`.
    pub fn labels_dir(&self) -> PathBuf {
        self.data_dir().join("labels")
    }

    /// `datasets/<run>/labels/labels.parquet`.
    pub fn labels_file(&self) -> PathBuf {
        self.labels_dir().join("labels.parquet")
    }

    /// `datasets/<run>/revisions/`.
    pub fn revisions_dir(&self) -> PathBuf {
        self.data_dir().join("revisions")
    }

    /// `datasets/<run>/chains-<split>/`.
    pub fn chains_dir(&self, split: &str) -> PathBuf {
        self.data_dir().join(format!("chains-{split}"))
    }

    /// `reports/<run>/`.
    pub fn report_dir(&self) -> PathBuf {
        self.reports_dir.join(&self.run)
    }

    /// `reports/<run>/search/`.
    pub fn search_dir(&self) -> PathBuf {
        self.report_dir().join("search")
    }

    /// `reports/<run>/prm/` (PRM evaluation; `prm-<labels>/` for an ablation).
    pub fn prm_eval_dir(&self, ablation: Option<&str>) -> PathBuf {
        self.report_dir().join(prm_name(ablation))
    }

    /// `reports/<run>/revisions/` (revision selection).
    pub fn revision_eval_dir(&self) -> PathBuf {
        self.report_dir().join("revisions")
    }

    /// `reports/<run>/<table>/` of an analysis table (`sweep`, `bins`, …).
    pub fn analysis_dir(&self, table: &str) -> PathBuf {
        self.report_dir().join(table)
    }
}

/// A model checkpoint's config and weight files. The weights' name depends on the layout
/// (`model.safetensors`, or the index of shards), known once the checkpoint exists; before
/// that, the config (written by the same stage) stands for them.
pub fn model_files(dir: &Path) -> Vec<PathBuf> {
    let weights = ttc_model::io::checkpoint_files::weights_path(dir);
    let mut f = vec![dir.join("config.json")];
    if dir
        .join(ttc_model::io::checkpoint_files::SINGLE_FILE)
        .exists()
        || weights.exists()
    {
        f.insert(0, weights);
    }
    f
}

/// What a stage reads of a checkpoint it runs: weights, config and tokenizer.
pub fn checkpoint_inputs(dir: &Path) -> Vec<PathBuf> {
    let mut f = model_files(dir);
    f.push(dir.join("tokenizer.json"));
    f
}

/// A checkpoint's own prompt format and PRM format, where it has them (imported models).
pub fn prompt_files(dir: &Path) -> Vec<PathBuf> {
    [
        ttc_task::tokenizer::PROMPT_FILE,
        ttc_task::tokenizer::CHAT_PROMPT_FILE,
        ttc_jobs::prm_format::FORMAT_FILE,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect()
}

/// `prm`, or `prm-<name>` for an ablation (a label kind's or a `[[prm.variants]]` entry's).
fn prm_name(ablation: Option<&str>) -> String {
    ablation.map_or("prm".into(), |n| format!("prm-{n}"))
}
