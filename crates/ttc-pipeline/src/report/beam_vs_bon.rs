//! Tree search against weighted best-of-N per oracle difficulty bin and budget, each cell a
//! paired bootstrap interval over the bin's questions (Snell et al. §5: beam search is
//! ahead at low budgets on medium questions and falls behind on easy ones at high budgets).

use std::collections::{BTreeMap, BTreeSet};

use ttc_data::rows::SweepRow;
use ttc_eval::paired::{Paired, Verdict, compare};

use super::doc::Block;

/// The baseline every tree search is compared with.
const BASELINE: &str = "weighted-bon";

/// `a − weighted-bon` at budget `n` on the questions of `bins`.
fn on_bins(
    sweep: &[SweepRow],
    bin_of: &BTreeMap<&str, u8>,
    bins: &[u8],
    a: &str,
    n: u32,
    seed: u64,
) -> Option<Paired> {
    let rows = super::cells::in_bins(sweep, bin_of, bins, |r| r.question_id.as_str());
    compare(&rows, a, BASELINE, n, seed)
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
/// beam search, the paper's two claims decided on their intervals.
pub fn beam_vs_bon(
    sweep: &[SweepRow],
    bin_of: &BTreeMap<&str, u8>,
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
    let base = budgets_of(BASELINE);
    let searches: BTreeSet<&str> = sweep
        .iter()
        .map(|r| r.strategy.as_str())
        .filter(|s| {
            ["beam", "dvts", "lookahead"]
                .iter()
                .any(|t| s.starts_with(t))
        })
        .collect();
    let bins: BTreeSet<u8> = bin_of.values().copied().collect();
    let mut ns: BTreeSet<u32> = BTreeSet::new();
    for s in &searches {
        ns.extend(budgets_of(s).intersection(&base));
    }
    if searches.is_empty() || ns.is_empty() || bins.is_empty() {
        return;
    }
    let mut header = vec![
        "search − weighted BoN".to_string(),
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
        "Each tree search minus weighted best-of-N, in points, per oracle bin: the paired difference over the bin's questions and its bootstrap 95% interval (▲ search ahead, ▼ behind; no mark: not significant).".into(),
    ));
    b.push(Block::Table { header, rows });
    // The paper's pattern, for beam search: its smallest and largest budget.
    let Some(beam) = searches.iter().find(|s| s.starts_with("beam")) else {
        return;
    };
    let beam_ns: Vec<u32> = budgets_of(beam).intersection(&base).copied().collect();
    let (Some(&lo_n), Some(&hi_n)) = (beam_ns.first(), beam_ns.last()) else {
        return;
    };
    let claims = [
        (
            format!(
                "beam search beats best-of-N at a low budget on medium questions (bins 2–3, N={lo_n})"
            ),
            on_bins(sweep, bin_of, &[2, 3], beam, lo_n, seed),
            ["holds", "does not hold", "not significant"],
        ),
        (
            format!(
                "best-of-N beats beam search at a high budget on easy questions (bin 1, N={hi_n})"
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
            format!("{beam} − weighted BoN: {}", p.describe()),
        ]);
    }
}
