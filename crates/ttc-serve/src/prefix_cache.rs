//! Automatic prefix caching for `ttc serve` (as vLLM's `--enable-prefix-caching`): the
//! sequences the worker has computed (prefilled prompts, finished continuations) are kept,
//! keyed by their tokens, and a request whose prompt starts with one of them forks it and
//! computes only the rest. Search resends a path's whole prefix every step; with the cache
//! the server computes each step once, as the in-process engine does. The outputs are the
//! same bits either way (prefill and decode agree row for row on the cpu backend).
//!
//! Least recently used entries leave first once more than `capacity` are kept.

use std::collections::{BTreeMap, HashMap};

use ttc_engine::Sequence;

struct Entry {
    seq: Sequence,
    used: u64,
}

pub struct PrefixCache {
    capacity: usize,
    /// Key: hash of the sequence's tokens (pending token included).
    entries: HashMap<u64, Entry>,
    /// Token counts of the entries (how many of each), to try only lengths that exist.
    lens: BTreeMap<usize, usize>,
    clock: u64,
}

/// One step of the rolling hash.
fn roll(x: u64, t: u32) -> u64 {
    (x ^ u64::from(t))
        .wrapping_mul(0x0100_0000_01b3)
        .rotate_left(5)
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// The hash of every prefix: `h[i]` covers `tokens[..i]`.
fn prefix_hashes(tokens: &[u32]) -> Vec<u64> {
    let mut h = Vec::with_capacity(tokens.len() + 1);
    h.push(SEED);
    for &t in tokens {
        h.push(roll(*h.last().expect("seeded"), t));
    }
    h
}

/// The hash of the whole of `tokens` (the last of [`prefix_hashes`]).
fn hash(tokens: &[u32]) -> u64 {
    tokens.iter().fold(SEED, |x, &t| roll(x, t))
}

impl PrefixCache {
    pub fn new(capacity: usize) -> Self {
        PrefixCache {
            capacity,
            entries: HashMap::new(),
            lens: BTreeMap::new(),
            clock: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep `seq` (a computed sequence) for later requests.
    pub fn insert(&mut self, seq: Sequence) {
        if self.capacity == 0 || seq.tokens.is_empty() {
            return;
        }
        self.clock += 1;
        let key = hash(&seq.tokens);
        let n = seq.tokens.len();
        match self.entries.get_mut(&key) {
            Some(e) => e.used = self.clock,
            None => {
                self.entries.insert(
                    key,
                    Entry {
                        seq,
                        used: self.clock,
                    },
                );
                *self.lens.entry(n).or_default() += 1;
            }
        }
        while self.entries.len() > self.capacity {
            let (&old, _) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .expect("non-empty");
            let e = self.entries.remove(&old).expect("present");
            let n = e.seq.tokens.len();
            if let Some(c) = self.lens.get_mut(&n) {
                *c -= 1;
                if *c == 0 {
                    self.lens.remove(&n);
                }
            }
        }
    }

    /// The longest kept sequence whose tokens start `tokens`, forked, with its length.
    pub fn lookup(&mut self, tokens: &[u32]) -> Option<(Sequence, usize)> {
        if self.entries.is_empty() {
            return None;
        }
        let h = prefix_hashes(tokens);
        let lens: Vec<usize> = self.lens.range(..=tokens.len()).map(|(&n, _)| n).collect();
        for n in lens.into_iter().rev() {
            if let Some(e) = self.entries.get_mut(&h[n])
                && e.seq.tokens[..] == tokens[..n]
            {
                self.clock += 1;
                e.used = self.clock;
                return Some((e.seq.fork(), n));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_hash_is_the_last_prefix_hash() {
        let t = [5, 1, 9, 9, 0, 3];
        assert_eq!(*prefix_hashes(&t).last().unwrap(), hash(&t));
        assert_eq!(prefix_hashes(&t)[3], hash(&t[..3]));
    }
}
