//! Virtual memory areas: the ordered set of an address space's mappings and the pure logic on
//! it (the VMA half of Linux's mm/mmap.c): lookup, split, merge, the top-down free-area search,
//! stack growth with its guard gap, and the per-mm `total_vm`/`data_vm`/`exec_vm`/`stack_vm`
//! accounting.
//!
//! Invariants: VMAs are page-aligned, non-empty, never overlap and are kept in address
//! order. Every insertion and removal goes through [`VmaTree`]'s methods, which keep the
//! counters. Nothing here touches page tables: callers (mm/mmap.rs) zap or move the pages of
//! the ranges these methods report.

#![deny(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::shmem::ShmemFile;
use super::vmstat::{mod_node_page_state, NodeStat};

pub const PAGE_SIZE: u64 = 4096;
/// End of the user address space (x86_64 with 4-level paging: 2^47 minus a guard page).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Lowest address the kernel picks for a mapping (`vm.mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// Kept free below a grows-down stack (Linux's `stack_guard_gap`, 256 pages).
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

pub type VmFlags = u64;
// Linux's values (include/linux/mm.h).
pub const VM_READ: VmFlags = 0x1;
pub const VM_WRITE: VmFlags = 0x2;
pub const VM_EXEC: VmFlags = 0x4;
pub const VM_SHARED: VmFlags = 0x8;
pub const VM_MAYREAD: VmFlags = 0x10;
pub const VM_MAYWRITE: VmFlags = 0x20;
pub const VM_MAYEXEC: VmFlags = 0x40;
pub const VM_MAYSHARE: VmFlags = 0x80;
pub const VM_GROWSDOWN: VmFlags = 0x100;
pub const VM_LOCKED: VmFlags = 0x2000;
pub const VM_DONTCOPY: VmFlags = 0x2_0000;
pub const VM_ACCOUNT: VmFlags = 0x10_0000;
pub const VM_NORESERVE: VmFlags = 0x20_0000;
pub const VM_WIPEONFORK: VmFlags = 0x200_0000;
/// A stack (x86 stacks grow down).
pub const VM_STACK: VmFlags = VM_GROWSDOWN;
pub const VM_ACCESS_FLAGS: VmFlags = VM_READ | VM_WRITE | VM_EXEC;

/// What a VMA maps besides anonymous memory. Only shared anonymous memory so far; file
/// mappings will join it when there is a page cache.
pub type VmFile = Arc<ShmemFile>;

/// A mapping of a regular file through its page cache: an executable's segments, or mmap
/// of a file (private: copied on write; shared: the cache pages themselves).
pub struct FileImage {
    pub inode: crate::fs::inode::InodeRef,
    /// The name it was mapped by (`vm_file`'s path), for /proc/<pid>/maps.
    pub path: Option<crate::fs::namespace::Path>,
    /// File offset at which the mapped bytes end: for a segment, `p_offset + p_filesz` (past
    /// it, pages read as zeros: the start of `.bss`); for mmap, [`WHOLE_FILE`].
    pub file_end: u64,
}

/// A `FileImage::file_end` that follows the file: up to its size when faulted, SIGBUS past.
pub const WHOLE_FILE: u64 = u64::MAX;

#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub flags: VmFlags,
    /// Offset of `start` in `file` or `image`, in pages; for anonymous memory Linux's
    /// `start >> PAGE_SHIFT` at creation, so that only pieces of one mapping merge back.
    pub pgoff: u64,
    pub file: Option<VmFile>,
    /// The file a private mapping is read from, if any.
    pub image: Option<Arc<FileImage>>,
}

impl core::fmt::Debug for Vma {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(
            f,
            "{:#x}-{:#x} flags={:#x} pgoff={:#x} {:?}",
            self.start, self.end, self.flags, self.pgoff, self.file
        )
    }
}

impl Vma {
    /// Private anonymous memory over `[start, end)`.
    pub fn anon(start: u64, end: u64, flags: VmFlags) -> Vma {
        Vma {
            start,
            end,
            flags,
            pgoff: start / PAGE_SIZE,
            file: None,
            image: None,
        }
    }

    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    pub fn is_shared(&self) -> bool {
        self.flags & VM_SHARED != 0
    }

    /// Linux's `vma_is_accessible`.
    pub fn is_accessible(&self) -> bool {
        self.flags & VM_ACCESS_FLAGS != 0
    }

    /// Offset in `file` of the page holding `addr`.
    pub fn pgoff_of(&self, addr: u64) -> u64 {
        self.pgoff.wrapping_add((addr - self.start) / PAGE_SIZE)
    }

    /// Lowest address another mapping may end at (Linux's `vm_start_gap`).
    pub fn start_gap(&self) -> u64 {
        if self.flags & VM_GROWSDOWN != 0 {
            self.start.saturating_sub(STACK_GUARD_GAP)
        } else {
            self.start
        }
    }

    fn same_file(&self, other: &Vma) -> bool {
        let image = match (&self.image, &other.image) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        image
            && match (&self.file, &other.file) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }

    /// Whether `next` continues this VMA seamlessly (Linux's `can_vma_merge_after`).
    fn can_merge(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.flags == next.flags
            && self.same_file(next)
            && self.pgoff.checked_add(self.pages()) == Some(next.pgoff)
    }
}

/// A process's VMAs and the counters Linux keeps on `mm_struct` for them (in pages).
///
/// The VMAs sit in a vector sorted by address and are found by binary search: for the tens
/// of mappings a process has, that is far fewer instructions than a tree walk (and guest
/// kernel instructions are what is expensive here), and the occasional insertion moves a
/// few hundred bytes.
#[derive(Default)]
pub struct VmaTree {
    vmas: Vec<Vma>,
    pub total_vm: u64,
    /// Highest `total_vm` seen (VmPeak).
    pub hiwater_vm: u64,
    pub locked_vm: u64,
    /// Private writable, not stack (VmData).
    pub data_vm: u64,
    /// Executable, not writable, not stack (VmExe + VmLib).
    pub exec_vm: u64,
    pub stack_vm: u64,
    /// Charged to Committed_AS (VM_ACCOUNT mappings).
    pub committed: u64,
}

impl Drop for VmaTree {
    fn drop(&mut self) {
        mod_node_page_state(NodeStat::Committed, -(self.committed as i64));
    }
}

impl VmaTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma> {
        self.vmas.iter()
    }

    /// Index of the first VMA ending above `addr`.
    fn first_ending_above(&self, addr: u64) -> usize {
        self.vmas.partition_point(|v| v.end <= addr)
    }

    /// Index of the VMA starting exactly at `start`.
    fn index_of(&self, start: u64) -> Option<usize> {
        self.vmas.binary_search_by_key(&start, |v| v.start).ok()
    }

    /// The first VMA ending above `addr` (Linux's `find_vma`: it may start above `addr`).
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        self.vmas.get(self.first_ending_above(addr))
    }

    /// The VMA containing `addr` (Linux's `vma_lookup`).
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.find_vma(addr).filter(|v| v.start <= addr)
    }

    /// The VMAs overlapping `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        self.vmas[self.first_ending_above(start)..]
            .iter()
            .take_while(move |v| v.start < end)
    }

    /// No VMA overlaps `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_none()
    }

    /// Every page of `[start, end)` belongs to some VMA.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut cursor = start;
        for v in self.overlapping(start, end) {
            if v.start > cursor {
                return false;
            }
            cursor = v.end;
        }
        cursor >= end
    }

    /// Linux's `vm_stat_account`, plus VM_ACCOUNT's charge to Committed_AS.
    fn account(&mut self, flags: VmFlags, pages: i64) {
        let add = |c: &mut u64| *c = c.saturating_add_signed(pages);
        add(&mut self.total_vm);
        if flags & (VM_EXEC | VM_WRITE | VM_STACK) == VM_EXEC {
            add(&mut self.exec_vm);
        } else if flags & VM_STACK != 0 {
            add(&mut self.stack_vm);
        } else if flags & (VM_WRITE | VM_SHARED) == VM_WRITE {
            add(&mut self.data_vm);
        }
        if flags & VM_LOCKED != 0 {
            add(&mut self.locked_vm);
        }
        if flags & VM_ACCOUNT != 0 {
            add(&mut self.committed);
            mod_node_page_state(NodeStat::Committed, pages);
        }
        self.hiwater_vm = self.hiwater_vm.max(self.total_vm);
    }

    /// Add `vma` over a free range, merging it with compatible neighbours (Linux's
    /// `vma_merge`); returns the start of the VMA that now holds the range.
    pub fn insert(&mut self, mut vma: Vma) -> u64 {
        debug_assert!(vma.start < vma.end && self.is_free(vma.start, vma.end));
        self.account(vma.flags, vma.pages() as i64);
        let mut i = self.vmas.partition_point(|v| v.start < vma.start);
        if i > 0 && self.vmas[i - 1].can_merge(&vma) {
            let prev = self.vmas.remove(i - 1);
            vma.start = prev.start;
            vma.pgoff = prev.pgoff;
            i -= 1;
        }
        if i < self.vmas.len() && vma.can_merge(&self.vmas[i]) {
            vma.end = self.vmas.remove(i).end;
        }
        let start = vma.start;
        self.vmas.insert(i, vma);
        start
    }

    /// Add `vma` as it is (fork copies the parent's layout exactly).
    pub fn insert_nomerge(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end && self.is_free(vma.start, vma.end));
        self.account(vma.flags, vma.pages() as i64);
        let i = self.vmas.partition_point(|v| v.start < vma.start);
        self.vmas.insert(i, vma);
    }

    /// Take `[start, end)` out of the tree: VMAs straddling an edge are split and keep their
    /// outside parts. Returns the removed parts, clipped to the range, in address order.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        if start >= end {
            return Vec::new();
        }
        let first = self.first_ending_above(start);
        let count = self.vmas[first..]
            .iter()
            .take_while(|v| v.start < end)
            .count();
        let hit: Vec<Vma> = self.vmas.drain(first..first + count).collect();
        let mut keep = Vec::new();
        let mut inside = Vec::with_capacity(hit.len());
        for v in hit {
            if v.start < start {
                keep.push(Vma {
                    end: start,
                    ..v.clone()
                });
            }
            if v.end > end {
                keep.push(Vma {
                    start: end,
                    pgoff: v.pgoff_of(end),
                    ..v.clone()
                });
            }
            let from = v.start.max(start);
            let part = Vma {
                start: from,
                end: v.end.min(end),
                pgoff: v.pgoff_of(from),
                ..v
            };
            self.account(part.flags, -(part.pages() as i64));
            inside.push(part);
        }
        // The outside parts are at most a head and a tail, in order, where the hit VMAs were.
        self.vmas.splice(first..first, keep);
        inside
    }

    /// Give the VMAs in `[start, end)` (which the caller checked is covered) the flags
    /// `f(vma)` returns, splitting at the edges and merging where neighbours become equal
    /// (mprotect, madvise). Returns the changed pieces with their new flags.
    pub fn change_flags(
        &mut self,
        start: u64,
        end: u64,
        mut f: impl FnMut(&Vma) -> VmFlags,
    ) -> Vec<Vma> {
        let mut pieces = self.remove_range(start, end);
        for p in &mut pieces {
            p.flags = f(p);
            self.insert(p.clone());
        }
        pieces
    }

    /// Extend the VMA starting at `start` to end at `new_end` (mremap in place; the caller
    /// checked that the range above it is free). Merges with the next VMA if compatible.
    pub fn extend_end(&mut self, start: u64, new_end: u64) -> Option<u64> {
        let v = self.vmas.remove(self.index_of(start)?);
        let old_pages = v.pages() as i64;
        let grown = Vma { end: new_end, ..v };
        self.account(grown.flags, -old_pages);
        Some(self.insert(grown))
    }

    /// Top-down search for `len` bytes of free address space in `[low, high)`, keeping clear
    /// of stack guard gaps (Linux's `unmapped_area_topdown`). Walks VMAs from the top, so it
    /// costs the number of mappings above the hole it finds.
    pub fn get_unmapped_area(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut upper = high;
        // Mappings up to a guard gap above `high` may still cut into the range.
        let above = high.saturating_add(STACK_GUARD_GAP);
        let n = self.vmas.partition_point(|v| v.start < above);
        for v in self.vmas[..n].iter().rev() {
            if upper >= v.end.saturating_add(len) && upper - len >= low {
                return Some(upper - len);
            }
            upper = upper.min(v.start_gap());
            if upper < low + len {
                return None;
            }
        }
        Some(upper - len)
    }

    /// Whether `[addr, addr + len)` is free, clear of guard gaps and inside the range the
    /// kernel hands out (how Linux accepts an mmap hint).
    pub fn range_fits(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        addr >= MMAP_MIN_ADDR
            && end <= TASK_SIZE
            && self
                .find_vma(addr)
                .is_none_or(|next| end <= next.start_gap())
    }

    /// Grow the grows-down VMA starting at `start` down to cover `addr` (Linux's
    /// `expand_downwards`): refused below `mmap_min_addr`, within the guard gap above another
    /// accessible mapping, or beyond `rlimit` bytes. Returns the VMA's new start.
    pub fn expand_downwards(&mut self, start: u64, addr: u64, rlimit: u64) -> Option<u64> {
        let addr = addr & !(PAGE_SIZE - 1);
        let i = self.index_of(start)?;
        let v = &self.vmas[i];
        if v.flags & VM_GROWSDOWN == 0 || addr >= v.start || addr < MMAP_MIN_ADDR {
            return None;
        }
        if let Some(prev) = i.checked_sub(1).map(|p| &self.vmas[p]) {
            let guarded = prev.flags & VM_GROWSDOWN == 0 && prev.is_accessible();
            if addr < prev.end || (guarded && addr - prev.end < STACK_GUARD_GAP) {
                return None;
            }
        }
        if v.end - addr > rlimit {
            return None;
        }
        let grow = (v.start - addr) / PAGE_SIZE;
        let flags = v.flags;
        let v = &mut self.vmas[i];
        v.start = addr;
        v.pgoff = v.pgoff.saturating_sub(grow);
        self.account(flags, grow as i64);
        Some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;
    const RW: VmFlags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
    const RO: VmFlags = VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

    fn layout(t: &VmaTree) -> Vec<(u64, u64, VmFlags)> {
        t.iter().map(|v| (v.start, v.end, v.flags)).collect()
    }

    #[test]
    fn find_vma_returns_the_containing_or_next_mapping() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x10000, 0x12000, RW));
        t.insert(Vma::anon(0x20000, 0x21000, RO));
        assert_eq!(t.find_vma(0x11fff).unwrap().start, 0x10000);
        assert_eq!(t.find_vma(0x12000).unwrap().start, 0x20000);
        assert!(t.vma_lookup(0x12000).is_none());
        assert!(t.find_vma(0x21000).is_none());
        assert!(t.covers(0x10000, 0x12000));
        assert!(!t.covers(0x10000, 0x13000));
        assert!(!t.is_free(0x11000, 0x20001));
        assert!(t.is_free(0x12000, 0x20000));
    }

    #[test]
    fn adjacent_compatible_mappings_merge_and_others_do_not() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x10000, 0x11000, RW));
        t.insert(Vma::anon(0x12000, 0x13000, RW));
        // Filling the hole joins all three into one.
        assert_eq!(t.insert(Vma::anon(0x11000, 0x12000, RW)), 0x10000);
        assert_eq!(layout(&t), [(0x10000, 0x13000, RW)]);
        // Different protection: no merge.
        t.insert(Vma::anon(0x13000, 0x14000, RO));
        assert_eq!(t.iter().count(), 2);
        // Shared memory merges only with the same object at the right offset.
        let file = ShmemFile::new();
        let shared = |start, end, pgoff| Vma {
            start,
            end,
            flags: RW | VM_SHARED | VM_MAYSHARE,
            pgoff,
            file: Some(file.clone()),
            image: None,
        };
        t.insert(shared(0x20000, 0x21000, 0));
        t.insert(shared(0x21000, 0x22000, 5));
        assert_eq!(t.iter().count(), 4);
        t.insert(Vma {
            file: Some(ShmemFile::new()),
            ..shared(0x22000, 0x23000, 6)
        });
        assert_eq!(t.iter().count(), 5);
        t.insert(shared(0x1f000, 0x20000, u64::MAX));
        assert_eq!(t.iter().count(), 6);
        assert_eq!(t.total_vm, 8);
    }

    #[test]
    fn munmap_of_a_middle_page_splits_in_two() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x10000, 0x10000 + 5 * P, RW));
        let gone = t.remove_range(0x12000, 0x13000);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].start, gone[0].end), (0x12000, 0x13000));
        assert_eq!(gone[0].pgoff, 0x12);
        assert_eq!(layout(&t), [(0x10000, 0x12000, RW), (0x13000, 0x15000, RW)]);
        assert_eq!(t.iter().nth(1).unwrap().pgoff, 0x13);
        assert_eq!((t.total_vm, t.data_vm), (4, 4));
        // Mapping the page again merges everything back.
        t.insert(Vma::anon(0x12000, 0x13000, RW));
        assert_eq!(layout(&t), [(0x10000, 0x15000, RW)]);
    }

    #[test]
    fn mprotect_of_the_middle_splits_into_three_and_back_into_one() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x40000, 0x40000 + 3 * P, RW));
        let changed = t.change_flags(0x41000, 0x42000, |v| v.flags & !VM_WRITE);
        assert_eq!(changed.len(), 1);
        assert_eq!(
            layout(&t),
            [
                (0x40000, 0x41000, RW),
                (0x41000, 0x42000, RO),
                (0x42000, 0x43000, RW)
            ]
        );
        assert_eq!((t.total_vm, t.data_vm), (3, 2));
        t.change_flags(0x41000, 0x42000, |v| v.flags | VM_WRITE);
        assert_eq!(layout(&t), [(0x40000, 0x43000, RW)]);
        assert_eq!((t.total_vm, t.data_vm), (3, 3));
    }

    #[test]
    fn map_fixed_over_existing_mappings_replaces_their_overlap() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x10000, 0x14000, RW));
        t.insert(Vma::anon(0x15000, 0x18000, RO));
        // MAP_FIXED [0x13000, 0x16000): unmap what is there, then map.
        let gone = t.remove_range(0x13000, 0x16000);
        let spans: Vec<(u64, u64)> = gone.iter().map(|v| (v.start, v.end)).collect();
        assert_eq!(spans, [(0x13000, 0x14000), (0x15000, 0x16000)]);
        t.insert(Vma::anon(0x13000, 0x16000, VM_READ | VM_EXEC));
        assert_eq!(
            layout(&t),
            [
                (0x10000, 0x13000, RW),
                (0x13000, 0x16000, VM_READ | VM_EXEC),
                (0x16000, 0x18000, RO)
            ]
        );
        assert_eq!(t.total_vm, 8);
        assert_eq!(t.exec_vm, 3);
    }

    #[test]
    fn get_unmapped_area_takes_the_highest_hole_that_fits() {
        let mut t = VmaTree::new();
        let high = 0x100_0000;
        t.insert(Vma::anon(high - 2 * P, high, RW));
        t.insert(Vma::anon(high - 4 * P, high - 3 * P, RW));
        // A one-page hole right below the top mapping.
        assert_eq!(t.get_unmapped_area(P, 0x10000, high), Some(high - 3 * P));
        // Two pages don't fit there, but below the lower mapping they do.
        assert_eq!(
            t.get_unmapped_area(2 * P, 0x10000, high),
            Some(high - 6 * P)
        );
        // Nothing fits between `low` and `high`.
        assert_eq!(t.get_unmapped_area(P, high - 4 * P, high - 3 * P), None);
        assert_eq!(t.get_unmapped_area(0, 0x10000, high), None);
        // The search ignores mappings above `high`.
        assert_eq!(
            t.get_unmapped_area(P, 0x10000, high - 4 * P),
            Some(high - 5 * P)
        );
    }

    #[test]
    fn the_guard_gap_below_a_stack_is_not_handed_out() {
        let mut t = VmaTree::new();
        let stack = 0x7000_0000;
        t.insert(Vma::anon(stack, stack + 32 * P, RW | VM_GROWSDOWN));
        let got = t.get_unmapped_area(P, 0x10000, stack + 32 * P).unwrap();
        assert_eq!(got, stack - STACK_GUARD_GAP - P);
        // A hint inside the gap is refused; one below it is fine.
        assert!(!t.range_fits(stack - P, P));
        assert!(t.range_fits(stack - STACK_GUARD_GAP - P, P));
        // A mapping whose end is above `high` still casts its gap below it.
        assert_eq!(
            t.get_unmapped_area(P, 0x10000, stack - P),
            Some(stack - STACK_GUARD_GAP - P)
        );
    }

    #[test]
    fn the_stack_grows_down_within_rlimit_and_keeps_its_guard_gap() {
        let mut t = VmaTree::new();
        let top = 0x7fff_0000_0000;
        let stack = top - 32 * P;
        t.insert(Vma::anon(stack, top, RW | VM_GROWSDOWN));
        let below = stack - 300 * P;
        t.insert(Vma::anon(below - 4 * P, below, RW));
        let rlimit = 8 << 20;
        // A touch 10 pages below grows it by 10 pages.
        let new = stack - 10 * P;
        assert_eq!(t.expand_downwards(stack, new + 8, rlimit), Some(new));
        assert_eq!(t.stack_vm, 42);
        assert_eq!(t.vma_lookup(new).unwrap().pgoff, new / P);
        // Growing to within 256 pages (the guard gap) of the mapping below is refused;
        // to just outside it is fine.
        assert_eq!(t.expand_downwards(new, below + 255 * P, rlimit), None);
        let new = below + 256 * P;
        assert_eq!(t.expand_downwards(stack - 10 * P, new, rlimit), Some(new));
        assert_eq!(t.stack_vm, 76);
        // Growing beyond the rlimit is refused.
        assert_eq!(t.expand_downwards(new, new - P, 76 * P), None);
        // And a VMA that doesn't grow down never grows.
        assert_eq!(
            t.expand_downwards(below - 4 * P, below - 5 * P, rlimit),
            None
        );
        assert_eq!(t.stack_vm, 76);
    }

    #[test]
    fn counters_follow_linux_classification() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x40_0000, 0x40_1000, VM_READ | VM_EXEC));
        t.insert(Vma::anon(0x50_0000, 0x50_2000, RW | VM_ACCOUNT));
        t.insert(Vma::anon(0x60_0000, 0x60_3000, RW | VM_SHARED | VM_LOCKED));
        t.insert(Vma::anon(0x70_0000, 0x70_4000, RW | VM_GROWSDOWN));
        assert_eq!(t.total_vm, 10);
        assert_eq!((t.exec_vm, t.data_vm, t.stack_vm), (1, 2, 4));
        assert_eq!((t.locked_vm, t.committed), (3, 2));
        t.remove_range(0, TASK_SIZE);
        assert_eq!((t.total_vm, t.hiwater_vm, t.committed), (0, 10, 0));
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn extend_end_grows_in_place_and_merges() {
        let mut t = VmaTree::new();
        t.insert(Vma::anon(0x10000, 0x11000, RW));
        t.insert(Vma::anon(0x13000, 0x14000, RW));
        assert_eq!(t.extend_end(0x10000, 0x13000), Some(0x10000));
        assert_eq!(layout(&t), [(0x10000, 0x14000, RW)]);
        assert_eq!(t.total_vm, 4);
        assert_eq!(t.extend_end(0x20000, 0x21000), None);
    }
}
