//! Particle filtering, particle Gibbs, REBASE and adaptive voting on the scripted generator
//! and verifier (`common/mod.rs`): which nodes each round continues and how often, what is
//! released, the answers, the budgets, and batching independence.

mod common;

use common::{ScriptGen, ScriptVer, World, answers, cfg, search};
use ttc_search::{Knobs, Resampling, SearchConfig, StopRule, Strategy, Until, run};

/// Scores whose logits (±13.8) make every draw certain at any uniform.
const HI: f32 = 0.999_999;
const LO: f32 = 0.000_001;

fn pf(iterations: usize) -> Strategy {
    Strategy::Particles {
        iterations,
        resampling: Resampling::Systematic,
        temperature: 1.0,
        pick_best: false,
    }
}

fn parents(log: &[common::Logged]) -> Vec<(&str, usize)> {
    log.iter().map(|l| (l.1.as_str(), l.2)).collect()
}

#[test]
fn particle_filtering_redraws_toward_high_weights_and_keeps_finished_particles() {
    let w = World::new(&[
        ("a0", HI, None),
        ("a1", LO, None),
        ("a2", HI, None),
        ("a3", LO, None),
        ("a0.0", HI, Some("7")),
        ("a0.1", LO, Some("5")),
        ("a2.0", HI, None),
        ("a2.1", LO, None),
        ("a2.0.0", HI, Some("7")),
        ("a2.0.1", HI, Some("9")),
    ]);
    let mut g = ScriptGen::new(&w);
    let mut v = ScriptVer {
        world: &w,
        scored: Vec::new(),
    };
    let o = run(&pf(1), &cfg(4), &[0], &mut g, Some(&mut v))
        .unwrap()
        .remove(0);
    // Round 1: 4 first steps. a0 and a2 share the weight: systematic resampling gives each
    // exactly 2 copies, continued as one request of 2 children. Round 2: a0.0 (finished)
    // and a2.0 get 2 copies each; only a2.0 is continued. Round 3: every particle finished.
    assert_eq!(
        parents(&g.log),
        [("a", 4), ("a0", 2), ("a2", 2), ("a2.0", 2)]
    );
    assert!(g.log.iter().all(|l| l.3 == Until::Step && !l.4));
    assert_eq!(o.rounds, 3);
    // The final particles, copies included: a0.0 twice (7), a2.0.0 (7), a2.0.1 (9).
    assert_eq!(answers(&o), ["7", "7", "7", "9"]);
    assert_eq!(o.answer(), Some("7"));
    // Particles never drawn were released (the script refuses to continue them).
    for name in ["a1", "a3", "a0.1", "a2.1"] {
        let id = g.names.iter().find(|(_, n)| *n == name).unwrap().0;
        assert!(g.released.contains(id), "{name} released");
    }
    let a = o.accounting;
    assert_eq!((a.generations, a.continuations), (4, 10));
    // The best-particle pick answers with the highest weight: 7 (a0.0, first on ties).
    let best = Strategy::Particles {
        iterations: 1,
        resampling: Resampling::Systematic,
        temperature: 1.0,
        pick_best: true,
    };
    assert_eq!(search(&w, best, &cfg(4)).0.answer(), Some("7"));
}

#[test]
fn particle_gibbs_restarts_the_reference_from_its_prefix() {
    let w = World::new(&[
        ("a0", HI, None),
        ("a1", LO, None),
        ("a0.0", HI, Some("7")),
        ("a0.1", 0.5, Some("3")),
        ("b0", LO, None),
    ]);
    let mut g = ScriptGen::new(&w);
    let mut v = ScriptVer {
        world: &w,
        scored: Vec::new(),
    };
    let o = run(&pf(2), &cfg(4), &[0], &mut g, Some(&mut v))
        .unwrap()
        .remove(0);
    // Iteration 1: 2 particles (N = 4 over 2 iterations); a0 drawn twice, its children
    // a0.0 (7) and a0.1 (3) finish; the reference drawn by weight is a0.0.
    // Iteration 2: 1 free particle (b0) beside the reference; the reference outweighs b0,
    // so its prefix at depth 1 — a0, kept live across iterations — is continued again.
    assert_eq!(parents(&g.log), [("a", 2), ("a0", 2), ("b", 1), ("a0", 1)]);
    // The final set: the redrawn particle and the reference, both answering 7.
    assert_eq!(answers(&o), ["7", "7"]);
    assert_eq!(o.answer(), Some("7"));
    assert_eq!(o.accounting.generations, 4);
    assert_eq!(o.rounds, 4);
}

#[test]
fn rebase_splits_each_depth_budget_by_softmax_and_prunes_the_rest() {
    let w = World::new(&[
        ("a0", 0.9, None),
        ("a1", 0.6, None),
        ("a2", 0.1, None),
        ("a3", 0.9, Some("1")),
        ("a0.0", 0.8, Some("1")),
        ("a0.1", 0.3, None),
        ("a1.0", 0.7, Some("2")),
        ("a0.1.0", 0.4, Some("2")),
    ]);
    let mut g = ScriptGen::new(&w);
    let mut v = ScriptVer {
        world: &w,
        scored: Vec::new(),
    };
    let s = Strategy::Rebase { temperature: 0.5 };
    let o = run(&s, &cfg(4), &[0], &mut g, Some(&mut v))
        .unwrap()
        .remove(0);
    // Depth 1: a3 finished, budget 3 over a0, a1, a2 ∝ e^1.8 : e^1.2 : e^0.2
    // = 1.71, 0.94, 0.35 → floors 1, 0, 0 and the two largest remainders: 2, 1, 0.
    // Depth 2: a0.0 and a1.0 finished, budget 1 → a0.1.
    assert_eq!(
        parents(&g.log),
        [("a", 4), ("a0", 2), ("a1", 1), ("a0.1", 1)]
    );
    let pruned = g.names.iter().find(|(_, n)| *n == "a2").unwrap().0;
    assert!(g.released.contains(pruned));
    // Weighted vote: 1 → 0.9 + 0.8 over 2 → 0.7 + 0.4.
    assert_eq!(answers(&o), ["1", "1", "2", "2"]);
    assert_eq!(o.answer(), Some("1"));
    let a = o.accounting;
    assert_eq!((a.generations, a.continuations), (4, 8));
    assert_eq!(o.solutions.len(), 4, "never more solutions than the budget");
}

fn voting_world() -> World {
    World::new(&[
        ("a0", 0.5, Some("3")),
        ("a1", 0.5, Some("4")),
        ("b0", 0.5, Some("3")),
        ("b1", 0.5, Some("3")),
        ("c0", 0.5, Some("3")),
        ("c1", 0.5, Some("3")),
        ("d0", 0.5, Some("3")),
        ("d1", 0.5, Some("3")),
        ("e0", 0.5, Some("3")),
        ("e1", 0.5, Some("3")),
    ])
}

#[test]
fn adaptive_voting_stops_when_its_rule_holds() {
    let w = voting_world();
    let esc = Strategy::Adaptive {
        window: 2,
        rule: StopRule::Esc,
    };
    // ESC: window a (3, 4) disagrees, window b (3, 3) agrees: 4 samples of the cap 12.
    let mut g = ScriptGen::new(&w);
    let o = run(&esc, &cfg(12), &[0], &mut g, None).unwrap().remove(0);
    assert_eq!(parents(&g.log), [("a", 2), ("b", 2)]);
    assert!(g.log.iter().all(|l| l.3 == Until::End));
    assert_eq!(o.answer(), Some("3"));
    let a = o.accounting;
    assert_eq!((a.generations, a.continuations, o.rounds), (12, 4, 2));
    assert_eq!(a.verifier_tokens, 0);
    // Beta(0.95): 3:1 after b (P = 0.8125), 5:1 after c (0.9375), 7:1 after d (0.980).
    let beta = Strategy::Adaptive {
        window: 2,
        rule: StopRule::Beta { confidence: 0.95 },
    };
    let mut g = ScriptGen::new(&w);
    let o = run(&beta, &cfg(12), &[0], &mut g, None).unwrap().remove(0);
    assert_eq!(o.accounting.continuations, 8);
    assert_eq!(o.rounds, 4);
    // The cap: at N = 4 it stops at 4 samples, settled or not.
    let mut g = ScriptGen::new(&w);
    let o = run(&beta, &cfg(4), &[0], &mut g, None).unwrap().remove(0);
    assert_eq!(o.accounting.continuations, 4);
}

#[test]
fn the_newer_strategies_search_a_question_the_same_alone_or_in_a_batch() {
    let w = World::default();
    let strategies = [
        pf(1),
        pf(2),
        Strategy::Particles {
            iterations: 1,
            resampling: Resampling::Multinomial,
            temperature: 0.5,
            pick_best: false,
        },
        Strategy::Rebase { temperature: 0.2 },
        Strategy::Adaptive {
            window: 2,
            rule: StopRule::Esc,
        },
        Strategy::DeepConf {
            group: 2,
            keep: 0.5,
            top: 3,
            warmup: 2,
            at_steps: false,
        },
    ];
    for s in strategies {
        let c = SearchConfig {
            max_rounds: 3,
            ..cfg(4)
        };
        let mut v = ScriptVer {
            world: &w,
            scored: Vec::new(),
        };
        let mut g = ScriptGen::new(&w);
        g.by_seed = true;
        let all = run(&s, &c, &[0, 1, 2], &mut g, Some(&mut v)).unwrap();
        let mut g1 = ScriptGen::new(&w);
        g1.by_seed = true;
        let alone = run(&s, &c, &[1], &mut g1, Some(&mut v)).unwrap();
        assert_eq!(all[1], alone[0], "{}", s.label());
        for o in &all {
            assert!(o.solutions.len() <= 4, "{}: budget", s.label());
            assert!(o.answer().is_some(), "{}", s.label());
        }
    }
}

#[test]
fn newer_strategies_parse_label_and_refuse_bad_knobs() {
    let k = Knobs::default();
    let p = |name: &str, n: usize, k: &Knobs| Strategy::parse(name, n, k).unwrap();
    assert_eq!(p("pf", 16, &k).label(), "pf");
    let g = Knobs {
        iterations: 4,
        resampling: Resampling::Systematic,
        temperature: Some(0.5),
        ..k
    };
    assert_eq!(p("pf", 16, &g).label(), "pg-i4-t0.5-sys");
    assert_eq!(p("rebase", 16, &k).label(), "rebase-t0.2");
    assert_eq!(p("esc", 16, &k).label(), "esc-w4");
    assert_eq!(p("adaptive", 16, &k).label(), "adaptive-w4-beta0.95");
    assert!(!p("esc", 16, &k).needs_verifier());
    assert!(p("rebase", 16, &k).needs_verifier());
    let bad = |name: &str, n: usize, k: &Knobs| {
        cfg(n)
            .validate(&Strategy::parse(name, n, k).unwrap())
            .unwrap_err()
            .to_string()
    };
    let e = bad("pf", 6, &Knobs { iterations: 4, ..k });
    assert!(e.contains("N=6") && e.contains("iterations=4"), "{e}");
    let e = bad("esc", 16, &Knobs { window: 5, ..k });
    assert!(e.contains("window 5"), "{e}");
    let e = bad(
        "adaptive",
        16,
        &Knobs {
            confidence: 1.0,
            ..k
        },
    );
    assert!(e.contains("confidence"), "{e}");
    let e = bad(
        "rebase",
        16,
        &Knobs {
            temperature: Some(0.0),
            ..k
        },
    );
    assert!(e.contains("temperature"), "{e}");
    // Particle filtering needs a verifier; adaptive voting does not.
    let w = World::default();
    let mut g = ScriptGen::new(&w);
    let e = run(&pf(1), &cfg(4), &[0], &mut g, None).unwrap_err();
    assert!(e.to_string().contains("verifier"), "{e}");
}

#[test]
fn deepconf_lets_only_the_confident_share_vote() {
    let mut w = World::new(&[
        ("a0", 0.5, Some("1")),
        ("a1", 0.5, Some("2")),
        ("a2", 0.5, Some("2")),
        ("a3", 0.5, Some("2")),
    ]);
    for (n, c) in [("a0", 3.0), ("a1", 1.0), ("a2", 1.0), ("a3", 2.0)] {
        w.confidence.insert(n.into(), c);
    }
    let dc = |keep| Strategy::DeepConf {
        group: 4,
        keep,
        top: 5,
        warmup: 0,
        at_steps: false,
    };
    // Everyone votes, weighted by confidence: 2 → 1 + 1 + 2 beats 1 → 3.
    let mut g = ScriptGen::new(&w);
    let all = run(&dc(1.0), &cfg(4), &[0], &mut g, None)
        .unwrap()
        .remove(0);
    assert_eq!(parents(&g.log), [("a", 4)]);
    assert_eq!(all.answer(), Some("2"));
    assert_eq!(all.accounting.verifier_tokens, 0);
    // The top half (a0: 3, a3: 2) votes: 1 wins against majority's 2.
    let mut g = ScriptGen::new(&w);
    let half = run(&dc(0.5), &cfg(4), &[0], &mut g, None)
        .unwrap()
        .remove(0);
    assert_eq!(half.answer(), Some("1"));
    let scores: Vec<f32> = half.solutions.iter().map(|s| s.score).collect();
    assert_eq!(scores, [3.0, 0.0, 0.0, 2.0]);
    assert_eq!(dc(0.5).label(), "deepconf-g4-k5-keep0.5");
    let e = cfg(4).validate(&dc(0.0)).unwrap_err().to_string();
    assert!(e.contains("keep"), "{e}");
}

#[test]
fn deepconf_online_stops_unconfident_traces_at_a_step_boundary() {
    let mut w = World::new(&[
        ("a0", 0.5, Some("1")),
        ("a1", 0.5, Some("1")),
        ("b0", 0.5, None),
        ("b1", 0.5, None),
        ("b1.0", 0.5, Some("2")),
    ]);
    for (n, c) in [
        ("a0", 3.0),
        ("a1", 2.0),
        ("b0", 1.0),
        ("b1", 6.0),
        ("b1.0", 6.0),
    ] {
        w.confidence.insert(n.into(), c);
    }
    let online = Strategy::DeepConf {
        group: 4,
        keep: 0.9,
        top: 5,
        warmup: 2,
        at_steps: false,
    };
    let mut g = ScriptGen::new(&w);
    let o = run(&online, &cfg(4), &[0], &mut g, None).unwrap().remove(0);
    // Warm-up a0 (3) and a1 (2) to the end: the threshold is 2. Then b0 and b1 one step at
    // a time: b0's first window (1) is below it — stopped, released, never continued; b1
    // (6) goes on and finishes.
    assert_eq!(parents(&g.log), [("a", 2), ("b", 2), ("b1", 1)]);
    assert_eq!(g.log[0].3, Until::End);
    assert!(g.log[1..].iter().all(|l| l.3 == Until::Step));
    let b0 = g.names.iter().find(|(_, n)| *n == "b0").unwrap().0;
    assert!(g.released.contains(b0));
    // The survivor votes with the warm-up traces: 2 → 6 beats 1 → 3 + 2.
    assert_eq!(answers(&o), ["1", "1", "2"]);
    assert_eq!(o.answer(), Some("2"));
    assert_eq!(online.label(), "deepconf-g4-k5-keep0.9-online2");
    // A warm-up as large as N is refused.
    let all = Strategy::DeepConf {
        group: 4,
        keep: 0.9,
        top: 5,
        warmup: 4,
        at_steps: false,
    };
    let e = cfg(4).validate(&all).unwrap_err().to_string();
    assert!(e.contains("warmup 4"), "{e}");
}
