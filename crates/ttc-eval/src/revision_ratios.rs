//! Sequential vs parallel revisions (Snell et al. §6.2, Table 1): at budget N, p = N/s
//! chains of s attempts each; the answer is picked hierarchically (ORM-weighted best-of-N
//! within each chain, then weighted best-of-N over the chains' winners).

use ttc_data::rows::RatioRow;
use ttc_search::select::weighted_best_of_n;
use ttc_task::grader::is_equivalent;

/// A chain's ORM-weighted winner and the summed score of its answer group.
pub fn chain_pick<'a>(a: &[Option<&'a str>], sc: &[f32]) -> Option<(Option<&'a str>, f32)> {
    let i = weighted_best_of_n(a, sc)?;
    let total: f32 = (0..a.len())
        .filter(|&j| a[j].is_some_and(|x| a[i].is_some_and(|y| is_equivalent(x, y))))
        .map(|j| sc[j])
        .sum();
    Some((a[i], total))
}

/// Weighted best-of-N over the winners of `chains` (answers, ORM scores).
pub fn hierarchical<'a>(chains: &[(Vec<Option<&'a str>>, &[f32])]) -> Option<&'a str> {
    let winners: Vec<(Option<&str>, f32)> = chains
        .iter()
        .filter_map(|(a, sc)| chain_pick(a, sc))
        .collect();
    let wa: Vec<Option<&str>> = winners.iter().map(|w| w.0).collect();
    let ws: Vec<f32> = winners.iter().map(|w| w.1).collect();
    weighted_best_of_n(&wa, &ws).and_then(|i| wa[i])
}

/// Every split s·p = N (N = 1, 2, 4, …) that the chains allow, for one question whose
/// chains are `(answers, scores)` in step order; the first p chains, their first s attempts.
/// Chains may differ in length (longest first): a split exists where its first p chains
/// all hold s attempts.
pub fn ratio_rows(
    question_id: &str,
    chains: &[(Vec<Option<String>>, Vec<f32>)],
    right: &dyn Fn(Option<&str>) -> bool,
) -> Vec<RatioRow> {
    let max_s = chains.iter().map(|c| c.0.len()).max().unwrap_or(0);
    let max_p = chains.len();
    let holds = |p: usize, s: usize| chains[..p].iter().all(|c| c.0.len() >= s);
    let mut out = Vec::new();
    let mut n = 1;
    while n <= max_s * max_p {
        for s in (1..=max_s).filter(|&s| n % s == 0 && n / s <= max_p && holds(n / s, s)) {
            let p = n / s;
            let sub: Vec<(Vec<Option<&str>>, &[f32])> = chains[..p]
                .iter()
                .map(|(a, sc)| (a[..s].iter().map(|x| x.as_deref()).collect(), &sc[..s]))
                .collect();
            out.push(RatioRow {
                question_id: question_id.to_string(),
                n: n as u32,
                sequential: s as u32,
                parallel: p as u32,
                correct: right(hierarchical(&sub)),
            });
        }
        n *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splits(rows: &[RatioRow]) -> Vec<(u32, u32, u32, bool)> {
        rows.iter()
            .map(|r| (r.n, r.sequential, r.parallel, r.correct))
            .collect()
    }

    #[test]
    fn splits_and_hierarchical_choice() {
        // Two chains of 2 attempts; the right answer "7" wins only with both attempts of
        // chain 1 or with both chains.
        let chains = vec![
            (
                vec![Some("7".to_string()), Some("3".to_string())],
                vec![0.2, 0.9],
            ),
            (
                vec![Some("7".to_string()), Some("7".to_string())],
                vec![0.6, 0.6],
            ),
        ];
        let rows = ratio_rows("q", &chains, &|a| a == Some("7"));
        assert_eq!(
            splits(&rows),
            vec![
                (1, 1, 1, true),  // chain 0, attempt 0: "7"
                (2, 1, 2, true),  // "7" (0.2) vs "7" (0.6): both 7
                (2, 2, 1, false), // chain 0: "3" 0.9 beats "7" 0.2
                (4, 2, 2, true),  // winners "3" 0.9 vs "7" 1.2
            ]
        );
        assert_eq!(rows[2].method(), "2:1");
    }

    #[test]
    fn ragged_chains_give_each_split_their_longest_first_chains() {
        // Chains of 4, 2, 1 and 1 attempts; at N = 8 no split exists (2:4 needs four
        // chains of 2, 4:2 a second chain of 4).
        let ch = |n: usize, a: &str, s: f32| (vec![Some(a.to_string()); n], vec![s; n]);
        let chains = vec![
            ch(4, "7", 0.1),
            ch(2, "3", 0.3),
            ch(1, "3", 0.3),
            ch(1, "7", 0.9),
        ];
        let rows = ratio_rows("q", &chains, &|a| a == Some("7"));
        assert_eq!(
            splits(&rows),
            vec![
                (1, 1, 1, true),
                (2, 1, 2, false), // 7 (0.1) vs 3 (0.3)
                (2, 2, 1, true),
                (4, 1, 4, true),  // first attempts: 7 0.1 + 0.9 vs 3 0.3 + 0.3
                (4, 2, 2, false), // winners 7 (0.2) vs 3 (0.6)
                (4, 4, 1, true),
            ]
        );
    }
}
