//! Decoding, step by step, over a set of sequences that may change between steps
//! ([`Decoding`]): [`Engine::decode_limited`] admits a fixed set and steps until all end;
//! `ttc serve` admits requests as they arrive and steps whatever is live (continuous
//! batching). Each member keeps its own sampling parameters, seed, token limit, stop
//! strings and text, so members of different requests share one forward per step.
//!
//! On a remote backend ([`crate::remote`]) the server samples: the engine sends each
//! sequence as one request and books the result exactly as a local decode would.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::engine::{Engine, Sequence};
use ttc_core::confidence::{GroupWindow, token_confidence};
use ttc_model::cpu::Row;
use ttc_model::decoder::KvCache;
use ttc_model::generation::{FinishReason, Generation, TokenLogprob, stop_hit};
use ttc_model::remote::{CompletionRequest, RemoteGenerate, RemoteSeq};
use ttc_model::sampling::{LogitsProcessor, SamplingParams, token_logprob};
use ttc_model::{Error, Result};

/// One sequence being decoded, tagged by the caller.
struct Member<T> {
    tag: T,
    seq: Sequence,
    params: Arc<SamplingParams>,
    sampler: LogitsProcessor,
    /// New tokens at most.
    limit: usize,
    produced: Vec<u32>,
    text: Vec<u8>,
    computed: usize,
    /// Per produced token, when the params ask for log-probabilities.
    logprobs: Vec<TokenLogprob>,
    /// The window of token confidences and the threshold it must not fall below.
    gate: Option<(GroupWindow, f32)>,
}

/// A sequence that ended, with what it generated.
pub struct Finished<T> {
    pub tag: T,
    pub seq: Sequence,
    pub generation: Generation,
}

/// A sequence to admit: its tag, sampling parameters, seed and new-token limit.
pub struct Admit<T> {
    pub tag: T,
    pub seq: Sequence,
    pub params: Arc<SamplingParams>,
    pub seed: u64,
    pub limit: usize,
    /// (window, threshold): end the sequence at the token where the mean confidence of its
    /// last `window` tokens falls below `threshold` (needs `params.logprobs`).
    pub gate: Option<(usize, f32)>,
}

/// The sequences being decoded together.
pub struct Decoding<T> {
    members: Vec<Member<T>>,
}

impl<T> Default for Decoding<T> {
    fn default() -> Self {
        Decoding {
            members: Vec::new(),
        }
    }
}

impl<T> Decoding<T> {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl Engine<'_> {
    /// Add sequences to `d`; their pending tokens are computed first, in one batch.
    pub fn admit<T>(&self, d: &mut Decoding<T>, items: Vec<Admit<T>>) -> Result<()> {
        let mut seqs: Vec<Sequence> = Vec::with_capacity(items.len());
        let mut rest = Vec::with_capacity(items.len());
        for a in items {
            seqs.push(a.seq);
            if a.gate.is_some() && a.params.logprobs.is_none() {
                return Err(Error::Decode(
                    "a confidence gate needs log-probabilities (params.logprobs)".into(),
                ));
            }
            rest.push((a.tag, a.params, a.seed, a.limit, a.gate));
        }
        let pend: Vec<(usize, &[u32])> = seqs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.pending.is_some())
            .map(|(i, _)| (i, &[][..]))
            .collect();
        let had: Vec<bool> = seqs.iter().map(|s| s.pending.is_some()).collect();
        if !pend.is_empty() {
            self.extend(&mut seqs, &pend)?;
        }
        for ((seq, (tag, params, seed, limit, gate)), pending) in
            seqs.into_iter().zip(rest).zip(had)
        {
            d.members.push(Member {
                tag,
                seq,
                limit: limit.min(params.max_new_tokens),
                params,
                sampler: LogitsProcessor::new(seed),
                produced: Vec::new(),
                text: Vec::new(),
                computed: pending as usize,
                logprobs: Vec::new(),
                gate: gate.map(|(w, t)| (GroupWindow::new(w), t)),
            });
        }
        Ok(())
    }

    /// One step: sample a token for every member, run those that go on through the model
    /// (`max_batch` at a time); returns the members that ended, in admission order.
    pub fn step<T>(&self, d: &mut Decoding<T>) -> Result<Vec<Finished<T>>> {
        let max_pos = self.model.max_positions();
        let mut done = Vec::new();
        let mut live = Vec::with_capacity(d.members.len());
        for mut m in std::mem::take(&mut d.members) {
            let finish = self.sample_one(&mut m, max_pos);
            match finish {
                Some(f) => done.push((m, f)),
                None => live.push(m),
            }
        }
        let v = self.model.head_outputs();
        for chunk in live.chunks_mut(self.max_batch) {
            let mut caches: Vec<KvCache> = Vec::with_capacity(chunk.len());
            let mut rows = Vec::with_capacity(chunk.len());
            for (slot, m) in chunk.iter_mut().enumerate() {
                let t = m.seq.pending.take().expect("sampled token pending");
                m.computed += 1;
                rows.push(Row {
                    seq: slot,
                    token: t,
                    pos: m.seq.cache.len(),
                });
                caches.push(std::mem::replace(&mut m.seq.cache, KvCache::placeholder()));
            }
            let all: Vec<usize> = (0..rows.len()).collect();
            let logits = self.model.forward(&mut caches, &rows, &all)?;
            self.counters
                .decode_tokens
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            for ((slot, m), cache) in chunk.iter_mut().enumerate().zip(caches) {
                m.seq.cache = cache;
                m.seq.logits = Arc::new(logits[slot * v..(slot + 1) * v].to_vec());
            }
        }
        d.members = live;
        Ok(done
            .into_iter()
            .map(|(m, f)| {
                let generation = self.generation(m.produced, f, m.computed, &m.params, m.logprobs);
                Finished {
                    tag: m.tag,
                    seq: m.seq,
                    generation,
                }
            })
            .collect())
    }

    /// Sample member `m`'s next token; `Some` when that ends it.
    fn sample_one<T>(&self, m: &mut Member<T>, max_pos: usize) -> Option<FinishReason> {
        if m.seq.logits.iter().any(|x| !x.is_finite()) {
            return Some(FinishReason::NonFinite);
        }
        let t = m.sampler.sample(&m.seq.logits, &m.params);
        let mut below = false;
        if let Some(k) = m.params.logprobs {
            let lp = token_logprob(&m.seq.logits, t, k);
            if let Some((window, threshold)) = &mut m.gate {
                let c = token_confidence(lp.top.iter().map(|x| x.1));
                below = window.push(c).is_some_and(|mean| mean < *threshold);
            }
            m.logprobs.push(lp);
        }
        self.counters.sampled_tokens.fetch_add(1, Ordering::Relaxed);
        m.produced.push(t);
        m.seq.tokens.push(t);
        m.seq.pending = Some(t);
        let before = m.text.len();
        if below {
            if !self.is_eos(t) {
                m.text.extend_from_slice(self.token_bytes(t));
            }
            return Some(FinishReason::LowConfidence);
        }
        if self.is_eos(t) {
            return Some(FinishReason::Eos);
        }
        m.text.extend_from_slice(self.token_bytes(t));
        if stop_hit(&m.text, before, &m.params.stop).is_some() {
            Some(FinishReason::Stop)
        } else if m.produced.len() >= m.limit || m.seq.cache.len() + 1 >= max_pos {
            Some(FinishReason::Length)
        } else {
            None
        }
    }

    fn generation(
        &self,
        tokens: Vec<u32>,
        finish: FinishReason,
        computed_tokens: usize,
        params: &SamplingParams,
        logprobs: Vec<TokenLogprob>,
    ) -> Generation {
        let stop = (finish == FinishReason::Stop).then_some(params.stop.as_slice());
        let text = self.decode_text(&tokens, stop);
        Generation {
            generated_tokens: tokens.len(),
            computed_tokens,
            tokens,
            text,
            finish,
            logprobs,
        }
    }

    /// Generate until a stop condition for every sequence, stepping them together.
    /// `seeds[i]` seeds sequence `i`'s sampler. Returns each sequence (resumable) with its
    /// generation, in input order.
    pub fn decode(
        &self,
        seqs: Vec<Sequence>,
        params: &SamplingParams,
        seeds: &[u64],
    ) -> Result<Vec<(Sequence, Generation)>> {
        self.decode_limited(seqs, params, seeds, None)
    }

    /// [`Engine::decode`] with a per-sequence cap on new tokens (`limits[i]`, also capped
    /// by `params.max_new_tokens`): paths of different lengths share one batch.
    pub fn decode_limited(
        &self,
        seqs: Vec<Sequence>,
        params: &SamplingParams,
        seeds: &[u64],
        limits: Option<&[usize]>,
    ) -> Result<Vec<(Sequence, Generation)>> {
        self.decode_gated(seqs, params, seeds, limits, None)
    }

    /// [`Engine::decode_limited`] with a per-sequence confidence gate (`gates[i]` =
    /// (window, threshold), see [`Admit::gate`]); a local decode only, where each token's
    /// log-probabilities are at hand.
    pub fn decode_gated(
        &self,
        seqs: Vec<Sequence>,
        params: &SamplingParams,
        seeds: &[u64],
        limits: Option<&[usize]>,
        gates: Option<&[Option<(usize, f32)>]>,
    ) -> Result<Vec<(Sequence, Generation)>> {
        assert_eq!(seqs.len(), seeds.len(), "one seed per sequence");
        if let Some(l) = limits {
            assert_eq!(l.len(), seqs.len(), "one limit per sequence");
        }
        if let Some(g) = gates {
            assert_eq!(g.len(), seqs.len(), "one gate per sequence");
        }
        let limit = |i: usize| limits.map_or(params.max_new_tokens, |l| l[i]);
        let gate = |i: usize| gates.and_then(|g| g[i]);
        if let Some(remote) = self.model.remote() {
            if (0..seqs.len()).any(|i| gate(i).is_some()) {
                return Err(Error::Decode(
                    "a confidence gate needs a local decode (the server samples on its own)".into(),
                ));
            }
            return self.decode_remote(remote, seqs, params, seeds, &limit);
        }
        let n = seqs.len();
        let shared = Arc::new(params.clone());
        let mut d = Decoding::default();
        let items = seqs
            .into_iter()
            .enumerate()
            .map(|(i, seq)| Admit {
                tag: i,
                seq,
                params: shared.clone(),
                seed: seeds[i],
                limit: limit(i),
                gate: gate(i),
            })
            .collect();
        self.admit(&mut d, items)?;
        let mut out: Vec<Option<(Sequence, Generation)>> = (0..n).map(|_| None).collect();
        while !d.is_empty() {
            for f in self.step(&mut d)? {
                out[f.tag] = Some((f.seq, f.generation));
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every sequence finishes"))
            .collect())
    }

    /// [`Engine::decode_limited`] on a server: one request per sequence, booked as the
    /// local loop books it (the pending token computed, every sampled token but the last
    /// run through the model), so the accounting does not depend on the backend.
    fn decode_remote(
        &self,
        remote: &dyn RemoteGenerate,
        mut seqs: Vec<Sequence>,
        params: &SamplingParams,
        seeds: &[u64],
        limit: &dyn Fn(usize) -> usize,
    ) -> Result<Vec<(Sequence, Generation)>> {
        let max_pos = self.model.max_positions();
        let reqs: Vec<CompletionRequest> = seqs
            .iter()
            .enumerate()
            .map(|(i, s)| CompletionRequest {
                tokens: &s.tokens,
                params,
                seed: seeds[i],
                // The local loop ends at the context limit the same way.
                max_tokens: limit(i)
                    .min(params.max_new_tokens)
                    .min(max_pos.saturating_sub(s.tokens.len()))
                    .max(1),
            })
            .collect();
        let outs = remote.complete(&reqs)?;
        if outs.len() != seqs.len() {
            return Err(Error::Remote(format!(
                "{} completions for {} requests",
                outs.len(),
                seqs.len()
            )));
        }
        let mut result = Vec::with_capacity(seqs.len());
        for (i, (mut s, c)) in seqs.drain(..).zip(outs).enumerate() {
            let Some(&last) = c.tokens.last() else {
                return Err(Error::Remote(format!(
                    "request {i}: the server generated no token"
                )));
            };
            let pend = s.pending.is_some() as usize;
            let g = c.tokens.len();
            s.tokens.extend_from_slice(&c.tokens);
            s.pending = Some(last);
            s.cache = KvCache::Remote(RemoteSeq {
                tokens: s.tokens[..s.tokens.len() - 1].to_vec(),
            });
            let ctr = &self.counters;
            ctr.prefill_tokens.fetch_add(pend as u64, Ordering::Relaxed);
            ctr.decode_tokens.fetch_add(g as u64 - 1, Ordering::Relaxed);
            ctr.sampled_tokens.fetch_add(g as u64, Ordering::Relaxed);
            if params.logprobs.is_some() && c.logprobs.len() != g {
                return Err(Error::Remote(format!(
                    "request {i}: {} log-probabilities for {g} tokens (asked for logprobs)",
                    c.logprobs.len()
                )));
            }
            let generation = self.generation(c.tokens, c.finish, pend + g - 1, params, c.logprobs);
            result.push((s, generation));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_delimiter_stop_is_found_once_complete() {
        let stops = vec!["\n\n".to_string()];
        let buf = b"b = 3 + 4 = 7\n";
        assert_eq!(stop_hit(buf, 0, &stops), None);
        let buf = b"b = 3 + 4 = 7\n\nc";
        // Completed by the last token (which added "\nc" at offset 14).
        assert_eq!(stop_hit(buf, 14, &stops), Some(15));
        assert_eq!(&buf[..15], b"b = 3 + 4 = 7\n\n");
        // Already complete before the new bytes: not reported again as new.
        let buf = b"a\n\nb\n\n";
        assert_eq!(stop_hit(buf, 5, &stops), Some(6));
    }
}
