//! The smoke preset gives the same bytes whatever the machine's share of threads and however
//! many stages run side by side: serially on 1 and on 4 threads, and with `--jobs 3` (one
//! thread per stage) and `--jobs 2` (two each). Every table, checkpoint and the report is
//! compared byte for byte (DESIGN §1: the same seed gives the same bytes at any thread count).

mod common;

use std::path::Path;
use std::process::Command;

fn run(dir: &Path, threads: usize, jobs: usize) -> String {
    let preset = common::repo().join("pipelines/smoke.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_ttc"))
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(["pipeline", "run"])
        .arg(&preset)
        .args(["--jobs", &jobs.to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "{threads} threads, --jobs {jobs}: {err}"
    );
    err
}

#[test]
fn smoke_outputs_are_the_same_bytes_at_any_thread_count_and_any_jobs() {
    let serial = tempfile::tempdir().unwrap();
    run(serial.path(), 1, 1);
    for (threads, jobs) in [(4, 1), (2, 3), (4, 2)] {
        let other = tempfile::tempdir().unwrap();
        let log = run(other.path(), threads, jobs);
        if jobs > 1 {
            // Stages did run side by side (the runner names what each started beside).
            assert!(
                log.contains("(beside "),
                "--jobs {jobs} ran nothing side by side: {log}"
            );
        }
        common::assert_same_outputs(
            serial.path(),
            other.path(),
            &format!("at {threads} threads with --jobs {jobs} (vs 1 thread, serial)"),
        );
    }
}
