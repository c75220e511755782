//! A PRM as a search [`Verifier`], in any PRM format ([`crate::prm_format`]).
//!
//! Each request's steps are laid out whole, exactly as [`crate::step_scorer`] lays them out
//! (so search and scoring see the same tokens, whatever the tokenizer merges across a step
//! boundary), and the cached sequence of the node's parent — or the question's shared
//! prefix — is reused up to the first token where the two differ: a new step usually costs
//! only its own tokens.

use std::collections::HashMap;

use ttc_engine::Engine;
use ttc_model::cpu::Row;
use ttc_model::decoder::KvCache;
use ttc_search::tree::NodeId;
use ttc_search::{Error, Result, ScoreRequest, Scored, Verifier};

use crate::prm_format::{PrmFormat, PrmReader, ReadLayout};

/// A cached sequence and the tokens it holds.
pub(crate) type Cached = (KvCache, Vec<u32>);

/// A PRM as a [`Verifier`].
pub struct PrmVerifier<'m> {
    pub engine: Engine<'m>,
    reader: PrmReader,
    problems: Vec<String>,
    /// Question → its shared prefix (prompt) computed once.
    roots: HashMap<usize, Cached>,
    /// Node → its cached sequence.
    seqs: HashMap<NodeId, Cached>,
    /// Rows per forward call (bounds activation memory).
    pub max_rows: usize,
}

pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend(Box::new(e))
}

/// A fork of `base` holding its tokens in common with `tokens`, at most `limit`.
pub(crate) fn reuse(base: &mut Cached, tokens: &[u32], limit: usize) -> Option<(KvCache, usize)> {
    let c = base
        .1
        .iter()
        .zip(tokens)
        .take_while(|(a, b)| a == b)
        .count()
        .min(limit);
    if c == 0 {
        return None;
    }
    base.0.fork_prefix(c).map(|k| (k, c))
}

impl<'m> PrmVerifier<'m> {
    /// A verifier in ttc's format (a one-label score head).
    pub fn new(engine: Engine<'m>, problems: Vec<String>) -> Result<Self> {
        PrmVerifier::with_format(engine, problems, PrmFormat::Ttc)
    }

    /// A verifier reading `format` (the engine carries the PRM's prompt).
    pub fn with_format(
        engine: Engine<'m>,
        problems: Vec<String>,
        format: PrmFormat,
    ) -> Result<Self> {
        let reader = PrmReader::new(format, &engine)?;
        Ok(PrmVerifier {
            engine,
            reader,
            problems,
            roots: HashMap::new(),
            seqs: HashMap::new(),
            max_rows: 8192,
        })
    }

    fn problem(&self, q: usize) -> Result<&str> {
        self.problems
            .get(q)
            .map(String::as_str)
            .ok_or_else(|| Error::Input(format!("no question {q} (have {})", self.problems.len())))
    }
}

/// Prefill, into `roots`, the first `len(layout)` tokens of each question's layout that has
/// no root yet; returns the tokens computed per question.
pub(crate) fn prefill_roots(
    model: &dyn ttc_model::decoder::Decoder,
    roots: &mut HashMap<usize, Cached>,
    reqs: &[ScoreRequest<'_>],
    layouts: &[Option<ReadLayout>],
    len: impl Fn(&ReadLayout) -> usize,
    max_rows: usize,
) -> Result<HashMap<usize, usize>> {
    let mut missing: Vec<(usize, Vec<u32>)> = Vec::new();
    for (r, l) in reqs.iter().zip(layouts) {
        let Some(l) = l else { continue };
        let n = len(l).min(l.tokens.len());
        if n > 0
            && !roots.contains_key(&r.question)
            && missing.iter().all(|(q, _)| *q != r.question)
        {
            missing.push((r.question, l.tokens[..n].to_vec()));
        }
    }
    let mut cost = HashMap::new();
    if missing.is_empty() {
        return Ok(cost);
    }
    let seqs: Vec<&[u32]> = missing.iter().map(|(_, t)| t.as_slice()).collect();
    let caches = crate::prefill::prefill(model, &seqs, max_rows).map_err(backend)?;
    for ((q, t), c) in missing.into_iter().zip(caches) {
        cost.insert(q, t.len());
        roots.insert(q, (c, t));
    }
    Ok(cost)
}

/// One empty [`Scored`] per request, each question's root cost charged to its first.
pub(crate) fn charged(reqs: &[ScoreRequest<'_>], root_cost: &HashMap<usize, usize>) -> Vec<Scored> {
    let mut seen = std::collections::HashSet::new();
    reqs.iter()
        .map(|r| Scored {
            scores: Vec::new(),
            computed_tokens: if seen.insert(r.question) {
                root_cost.get(&r.question).copied().unwrap_or(0)
            } else {
                0
            },
        })
        .collect()
}

impl Verifier for PrmVerifier<'_> {
    fn score(&mut self, reqs: &[ScoreRequest<'_>]) -> Result<Vec<Scored>> {
        let model = self.engine.model;
        let max_pos = model.max_positions();
        let layouts = reqs
            .iter()
            .map(|r| {
                if r.steps.is_empty() {
                    return Ok(None);
                }
                let p = self.problem(r.question)?;
                Ok(Some(self.reader.layout(&self.engine, p, r.steps)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let max_rows = self.max_rows;
        let root_cost = prefill_roots(
            model,
            &mut self.roots,
            reqs,
            &layouts,
            |l| l.shared.min(max_pos.saturating_sub(1)),
            max_rows,
        )?;
        let mut out = charged(reqs, &root_cost);
        let width = model.head_outputs();
        let mut i = 0;
        while i < reqs.len() {
            let mut rows = Vec::new();
            let mut out_rows = Vec::new();
            let mut owners = Vec::new();
            let mut caches = Vec::new();
            let mut members = Vec::new();
            while i < reqs.len() {
                let (r, Some(l)) = (&reqs[i], &layouts[i]) else {
                    i += 1;
                    continue;
                };
                let n = l.tokens.len().min(max_pos);
                let new_reads = &l.reads[r.new_from.min(l.reads.len())..];
                // Reuse at most up to the first new read (its row must run) and never the
                // whole sequence (a forward needs a row).
                let limit = new_reads
                    .iter()
                    .map(|&e| e.min(n - 1))
                    .min()
                    .unwrap_or(n - 1)
                    .min(n - 1);
                let mut best: Option<(KvCache, usize)> = None;
                let parent = r.parent.and_then(|p| self.seqs.get_mut(&p));
                for base in parent.into_iter().chain(self.roots.get_mut(&r.question)) {
                    if let Some((k, c)) = reuse(base, &l.tokens[..n], limit)
                        && best.as_ref().is_none_or(|(_, b)| c > *b)
                    {
                        best = Some((k, c));
                    }
                }
                let (cache, start) = best.unwrap_or_else(|| (model.new_cache(), 0));
                if !rows.is_empty() && rows.len() + n - start > self.max_rows {
                    break;
                }
                let slot = caches.len();
                let base = rows.len();
                rows.extend(
                    l.tokens[start..n]
                        .iter()
                        .enumerate()
                        .map(|(k, &token)| Row {
                            seq: slot,
                            token,
                            pos: start + k,
                        }),
                );
                for &e in new_reads {
                    // A step past the context limit gets the last position's score.
                    out_rows.push(base + e.min(n - 1) - start);
                    owners.push(i);
                }
                out[i].computed_tokens += n - start;
                caches.push(cache);
                members.push((i, n));
                i += 1;
            }
            if rows.is_empty() {
                continue;
            }
            let outputs = model
                .forward(&mut caches, &rows, &out_rows)
                .map_err(backend)?;
            let scores = self.reader.scores(&outputs, width).map_err(|r| {
                let q = &reqs[owners[r]];
                Error::Input(format!(
                    "question {} node {}: the PRM's score is not finite (NaN or inf); its weights or inputs are corrupt",
                    q.question, q.node
                ))
            })?;
            for (s, &o) in scores.into_iter().zip(&owners) {
                out[o].scores.push(s);
            }
            for ((k, n), cache) in members.into_iter().zip(caches) {
                let l = layouts[k].as_ref().expect("laid out");
                self.seqs
                    .insert(reqs[k].node, (cache, l.tokens[..n].to_vec()));
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
}
