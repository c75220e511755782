//! Which stage starts when (`ttc pipeline run --jobs K`, DESIGN §1): every stage whose
//! upstream stages are done starts, in plan order, up to `jobs` at once, each on its own
//! thread with a rayon pool of a fixed share of the cores. A failure stops new starts and
//! lets the running stages finish; the first error is returned. The scheduler knows indices
//! and edges, not stages: the runner hands it the DAG and what to do with node `i`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use anyhow::{Result, anyhow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Pending,
    Running,
    Done,
    Failed,
}

/// Rayon threads each of `jobs` concurrent stages gets out of `cores` (at least one).
pub fn threads_per_job(cores: usize, jobs: usize) -> usize {
    (cores / jobs.max(1)).max(1)
}

/// Runs node `i` of the DAG `deps` (`deps[i]`: the nodes `i` reads from, all before `i`)
/// with `run(i)` once all of `deps[i]` are done, at most `jobs` at once. `started(i)` is
/// called on this thread as `i` starts, `finished(i, result)` as it ends (its error also
/// stops new starts). With `jobs == 1` the order is the plan's and `run` is called on this
/// thread, in the caller's rayon pool.
pub fn run_dag<T: Send>(
    deps: &[Vec<usize>],
    jobs: usize,
    run: &(dyn Fn(usize) -> Result<T> + Sync),
    mut started: impl FnMut(usize, &[usize]),
    mut finished: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let n = deps.len();
    let jobs = jobs.max(1);
    let share = threads_per_job(rayon::current_num_threads(), jobs);
    let mut state = vec![Node::Pending; n];
    let mut first_err: Option<anyhow::Error> = None;
    let (tx, rx) = mpsc::channel::<(usize, Result<T>)>();
    std::thread::scope(|scope| {
        let mut running = 0usize;
        loop {
            while first_err.is_none() && running < jobs {
                let ready = (0..n).find(|&i| {
                    state[i] == Node::Pending && deps[i].iter().all(|&d| state[d] == Node::Done)
                });
                let Some(i) = ready else { break };
                state[i] = Node::Running;
                running += 1;
                let others: Vec<usize> = (0..n).filter(|&j| state[j] == Node::Running).collect();
                started(i, &others);
                let body = move || {
                    catch_unwind(AssertUnwindSafe(|| run(i)))
                        .unwrap_or_else(|_| Err(anyhow!("panicked (see the message above)")))
                };
                if jobs == 1 {
                    // One at a time: on this thread, in the caller's pool, as before `--jobs`.
                    let _ = tx.send((i, body()));
                    continue;
                }
                let tx = tx.clone();
                scope.spawn(move || {
                    let r = match rayon::ThreadPoolBuilder::new().num_threads(share).build() {
                        Ok(pool) => pool.install(body),
                        Err(e) => Err(anyhow!("a pool of {share} threads: {e}")),
                    };
                    // The receiver outlives every worker (it is this scope's owner).
                    let _ = tx.send((i, r));
                });
            }
            if running == 0 {
                break;
            }
            let (i, r) = rx.recv().expect("a worker always sends before it ends");
            running -= 1;
            match r.and_then(|t| finished(i, t)) {
                Ok(()) => state[i] = Node::Done,
                Err(e) => {
                    state[i] = Node::Failed;
                    match &first_err {
                        None => first_err = Some(e),
                        Some(_) => eprintln!("also failed: {e:#}"),
                    }
                }
            }
        }
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    match state.iter().position(|s| *s != Node::Done) {
        // Unreachable for a plan (its edges point backwards), kept as an error, not a hang.
        Some(i) => Err(anyhow!(
            "node {i} never became ready (a cycle in the plan?)"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A diamond 0 → {1, 2, 3} → 4: the three middle nodes overlap at jobs 3, never more
    /// than `jobs` run at once, and every node starts after its upstream ones finished.
    #[test]
    fn ready_nodes_run_side_by_side_up_to_jobs() {
        let deps = vec![vec![], vec![0], vec![0], vec![0], vec![1, 2, 3]];
        for jobs in [1, 2, 3] {
            let now = AtomicUsize::new(0);
            let peak = AtomicUsize::new(0);
            let log = Mutex::new(Vec::new());
            let run = |i: usize| -> Result<usize> {
                let k = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(k, Ordering::SeqCst);
                log.lock().unwrap().push(('s', i));
                // The middle nodes wait (5 s at most) for `jobs` of them to be running: a
                // scheduler that ran fewer at once fails the peak below.
                let t = std::time::Instant::now();
                while (1..=3).contains(&i)
                    && peak.load(Ordering::SeqCst) < jobs
                    && t.elapsed() < Duration::from_secs(5)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(10));
                log.lock().unwrap().push(('e', i));
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(i * 10)
            };
            let mut done = Vec::new();
            run_dag(
                &deps,
                jobs,
                &run,
                |_, _| {},
                |i, t| {
                    assert_eq!(t, i * 10);
                    done.push(i);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(peak.load(Ordering::SeqCst), jobs, "jobs {jobs}");
            assert_eq!(done.len(), 5);
            let log = log.into_inner().unwrap();
            let at = |e: (char, usize)| log.iter().position(|x| *x == e).unwrap();
            for (i, ds) in deps.iter().enumerate() {
                for &d in ds {
                    assert!(at(('e', d)) < at(('s', i)), "{i} started before {d} ended");
                }
            }
            if jobs == 1 {
                assert_eq!(done, vec![0, 1, 2, 3, 4], "plan order");
            }
        }
    }

    /// A failure lets the running node finish, starts nothing new, and is the error.
    #[test]
    fn a_failure_stops_new_starts_and_lets_running_ones_finish() {
        // 0 fails fast; 1 is running beside it; 2 (ready) must not start; 3 needs 0.
        let deps = vec![vec![], vec![], vec![], vec![0]];
        let ran = Mutex::new(Vec::new());
        let zero_failed = std::sync::atomic::AtomicBool::new(false);
        let run = |i: usize| -> Result<()> {
            ran.lock().unwrap().push(i);
            if i == 0 {
                zero_failed.store(true, Ordering::SeqCst);
                return Err(anyhow!("stage zero broke"));
            }
            // Still running when 0's error arrives (under any load).
            while !zero_failed.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        };
        let mut finished = Vec::new();
        let err = run_dag(
            &deps,
            2,
            &run,
            |_, _| {},
            |i, ()| {
                finished.push(i);
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("stage zero broke"), "{err}");
        assert_eq!(
            finished,
            vec![1],
            "the running node finished and was recorded"
        );
        let mut ran = ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, vec![0, 1]);
    }

    /// A panicking node is an error naming it, not a hung scheduler.
    #[test]
    fn a_panic_is_an_error() {
        let deps = vec![vec![], vec![0]];
        let run = |i: usize| -> Result<()> {
            if i == 0 {
                panic!("boom");
            }
            Ok(())
        };
        let err = run_dag(&deps, 2, &run, |_, _| {}, |_, ()| Ok(())).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    /// Each concurrent node runs in a pool of its share of the cores.
    #[test]
    fn each_job_gets_its_share_of_the_threads() {
        assert_eq!(threads_per_job(8, 3), 2);
        assert_eq!(threads_per_job(2, 3), 1);
        assert_eq!(threads_per_job(16, 1), 16);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let seen = Mutex::new(Vec::new());
        let run = |_: usize| -> Result<()> {
            seen.lock().unwrap().push(rayon::current_num_threads());
            Ok(())
        };
        pool.install(|| run_dag(&[vec![], vec![]], 2, &run, |_, _| {}, |_, ()| Ok(())))
            .unwrap();
        assert_eq!(seen.into_inner().unwrap(), vec![2, 2]);
    }
}
