//! How long the rest of a run takes (`ttc pipeline status`, and the ETA `ttc pipeline run`
//! prints as stages finish): each pending stage's wall time as the run's records last saw
//! it, summed for one stage at a time, and laid out on K slots in plan order — what
//! `--jobs K` does — for side by side (with unlimited slots: the critical path).

/// `1 h 05 min`, `12 min`, `40 s`.
pub fn duration(secs: f64) -> String {
    let mins = (secs / 60.0).round() as u64;
    if mins >= 60 {
        format!("{} h {:02} min", mins / 60, mins % 60)
    } else if secs >= 60.0 {
        format!("{mins} min")
    } else {
        format!("{secs:.0} s")
    }
}

/// The wall time of the DAG `deps` (`deps[i]`: the nodes `i` waits for, all before `i`)
/// with node `i` taking `walls[i]`, when every node whose upstream is done starts in index
/// order, up to `jobs` at once (the scheduler of `--jobs`); `jobs = usize::MAX`: the
/// critical path.
pub fn makespan(deps: &[Vec<usize>], walls: &[f64], jobs: usize) -> f64 {
    let n = deps.len();
    let mut end: Vec<Option<f64>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running: Vec<usize> = Vec::new();
    let mut now = 0.0f64;
    loop {
        while running.len() < jobs.max(1) {
            let ready = (0..n).find(|&i| {
                !started[i] && deps[i].iter().all(|&d| end[d].is_some_and(|e| e <= now))
            });
            let Some(i) = ready else { break };
            started[i] = true;
            end[i] = Some(now + walls[i].max(0.0));
            running.push(i);
        }
        if running.is_empty() {
            return now;
        }
        // Advance to the next end; every node ending then frees its slot.
        now = running
            .iter()
            .map(|&i| end[i].unwrap_or(now))
            .fold(f64::INFINITY, f64::min);
        running.retain(|&i| end[i].is_some_and(|e| e > now));
    }
}

/// The wall a stage that never ran here should take, scaled from a sibling that did
/// ([`crate::run::stage::Stage::work_units`]): `units[i]` = (family, units) of stage `i`,
/// `walls[i]` its last wall. For each stage without a wall, the sibling whose units are
/// nearest its own (in ratio; ties: the earlier) gives `wall × units / its units`.
pub fn sibling_estimates(
    units: &[Option<(String, f64)>],
    walls: &[Option<f64>],
) -> Vec<Option<f64>> {
    (0..units.len())
        .map(|i| {
            if walls[i].is_some() {
                return None;
            }
            let (fam, u) = units[i].as_ref()?;
            (0..units.len())
                .filter_map(|j| {
                    let (f, uj) = units[j].as_ref()?;
                    let w = walls[j]?;
                    (f == fam && *uj > 0.0 && *u > 0.0).then_some((j, w, *uj))
                })
                .min_by(|a, b| {
                    let d = |x: f64| (x / u).ln().abs();
                    d(a.2).total_cmp(&d(b.2)).then(a.0.cmp(&b.0))
                })
                .map(|(_, w, uj)| w * u / uj)
        })
        .collect()
}

/// "; the other N ≈ 1 h 05 min by their last runs or estimates (+ K with no estimate)": the
/// time still ahead, from the pending stages' last walls or their estimates.
pub fn time_ahead(walls: &[Option<f64>]) -> String {
    if walls.is_empty() {
        return String::new();
    }
    let known: f64 = walls.iter().flatten().sum();
    let unknown = walls.iter().filter(|w| w.is_none()).count();
    let t = duration(known);
    match (unknown, walls.len()) {
        (u, n) if u == n => format!("; {n} to go, none run here before (no estimate)"),
        (0, n) => format!("; the other {n} ≈ {t} by their last runs or estimates"),
        (u, n) => format!(
            "; the other {n} ≈ {t} by the last runs or estimates of {} (+ {u} with no estimate)",
            n - u
        ),
    }
}

/// " (never run here, estimated: 2 from a sibling's last run …; 3 by the cost model …)":
/// how many pending stages' walls came from a sibling, from the cost model at the run's
/// speed, and at the probe's; empty when none.
pub fn estimated_by(sibling: usize, run_speed: usize, probe: usize) -> String {
    let mut how = Vec::new();
    if sibling > 0 {
        how.push(format!(
            "{sibling} from a sibling's last run, scaled by its work — \"est\""
        ));
    }
    if run_speed + probe > 0 {
        let speed = match (run_speed, probe) {
            (_, 0) => "this run's measured speed".to_string(),
            (0, _) => "this machine's speed (a probe of the policy's shape)".to_string(),
            (r, p) => format!("this run's measured speed ({r}) or a probe's ({p})"),
        };
        how.push(format!(
            "{} by the cost model (tokens × FLOPs per token ÷ {speed}) — \"cost\"",
            run_speed + probe
        ));
    }
    if how.is_empty() {
        return String::new();
    }
    format!(" (never run here, estimated: {})", how.join("; "))
}

/// "; side by side, each at its last wall: ≈ 40 min with --jobs 2, ≥ 31 min however many (the
/// critical path)" for
/// the pending stages `deps` (indices among them) with their last walls (unknown ones count
/// 0, as in [`time_ahead`]); empty when nothing is known or no stage could run beside another.
pub fn side_by_side(deps: &[Vec<usize>], walls: &[Option<f64>]) -> String {
    let w: Vec<f64> = walls.iter().map(|x| x.unwrap_or(0.0)).collect();
    let serial: f64 = w.iter().sum();
    let critical = makespan(deps, &w, usize::MAX);
    if serial <= 0.0 || critical >= serial - 0.5 {
        return String::new();
    }
    format!(
        "; side by side, each at its last wall: ≈ {} with --jobs 2, ≥ {} however many (the critical path)",
        duration(makespan(deps, &w, 2)),
        duration(critical)
    )
}

/// The ETA `ttc pipeline run` prints as a stage finishes: the stages not finished laid out on
/// `jobs` slots, each at its estimate (`est`; a running one at what is left of it, `elapsed`
/// since it started). `None` when no stage left has an estimate.
pub fn eta(
    deps: &[Vec<usize>],
    est: &[Option<f64>],
    left: &[bool],
    elapsed: &[Option<f64>],
    jobs: usize,
) -> Option<String> {
    let idx: Vec<usize> = (0..deps.len()).filter(|&i| left[i]).collect();
    if idx.iter().all(|&i| est[i].is_none()) {
        return None;
    }
    let sub_deps: Vec<Vec<usize>> = idx
        .iter()
        .map(|&i| {
            deps[i]
                .iter()
                .filter_map(|d| idx.iter().position(|j| j == d))
                .collect()
        })
        .collect();
    let walls: Vec<f64> = idx
        .iter()
        .map(|&i| (est[i].unwrap_or(0.0) - elapsed[i].unwrap_or(0.0)).max(0.0))
        .collect();
    let unknown = idx.iter().filter(|&&i| est[i].is_none()).count();
    Some(format!(
        "ETA ≈ {} for the {} stages left{}",
        duration(makespan(&sub_deps, &walls, jobs)),
        idx.len(),
        if unknown > 0 {
            format!(" (+ {unknown} with no estimate)")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_ahead_sums_the_pending_stages_last_runs() {
        assert_eq!(time_ahead(&[]), "");
        assert_eq!(
            time_ahead(&[Some(1800.0), Some(2100.0)]),
            "; the other 2 ≈ 1 h 05 min by their last runs or estimates"
        );
        assert_eq!(
            time_ahead(&[Some(30.0), None]),
            "; the other 2 ≈ 30 s by the last runs or estimates of 1 (+ 1 with no estimate)"
        );
        assert_eq!(
            time_ahead(&[None, None]),
            "; 2 to go, none run here before (no estimate)"
        );
    }

    #[test]
    fn the_summary_names_where_estimates_came_from() {
        assert_eq!(estimated_by(0, 0, 0), "");
        assert_eq!(
            estimated_by(2, 0, 0),
            " (never run here, estimated: 2 from a sibling's last run, scaled by its work — \"est\")"
        );
        let both = estimated_by(1, 5, 22);
        assert!(
            both.contains("; 27 by the cost model")
                && both.contains("this run's measured speed (5) or a probe's (22)"),
            "{both}"
        );
    }

    #[test]
    fn a_stage_that_never_ran_is_scaled_from_its_nearest_sibling() {
        let u = |f: &str, x: f64| Some((f.to_string(), x));
        let units = [
            u("beam", 4.0),
            u("beam", 16.0),
            u("beam", 64.0),
            u("dvts", 64.0),
            None,
            u("beam", 256.0),
        ];
        let walls = [Some(40.0), Some(140.0), None, None, None, None];
        let est = sibling_estimates(&units, &walls);
        // N = 64 from N = 16 (the nearer), N = 256 likewise; no dvts ran; no family.
        assert_eq!(est, [None, None, Some(560.0), None, None, Some(2240.0)]);
    }

    #[test]
    fn the_makespan_lays_the_dag_out_on_k_slots() {
        // a (10) → b (30), a → c (20), b, c → d (5)
        let deps = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let w = [10.0, 30.0, 20.0, 5.0];
        assert_eq!(makespan(&deps, &w, 1), 65.0);
        assert_eq!(makespan(&deps, &w, 2), 45.0);
        assert_eq!(makespan(&deps, &w, usize::MAX), 45.0);
        // Two independent chains: one slot runs them in index order.
        let deps = vec![vec![], vec![0], vec![], vec![2]];
        let w = [10.0, 10.0, 1.0, 1.0];
        assert_eq!(makespan(&deps, &w, 1), 22.0);
        assert_eq!(makespan(&deps, &w, 2), 20.0);
        assert_eq!(
            side_by_side(&deps, &[Some(10.0), Some(10.0), Some(1.0), Some(1.0)]),
            "; side by side, each at its last wall: ≈ 20 s with --jobs 2, ≥ 20 s however many (the critical path)"
        );
        assert_eq!(
            side_by_side(&[vec![], vec![0]], &[Some(5.0), Some(5.0)]),
            ""
        );
    }

    #[test]
    fn the_eta_counts_what_is_left_of_running_stages() {
        let deps = vec![vec![], vec![0], vec![1]];
        let est = [Some(100.0), Some(600.0), None];
        // Stage 0 finished, stage 1 has run for 5 minutes of its 10.
        let e = eta(
            &deps,
            &est,
            &[false, true, true],
            &[None, Some(300.0), None],
            1,
        );
        assert_eq!(
            e.as_deref(),
            Some("ETA ≈ 5 min for the 2 stages left (+ 1 with no estimate)")
        );
        assert_eq!(
            eta(
                &deps,
                &[None, None, None],
                &[false, true, true],
                &[None; 3],
                1
            ),
            None
        );
    }
}
