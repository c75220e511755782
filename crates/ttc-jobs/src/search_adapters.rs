//! The real [`Generator`] (the policy on the forkable-KV CPU sampler) and [`Verifier`]
//! (a PRM with its own per-node KV cache).
//!
//! Both keep one cached sequence per live node: children fork their parent's cache, so a
//! shared prefix is computed once (never re-encoded), and the PRM scores a new step by
//! running only that step's tokens.

use std::collections::HashMap;

use ttc_core::confidence::token_confidence;
use ttc_core::seed::derive_seed;
use ttc_engine::{Engine, FinishReason, Sequence};
use ttc_model::sampling::SamplingParams;
use ttc_task::STEP_DELIMITER;

use ttc_search::tree::NodeId;

pub use crate::prm_verifier::PrmVerifier;

fn backend(e: ttc_model::Error) -> Error {
    Error::Backend(Box::new(e))
}
use ttc_search::{Continuation, Error, Expansion, Generator, Request, Result, Until};

fn prompt_tokens(engine: &Engine, problems: &[String], q: usize) -> Result<Vec<u32>> {
    let p = problems
        .get(q)
        .ok_or_else(|| Error::Input(format!("no question {q} (have {})", problems.len())))?;
    engine.encode_prompt(p).map_err(backend)
}

/// Prefill the prompts of `qs` not yet in `roots`; returns the tokens computed per question.
fn ensure_roots(
    engine: &Engine,
    problems: &[String],
    roots: &mut HashMap<usize, Sequence>,
    qs: impl Iterator<Item = usize>,
) -> Result<HashMap<usize, usize>> {
    let mut missing: Vec<usize> = qs.filter(|q| !roots.contains_key(q)).collect();
    missing.sort_unstable();
    missing.dedup();
    let prompts = missing
        .iter()
        .map(|&q| prompt_tokens(engine, problems, q))
        .collect::<Result<Vec<_>>>()?;
    let mut cost = HashMap::new();
    let seqs = engine.prefill(&prompts).map_err(backend)?;
    for ((q, s), p) in missing.iter().zip(seqs).zip(&prompts) {
        roots.insert(*q, s);
        cost.insert(*q, p.len());
    }
    Ok(cost)
}

/// A forked child being generated: (request index, child index, its sequence).
type Member = (usize, usize, Sequence);

/// The policy as a [`Generator`].
pub struct PolicyGenerator<'e, 'm> {
    pub engine: &'e Engine<'m>,
    /// Problem texts by question id.
    problems: Vec<String>,
    temperature: f32,
    top_p: f32,
    roots: HashMap<usize, Sequence>,
    seqs: HashMap<NodeId, Sequence>,
}

impl<'e, 'm> PolicyGenerator<'e, 'm> {
    pub fn new(
        engine: &'e Engine<'m>,
        problems: Vec<String>,
        temperature: f32,
        top_p: f32,
    ) -> Self {
        PolicyGenerator {
            engine,
            problems,
            temperature,
            top_p,
            roots: HashMap::new(),
            seqs: HashMap::new(),
        }
    }

    /// Live cached sequences (for tests and memory checks).
    pub fn live(&self) -> usize {
        self.seqs.len() + self.roots.len()
    }
}

impl Generator for PolicyGenerator<'_, '_> {
    fn expand(&mut self, reqs: &[Request]) -> Result<Vec<Expansion>> {
        if let Some(r) = reqs
            .iter()
            .find(|r| r.stop_below.is_some() && (r.until != Until::End || r.confidence_top == 0))
        {
            return Err(Error::Input(format!(
                "question {}: a confidence gate (stop_below) runs to the end with token confidences (until End, confidence_top > 0)",
                r.question
            )));
        }
        let root_cost = ensure_roots(
            self.engine,
            &self.problems,
            &mut self.roots,
            reqs.iter()
                .filter(|r| r.parent.is_none())
                .map(|r| r.question),
        )?;
        let mut out: Vec<Expansion> = reqs
            .iter()
            .map(|r| Expansion {
                prefix_computed: 0,
                children: vec![
                    Continuation {
                        text: String::new(),
                        finished: false,
                        generated_tokens: 0,
                        computed_tokens: 0,
                        token_confidence: Vec::new(),
                    };
                    r.children.len()
                ],
            })
            .collect();
        let mut charged = std::collections::HashSet::new();
        for (r, e) in reqs.iter().zip(out.iter_mut()) {
            if r.parent.is_none() && charged.insert(r.question) {
                e.prefix_computed += root_cost.get(&r.question).copied().unwrap_or(0);
            }
        }
        // A parent's pending token is computed once, before its children fork.
        let mut bases: Vec<Sequence> = Vec::with_capacity(reqs.len());
        for r in reqs {
            let base = match r.parent {
                None => self.roots.get_mut(&r.question).expect("root prefilled"),
                Some(p) => self.seqs.get_mut(&p).ok_or_else(|| {
                    Error::Input(format!("node {p} is not live (released or finished)"))
                })?,
            };
            bases.push(base.fork());
        }
        let pend: Vec<(usize, &[u32])> = bases
            .iter()
            .enumerate()
            .filter(|(_, s)| s.pending.is_some())
            .map(|(i, _)| (i, &[][..]))
            .collect();
        for &(i, _) in &pend {
            out[i].prefix_computed += 1;
        }
        if !pend.is_empty() {
            self.engine.extend(&mut bases, &pend).map_err(backend)?;
        }
        // Fork children; group them by (until, greedy, confidence) — one decode batch per
        // group.
        let mut groups: Vec<((Until, bool, usize), Vec<Member>)> = Vec::new();
        for (ri, (r, b)) in reqs.iter().zip(bases.iter_mut()).enumerate() {
            let key = (r.until, r.greedy, r.confidence_top);
            let gi = match groups.iter().position(|(k, _)| *k == key) {
                Some(g) => g,
                None => {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                }
            };
            for j in 0..r.children.len() {
                groups[gi].1.push((ri, j, b.fork()));
            }
        }
        drop(bases);
        for ((until, greedy, confidence_top), members) in groups {
            let max = reqs.iter().map(|r| r.budget).max().unwrap_or(1).max(1);
            let mut params = if greedy {
                SamplingParams::greedy(max)
            } else {
                SamplingParams::sampled(self.temperature, self.top_p, max)
            };
            let rounds = match until {
                Until::Step => 1,
                Until::Steps(k) => k.max(1),
                Until::End => 1,
            };
            if until != Until::End {
                params = params.with_stop(&[STEP_DELIMITER]);
            }
            if confidence_top > 0 {
                params = params.with_logprobs(confidence_top);
            }
            let mut live: Vec<Member> = members;
            for round in 0..rounds {
                if live.is_empty() {
                    break;
                }
                let seeds: Vec<u64> = live
                    .iter()
                    .map(|(ri, j, _)| derive_seed(reqs[*ri].seed, *j as u64, round as u64))
                    .collect();
                let limits: Vec<usize> = live
                    .iter()
                    .map(|(ri, j, _)| {
                        reqs[*ri]
                            .budget
                            .saturating_sub(out[*ri].children[*j].generated_tokens)
                    })
                    .collect();
                let (idx, seqs): (Vec<(usize, usize)>, Vec<Sequence>) =
                    live.into_iter().map(|(ri, j, s)| ((ri, j), s)).unzip();
                let gates: Vec<Option<(usize, f32)>> =
                    idx.iter().map(|(ri, _)| reqs[*ri].stop_below).collect();
                let gens = self
                    .engine
                    .decode_gated(seqs, &params, &seeds, Some(&limits), Some(&gates))
                    .map_err(backend)?;
                live = Vec::new();
                for ((ri, j), (seq, g)) in idx.into_iter().zip(gens) {
                    crate::require_finite(&g, || {
                        format!("question {} child {j}", reqs[ri].question)
                    })?;
                    let c = &mut out[ri].children[j];
                    c.text.push_str(&g.text);
                    c.token_confidence.extend(
                        g.logprobs
                            .iter()
                            .map(|t| token_confidence(t.top.iter().map(|x| x.1))),
                    );
                    c.generated_tokens += g.generated_tokens;
                    c.computed_tokens += g.computed_tokens;
                    let ended =
                        g.finish != FinishReason::Stop || c.generated_tokens >= reqs[ri].budget;
                    c.finished = ended;
                    let id = reqs[ri].children[j];
                    if ended {
                        continue;
                    }
                    if round + 1 < rounds {
                        live.push((ri, j, seq));
                    } else {
                        self.seqs.insert(id, seq);
                    }
                }
            }
        }
        Ok(out)
    }

    fn release(&mut self, nodes: &[NodeId]) {
        for n in nodes {
            self.seqs.remove(n);
        }
    }

    fn finish_question(&mut self, question: usize) {
        self.roots.remove(&question);
    }

    fn flops_per_token(&self) -> f64 {
        2.0 * self.engine.model.config().num_params() as f64
    }

    /// A local decode sees each token's log-probabilities as it samples; a server does not.
    fn stops_mid_step(&self) -> bool {
        self.engine.model.remote().is_none()
    }
}
