//! The KV cache of one sequence for a device decoder ([`crate::burn_decoder`]): the K/V
//! values live in one preallocated pool per layer on the device (rows = positions); a
//! sequence holds only the pool rows of its positions, in order. As in [`crate::cpu::kv_cache`],
//! a sequence is a chain of frozen, shared blocks plus a private tail: [`PagedSeq::fork`]
//! freezes the tail and shares every block, so continuations of one prompt, beams and
//! subtrees share their prefix's rows without copying or recomputing them. Rows return to
//! the pool's free list when the last sequence holding them is dropped.

use std::sync::{Arc, Mutex};

/// Free rows of a pool. The pool grows (by doubling) when a sequence needs more rows than
/// are free; the decoder grows its tensors to [`SlotAllocator::capacity`] before writing.
#[derive(Debug, Default)]
pub struct SlotAllocator {
    state: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    free: Vec<u32>,
    capacity: usize,
}

impl SlotAllocator {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(SlotAllocator {
            state: Mutex::new(Slots {
                free: (0..capacity as u32).rev().collect(),
                capacity,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic elsewhere cannot leave the free list half-updated (each update is one
        // push/pop sequence), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` rows, growing the pool when the free list is short.
    pub fn allocate(&self, n: usize) -> Vec<u32> {
        let mut s = self.lock();
        if s.free.len() < n {
            let old = s.capacity;
            let new = (old * 2).max(old + n - s.free.len()).max(64);
            s.free.extend((old as u32..new as u32).rev());
            s.capacity = new;
        }
        let at = s.free.len() - n;
        let mut rows = s.free.split_off(at);
        rows.reverse();
        rows
    }

    fn release(&self, rows: &[u32]) {
        self.lock().free.extend_from_slice(rows);
    }

    /// Rows the pool must hold.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// Rows in use.
    pub fn used(&self) -> usize {
        let s = self.lock();
        s.capacity - s.free.len()
    }
}

/// Pool rows owned by one block; returned to the allocator on drop.
#[derive(Debug)]
struct RowBlock {
    rows: Vec<u32>,
    alloc: Arc<SlotAllocator>,
}

impl Drop for RowBlock {
    fn drop(&mut self) {
        self.alloc.release(&self.rows);
    }
}

/// One sequence's rows in a device pool: shared prefix blocks + own tail.
#[derive(Debug)]
pub struct PagedSeq {
    blocks: Vec<Arc<RowBlock>>,
    tail: RowBlock,
    len: usize,
}

impl PagedSeq {
    pub fn new(alloc: &Arc<SlotAllocator>) -> Self {
        PagedSeq {
            blocks: Vec::new(),
            tail: RowBlock {
                rows: Vec::new(),
                alloc: alloc.clone(),
            },
            len: 0,
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A new sequence sharing this one's rows (nothing is copied on the device).
    pub fn fork(&mut self) -> PagedSeq {
        let alloc = self.tail.alloc.clone();
        if !self.tail.rows.is_empty() {
            let rows = std::mem::take(&mut self.tail.rows);
            self.blocks.push(Arc::new(RowBlock {
                rows,
                alloc: alloc.clone(),
            }));
        }
        PagedSeq {
            blocks: self.blocks.clone(),
            tail: RowBlock {
                rows: Vec::new(),
                alloc,
            },
            len: self.len,
        }
    }

    /// Reserve pool rows for `n` new positions (written by the decoder); returns them.
    pub fn grow(&mut self, n: usize) -> &[u32] {
        let rows = self.tail.alloc.allocate(n);
        let at = self.tail.rows.len();
        self.tail.rows.extend(rows);
        self.len += n;
        &self.tail.rows[at..]
    }

    /// Whether this sequence's rows come from `alloc` (a cache belongs to one pool).
    pub fn uses(&self, alloc: &Arc<SlotAllocator>) -> bool {
        Arc::ptr_eq(&self.tail.alloc, alloc)
    }

    /// Pool rows of every position, in order.
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks
            .iter()
            .flat_map(|b| b.rows.iter())
            .chain(self.tail.rows.iter())
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_share_rows_and_rows_return_when_the_last_holder_drops() {
        let alloc = SlotAllocator::new(4);
        let mut a = PagedSeq::new(&alloc);
        let first: Vec<u32> = a.grow(3).to_vec();
        assert_eq!(first, vec![0, 1, 2]);
        let mut b = a.fork();
        let mine = b.grow(2).to_vec();
        assert_eq!(alloc.used(), 5);
        assert!(alloc.capacity() >= 5, "the pool grew past its 4 rows");
        assert_eq!(b.rows().collect::<Vec<_>>()[..3], first[..]);
        assert_eq!(b.rows().skip(3).collect::<Vec<_>>(), mine);
        assert_eq!((a.len(), b.len()), (3, 5));
        drop(a);
        assert_eq!(alloc.used(), 5, "the shared prefix is still held by b");
        drop(b);
        assert_eq!(alloc.used(), 0);
        // Freed rows are reused before the pool grows again.
        let cap = alloc.capacity();
        let mut c = PagedSeq::new(&alloc);
        c.grow(cap);
        assert_eq!(alloc.capacity(), cap);
    }
}
