//! Virtual memory areas: the ordered set of an address space's mappings and the pure logic on
//! it (the VMA half of Linux's mm/mmap.c): lookup, split, merge, the top-down free-area search,
//! stack growth with its guard gap, and the per-mm `total_vm`/`data_vm`/`exec_vm`/`stack_vm`
//! accounting.
//!
//! Invariants: VMAs are page-aligned, non-empty, never overlap and are kept in a tree in
//! address order, each its own `vm_area_struct` object. Every insertion and removal goes
//! through [`VmaTree`]'s methods, which keep the counters. Nothing here touches page
//! tables: callers (mm/mmap.rs) zap or move the pages of the ranges these methods report.

#![deny(unsafe_code)]

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Bound::{Excluded, Included, Unbounded};

use super::shmem::ShmemFile;
use super::vmstat::{mod_node_page_state, NodeStat};
use super::VmAreaCachep;

pub const PAGE_SIZE: u64 = 4096;
/// End of the user address space (x86_64 with 4-level paging: 2^47 minus a guard page).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// `vm.max_map_count`: the most VMAs an address space may have (Linux's
/// `DEFAULT_MAX_MAP_COUNT`). A change that would pass it fails with ENOMEM, so that a program
/// cannot eat the kernel's memory one VMA at a time.
pub static MAX_MAP_COUNT: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(65530);
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

/// A VMA as the tree holds it: its own object in the `vm_area_struct` slab cache.
pub type VmaBox = Box<Vma, VmAreaCachep>;

/// A new `vm_area_struct` holding `vma` (Linux's `vm_area_alloc`; fork's `vm_area_dup` is
/// this on a clone).
fn vm_area_alloc(vma: Vma) -> VmaBox {
    Box::new_in(vma, VmAreaCachep)
}

/// A process's VMAs and the counters Linux keeps on `mm_struct` for them (in pages).
///
/// The VMAs sit in a B-tree keyed by their end address, as Linux's maple tree is indexed by
/// each range's last byte: the first entry above `addr` is `find_vma(addr)`, one descent,
/// and neighbours are the entries either side. Each VMA is a separate object from the
/// `vm_area_struct` cache; a split allocates one, a merge frees one, and changing a VMA's
/// start (a tail cut off, a stack grown, a merge from below) moves nothing in the tree.
#[derive(Default)]
pub struct VmaTree {
    tree: BTreeMap<u64, VmaBox>,
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

    /// The VMAs in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma> {
        self.tree.values().map(|v| &**v)
    }

    /// The entries ending above `addr`, in address order.
    fn ending_above(&self, addr: u64) -> impl Iterator<Item = (&u64, &VmaBox)> {
        self.tree.range((Excluded(addr), Unbounded))
    }

    /// The last VMA ending at or below `addr`.
    fn ending_at_or_below(&self, addr: u64) -> Option<&Vma> {
        self.tree
            .upper_bound(Included(&addr))
            .peek_prev()
            .map(|(_, v)| &**v)
    }

    /// Take the VMA ending at `end` out of the tree (the caller saw it there).
    fn take(&mut self, end: u64) -> VmaBox {
        self.tree
            .remove(&end)
            .expect("a VMA ends at the key just found")
    }

    /// The VMA ending at `end`, to change in place (only its start and pgoff, which are not
    /// the key).
    fn at_mut(&mut self, end: u64) -> &mut Vma {
        self.tree
            .get_mut(&end)
            .expect("a VMA ends at the key just found")
    }

    /// Put `vma` in the tree under its end.
    fn link(&mut self, vma: VmaBox) {
        let old = self.tree.insert(vma.end, vma);
        debug_assert!(old.is_none(), "two VMAs end at the same address");
    }

    /// The first VMA ending above `addr` (Linux's `find_vma`: it may start above `addr`):
    /// one descent of the tree.
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        self.tree
            .lower_bound(Excluded(&addr))
            .peek_next()
            .map(|(_, v)| &**v)
    }

    /// The VMA containing `addr` (Linux's `vma_lookup`).
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.find_vma(addr).filter(|v| v.start <= addr)
    }

    /// How many VMAs there are (Linux's `mm->map_count`).
    pub fn map_count(&self) -> usize {
        self.tree.len()
    }

    /// Whether `more` VMAs still fit under `vm.max_map_count`.
    pub fn has_room_for(&self, more: usize) -> bool {
        self.map_count() + more <= MAX_MAP_COUNT.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// How many VMAs the edges of `[start, end)` cut in two: a change of flags over the range
    /// (mprotect, madvise) makes that many more VMAs.
    pub fn edge_cuts(&self, start: u64, end: u64) -> usize {
        let cuts = |addr: u64| self.vma_lookup(addr).is_some_and(|v| v.start < addr);
        usize::from(cuts(start)) + usize::from(cuts(end))
    }

    /// Whether one VMA strictly contains `[start, end)`: unmapping the range makes one more.
    pub fn splits_one(&self, start: u64, end: u64) -> bool {
        self.vma_lookup(start)
            .is_some_and(|v| v.start < start && v.end > end)
    }

    /// The VMA starting exactly at `start`.
    fn starting_at(&self, start: u64) -> Option<&Vma> {
        self.find_vma(start).filter(|v| v.start == start)
    }

    /// The VMAs overlapping `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        self.ending_above(start)
            .map(|(_, v)| &**v)
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
    pub fn insert(&mut self, vma: Vma) -> u64 {
        self.insert_merge(vma, None)
    }

    /// [`Self::insert`], putting the range in `spare` (an object of the cache the caller no
    /// longer needs) if it merges with neither neighbour.
    fn insert_merge(&mut self, vma: Vma, spare: Option<VmaBox>) -> u64 {
        debug_assert!(vma.start < vma.end && self.is_free(vma.start, vma.end));
        self.account(vma.flags, vma.pages() as i64);
        let prev = self
            .ending_at_or_below(vma.start)
            .filter(|p| p.can_merge(&vma))
            .map(|p| p.end);
        let next = self
            .find_vma(vma.start)
            .filter(|n| vma.can_merge(n))
            .map(|n| n.end);
        match (prev, next) {
            // The previous VMA grows over the range (and the next one, which goes).
            (Some(prev), next) => {
                let mut grown = self.take(prev);
                grown.end = next.map_or(vma.end, |n| self.take(n).end);
                let start = grown.start;
                self.link(grown);
                start
            }
            // The next VMA grows down over it: its key, the end, stays.
            (None, Some(next)) => {
                let n = self.at_mut(next);
                (n.start, n.pgoff) = (vma.start, vma.pgoff);
                vma.start
            }
            (None, None) => {
                let start = vma.start;
                let new = match spare {
                    Some(mut b) => {
                        *b = vma;
                        b
                    }
                    None => vm_area_alloc(vma),
                };
                self.link(new);
                start
            }
        }
    }

    /// A copy of each VMA `keep` accepts, in new objects, for an empty tree (fork's copy of
    /// the layout: Linux's `vm_area_dup` for each). Built in one pass from the sorted VMAs
    /// rather than searched into one by one.
    pub fn dup_from(&mut self, parent: &VmaTree, keep: impl Fn(&Vma) -> bool) {
        debug_assert!(self.tree.is_empty());
        let tree: BTreeMap<u64, VmaBox> = parent
            .iter()
            .filter(|v| keep(v))
            .map(|v| (v.end, vm_area_alloc(v.clone())))
            .collect();
        for v in tree.values() {
            self.account(v.flags, v.pages() as i64);
        }
        self.tree = tree;
    }

    /// Take `[start, end)` out of the tree: VMAs straddling an edge are split and keep their
    /// outside parts. Returns the removed parts, clipped to the range, in address order; the
    /// objects of VMAs wholly inside go back to the cache.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        let mut inside = Vec::new();
        if start >= end {
            return inside;
        }
        let first = self.iter().next().map_or(u64::MAX, |v| v.start);
        let last = self.iter().next_back().map_or(0, |v| v.end);
        if start <= first && last <= end {
            // Everything (exit_mmap): no search, no rebalancing, no copy.
            inside.reserve(self.tree.len());
            for v in core::mem::take(&mut self.tree).into_values() {
                self.account(v.flags, -(v.pages() as i64));
                inside.push(*v);
            }
            return inside;
        }
        while let Some(v) = self.find_vma(start).filter(|v| v.start < end) {
            let (v_start, v_end) = (v.start, v.end);
            let from = v_start.max(start);
            let part = Vma {
                start: from,
                end: v_end.min(end),
                pgoff: v.pgoff_of(from),
                ..v.clone()
            };
            self.account(part.flags, -(part.pages() as i64));
            match (v_start < start, v_end > end) {
                // A hole in the middle: the object keeps the head, a new one takes the tail.
                (true, true) => {
                    let mut head = self.take(v_end);
                    let tail = vm_area_alloc(Vma {
                        start: end,
                        pgoff: head.pgoff_of(end),
                        ..(*head).clone()
                    });
                    head.end = start;
                    self.link(head);
                    self.link(tail);
                }
                // The head stays: it now ends at `start`, a new key.
                (true, false) => {
                    let mut head = self.take(v_end);
                    head.end = start;
                    self.link(head);
                }
                // The tail stays, under the same key.
                (false, true) => {
                    let tail = self.at_mut(v_end);
                    tail.pgoff = tail.pgoff_of(end);
                    tail.start = end;
                }
                (false, false) => drop(self.take(v_end)),
            }
            inside.push(part);
        }
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
        let key = self.starting_at(start)?.end;
        let old = self.take(key);
        self.account(old.flags, -(old.pages() as i64));
        let grown = Vma {
            end: new_end,
            ..(*old).clone()
        };
        Some(self.insert_merge(grown, Some(old)))
    }

    /// Top-down search for `len` bytes of free address space in `[low, high)`, keeping clear
    /// of stack guard gaps (Linux's `unmapped_area_topdown`). Walks VMAs from the top, so it
    /// costs the number of mappings above the hole it finds.
    pub fn get_unmapped_area(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut upper = high;
        // Mappings up to a guard gap above `high` may still cut into the range: those ending
        // below that point, and the one across it.
        let above = high.saturating_add(STACK_GUARD_GAP);
        let across = self.find_vma(above).filter(|v| v.start < above);
        let below = self.tree.range(..=above).rev().map(|(_, v)| &**v);
        for v in across.into_iter().chain(below) {
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
        let v = self.starting_at(start)?;
        if v.flags & VM_GROWSDOWN == 0 || addr >= v.start || addr < MMAP_MIN_ADDR {
            return None;
        }
        if let Some(prev) = self.ending_at_or_below(v.start) {
            let guarded = prev.flags & VM_GROWSDOWN == 0 && prev.is_accessible();
            if addr < prev.end || (guarded && addr - prev.end < STACK_GUARD_GAP) {
                return None;
            }
        }
        if v.end - addr > rlimit {
            return None;
        }
        let grow = (v.start - addr) / PAGE_SIZE;
        let (flags, key) = (v.flags, v.end);
        // The end, the key, stays.
        let v = self.at_mut(key);
        v.start = addr;
        v.pgoff = v.pgoff.saturating_sub(grow);
        self.account(flags, grow as i64);
        Some(addr)
    }
}
