//! Scripted generator and verifier pin each algorithm's exact behaviour: which beams
//! survive, what DVTS returns, how ties, empty steps, lookahead, round limits, seeds and
//! accounting work. The script is `common/mod.rs`'s.

mod common;

use common::{ScriptGen, ScriptVer, World, answers, cfg, search};
use ttc_search::select::Aggregation;
use ttc_search::{Knobs, SearchConfig, Strategy, Until, run};

#[test]
fn sampling_strategies_select_as_documented() {
    let w = World::new(&[
        ("a0", 0.5, Some("1")),
        ("a1", 0.25, Some("2")),
        ("a2", 0.25, Some("2")),
        ("a3", 0.375, Some("2")),
    ]);
    let c = cfg(4);
    let (bon, log) = search(&w, Strategy::BestOfN { weighted: false }, &c);
    assert_eq!(log, vec![(0, "a".into(), 4, Until::End, false)]);
    assert_eq!(bon.answer(), Some("1"));
    let (wb, _) = search(&w, Strategy::BestOfN { weighted: true }, &c);
    assert_eq!(wb.answer(), Some("2"));
    let mut g = ScriptGen::new(&w);
    let maj = run(&Strategy::Majority, &c, &[0], &mut g, None).unwrap();
    assert_eq!(maj[0].answer(), Some("2"));
    // Accounting: 4 continuations, the prompt once, every generated token.
    let a = bon.accounting;
    assert_eq!((a.generations, a.continuations), (4, 4));
    let gen_tokens: usize = bon.solutions.iter().map(|s| s.text.len()).sum();
    assert_eq!(a.generated_tokens, gen_tokens as u64);
    assert_eq!(a.computed_tokens, gen_tokens as u64 + 10);
    assert_eq!(a.verifier_tokens, 4);
    assert_eq!(a.flops, 2.0 * a.computed_tokens as f64 + 3.0 * 4.0);
}

#[test]
fn beam_search_keeps_top_n_over_m_with_stable_ties() {
    let w = World::new(&[
        ("a0", 0.125, None),
        ("a1", 0.875, None),
        ("a2", 0.5, None),
        ("a3", 0.875, None),
        ("a1.0", 0.75, Some("7")),
        ("a1.1", 0.25, None),
        ("a3.0", 0.625, None),
        ("a3.1", 0.9375, Some("5")),
        ("a1.1.0", 0.5625, Some("7")),
        ("a1.1.1", 0.0625, Some("5")),
        ("a3.0.0", 0.3125, Some("7")),
        ("a3.0.1", 0.875, Some("9")),
    ]);
    let s = Strategy::Beam {
        width: 2,
        lookahead: 0,
        dedup: false,
    };
    let (o, log) = search(&w, s, &cfg(4));
    let parents: Vec<&str> = log.iter().map(|l| l.1.as_str()).collect();
    // a1 and a3 tie at 0.875 and beat a2 (a1 first: sample order); the open survivors
    // a3.0 and a1.1 are expanded in rank order.
    assert_eq!(parents, ["a", "a1", "a3", "a3.0", "a1.1"]);
    assert!(log[1..].iter().all(|l| l.2 == 2 && l.3 == Until::Step));
    assert_eq!(o.rounds, 3);
    // Pool of 6 finished; the 4 best (by last-step score) kept, in creation order.
    assert_eq!(answers(&o), ["7", "5", "9", "7"]);
    // Weighted: 7 → 0.75 + 0.5625 beats 5 → 0.9375 and 9 → 0.875.
    assert_eq!(o.answer(), Some("7"));
    // Aggregation min: a solution's score is its path's minimum.
    let c = SearchConfig {
        aggregation: Aggregation::Min,
        ..cfg(4)
    };
    let (m, _) = search(&w, s, &c);
    let best = m.solutions.iter().map(|s| s.score).fold(0.0f32, f32::max);
    assert!(best <= 0.875, "min aggregation over the path: {best}");
}

#[test]
fn lookahead_ranks_by_the_rollout_score() {
    let w = World::new(&[
        ("a0", 0.875, None),
        ("a1", 0.125, None),
        ("a2", 0.5, None),
        ("a3", 0.25, None),
        ("a0.0", 0.125, None),
        ("a1.0", 0.875, Some("1")),
        ("a2.0", 0.75, Some("2")),
        ("a3.0", 0.0625, None),
        ("a1.1", 0.5, Some("1")),
        ("a2.1", 0.5, Some("2")),
    ]);
    let s = Strategy::Beam {
        width: 2,
        lookahead: 1,
        dedup: false,
    };
    let (o, log) = search(&w, s, &cfg(4));
    // Rollouts: one greedy continuation of each candidate.
    let rollouts: Vec<&str> = log.iter().filter(|l| l.4).map(|l| l.1.as_str()).collect();
    assert_eq!(rollouts, ["a0", "a1", "a2", "a3"]);
    assert!(
        log.iter()
            .filter(|l| l.4)
            .all(|l| l.3 == Until::Steps(1) && l.2 == 1)
    );
    // a1 and a2 survive on their rollouts' scores although a0 scores highest itself.
    let expanded: Vec<&str> = log.iter().filter(|l| !l.4).map(|l| l.1.as_str()).collect();
    assert_eq!(expanded, ["a", "a1", "a2"]);
    assert_eq!(o.accounting.generations, 8);
}

#[test]
fn dvts_returns_n_finished_solutions_and_breaks_ties_by_sample_order() {
    let w = World::new(&[
        ("a0", 0.25, None),
        ("a1", 0.5, None),
        ("b0", 0.75, Some("4")),
        ("b1", 0.125, None),
        ("b1.0", 0.5, Some("4")),
        ("a1.0", 0.375, None),
        ("a1.1", 0.625, Some("3")),
        ("a1.0.0", 0.625, Some("3")),
    ]);
    let (o, log) = search(&w, Strategy::Dvts { width: 2 }, &cfg(4));
    let parents: Vec<&str> = log.iter().map(|l| l.1.as_str()).collect();
    // Two subtrees from the prompt; a continues from a1; b ends at once (b0 is best and
    // finished); the unfinished siblings b1 and a1.0 are completed to the end.
    assert_eq!(parents, ["a", "b", "a1", "b1", "a1.0"]);
    assert!(log[3..].iter().all(|l| l.3 == Until::End && !l.4));
    assert_eq!(o.solutions.len(), 4);
    assert_eq!(answers(&o), ["4", "3", "4", "3"]);
    // 4 → 0.75 + 0.5 ties 3 → 0.625 + 0.625: the answer seen first wins.
    assert_eq!(o.answer(), Some("4"));
}

#[test]
fn empty_steps_are_never_scored_and_round_limits_finish_greedily() {
    let mut w = World::new(&[
        ("a0", 0.5, None),
        ("a1", 0.99, None),
        ("a0.0.0", 0.5, Some("8")),
    ]);
    w.empty.insert("a1".into());
    let s = Strategy::Beam {
        width: 2,
        lookahead: 0,
        dedup: false,
    };
    let c = SearchConfig {
        max_rounds: 2,
        ..cfg(2)
    };
    let mut g = ScriptGen::new(&w);
    let mut v = ScriptVer {
        world: &w,
        scored: Vec::new(),
    };
    let o = run(&s, &c, &[0], &mut g, Some(&mut v)).unwrap().remove(0);
    // a1 added only a delimiter: never scored (ScriptVer asserts), aggregate 0, dropped.
    assert!(!v.scored.contains(&"a1".to_string()));
    let parents: Vec<&str> = g.log.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(parents, ["a", "a0", "a0.0"]);
    // Nothing finished within 2 rounds: the kept beam is finished greedily to the end.
    let last = g.log.last().unwrap();
    assert_eq!((last.3, last.4), (Until::End, true));
    assert_eq!(o.answer(), Some("8"));
}

#[test]
fn a_question_searches_the_same_alone_or_in_a_batch() {
    let w = World::default();
    let s = Strategy::Beam {
        width: 2,
        lookahead: 0,
        dedup: false,
    };
    let c = cfg(4);
    let mut g = ScriptGen::new(&w);
    g.by_seed = true;
    let mut v = ScriptVer {
        world: &w,
        scored: Vec::new(),
    };
    let all = run(&s, &c, &[0, 1, 2], &mut g, Some(&mut v)).unwrap();
    let mut g1 = ScriptGen::new(&w);
    g1.by_seed = true;
    let alone = run(&s, &c, &[1], &mut g1, Some(&mut v)).unwrap();
    assert_eq!(all[1], alone[0]);
    assert_ne!(
        all[0].solutions, all[1].solutions,
        "seeds differ per question"
    );
}

#[test]
fn bad_search_configs_are_named_errors() {
    let k = |width| Knobs {
        width,
        ..Knobs::default()
    };
    let e = Strategy::parse("beems", 16, &k(4)).unwrap_err().to_string();
    assert!(e.contains("beems") && e.contains("dvts"), "{e}");
    let s = Strategy::parse("beam", 6, &k(4)).unwrap();
    let e = cfg(6).validate(&s).unwrap_err().to_string();
    assert!(e.contains("N=6") && e.contains("M=4"), "{e}");
    // √N width.
    assert_eq!(
        Strategy::parse("dvts", 16, &k(0)).unwrap(),
        Strategy::Dvts { width: 4 }
    );
    // A strategy that needs a verifier refuses to run without one.
    let w = World::default();
    let mut g = ScriptGen::new(&w);
    let e = run(&Strategy::Dvts { width: 2 }, &cfg(4), &[0], &mut g, None).unwrap_err();
    assert!(e.to_string().contains("verifier"), "{e}");
}
