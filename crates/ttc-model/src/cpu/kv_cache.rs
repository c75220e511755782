//! The KV cache of one sequence for the CPU decoder, as its own struct (STYLE 5): a chain
//! of frozen, shared prefix blocks (`Arc`) plus a private growing tail. [`SeqCache::fork`]
//! freezes the tail and hands out a new cache that shares every block — N continuations of
//! a prompt, beams and DVTS subtrees share their prefix without copying or recomputing it.
//!
//! Layout per block and layer: `[pos][kv_head][head_dim]`, so appending a position is one
//! contiguous `extend_from_slice`.

use std::sync::Arc;

/// K and V for a run of positions, all layers.
#[derive(Debug, Clone, Default)]
pub struct KvBlock {
    /// Per layer: `[len, kv_heads * head_dim]`.
    pub k: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    pub len: usize,
}

impl KvBlock {
    fn new(layers: usize) -> Self {
        KvBlock {
            k: vec![Vec::new(); layers],
            v: vec![Vec::new(); layers],
            len: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|x| x.capacity() * 4).sum()
    }
}

/// One sequence's cache: shared prefix blocks + own tail.
#[derive(Debug, Clone)]
pub struct SeqCache {
    pub blocks: Vec<Arc<KvBlock>>,
    pub tail: KvBlock,
    layers: usize,
}

impl SeqCache {
    pub fn new(layers: usize) -> Self {
        SeqCache {
            blocks: Vec::new(),
            tail: KvBlock::new(layers),
            layers,
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.len).sum::<usize>() + self.tail.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop everything (reuse the struct).
    pub fn reset(&mut self) {
        self.blocks.clear();
        self.tail = KvBlock::new(self.layers);
    }

    /// A new cache sharing this one's contents. The tail is frozen into a shared block
    /// first, so neither side copies anything and both may grow independently.
    pub fn fork(&mut self) -> SeqCache {
        if self.tail.len > 0 {
            let tail = std::mem::replace(&mut self.tail, KvBlock::new(self.layers));
            self.blocks.push(Arc::new(tail));
        }
        SeqCache {
            blocks: self.blocks.clone(),
            tail: KvBlock::new(self.layers),
            layers: self.layers,
        }
    }

    /// A new cache sharing this one's first `n` positions (at most [`SeqCache::len`]): the
    /// whole blocks before `n` are shared, the positions of the block `n` cuts are copied.
    pub fn fork_prefix(&mut self, n: usize) -> SeqCache {
        let mut f = self.fork();
        let mut kept = 0;
        let mut shared = Vec::new();
        for b in std::mem::take(&mut f.blocks) {
            if kept + b.len <= n {
                kept += b.len;
                shared.push(b);
                continue;
            }
            let m = n - kept;
            if m > 0 {
                for l in 0..self.layers {
                    let w = b.k[l].len() / b.len;
                    f.tail.k[l].extend_from_slice(&b.k[l][..m * w]);
                    f.tail.v[l].extend_from_slice(&b.v[l][..m * w]);
                }
                f.tail.len = m;
            }
            break;
        }
        f.blocks = shared;
        f
    }

    /// Append one position's K and V for `layer` (`kv_heads * head_dim` values each).
    /// Call for every layer, then [`SeqCache::commit`].
    #[inline]
    pub fn push(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        self.tail.k[layer].extend_from_slice(k);
        self.tail.v[layer].extend_from_slice(v);
    }

    /// Close the positions pushed for every layer.
    pub fn commit(&mut self, n: usize) {
        self.tail.len += n;
    }

    /// K and V slices of `layer` in position order, block by block, with their lengths.
    pub fn segments(&self, layer: usize) -> impl Iterator<Item = (&[f32], &[f32])> {
        self.blocks
            .iter()
            .map(move |b| (b.k[layer].as_slice(), b.v[layer].as_slice()))
            .chain(std::iter::once((
                self.tail.k[layer].as_slice(),
                self.tail.v[layer].as_slice(),
            )))
    }

    /// Bytes held by this cache's own tail (shared blocks are not counted).
    pub fn own_bytes(&self) -> usize {
        self.tail.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_prefix_keeps_the_first_positions() {
        let mut a = SeqCache::new(2);
        for p in 0..3 {
            let x = p as f32;
            a.push(0, &[x, x], &[-x, -x]);
            a.push(1, &[x + 10.0, x + 10.0], &[x, x]);
            a.commit(1);
        }
        let mut b = a.fork();
        b.push(0, &[3.0, 3.0], &[-3.0, -3.0]);
        b.push(1, &[13.0, 13.0], &[3.0, 3.0]);
        b.commit(1);
        for n in 0..=4 {
            let c = b.fork_prefix(n);
            assert_eq!(c.len(), n);
            let k: Vec<f32> = c.segments(1).flat_map(|(k, _)| k.to_vec()).collect();
            let want: Vec<f32> = (0..n).flat_map(|p| [p as f32 + 10.0; 2]).collect();
            assert_eq!(k, want, "n = {n}");
        }
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn fork_shares_prefix_and_grows_independently() {
        let mut a = SeqCache::new(1);
        a.push(0, &[1.0, 2.0], &[3.0, 4.0]);
        a.commit(1);
        let mut b = a.fork();
        assert_eq!((a.len(), b.len()), (1, 1));
        assert!(Arc::ptr_eq(&a.blocks[0], &b.blocks[0]));
        b.push(0, &[5.0, 6.0], &[7.0, 8.0]);
        b.commit(1);
        assert_eq!((a.len(), b.len()), (1, 2));
        let ks: Vec<f32> = b.segments(0).flat_map(|(k, _)| k.to_vec()).collect();
        assert_eq!(ks, vec![1.0, 2.0, 5.0, 6.0]);
        let ks: Vec<f32> = a.segments(0).flat_map(|(k, _)| k.to_vec()).collect();
        assert_eq!(ks, vec![1.0, 2.0]);
        a.reset();
        assert!(a.is_empty());
    }
}
