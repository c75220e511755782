//! `[slurm]`: the resources `ttc pipeline submit --executor slurm` asks for, for every job
//! and per stage. Nothing here joins a stage's fingerprint: where a stage runs does not
//! change what it writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[slurm]` (every key optional; the cluster's defaults apply to what is left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSection {
    /// `--partition` of every job (`submit --partition` overrides).
    pub partition: Option<String>,
    /// `--gres=gpu:G` for the stages whose engine or training runs on `cuda` (default 1;
    /// `submit --gpus-per-task` overrides). Stages on the CPU or on a server ask for none.
    pub gpus_per_task: Option<u32>,
    /// Tasks of each sharded stage's array (`submit --array-tasks` overrides; default 1: the
    /// stage runs whole, as one job).
    pub array_tasks: Option<usize>,
    /// Every job's `--cpus-per-task` (unless its stage's entry in `stages` says otherwise);
    /// the job's stage runs that many threads.
    pub cpus_per_task: Option<u32>,
    /// Every job's `--mem`, as Slurm reads it (`"16G"`, `"4000M"`).
    pub mem: Option<String>,
    /// Every job's `--time`, as Slurm reads it (`"04:00:00"`, `"1-00:00:00"`).
    pub time: Option<String>,
    /// Per stage id (`ttc pipeline status` lists them), e.g. `[slurm.stages.policy]
    /// time = "24:00:00"`.
    #[serde(default)]
    pub stages: BTreeMap<String, JobResources>,
    /// More `sbatch` arguments for every job, as given (e.g. `["--account=lab", "--qos=low"]`).
    #[serde(default)]
    pub sbatch: Vec<String>,
}

/// What one job asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobResources {
    /// `--cpus-per-task`; the job's stage runs that many threads.
    pub cpus_per_task: Option<u32>,
    /// `--mem`, as Slurm reads it (`"16G"`, `"4000M"`).
    pub mem: Option<String>,
    /// `--time`, as Slurm reads it (`"04:00:00"`, `"1-00:00:00"`).
    pub time: Option<String>,
}

impl SlurmSection {
    /// The resources of stage `id`: its own entry's keys, else the section's.
    pub fn resources(&self, id: &str) -> JobResources {
        let own = self.stages.get(id).cloned().unwrap_or_default();
        JobResources {
            cpus_per_task: own.cpus_per_task.or(self.cpus_per_task),
            mem: own.mem.or_else(|| self.mem.clone()),
            time: own.time.or_else(|| self.time.clone()),
        }
    }

    /// Check the values a job would be refused for; names the key.
    pub fn validate(&self, stage_ids: &[String]) -> Result<(), String> {
        if self.array_tasks == Some(0) {
            return Err("[slurm] array_tasks: must be at least 1".into());
        }
        if self.gpus_per_task == Some(0) {
            return Err(
                "[slurm] gpus_per_task: must be at least 1 (stages on the CPU ask for none)".into(),
            );
        }
        for id in self.stages.keys() {
            if !stage_ids.contains(id) {
                return Err(format!(
                    "[slurm.stages] {id:?}: no such stage (stages: {})",
                    stage_ids.join(", ")
                ));
            }
        }
        let all = JobResources {
            cpus_per_task: self.cpus_per_task,
            mem: self.mem.clone(),
            time: self.time.clone(),
        };
        for (at, r) in std::iter::once(("[slurm]".to_string(), &all)).chain(
            self.stages
                .iter()
                .map(|(k, v)| (format!("[slurm.stages.{k:?}]"), v)),
        ) {
            if r.cpus_per_task == Some(0) {
                return Err(format!("{at} cpus_per_task: must be at least 1"));
            }
            if let Some(t) = &r.time
                && !valid_time(t)
            {
                return Err(format!(
                    "{at} time: {t:?} is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
                ));
            }
            if let Some(m) = &r.mem
                && !valid_mem(m)
            {
                return Err(format!(
                    "{at} mem: {m:?} is not a Slurm size (a number with an optional K, M, G or T)"
                ));
            }
        }
        Ok(())
    }
}

/// Slurm's `--time` forms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn valid_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(num) && parts.iter().all(|p| num(p)) && parts.len() <= 3
}

/// Slurm's `--mem`: digits and an optional unit.
fn valid_mem(m: &str) -> bool {
    let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty() && digits.len() + 1 >= m.len() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_entry_overrides_the_section_key_by_key() {
        let s: SlurmSection = toml::from_str(
            "cpus_per_task = 8\nmem = \"16G\"\ntime = \"01:00:00\"\n[stages.policy]\ntime = \"1-00:00:00\"\n",
        )
        .unwrap();
        let p = s.resources("policy");
        assert_eq!(
            (p.cpus_per_task, p.mem.as_deref(), p.time.as_deref()),
            (Some(8), Some("16G"), Some("1-00:00:00"))
        );
        assert_eq!(s.resources("labels").time.as_deref(), Some("01:00:00"));
        assert!(s.validate(&["policy".into()]).is_ok());
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |toml_text: &str| {
            toml::from_str::<SlurmSection>(toml_text)
                .unwrap()
                .validate(&["policy".into()])
                .unwrap_err()
        };
        assert!(bad("time = \"soon\"").contains("[slurm] time"));
        assert!(bad("mem = \"lots\"").contains("[slurm] mem"));
        assert!(bad("[stages.polcy]\ntime = \"10\"").contains("\"polcy\": no such stage"));
        assert!(
            bad("[stages.policy]\ncpus_per_task = 0")
                .contains("[slurm.stages.\"policy\"] cpus_per_task")
        );
        assert!(bad("array_tasks = 0").contains("array_tasks"));
        assert!(toml::from_str::<SlurmSection>("cpus = 4").is_err());
        for ok in ["30", "30:00", "01:30:00", "2-00", "2-12:00", "2-12:00:00"] {
            assert!(valid_time(ok), "{ok}");
        }
        for ok in ["16G", "4000M", "4000", "1T"] {
            assert!(valid_mem(ok), "{ok}");
        }
    }
}
