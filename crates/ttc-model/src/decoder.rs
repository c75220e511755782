//! The one interface every local model backend offers the generation engine
//! (the engine in `ttc-engine`): run a batch of rows (prefill chunks and single decode
//! steps of many sequences) against their KV caches and return the head's outputs.
//! Tokenization, sampling, stop strings, EOS, forking and the token accounting live in the
//! engine, above this trait, so they are the same for every backend by construction.
//!
//! Backends: [`crate::cpu::CpuModel`] (host f32, hand-tuned for batched CPU decode) and
//! [`crate::burn_decoder::BurnDecoder`] (any burn backend — flex on the CPU, burn-cuda on a
//! GPU — with a preallocated paged KV cache on the device).

use crate::burn_decoder::paged_cache::PagedSeq;
use crate::config::LlamaConfig;
use crate::cpu::kv_cache::SeqCache;
use crate::cpu::{CpuModel, Row};
use crate::remote::{RemoteGenerate, RemoteSeq};
use crate::{Error, Result};

/// A sequence's KV cache, in the form its backend keeps it.
#[derive(Debug)]
pub enum KvCache {
    /// Host memory: blocks of K/V values ([`crate::cpu`]).
    Host(SeqCache),
    /// Rows of a device pool ([`crate::burn_decoder`]).
    Paged(PagedSeq),
    /// The tokens a remote server holds for the sequence ([`crate::remote`]).
    Remote(RemoteSeq),
}

impl KvCache {
    /// What a sequence holds while its cache is lent to a forward call.
    pub fn placeholder() -> KvCache {
        KvCache::Host(SeqCache::new(0))
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        match self {
            KvCache::Host(c) => c.len(),
            KvCache::Paged(c) => c.len(),
            KvCache::Remote(c) => c.tokens.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache sharing this one's contents (no copy, no recomputation).
    pub fn fork(&mut self) -> KvCache {
        match self {
            KvCache::Host(c) => KvCache::Host(c.fork()),
            KvCache::Paged(c) => KvCache::Paged(c.fork()),
            KvCache::Remote(c) => KvCache::Remote(c.clone()),
        }
    }

    /// A cache holding this one's first `n` positions (at most its length): `None` where
    /// the backend cannot cut a cache short of its end (the device pool).
    pub fn fork_prefix(&mut self, n: usize) -> Option<KvCache> {
        match self {
            KvCache::Host(c) => Some(KvCache::Host(c.fork_prefix(n))),
            KvCache::Paged(c) => (n == c.len()).then(|| KvCache::Paged(c.fork())),
            KvCache::Remote(c) => Some(KvCache::Remote(RemoteSeq {
                tokens: c.tokens[..n].to_vec(),
            })),
        }
    }

    /// Which backend keeps it, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            KvCache::Host(_) => "host (cpu backend)",
            KvCache::Paged(_) => "device (burn backend)",
            KvCache::Remote(_) => "remote",
        }
    }
}

/// A model the engine can run.
pub trait Decoder: Send + Sync {
    fn config(&self) -> &LlamaConfig;
    /// Outputs per row of the head (vocab for a causal LM, labels for a score head).
    fn head_outputs(&self) -> usize;
    /// Positions the model can attend over (its RoPE table).
    fn max_positions(&self) -> usize;
    fn new_cache(&self) -> KvCache;
    /// Run `rows` through the model, appending their K/V to `caches[row.seq]`, and return
    /// head outputs for the rows in `out_rows`, `[out_rows.len(), head_outputs]` row-major.
    /// Rows of one sequence are consecutive, at consecutive positions starting at that
    /// cache's length.
    fn forward(&self, caches: &mut [KvCache], rows: &[Row], out_rows: &[usize])
    -> Result<Vec<f32>>;
    /// What runs the model, for logs and benchmarks ("cpu", "burn-flex", "burn-cuda:0 bf16").
    fn describe(&self) -> String;
    /// A model on a server samples there: the engine sends it whole continuations
    /// ([`RemoteGenerate`]) and asks [`Decoder::forward`] for no logits of a causal LM.
    fn remote(&self) -> Option<&dyn RemoteGenerate> {
        None
    }
}

/// Check the caller's rows against the caches: consecutive positions from each cache's
/// length, inside the model's context. (Every backend relies on it.)
pub fn check_rows(
    caches: &[KvCache],
    rows: &[Row],
    out_rows: &[usize],
    max_positions: usize,
) -> Result<()> {
    let mut next: Vec<Option<usize>> = vec![None; caches.len()];
    for r in rows {
        let c = caches.get(r.seq).ok_or_else(|| {
            Error::Config(format!("row for sequence {} of {}", r.seq, caches.len()))
        })?;
        let want = next[r.seq].unwrap_or(c.len());
        if r.pos != want {
            return Err(Error::Config(format!(
                "sequence {}: row at position {} where {want} comes next",
                r.seq, r.pos
            )));
        }
        if r.pos >= max_positions {
            return Err(Error::Config(format!(
                "position {} exceeds max_position_embeddings {max_positions}",
                r.pos
            )));
        }
        next[r.seq] = Some(want + 1);
    }
    if let Some(&o) = out_rows.iter().find(|&&o| o >= rows.len()) {
        return Err(Error::Config(format!(
            "output row {o} of {} rows",
            rows.len()
        )));
    }
    Ok(())
}

impl Decoder for CpuModel {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }
    fn head_outputs(&self) -> usize {
        CpuModel::head_outputs(self)
    }
    fn max_positions(&self) -> usize {
        CpuModel::max_positions(self)
    }
    fn new_cache(&self) -> KvCache {
        KvCache::Host(CpuModel::new_cache(self))
    }
    fn forward(
        &self,
        caches: &mut [KvCache],
        rows: &[Row],
        out_rows: &[usize],
    ) -> Result<Vec<f32>> {
        check_rows(caches, rows, out_rows, self.max_positions())?;
        if let Some(i) = caches.iter().position(|c| !matches!(c, KvCache::Host(_))) {
            return Err(Error::Config(format!(
                "sequence {i} holds a {} cache; the cpu backend needs its own",
                caches[i].kind()
            )));
        }
        let host: Vec<SeqCache> = caches
            .iter_mut()
            .map(|c| match c {
                KvCache::Host(h) => std::mem::replace(h, SeqCache::new(0)),
                KvCache::Paged(_) | KvCache::Remote(_) => unreachable!("checked above"),
            })
            .collect();
        let mut host = host;
        let out = CpuModel::forward(self, &mut host, rows, out_rows);
        for (c, h) in caches.iter_mut().zip(host) {
            *c = KvCache::Host(h);
        }
        Ok(out)
    }
    fn describe(&self) -> String {
        if self.has_half_weights() {
            "cpu (half-precision weights)".into()
        } else {
            "cpu".into()
        }
    }
}
