//! Selection over revision chains (Snell et al. §6.1): at chain lengths 1, 2, 4, … the
//! chain's last answer, majority and ORM-weighted best-of-N within a chain, and across a
//! question's chains hierarchical selection and flat majority.

use std::collections::BTreeMap;

use ttc_data::rows::RevisionSelectionRow;
use ttc_search::select::{majority, weighted_best_of_n};

use crate::revision_ratios::hierarchical;

/// A chain's answers and ORM scores in step order, and its question's id.
pub type ScoredChain<'a> = (Vec<Option<String>>, Vec<f32>, &'a str);

/// One row per chain length (powers of two, and the full length); `per_q` holds each
/// question's chains, `right` judges an answer of a question.
pub fn selection_rows(
    per_q: &BTreeMap<u32, Vec<ScoredChain<'_>>>,
    right: &dyn Fn(&str, Option<&str>) -> bool,
) -> Vec<RevisionSelectionRow> {
    let max_len = per_q
        .values()
        .flatten()
        .map(|c| c.0.len())
        .max()
        .unwrap_or(0);
    let mut lengths: Vec<usize> = std::iter::successors(Some(1usize), |l| Some(l * 2))
        .take_while(|&l| l <= max_len)
        .collect();
    if lengths.last() != Some(&max_len) && max_len > 0 {
        lengths.push(max_len);
    }
    let mut table = Vec::new();
    for &len in &lengths {
        let (mut last, mut maj, mut orm, mut hier, mut flat, mut nc) = (0.0, 0.0, 0.0, 0.0, 0.0, 0);
        for chains in per_q.values() {
            let mut winners: Vec<(Vec<Option<&str>>, &[f32])> = Vec::new();
            let mut all: Vec<Option<&str>> = Vec::new();
            for (ans, sc, qid) in chains {
                let n = len.min(ans.len());
                let a: Vec<Option<&str>> = ans[..n].iter().map(|x| x.as_deref()).collect();
                nc += 1;
                last += f64::from(u8::from(right(qid, a[n - 1])));
                maj += f64::from(u8::from(right(qid, majority(&a).and_then(|i| a[i]))));
                let w = weighted_best_of_n(&a, &sc[..n]);
                orm += f64::from(u8::from(right(qid, w.and_then(|i| a[i]))));
                all.extend(a.iter().copied());
                winners.push((a, &sc[..n]));
            }
            let qid = chains[0].2;
            hier += f64::from(u8::from(right(qid, hierarchical(&winners))));
            flat += f64::from(u8::from(right(qid, majority(&all).and_then(|i| all[i]))));
        }
        let nq = per_q.len().max(1) as f64;
        let ncf = nc.max(1) as f64;
        table.push(RevisionSelectionRow {
            length: len,
            last: last / ncf,
            majority: maj / ncf,
            orm_weighted: orm / ncf,
            hierarchical: hier / nq,
            flat_majority: flat / nq,
            chains: nc,
            questions: per_q.len(),
        });
    }
    table
}
