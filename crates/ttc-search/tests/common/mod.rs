//! The scripted generator and verifier the search tests share.
//!
//! The script names each step: a root request's children are `<letter><j>` (the letter
//! counts requests on that question's prompt: subtree a, b, …), a node's children are
//! `<parent step>.<j>`. A table gives each name a score and, for final steps, an answer.
#![allow(dead_code)]

use std::collections::HashMap;

use ttc_search::{
    Continuation, Expansion, Generator, NodeId, Request, Result, ScoreRequest, Scored,
    SearchConfig, Strategy, Until, Verifier, run,
};

#[derive(Default)]
pub struct World {
    pub score: HashMap<String, f32>,
    pub answer: HashMap<String, String>,
    /// Steps whose text is only a delimiter.
    pub empty: std::collections::HashSet<String>,
    /// Token confidence of each named step's tokens (DeepConf; 1 when absent).
    pub confidence: HashMap<String, f32>,
}

impl World {
    pub fn new(rows: &[(&str, f32, Option<&str>)]) -> Self {
        let mut w = World::default();
        for &(n, s, a) in rows {
            w.score.insert(n.into(), s);
            if let Some(a) = a {
                w.answer.insert(n.into(), a.into());
            }
        }
        w
    }
}

/// A request as seen: (question, parent step name, children, until, greedy).
pub type Logged = (usize, String, usize, Until, bool);

pub struct ScriptGen<'w> {
    pub world: &'w World,
    /// Every request seen.
    pub log: Vec<Logged>,
    pub names: HashMap<NodeId, String>,
    pub root_requests: HashMap<usize, usize>,
    /// Name children by their seed instead of the table (for the batching test).
    pub by_seed: bool,
    /// Nodes released so far (a released node must never be continued).
    pub released: std::collections::HashSet<NodeId>,
}

impl<'w> ScriptGen<'w> {
    pub fn new(world: &'w World) -> Self {
        ScriptGen {
            world,
            log: Vec::new(),
            names: HashMap::new(),
            root_requests: HashMap::new(),
            by_seed: false,
            released: Default::default(),
        }
    }

    /// Text of step `name`: the name, then the answer if it is final.
    pub fn step(&self, name: &str, depth: usize) -> (String, bool) {
        if self.by_seed {
            return if depth >= 2 {
                (format!("{name} \\boxed{{{}}}", name.len() % 3), true)
            } else {
                (format!("{name}\n\n"), false)
            };
        }
        match self.world.answer.get(name) {
            Some(a) => (format!("{name} \\boxed{{{a}}}"), true),
            None if self.world.empty.contains(name) => ("\n\n".into(), false),
            None => (format!("{name}\n\n"), false),
        }
    }
}

impl Generator for ScriptGen<'_> {
    fn expand(&mut self, reqs: &[Request]) -> Result<Vec<Expansion>> {
        let mut out = Vec::new();
        for r in reqs {
            let (base, prefix_computed) = match r.parent {
                Some(p) => {
                    assert!(
                        !self.released.contains(&p),
                        "node {p} continued after release"
                    );
                    (self.names[&p].clone(), 0)
                }
                None => {
                    let k = self.root_requests.entry(r.question).or_insert(0);
                    *k += 1;
                    (((b'a' + (*k - 1) as u8) as char).to_string(), 10)
                }
            };
            self.log.push((
                r.question,
                base.clone(),
                r.children.len(),
                r.until,
                r.greedy,
            ));
            let mut children = Vec::new();
            for (j, &id) in r.children.iter().enumerate() {
                let sep = if r.parent.is_some() { "." } else { "" };
                let mut name = if self.by_seed {
                    format!("{base}{sep}{}", (r.seed ^ j as u64) % 97)
                } else {
                    format!("{base}{sep}{j}")
                };
                let steps = match r.until {
                    Until::Step => 1,
                    Until::Steps(k) => k,
                    Until::End => usize::MAX,
                };
                let mut text = String::new();
                let mut finished = false;
                let depth = name.matches('.').count() + 1;
                for s in 0..steps {
                    let (t, f) = self.step(&name, depth + s);
                    text.push_str(&t);
                    finished = f;
                    if f || s + 1 == steps {
                        break;
                    }
                    name.push_str(".0");
                }
                let conf = self.world.confidence.get(&name).copied().unwrap_or(1.0);
                self.names.insert(id, name);
                let token_confidence = if r.confidence_top > 0 {
                    vec![conf; text.len()]
                } else {
                    Vec::new()
                };
                children.push(Continuation {
                    generated_tokens: text.len(),
                    computed_tokens: text.len(),
                    text,
                    finished,
                    token_confidence,
                });
            }
            out.push(Expansion {
                prefix_computed,
                children,
            });
        }
        Ok(out)
    }
    fn release(&mut self, nodes: &[NodeId]) {
        self.released.extend(nodes.iter().copied());
    }
    fn finish_question(&mut self, _: usize) {}
    fn flops_per_token(&self) -> f64 {
        2.0
    }
}

pub struct ScriptVer<'w> {
    pub world: &'w World,
    pub scored: Vec<String>,
}

impl Verifier for ScriptVer<'_> {
    fn score(&mut self, reqs: &[ScoreRequest<'_>]) -> Result<Vec<Scored>> {
        Ok(reqs
            .iter()
            .map(|r| {
                let scores = r.steps[r.new_from..]
                    .iter()
                    .map(|s| {
                        assert!(!s.trim().is_empty(), "an empty step was scored");
                        let name = s.split_whitespace().next().unwrap();
                        self.scored.push(name.into());
                        self.world.score.get(name).copied().unwrap_or(0.5)
                    })
                    .collect::<Vec<_>>();
                Scored {
                    computed_tokens: scores.len(),
                    scores,
                }
            })
            .collect())
    }
    fn release(&mut self, _: &[NodeId]) {}
    fn finish_question(&mut self, _: usize) {}
    fn flops_per_token(&self) -> f64 {
        3.0
    }
}

pub fn cfg(n: usize) -> SearchConfig {
    SearchConfig {
        n,
        max_rounds: 10,
        ..SearchConfig::default()
    }
}

pub fn search(world: &World, s: Strategy, c: &SearchConfig) -> (ttc_search::Outcome, Vec<Logged>) {
    let mut g = ScriptGen::new(world);
    let mut v = ScriptVer {
        world,
        scored: Vec::new(),
    };
    let mut out = run(&s, c, &[0], &mut g, Some(&mut v)).unwrap();
    (out.remove(0), g.log)
}

pub fn answers(o: &ttc_search::Outcome) -> Vec<String> {
    o.solutions
        .iter()
        .map(|s| s.answer.clone().unwrap_or_default())
        .collect()
}
