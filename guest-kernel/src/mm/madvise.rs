//! `madvise`, `mincore` and `msync` (Linux's mm/madvise.c, mm/mincore.c, mm/msync.c).
//!
//! Advice that changes what memory holds is honoured: `MADV_DONTNEED` and `MADV_FREE` drop
//! the pages (the next touch of private memory reads zeros; shared memory keeps its data in
//! its file), `MADV_REMOVE` also punches them out of shared memory, `MADV_DONTFORK` and
//! `MADV_WIPEONFORK` change what fork copies, `MADV_POPULATE_*` fault pages in. Hints about
//! access patterns and reclaim are accepted and ignored, as there is no reclaim. Advice that
//! needs a kernel feature we lack (huge pages, KSM, memory-failure injection) is EINVAL, as
//! on a Linux built without it. Holes in the range make the result ENOMEM after the mapped
//! parts have been advised, as in Linux.

#![deny(unsafe_code)]

use alloc::vec::Vec;

use super::fault::FaultError;
use super::mmap::{page_align_up, MmStruct, PAGE};
use super::vma::{VmFlags, VmaTree, VM_DONTCOPY, VM_LOCKED, VM_SHARED, VM_WIPEONFORK};
use crate::kernel::errno::*;

pub const MADV_NORMAL: i32 = 0;
pub const MADV_RANDOM: i32 = 1;
pub const MADV_SEQUENTIAL: i32 = 2;
pub const MADV_WILLNEED: i32 = 3;
pub const MADV_DONTNEED: i32 = 4;
pub const MADV_FREE: i32 = 8;
pub const MADV_REMOVE: i32 = 9;
pub const MADV_DONTFORK: i32 = 10;
pub const MADV_DOFORK: i32 = 11;
pub const MADV_DONTDUMP: i32 = 16;
pub const MADV_DODUMP: i32 = 17;
pub const MADV_WIPEONFORK: i32 = 18;
pub const MADV_KEEPONFORK: i32 = 19;
pub const MADV_COLD: i32 = 20;
pub const MADV_PAGEOUT: i32 = 21;
pub const MADV_POPULATE_READ: i32 = 22;
pub const MADV_POPULATE_WRITE: i32 = 23;
pub const MADV_DONTNEED_LOCKED: i32 = 24;

pub const MS_ASYNC: i32 = 1;
pub const MS_INVALIDATE: i32 = 2;
pub const MS_SYNC: i32 = 4;

const EBUSY: Errno = 16;

impl MmStruct {
    /// `madvise(start, len, advice)`.
    pub fn madvise(&mut self, start: u64, len: u64, advice: i32) -> KResult<()> {
        let known = matches!(advice, 0..=4 | 8..=11 | 16..=24);
        if !known || !start.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let len = page_align_up(len).ok_or(EINVAL)?;
        let end = start.checked_add(len).ok_or(EINVAL)?;
        if end == start {
            return Ok(());
        }
        // Advice kept in the VMA's flags splits it at the range's edges; Linux's madvise says
        // EAGAIN where `split_vma` said ENOMEM.
        let sets_flags = matches!(
            advice,
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK
        );
        if sets_flags && !self.vmas.has_room_for(self.vmas.edge_cuts(start, end)) {
            return Err(EAGAIN);
        }
        let hole = !self.vmas.covers(start, end);
        // The mapped pieces of the range, each inside one VMA.
        let pieces: Vec<(u64, u64, VmFlags)> = self
            .vmas
            .overlapping(start, end)
            .map(|v| (v.start.max(start), v.end.min(end), v.flags))
            .collect();
        for (s, e, flags) in pieces {
            self.madvise_vma(s, e, flags, advice)?;
        }
        if hole {
            Err(ENOMEM)
        } else {
            Ok(())
        }
    }

    fn madvise_vma(&mut self, s: u64, e: u64, flags: VmFlags, advice: i32) -> KResult<()> {
        let set = |vmas: &mut VmaTree, on: VmFlags, off: VmFlags| {
            vmas.change_flags(s, e, |v| (v.flags | on) & !off);
        };
        match advice {
            MADV_DONTNEED | MADV_FREE | MADV_DONTNEED_LOCKED => {
                if flags & VM_LOCKED != 0 && advice != MADV_DONTNEED_LOCKED {
                    return Err(EINVAL);
                }
                // Lazy freeing may free at once: the next read sees zeros either way.
                if advice == MADV_FREE && flags & VM_SHARED != 0 {
                    return Err(EINVAL);
                }
                self.zap_page_range(s, e, flags);
            }
            MADV_REMOVE => {
                let v = self.vmas.vma_lookup(s).ok_or(ENOMEM)?;
                let (Some(file), true) = (v.file.clone(), flags & VM_SHARED != 0) else {
                    return Err(EINVAL);
                };
                let (from, to) = (v.pgoff_of(s), v.pgoff_of(e));
                self.zap_page_range(s, e, flags);
                file.punch_hole(from, to);
            }
            MADV_DONTFORK => set(&mut self.vmas, VM_DONTCOPY, 0),
            MADV_DOFORK => set(&mut self.vmas, 0, VM_DONTCOPY),
            MADV_WIPEONFORK if flags & VM_SHARED != 0 => return Err(EINVAL),
            MADV_WIPEONFORK => set(&mut self.vmas, VM_WIPEONFORK, 0),
            MADV_KEEPONFORK => set(&mut self.vmas, 0, VM_WIPEONFORK),
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                let write = advice == MADV_POPULATE_WRITE;
                let mut va = s;
                while va < e {
                    match super::fault::handle_mm_fault(self, va, write, false) {
                        Ok(()) => va += PAGE,
                        Err(FaultError::NoMemory) => return Err(ENOMEM),
                        Err(FaultError::Access) => return Err(EINVAL),
                        Err(FaultError::NoVma) => return Err(ENOMEM),
                        Err(FaultError::SigBus) => return Err(EFAULT),
                    }
                }
            }
            // Hints for reclaim and readahead, core-dump filters: nothing to do here.
            MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_WILLNEED | MADV_COLD
            | MADV_PAGEOUT | MADV_DONTDUMP | MADV_DODUMP => {}
            // KSM (12, 13), transparent huge pages (14, 15): not built in.
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    /// One step of `mincore`: residency of the pages from `addr` to the end of its VMA, at
    /// most `vec.len()` of them, as 1 (resident) or 0 in `vec`; returns how many were done
    /// (Linux's `do_mincore`). Shared memory counts as resident if its file has the page,
    /// mapped here or not.
    pub fn do_mincore(&mut self, addr: u64, vec: &mut [u8]) -> KResult<usize> {
        let v = self.vmas.vma_lookup(addr).ok_or(ENOMEM)?;
        let end = v.end.min(addr.saturating_add(vec.len() as u64 * PAGE));
        let n = ((end - addr) / PAGE) as usize;
        let vec = &mut vec[..n];
        vec.fill(0);
        if let Some(file) = &v.file {
            let first = v.pgoff_of(addr);
            for (i, b) in vec.iter_mut().enumerate() {
                *b = file.find_page(first + i as u64).is_some() as u8;
            }
        }
        self.pgd.for_each_present(addr, end, |va, _| {
            vec[((va - addr) / PAGE) as usize] = 1;
        });
        Ok(n)
    }

    /// `msync(start, len, flags)`: anonymous memory has nothing to write back, so this only
    /// validates, as Linux does for it.
    pub fn msync(&self, start: u64, len: u64, flags: i32) -> KResult<()> {
        if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
            || !start.is_multiple_of(PAGE)
            || (flags & MS_ASYNC != 0 && flags & MS_SYNC != 0)
        {
            return Err(EINVAL);
        }
        let len = page_align_up(len).ok_or(ENOMEM)?;
        let end = start.checked_add(len).ok_or(ENOMEM)?;
        if end == start {
            return Ok(());
        }
        if !self.vmas.covers(start, end) {
            return Err(ENOMEM);
        }
        let locked = self
            .vmas
            .overlapping(start, end)
            .any(|v| v.flags & VM_LOCKED != 0);
        if flags & MS_INVALIDATE != 0 && locked {
            return Err(EBUSY);
        }
        Ok(())
    }
}
