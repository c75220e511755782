//! One writer per run directory: an advisory lock on `reports/<run>/.ttc-lock` holding the
//! holder's pid, host and command. `ttc pipeline run` and unsharded stage runs take it
//! exclusively; `--shard i/n` runs (a Slurm array's tasks, which write disjoint parts) take
//! it shared, so they run together but never beside an exclusive run. The OS drops the lock
//! when its process dies, so a lock file left by a killed run is simply taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::run::layout::Layout;

/// Linux's "no locks available" (an NFS mount without a lock daemon).
const ENOLCK: i32 = 37;

/// Held for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Take the run's lock (shared for shard runs) or fail naming its holder.
    pub fn acquire(layout: &Layout, shared: bool, command: &str) -> Result<RunLock> {
        let path = layout.report_dir().join(".ttc-lock");
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the run lock {}", path.display()))?;
        let taken = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "run directory {} is in use by {} — wait for it to finish or stop it (two runs of one directory would mix their outputs)",
                    dir.display(),
                    if holder.is_empty() {
                        "another ttc process".to_string()
                    } else {
                        holder.to_string()
                    }
                );
            }
            // A filesystem without locks (some network mounts): say so and go on unguarded
            // rather than stop every Slurm task.
            Err(TryLockError::Error(e))
                if e.kind() == std::io::ErrorKind::Unsupported
                    || e.raw_os_error() == Some(ENOLCK) =>
            {
                eprintln!(
                    "warning: {} cannot be locked on this filesystem ({e}); two runs of this directory would not be kept apart",
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        if !shared {
            // The holder's identity, for whoever finds the directory busy.
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "pid {} on {} ({command})", std::process::id(), host())?;
            file.flush()?;
        }
        Ok(RunLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "an unknown host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_exclusive_run_is_refused_naming_the_holder_and_shards_share() {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::new(
            &t.path().join("d"),
            &t.path().join("c"),
            &t.path().join("r"),
            "x",
        );
        let held = RunLock::acquire(&l, false, "ttc pipeline run").unwrap();
        let e = RunLock::acquire(&l, false, "ttc sample")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("ttc pipeline run"), "{e}");
        assert!(RunLock::acquire(&l, true, "ttc sample --shard 0/2").is_err());
        drop(held);
        let a = RunLock::acquire(&l, true, "shard 0").unwrap();
        let b = RunLock::acquire(&l, true, "shard 1").unwrap();
        assert!(RunLock::acquire(&l, false, "ttc pipeline run").is_err());
        drop((a, b));
        let again = RunLock::acquire(&l, false, "ttc pipeline run").unwrap();
        assert!(again.path().ends_with("r/x/.ttc-lock"));
    }
}
