//! Validation questions of a training stage: a seeded fraction of the distinct questions.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;

/// A seeded fraction `frac` of the distinct question indices in `qs` (at least one when
/// `frac` > 0): the validation questions of a training stage.
pub fn held_out(qs: impl Iterator<Item = u32>, frac: f64, seed: u64) -> HashSet<u32> {
    let mut q: Vec<u32> = qs.collect();
    q.sort_unstable();
    q.dedup();
    q.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed));
    let n = ((q.len() as f64) * frac).round() as usize;
    q.into_iter().take(n.max(usize::from(frac > 0.0))).collect()
}
