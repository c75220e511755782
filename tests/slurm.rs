//! A real Slurm: Debian's `slurm-wlm` and `munge` (installed here when missing), a one-node
//! cluster on this machine (slurmctld + slurmd, a config the test writes), and the smoke
//! preset submitted through `ttc pipeline submit --executor slurm --array-tasks 2 --wait`:
//! its outputs must be the bytes of a local `ttc pipeline run`, and a second submit must find
//! nothing left to do. Behind the `slurm-tests` feature (CI enables it; it needs root). It
//! fails — never skips — when the cluster does not come up, and stops the daemons it started.
#![cfg(feature = "slurm-tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `cmd args…`, which must succeed; its stdout.
fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The packages, from the machine's apt sources (refreshed once if the first try fails).
fn install_slurm() {
    if installed("slurmctld") && installed("munged") && installed("sbatch") {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "slurm-wlm", "munge"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !install() {
        sh("apt-get", &["update", "-q"]);
        assert!(install(), "apt-get install slurm-wlm munge failed");
    }
}

/// A one-node cluster; dropping it stops the daemons it started.
struct Cluster {
    dir: tempfile::TempDir,
    started: Vec<u32>,
}

impl Cluster {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn start() -> Cluster {
        install_slurm();
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            started: Vec::new(),
        };
        c.start_munge();
        let d = c.dir.path().to_path_buf();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let host = sh("hostname", &["-s"]).trim().to_string();
        let cpus = sh("nproc", &[]).trim().to_string();
        let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("MemTotal in /proc/meminfo");
        let mem = (mem_kib / 1024).saturating_sub(1024).max(1024);
        let p = |x: &str| d.join(x).display().to_string();
        let conf = format!(
            "ClusterName=ttctest\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nStateSaveLocation={}\nSlurmdSpoolDir={}\n\
             SlurmctldPidFile={}\nSlurmdPidFile={}\nSlurmctldLogFile={}\nSlurmdLogFile={}\n\
             SlurmctldPort=16817\nSlurmdPort=16818\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SchedulerType=sched/backfill\nSchedulerParameters=bf_interval=1\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nReturnToService=2\n\
             MinJobAge=600\n\
             NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            p("state"),
            p("spool"),
            p("slurmctld.pid"),
            p("slurmd.pid"),
            p("log/ctld.log"),
            p("log/d.log"),
        );
        std::fs::write(c.conf(), conf).unwrap();
        let conf = c.conf().display().to_string();
        sh("slurmctld", &["-f", &conf]);
        c.started.push(c.pid_in("slurmctld.pid"));
        sh("slurmd", &["-f", &conf]);
        c.started.push(c.pid_in("slurmd.pid"));
        c.wait_idle();
        c
    }

    /// munged, unless one answers already (then it is not ours to stop).
    fn start_munge(&mut self) {
        let answers = || {
            Command::new("sh")
                .args(["-c", "munge -n | unmunge"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if answers() {
            return;
        }
        sh(
            "sh",
            &[
                "-c",
                "mkdir -p /etc/munge /var/log/munge /run/munge /var/lib/munge && \
              ([ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null) && \
              chmod 400 /etc/munge/munge.key && \
              chown -R munge:munge /etc/munge /var/log/munge /run/munge /var/lib/munge && \
              su -s /bin/sh munge -c /usr/sbin/munged",
            ],
        );
        let pid: u32 = std::fs::read_to_string("/run/munge/munged.pid")
            .expect("munged wrote no pid file")
            .trim()
            .parse()
            .unwrap();
        self.started.push(pid);
        assert!(answers(), "munged started but does not answer");
    }

    fn pid_in(&self, file: &str) -> u32 {
        let path = self.dir.path().join(file);
        let t0 = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{} not written: {}",
                path.display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        ["log/ctld.log", "log/d.log"]
            .iter()
            .map(|f| {
                let t = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The node takes jobs (sinfo says idle) within a minute.
    fn wait_idle(&self) {
        let t0 = Instant::now();
        loop {
            let o = Command::new("sinfo")
                .args(["-h", "-o", "%T"])
                .env("SLURM_CONF", self.conf())
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).trim() == "idle" {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the one-node cluster did not come up within 60 s (sinfo: {}{}):\n{}",
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid in self.started.iter().rev() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

fn ttc(dir: &Path, conf: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .env("SLURM_CONF", conf)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_smoke_preset_through_slurm_gives_the_local_bytes() {
    let cluster = Cluster::start();
    let preset = common::repo()
        .join("pipelines/smoke.toml")
        .display()
        .to_string();
    let local = tempfile::tempdir().unwrap();
    let (ok, log) = ttc(local.path(), &cluster.conf(), &["pipeline", "run", &preset]);
    assert!(ok, "local run: {log}");

    let slurm = tempfile::tempdir().unwrap();
    let submit = [
        "pipeline",
        "submit",
        &preset,
        "--executor",
        "slurm",
        "--array-tasks",
        "2",
        "--wait",
    ];
    let (ok, log) = ttc(slurm.path(), &cluster.conf(), &submit);
    let job_logs = slurm.path().join("reports/smoke/slurm");
    assert!(
        ok,
        "submit: {log}\n{}\njob logs: {:?}",
        cluster.logs(),
        std::fs::read_dir(&job_logs).map(|d| d.count())
    );
    // Sharded stages ran as arrays of two tasks, each with its own log.
    let logs: Vec<String> = std::fs::read_dir(&job_logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for want in [
        "ttc-smoke-samples-",
        "ttc-smoke-samples-merge-",
        "ttc-smoke-report-",
    ] {
        assert!(
            logs.iter().any(|l| l.starts_with(want)),
            "no {want}* in {logs:?}"
        );
    }
    assert!(
        logs.iter()
            .filter(|l| l.starts_with("ttc-smoke-labels-") && l.contains('_'))
            .count()
            == 2,
        "{logs:?}"
    );
    common::assert_same_outputs(local.path(), slurm.path(), "through Slurm (vs a local run)");

    // Submitting again resumes: nothing is left to do.
    let (ok, log) = ttc(slurm.path(), &cluster.conf(), &submit);
    assert!(ok && log.contains("nothing to submit"), "{log}");
}
