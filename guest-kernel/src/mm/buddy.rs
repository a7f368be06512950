//! The buddy allocator for physical page frames (orders 0..=MAX_ORDER).
//!
//! Free blocks of each order sit on a doubly linked list threaded through the free memory
//! itself (so start-up costs one write per free block, not per page: kernel code is slow to
//! emulate here), and a bitmap per order says which blocks are free, so that freeing can find
//! and merge a free buddy in O(1). The memory behind the links is reached through
//! [`FrameMemory`], which the kernel backs with the direct map and host tests with a `Vec`.
//!
//! One allocator serves one zone: frames `base..base + frames`. Inside, frame numbers are
//! relative to `base` (a zone starts on a MAX_ORDER boundary, so buddies pair up the same).

pub const MAX_ORDER: usize = 10;
pub const PAGE_SIZE: u64 = 4096;
const NIL: u64 = u64::MAX;

/// Where the allocator keeps its free-list links: two words at the start of each free block.
pub trait FrameMemory {
    fn read_link(&self, pfn: u64, slot: usize) -> u64;
    fn write_link(&mut self, pfn: u64, slot: usize, value: u64);
}

/// Bitmap storage: one bit per block per order.
pub trait Bitmap {
    fn get(&self, bit: usize) -> bool;
    fn set(&mut self, bit: usize, value: bool);
}

impl<const N: usize> Bitmap for [u64; N] {
    fn get(&self, bit: usize) -> bool {
        self[bit / 64] & (1 << (bit % 64)) != 0
    }
    fn set(&mut self, bit: usize, value: bool) {
        if value {
            self[bit / 64] |= 1 << (bit % 64);
        } else {
            self[bit / 64] &= !(1 << (bit % 64));
        }
    }
}

/// Bits needed for the free bitmaps of `frames` page frames.
pub const fn bitmap_bits(frames: usize) -> usize {
    let mut bits = 0;
    let mut order = 0;
    while order <= MAX_ORDER {
        bits += (frames >> order) + 1;
        order += 1;
    }
    bits
}

pub struct Buddy<M, B> {
    mem: M,
    bitmap: B,
    /// First frame covered.
    base: u64,
    /// Frames covered (pfn base..base + frames); the bitmap must have `bitmap_bits(frames)`
    /// bits.
    frames: u64,
    heads: [u64; MAX_ORDER + 1],
    /// First bitmap bit of each order.
    bases: [usize; MAX_ORDER + 1],
    free_pages: u64,
}

impl<M: FrameMemory, B: Bitmap> Buddy<M, B> {
    pub const fn new(mem: M, bitmap: B, base: u64, frames: u64) -> Self {
        let mut bases = [0; MAX_ORDER + 1];
        let mut order = 1;
        while order <= MAX_ORDER {
            bases[order] = bases[order - 1] + (frames as usize >> (order - 1)) + 1;
            order += 1;
        }
        Buddy {
            mem,
            bitmap,
            base,
            frames,
            heads: [NIL; MAX_ORDER + 1],
            bases,
            free_pages: 0,
        }
    }

    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Free blocks per order, as `/proc/buddyinfo` shows them.
    pub fn free_blocks_per_order(&self) -> [u64; MAX_ORDER + 1] {
        let mut counts = [0; MAX_ORDER + 1];
        for (order, count) in counts.iter_mut().enumerate() {
            let mut pfn = self.heads[order];
            while pfn != NIL {
                *count += 1;
                pfn = self.read_link(pfn, 0);
            }
        }
        counts
    }

    /// Whether a free block of `order` or more exists.
    pub fn has_free_block(&self, order: usize) -> bool {
        self.heads[order.min(MAX_ORDER + 1)..]
            .iter()
            .any(|&h| h != NIL)
    }

    /// The free block holding frame `pfn`, as (first frame, order) (Linux's `PageBuddy`
    /// and `buddy_order` of the block's head).
    pub fn free_block_containing(&self, pfn: u64) -> Option<(u64, usize)> {
        let rel = pfn.checked_sub(self.base).filter(|&r| r < self.frames)?;
        (0..=MAX_ORDER).find_map(|order| {
            let head = rel & !((1 << order) - 1);
            let free = head + (1 << order) <= self.frames && self.bitmap.get(self.bit(head, order));
            free.then_some((self.base + head, order))
        })
    }

    /// Take the free block holding frame `pfn` off its list, if it is below `max_order`
    /// (compaction's `__isolate_free_page`): Ok with the block, or Err with a bigger one.
    pub fn isolate_block_containing(
        &mut self,
        pfn: u64,
        max_order: usize,
    ) -> Result<(u64, usize), Option<(u64, usize)>> {
        let (head, order) = self.free_block_containing(pfn).ok_or(None)?;
        if order >= max_order {
            return Err(Some((head, order)));
        }
        self.unlink(head - self.base, order);
        self.free_pages -= 1 << order;
        Ok((head, order))
    }

    fn read_link(&self, rel: u64, slot: usize) -> u64 {
        self.mem.read_link(self.base + rel, slot)
    }

    fn write_link(&mut self, rel: u64, slot: usize, value: u64) {
        self.mem.write_link(self.base + rel, slot, value)
    }

    fn bit(&self, pfn: u64, order: usize) -> usize {
        self.bases[order] + (pfn >> order) as usize
    }

    fn push(&mut self, pfn: u64, order: usize) {
        let head = self.heads[order];
        self.write_link(pfn, 0, head);
        self.write_link(pfn, 1, NIL);
        if head != NIL {
            self.write_link(head, 1, pfn);
        }
        self.heads[order] = pfn;
        let bit = self.bit(pfn, order);
        self.bitmap.set(bit, true);
    }

    fn unlink(&mut self, pfn: u64, order: usize) {
        let next = self.read_link(pfn, 0);
        let prev = self.read_link(pfn, 1);
        if prev == NIL {
            self.heads[order] = next;
        } else {
            self.write_link(prev, 0, next);
        }
        if next != NIL {
            self.write_link(next, 1, prev);
        }
        let bit = self.bit(pfn, order);
        self.bitmap.set(bit, false);
    }

    /// Hand the frames `[start, end)` to the allocator, in the largest aligned blocks; the
    /// part outside this allocator's frames is ignored.
    pub fn add_range(&mut self, start: u64, end: u64) {
        let end = end.min(self.base + self.frames).saturating_sub(self.base);
        let mut pfn = start.max(self.base) - self.base;
        while pfn < end {
            let mut order = MAX_ORDER;
            while order > 0 && (pfn & ((1 << order) - 1) != 0 || pfn + (1 << order) > end) {
                order -= 1;
            }
            self.free_block(pfn, order);
            pfn += 1 << order;
        }
    }

    /// Allocate 2^order contiguous frames; returns the first frame number.
    pub fn alloc(&mut self, order: usize) -> Option<u64> {
        if order > MAX_ORDER {
            return None;
        }
        let found = (order..=MAX_ORDER).find(|&o| self.heads[o] != NIL)?;
        let pfn = self.heads[found];
        self.unlink(pfn, found);
        // Split, returning the upper halves to the lower orders.
        let mut o = found;
        while o > order {
            o -= 1;
            self.push(pfn + (1 << o), o);
        }
        self.free_pages -= 1 << order;
        Some(self.base + pfn)
    }

    /// Return a block from [`Self::alloc`] of the same order.
    pub fn free(&mut self, pfn: u64, order: usize) {
        self.free_block(pfn - self.base, order);
    }

    fn free_block(&mut self, mut pfn: u64, mut order: usize) {
        self.free_pages += 1 << order;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            if buddy + (1 << order) > self.frames || !self.bitmap.get(self.bit(buddy, order)) {
                break;
            }
            self.unlink(buddy, order);
            pfn = pfn.min(buddy);
            order += 1;
        }
        self.push(pfn, order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecMem(Vec<[u64; 2]>);
    impl FrameMemory for VecMem {
        fn read_link(&self, pfn: u64, slot: usize) -> u64 {
            self.0[pfn as usize][slot]
        }
        fn write_link(&mut self, pfn: u64, slot: usize, value: u64) {
            self.0[pfn as usize][slot] = value;
        }
    }

    fn buddy(frames: u64) -> Buddy<VecMem, [u64; 512]> {
        assert!(bitmap_bits(frames as usize) <= 512 * 64);
        Buddy::new(VecMem(vec![[0; 2]; frames as usize]), [0; 512], 0, frames)
    }

    #[test]
    fn allocations_are_aligned_and_distinct() {
        let mut b = buddy(4096);
        b.add_range(0, 4096);
        assert_eq!(b.free_pages(), 4096);
        let mut seen = std::collections::HashSet::new();
        for order in [0, 3, 1, 10, 0, 2] {
            let pfn = b.alloc(order).unwrap();
            assert_eq!(pfn % (1 << order), 0);
            for p in pfn..pfn + (1 << order) {
                assert!(seen.insert(p), "frame {p} handed out twice");
            }
        }
    }

    #[test]
    fn freeing_everything_merges_back_to_max_order_blocks() {
        let mut b = buddy(4096);
        b.add_range(0, 4096);
        let blocks: Vec<u64> = (0..4096).map(|_| b.alloc(0).unwrap()).collect();
        assert_eq!(b.alloc(0), None);
        for pfn in blocks.into_iter().rev() {
            b.free(pfn, 0);
        }
        let counts = b.free_blocks_per_order();
        assert_eq!(counts[MAX_ORDER], 4);
        assert_eq!(counts[..MAX_ORDER].iter().sum::<u64>(), 0);
    }

    #[test]
    fn unaligned_ranges_are_split_into_aligned_blocks() {
        let mut b = buddy(4096);
        b.add_range(3, 1030);
        assert_eq!(b.free_pages(), 1027);
        while let Some(pfn) = b.alloc(0) {
            assert!((3..1030).contains(&pfn));
        }
        assert_eq!(b.free_pages(), 0);
    }

    #[test]
    fn a_zone_above_pfn_zero_hands_out_its_own_frames() {
        let mut b = Buddy::new(VecMem(vec![[0; 2]; 3072]), [0u64; 512], 1024, 2048);
        b.add_range(0, 4096);
        assert_eq!(b.free_pages(), 2048);
        assert_eq!(b.free_blocks_per_order()[MAX_ORDER], 2);
        let pfns: Vec<u64> = (0..2048).map(|_| b.alloc(0).unwrap()).collect();
        assert!(pfns.iter().all(|p| (1024..3072).contains(p)));
        for p in pfns {
            b.free(p, 0);
        }
        assert_eq!(b.free_blocks_per_order()[MAX_ORDER], 2);
    }

    #[test]
    fn compaction_finds_and_isolates_the_free_block_around_a_frame() {
        let mut b = Buddy::new(VecMem(vec![[0; 2]; 3072]), [0u64; 512], 1024, 2048);
        b.add_range(1024, 3072);
        let x = b.alloc(0).unwrap();
        assert_eq!(b.free_block_containing(x), None);
        assert_eq!(b.free_block_containing(x + 1), Some((x + 1, 0)));
        assert_eq!(b.free_block_containing(x + 5), Some((x + 4, 2)));
        let other = if x < 2048 { 2048 } else { 1024 };
        assert_eq!(b.free_block_containing(other + 9), Some((other, MAX_ORDER)));
        assert_eq!(b.free_block_containing(5000), None);
        // A max-order block is too big to spend; a smaller one comes off its list.
        assert_eq!(
            b.isolate_block_containing(other + 6, 9),
            Err(Some((other, MAX_ORDER)))
        );
        assert_eq!(b.isolate_block_containing(x + 5, 9), Ok((x + 4, 2)));
        assert_eq!(b.free_pages(), 2048 - 1 - 4);
        assert_eq!(b.free_block_containing(x + 5), None);
        assert!(b.has_free_block(MAX_ORDER) && b.has_free_block(3));
        // Freed one by one, the frames merge back.
        for p in x..x + 8 {
            if p != x + 1 && p != x + 2 && p != x + 3 {
                b.free(p, 0);
            }
        }
        assert_eq!(b.free_blocks_per_order()[MAX_ORDER], 2);
    }

    #[test]
    fn too_large_orders_fail_cleanly() {
        let mut b = buddy(64);
        b.add_range(0, 64);
        assert_eq!(b.alloc(MAX_ORDER + 1), None);
        assert_eq!(b.alloc(7), None);
        assert!(b.alloc(6).is_some());
    }
}
