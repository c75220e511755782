//! Tree search against weighted best-of-N under the same verifier, per oracle difficulty
//! bin and budget, each cell a paired bootstrap interval over the bin's questions (Snell et
//! al. §5: beam search is ahead at low budgets on medium questions and falls behind on easy
//! ones at high budgets).

use std::collections::{BTreeMap, BTreeSet};

use ttc_data::rows::SweepRow;
use ttc_eval::paired::{Paired, Verdict, compare};

use super::doc::Block;
use crate::preset::LIKELIHOOD_SUFFIX as LIKELIHOOD;

/// The baseline a tree search over the PRM is compared with.
const BASELINE: &str = "weighted-bon";

/// The baseline of `search`: weighted best-of-N under the same verifier when the sweep has
/// it (`weighted-bon-likelihood` for a search over the likelihood), else the PRM's.
fn baseline_of(search: &str, sweep: &[SweepRow]) -> String {
    let own = format!("{BASELINE}{LIKELIHOOD}");
    if search.ends_with(LIKELIHOOD) && sweep.iter().any(|r| r.strategy == own) {
        own
    } else {
        BASELINE.into()
    }
}

/// `a − its baseline` at budget `n` on the questions of `bins`.
fn on_bins(
    sweep: &[SweepRow],
    bin_of: &BTreeMap<&str, u8>,
    bins: &[u8],
    a: &str,
    n: u32,
    seed: u64,
) -> Option<Paired> {
    let rows = super::cells::in_bins(sweep, bin_of, bins, |r| r.question_id.as_str());
    compare(&rows, a, &baseline_of(a, sweep), n, seed)
}

fn cell(p: Option<Paired>) -> String {
    p.map_or("".into(), |p| {
        let mark = match p.verdict() {
            Verdict::Ahead => " ▲",
            Verdict::Behind => " ▼",
            Verdict::NotSignificant => "",
        };
        format!(
            "{:+.1} [{:+.1}, {:+.1}]{mark}",
            100.0 * p.diff,
            100.0 * p.lo,
            100.0 * p.hi
        )
    })
}

/// The table (one row per tree search and bin, one column per budget both ran at) and, for
/// beam search, the paper's two claims decided on their intervals. `likelihood` names
/// whose likelihood the `-likelihood` searches were guided by.
pub fn beam_vs_bon(
    sweep: &[SweepRow],
    bin_of: &BTreeMap<&str, u8>,
    likelihood: &str,
    seed: u64,
    b: &mut Vec<Block>,
    findings: &mut Vec<Vec<String>>,
) {
    let budgets_of = |s: &str| -> BTreeSet<u32> {
        sweep
            .iter()
            .filter(|r| r.strategy == s)
            .map(|r| r.n)
            .collect()
    };
    let searches: BTreeSet<&str> = sweep
        .iter()
        .map(|r| r.strategy.as_str())
        .filter(|s| {
            ["beam", "dvts", "lookahead", "pf", "pg-", "rebase"]
                .iter()
                .any(|t| s.starts_with(t))
        })
        .collect();
    let bins: BTreeSet<u8> = bin_of.values().copied().collect();
    let mut ns: BTreeSet<u32> = BTreeSet::new();
    for s in &searches {
        ns.extend(budgets_of(s).intersection(&budgets_of(&baseline_of(s, sweep))));
    }
    if searches.is_empty() || ns.is_empty() || bins.is_empty() {
        return;
    }
    let mut header = vec![
        "search − weighted BoN (same verifier)".to_string(),
        "oracle bin".to_string(),
    ];
    header.extend(ns.iter().map(|n| format!("N={n}")));
    let mut rows = Vec::new();
    for s in &searches {
        for &bin in &bins {
            let mut r = vec![s.to_string(), bin.to_string()];
            r.extend(
                ns.iter()
                    .map(|&n| cell(on_bins(sweep, bin_of, &[bin], s, n, seed))),
            );
            rows.push(r);
        }
    }
    b.push(Block::Para(
        "Each tree search minus weighted best-of-N under the same verifier (the PRM, or the likelihood that guided a `-likelihood` search), in points, per oracle bin: the paired difference over the bin's questions and its bootstrap 95% interval (▲ search ahead, ▼ behind; no mark: not significant).".into(),
    ));
    b.push(Block::Table { header, rows });
    // The paper's pattern, for each beam search (one per verifier): its smallest and
    // largest budget.
    for beam in searches.iter().filter(|s| s.starts_with("beam")) {
        let base = budgets_of(&baseline_of(beam, sweep));
        beam_claims(
            sweep,
            bin_of,
            (beam, likelihood),
            &budgets_of(beam),
            &base,
            seed,
            findings,
        );
    }
    verifier_findings(sweep, &searches, &budgets_of, likelihood, seed, findings);
}

/// The paper's two claims for one beam search (and whose likelihood guides the
/// `-likelihood` ones), each decided on its paired interval.
fn beam_claims(
    sweep: &[SweepRow],
    bin_of: &BTreeMap<&str, u8>,
    (beam, likelihood): (&str, &str),
    budgets: &BTreeSet<u32>,
    base: &BTreeSet<u32>,
    seed: u64,
    findings: &mut Vec<Vec<String>>,
) {
    let beam_ns: Vec<u32> = budgets.intersection(base).copied().collect();
    let (Some(&lo_n), Some(&hi_n)) = (beam_ns.first(), beam_ns.last()) else {
        return;
    };
    let by = if beam.ends_with(LIKELIHOOD) {
        format!(" (guided by {likelihood})")
    } else {
        String::new()
    };
    let claims = [
        (
            format!(
                "beam search{by} beats best-of-N at a low budget on medium questions (bins 2–3, N={lo_n})"
            ),
            on_bins(sweep, bin_of, &[2, 3], beam, lo_n, seed),
            ["holds", "does not hold", "not significant"],
        ),
        (
            format!(
                "best-of-N beats beam search{by} at a high budget on easy questions (bin 1, N={hi_n})"
            ),
            on_bins(sweep, bin_of, &[1], beam, hi_n, seed),
            // Here the claim is that beam is behind.
            ["does not hold", "holds", "not significant"],
        ),
    ];
    for (claim, p, words) in claims {
        let Some(p) = p else { continue };
        let v = match p.verdict() {
            Verdict::Ahead => words[0],
            Verdict::Behind => words[1],
            Verdict::NotSignificant => words[2],
        };
        findings.push(vec![
            claim,
            v.into(),
            format!("{beam} − {}: {}", baseline_of(beam, sweep), p.describe()),
        ]);
    }
}

/// For each search run with both verifiers: the likelihood-guided one minus the PRM-guided
/// one at each budget both ran, over all questions — which verifier the search needs.
fn verifier_findings(
    sweep: &[SweepRow],
    searches: &BTreeSet<&str>,
    budgets_of: &dyn Fn(&str) -> BTreeSet<u32>,
    likelihood: &str,
    seed: u64,
    findings: &mut Vec<Vec<String>>,
) {
    for lk in searches {
        let Some(prm) = lk.strip_suffix(LIKELIHOOD) else {
            continue;
        };
        if !searches.contains(prm) {
            continue;
        }
        for n in budgets_of(lk).intersection(&budgets_of(prm)) {
            let Some(p) = compare(sweep, lk, prm, *n, seed) else {
                continue;
            };
            let v = match p.verdict() {
                Verdict::Ahead => "the likelihood is ahead",
                Verdict::Behind => "the PRM is ahead",
                Verdict::NotSignificant => "not significant",
            };
            findings.push(vec![
                format!("{prm} guided by {likelihood} vs by the PRM (N={n})"),
                v.into(),
                format!("{lk} − {prm}: {}", p.describe()),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `q` questions per bin 1–3; `right(strategy, bin, i)` says if question i is solved.
    fn sweep(right: impl Fn(&str, u8, usize) -> bool) -> (Vec<SweepRow>, Vec<(String, u8)>) {
        let mut rows = Vec::new();
        let mut bins = Vec::new();
        for bin in 1..=3u8 {
            for i in 0..20 {
                let q = format!("b{bin}q{i}");
                bins.push((q.clone(), bin));
                for s in ["weighted-bon", "beam-m4", "beam-m4-likelihood"] {
                    for n in [4u32, 16] {
                        rows.push(SweepRow {
                            question_id: q.clone(),
                            level: bin,
                            strategy: s.into(),
                            n,
                            seed: 0,
                            correct: right(s, bin, i),
                            generations: u64::from(n),
                            generated_tokens: 0,
                            verifier_tokens: 0,
                            flops: 0.0,
                        });
                    }
                }
            }
        }
        (rows, bins)
    }

    #[test]
    fn each_verifier_gets_its_claims_and_the_verifiers_are_compared() {
        // BoN solves half of each bin; the PRM's beam a quarter; the likelihood's beam all of
        // bins 2–3 and half of bin 1.
        let (rows, bins) = sweep(|s, bin, i| match s {
            "weighted-bon" => i % 2 == 0,
            "beam-m4" => i % 4 == 0,
            _ => bin > 1 || i % 2 == 0,
        });
        let bin_of: BTreeMap<&str, u8> = bins.iter().map(|(q, b)| (q.as_str(), *b)).collect();
        let (mut blocks, mut findings) = (Vec::new(), Vec::new());
        beam_vs_bon(
            &rows,
            &bin_of,
            "the policy's own likelihood",
            7,
            &mut blocks,
            &mut findings,
        );
        let verdict = |claim: &str| -> &str {
            let f = findings.iter().find(|f| f[0] == claim);
            f.unwrap_or_else(|| panic!("no finding {claim:?} in {findings:?}"))[1].as_str()
        };
        let medium = "beats best-of-N at a low budget on medium questions (bins 2–3, N=4)";
        assert_eq!(verdict(&format!("beam search {medium}")), "does not hold");
        assert_eq!(
            verdict(&format!(
                "beam search (guided by the policy's own likelihood) {medium}"
            )),
            "holds"
        );
        let easy = "at a high budget on easy questions (bin 1, N=16)";
        assert_eq!(
            verdict(&format!("best-of-N beats beam search {easy}")),
            "holds"
        );
        assert_eq!(
            verdict(&format!(
                "best-of-N beats beam search (guided by the policy's own likelihood) {easy}"
            )),
            "not significant"
        );
        for n in [4, 16] {
            assert_eq!(
                verdict(&format!(
                    "beam-m4 guided by the policy's own likelihood vs by the PRM (N={n})"
                )),
                "the likelihood is ahead"
            );
        }
        assert_eq!(findings.len(), 6, "{findings:?}");
    }

    #[test]
    fn a_search_over_the_likelihood_is_compared_with_best_of_n_over_the_likelihood() {
        // The likelihood's beam solves bins 2–3; best-of-N over the PRM half of them, over
        // the likelihood all of them: against its own verifier's best-of-N it is no better.
        let (mut rows, bins) = sweep(|s, bin, i| match s {
            "weighted-bon" => i % 2 == 0,
            "beam-m4" => i % 4 == 0,
            _ => bin > 1 || i % 2 == 0,
        });
        let own: Vec<SweepRow> = rows
            .iter()
            .filter(|r| r.strategy == "beam-m4-likelihood")
            .map(|r| SweepRow {
                strategy: "weighted-bon-likelihood".into(),
                ..r.clone()
            })
            .collect();
        rows.extend(own);
        let bin_of: BTreeMap<&str, u8> = bins.iter().map(|(q, b)| (q.as_str(), *b)).collect();
        let (mut blocks, mut findings) = (Vec::new(), Vec::new());
        beam_vs_bon(
            &rows,
            &bin_of,
            "the verifier's likelihood",
            7,
            &mut blocks,
            &mut findings,
        );
        let medium = "beam search (guided by the verifier's likelihood) beats best-of-N at a low budget on medium questions (bins 2–3, N=4)";
        let f = findings.iter().find(|f| f[0] == medium).expect("claim");
        assert_eq!(f[1], "not significant", "{f:?}");
        assert!(
            f[2].starts_with("beam-m4-likelihood − weighted-bon-likelihood"),
            "{f:?}"
        );
        // The PRM's beam keeps the PRM's baseline.
        let f = findings
            .iter()
            .find(|f| f[0].starts_with("beam search beats"))
            .expect("claim");
        assert!(f[2].starts_with("beam-m4 − weighted-bon:"), "{f:?}");
    }
}
