//! Does the PRM check arithmetic? Scored on pairs that differ in one number: each arith test
//! question's reference solution and the same solution with one slip
//! (`ttc_task::arith_slips`). A verifier ranks the reference above its slip — at the slipped
//! step itself (the slip is visible there) and at the last step (where best-of-N reads the
//! score). Policy samples mix this with everything else that differs between two samples;
//! these pairs isolate it.

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use ttc_task::Problem;
use ttc_task::arith_slips::{reference_steps, slipped_solution};

/// How often the reference outscores its slip (ties count half).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlipPairs {
    pub pairs: usize,
    /// At the step that slipped (the reference's same step vs the slip).
    pub at_slip: f64,
    /// At the last step (the answer step).
    pub last_step: f64,
}

/// Score the pairs of `problems` (those with step truth) with `score` (a PRM, or the
/// policy's likelihood); `None` when no problem has step truth (not arith). Seeded by `seed`.
pub fn slip_pairs(
    score: &crate::stages::prm_eval::scoring::ScoreSteps,
    problems: &[Problem],
    seed: u64,
) -> Result<Option<SlipPairs>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let pairs: Vec<(&Problem, Vec<String>, Vec<String>, usize)> = problems
        .iter()
        .filter_map(|p| {
            let s = slipped_solution(p, &mut rng)?;
            Some((p, reference_steps(p), s.steps, s.first_error))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(None);
    }
    let (mut at_slip, mut last_step) = (0.0, 0.0);
    for chunk in pairs.chunks(128) {
        let items: Vec<(&str, &[String])> = chunk
            .iter()
            .flat_map(|(p, r, s, _)| {
                [
                    (p.problem.as_str(), r.as_slice()),
                    (p.problem.as_str(), s.as_slice()),
                ]
            })
            .collect();
        let scores = score(&items)?;
        for ((_, _, _, at), two) in chunk.iter().zip(scores.chunks(2)) {
            let (r, s) = (&two[0], &two[1]);
            at_slip += wins(r.get(*at), s.get(*at));
            last_step += wins(r.last(), s.last());
        }
    }
    let n = pairs.len() as f64;
    Ok(Some(SlipPairs {
        pairs: pairs.len(),
        at_slip: at_slip / n,
        last_step: last_step / n,
    }))
}

/// 1 when the reference's score is higher, ½ on a tie (or a missing score), 0 when lower.
fn wins(reference: Option<&f32>, slipped: Option<&f32>) -> f64 {
    match (reference, slipped) {
        (Some(r), Some(s)) if r > s => 1.0,
        (Some(r), Some(s)) if r < s => 0.0,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_reference_wins_and_ties_count_half() {
        assert_eq!(wins(Some(&0.9), Some(&0.1)), 1.0);
        assert_eq!(wins(Some(&0.1), Some(&0.9)), 0.0);
        assert_eq!(wins(Some(&0.5), Some(&0.5)), 0.5);
        assert_eq!(wins(None, Some(&0.5)), 0.5);
    }
}
