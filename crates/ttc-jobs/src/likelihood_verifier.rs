//! A causal LM's likelihood (the policy's own, or a verifier trained past it) as a search
//! [`Verifier`]: a step scores `exp(mean log p)` of the solution's tokens up to its end,
//! exactly as [`crate::likelihood_scorer`] scores a whole sample — so search can be guided
//! by a language model instead of the PRM, and compared with it at the same budgets.
//!
//! Like [`crate::prm_verifier`], each request's steps are laid out whole and the cached
//! sequence of the node's parent (or the question's prompt) is reused; a node also keeps
//! the log-probabilities of its tokens, so a new step costs its own tokens plus one: the
//! first differing token's log p sits on the row before it, which is run again.

use std::collections::HashMap;

use ttc_engine::Engine;
use ttc_model::cpu::Row;
use ttc_model::decoder::KvCache;
use ttc_search::tree::NodeId;
use ttc_search::{Error, Result, ScoreRequest, Scored, Verifier};

use crate::likelihood_scorer::{log_softmax_at, require_logits, rows_for_vocab, step_scores};
use crate::prm_format::{Calibration, ReadLayout, render, ttc_layout};
use crate::prm_verifier::{Cached, backend, charged, prefill_roots};

/// A node's cached sequence and the log p of its solution tokens (`log_probs[j]` is token
/// `first + j`'s, `first` the prompt's length).
struct NodeSeq {
    cache: KvCache,
    tokens: Vec<u32>,
    log_probs: Vec<f64>,
}

/// The policy's likelihood as a [`Verifier`].
pub struct LikelihoodVerifier<'m> {
    engine: Engine<'m>,
    problems: Vec<String>,
    /// Question → its prompt less the last token (whose row predicts the first solution
    /// token, so it runs with each node).
    roots: HashMap<usize, Cached>,
    seqs: HashMap<NodeId, NodeSeq>,
    /// Rows per forward call (each returns its logits: bounded by the vocabulary).
    pub max_rows: usize,
    /// A likelihood PRM's reading of `exp(mean log p)`; `None`: the raw geometric mean.
    calibration: Option<Calibration>,
}

/// Tokens `a` and `b` have in common at the start.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// One request laid into a forward: where its rows start and which outputs it reads.
struct Member {
    req: usize,
    /// Tokens run through the model (`kept..n`).
    n: usize,
    kept: usize,
    /// First solution token.
    first: usize,
    /// Log p inherited from the parent (tokens `first..=kept`).
    inherited: Vec<f64>,
    /// Index of this member's first output row.
    out_base: usize,
}

impl<'m> LikelihoodVerifier<'m> {
    /// A verifier over the policy (`engine` carries its prompt). Refuses a model without
    /// logits (on a server, or a score head).
    pub fn new(engine: Engine<'m>, problems: Vec<String>) -> Result<Self> {
        require_logits(engine.model).map_err(|e| Error::Input(e.to_string()))?;
        let max_rows = rows_for_vocab(engine.model.head_outputs());
        Ok(LikelihoodVerifier {
            engine,
            problems,
            roots: HashMap::new(),
            seqs: HashMap::new(),
            max_rows,
            calibration: None,
        })
    }

    /// Scores read through a likelihood PRM's calibration.
    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = Some(calibration);
        self
    }

    fn layout(&self, q: usize, steps: &[String]) -> Result<ReadLayout> {
        let p = self.problems.get(q).ok_or_else(|| {
            Error::Input(format!("no question {q} (have {})", self.problems.len()))
        })?;
        let prompt = render(self.engine.prompt(), p).map_err(|e| Error::Input(e.to_string()))?;
        ttc_layout(&self.engine, &prompt, steps).map_err(|e| Error::Input(e.to_string()))
    }

    /// The cache to start request `r` from (`tokens` its first `n`): its parent's or its
    /// question's prompt, whichever keeps more, with the log p it inherits.
    fn start(&mut self, r: &ScoreRequest<'_>, tokens: &[u32], first: usize) -> (KvCache, Member) {
        let n = tokens.len();
        let mut best: (usize, Option<(KvCache, Vec<f64>)>) = (0, None);
        if let Some(p) = r.parent.and_then(|p| self.seqs.get_mut(&p)) {
            // Keep one token less than in common: the first differing token's log p is
            // read on the row before it.
            let kept = common_prefix(&p.tokens, tokens)
                .saturating_sub(1)
                .min(n - 1);
            if kept > 0
                && let Some(k) = p.cache.fork_prefix(kept)
            {
                let inherited = p.log_probs[..(kept + 1).saturating_sub(first)].to_vec();
                best = (kept, Some((k, inherited)));
            }
        }
        if let Some(root) = self.roots.get_mut(&r.question) {
            let kept = common_prefix(&root.1, tokens).min(n - 1);
            if kept > best.0
                && let Some(k) = root.0.fork_prefix(kept)
            {
                best = (kept, Some((k, Vec::new())));
            }
        }
        let (kept, found) = best;
        let (cache, inherited) =
            found.unwrap_or_else(|| (self.engine.model.new_cache(), Vec::new()));
        let member = Member {
            req: 0,
            n,
            kept,
            first,
            inherited,
            out_base: 0,
        };
        (cache, member)
    }
}

impl Verifier for LikelihoodVerifier<'_> {
    fn score(&mut self, reqs: &[ScoreRequest<'_>]) -> Result<Vec<Scored>> {
        let model = self.engine.model;
        let max_pos = model.max_positions();
        let vocab = model.head_outputs();
        let layouts = reqs
            .iter()
            .map(|r| {
                (!r.steps.is_empty())
                    .then(|| self.layout(r.question, r.steps))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        // A root holds the prompt less its last token, whose row predicts the first
        // solution token and so runs with each node.
        let root_cost = prefill_roots(
            model,
            &mut self.roots,
            reqs,
            &layouts,
            |l| l.shared.saturating_sub(1),
            self.max_rows,
        )?;
        let mut out = charged(reqs, &root_cost);
        let mut i = 0;
        while i < reqs.len() {
            let mut rows = Vec::new();
            let mut out_rows = Vec::new();
            let mut caches = Vec::new();
            let mut members: Vec<Member> = Vec::new();
            while i < reqs.len() {
                let Some(l) = &layouts[i] else {
                    i += 1;
                    continue;
                };
                let n = l.tokens.len().min(max_pos);
                let first = l.shared.max(1);
                let (cache, mut m) = self.start(&reqs[i], &l.tokens[..n], first);
                if !rows.is_empty() && rows.len() + n - m.kept > self.max_rows {
                    break;
                }
                let slot = caches.len();
                let base = rows.len();
                rows.extend(
                    l.tokens[m.kept..n]
                        .iter()
                        .enumerate()
                        .map(|(k, &token)| Row {
                            seq: slot,
                            token,
                            pos: m.kept + k,
                        }),
                );
                // Rows that predict a solution token not inherited: positions
                // max(kept, first - 1) ..= n - 2.
                m.out_base = out_rows.len();
                for pos in m.kept.max(first - 1)..n.saturating_sub(1) {
                    out_rows.push(base + pos - m.kept);
                }
                m.req = i;
                out[i].computed_tokens += n - m.kept;
                caches.push(cache);
                members.push(m);
                i += 1;
            }
            if rows.is_empty() {
                continue;
            }
            let logits = model
                .forward(&mut caches, &rows, &out_rows)
                .map_err(backend)?;
            for (m, cache) in members.into_iter().zip(caches) {
                let r = &reqs[m.req];
                let l = layouts[m.req].as_ref().expect("laid out");
                let mut log_probs = m.inherited;
                let from = m.kept.max(m.first - 1);
                for (k, pos) in (from..m.n.saturating_sub(1)).enumerate() {
                    let row = &logits[(m.out_base + k) * vocab..(m.out_base + k + 1) * vocab];
                    let lp = log_softmax_at(row, l.tokens[pos + 1] as usize);
                    if !lp.is_finite() {
                        return Err(Error::Input(format!(
                            "question {} node {}: the policy's logits are not finite (NaN or inf); its weights or inputs are corrupt",
                            r.question, r.node
                        )));
                    }
                    log_probs.push(lp);
                }
                let new_reads = &l.reads[r.new_from.min(l.reads.len())..];
                out[m.req].scores = step_scores(&log_probs, m.first, new_reads);
                if let Some(c) = &self.calibration {
                    for x in &mut out[m.req].scores {
                        *x = c.apply(*x);
                    }
                }
                self.seqs.insert(
                    r.node,
                    NodeSeq {
                        cache,
                        tokens: l.tokens[..m.n].to_vec(),
                        log_probs,
                    },
                );
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
