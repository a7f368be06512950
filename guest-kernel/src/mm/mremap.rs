//! `mremap` (Linux's mm/mremap.c): shrink in place, grow in place when the space above is
//! free, or move. A move carries the page-table entries to the new place: no data is copied
//! and the frames keep their reference counts. `old_len == 0` on a shared mapping creates a
//! second mapping of the same pages.

#![deny(unsafe_code)]

use super::mmap::{page_align_up, MmStruct, MAP_FIXED, MAP_SHARED, PAGE};
use super::tlb::flush_tlb_range;
use super::vma::{Vma, TASK_SIZE, VM_LOCKED, VM_MAYSHARE, VM_SHARED};
use crate::kernel::errno::*;

pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;
pub const MREMAP_DONTUNMAP: u64 = 4;

impl MmStruct {
    /// `mremap(addr, old_len, new_len, flags, new_addr)`; returns the mapping's address.
    pub fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> KResult<u64> {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
            || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
            || (flags & MREMAP_DONTUNMAP != 0
                && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len))
            || !addr.is_multiple_of(PAGE)
        {
            return Err(EINVAL);
        }
        let old_len = page_align_up(old_len).ok_or(EINVAL)?;
        let new_len = page_align_up(new_len).ok_or(EINVAL)?;
        if new_len == 0 {
            return Err(EINVAL);
        }
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return self.mremap_to(addr, old_len, new_len, flags, new_addr);
        }
        // Shrinking (or staying) always works in place.
        if old_len >= new_len {
            if old_len != new_len {
                self.munmap(addr.checked_add(new_len).ok_or(EINVAL)?, old_len - new_len)?;
            }
            return Ok(addr);
        }
        let (start, end, vm_flags) = self.vma_to_resize(addr, old_len, new_len)?;
        if old_len == end - addr {
            let grown = end.saturating_add(new_len - old_len);
            if grown <= TASK_SIZE && self.vmas.is_free(end, grown) {
                self.vmas.extend_end(start, grown);
                if vm_flags & VM_LOCKED != 0 {
                    self.populate(end, grown);
                }
                return Ok(addr);
            }
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(ENOMEM);
        }
        let map_flags = if vm_flags & VM_MAYSHARE != 0 {
            MAP_SHARED
        } else {
            0
        };
        let to = self.get_unmapped_area(0, new_len, map_flags)?;
        self.move_vma(addr, old_len, new_len, to, flags)
    }

    /// MREMAP_FIXED / MREMAP_DONTUNMAP (Linux's `mremap_to`).
    fn mremap_to(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> KResult<u64> {
        if !new_addr.is_multiple_of(PAGE) || new_len > TASK_SIZE || new_addr > TASK_SIZE - new_len {
            return Err(EINVAL);
        }
        // The old and new ranges may not overlap.
        if addr.saturating_add(old_len) > new_addr && new_addr + new_len > addr {
            return Err(EINVAL);
        }
        if flags & MREMAP_FIXED != 0 {
            self.munmap(new_addr, new_len)?;
        }
        let mut old_len = old_len;
        if old_len > new_len {
            self.munmap(addr.checked_add(new_len).ok_or(EINVAL)?, old_len - new_len)?;
            old_len = new_len;
        }
        let (_, _, vm_flags) = self.vma_to_resize(addr, old_len, new_len)?;
        let mut map_flags = 0;
        if flags & MREMAP_FIXED != 0 {
            map_flags |= MAP_FIXED;
        }
        if vm_flags & VM_MAYSHARE != 0 {
            map_flags |= MAP_SHARED;
        }
        let got = self.get_unmapped_area(new_addr, new_len, map_flags)?;
        let to = if flags & MREMAP_FIXED != 0 {
            new_addr
        } else {
            got
        };
        self.move_vma(addr, old_len, new_len, to, flags)
    }

    /// Linux's `vma_to_resize`: the VMA holding `[addr, addr + old_len)`, which a resize may
    /// not leave. Returns its start, end and flags.
    fn vma_to_resize(&self, addr: u64, old_len: u64, new_len: u64) -> KResult<(u64, u64, u64)> {
        let v = self.vmas.vma_lookup(addr).ok_or(EFAULT)?;
        if old_len > v.end - addr {
            return Err(EFAULT);
        }
        // Duplicating a mapping only makes sense for shared memory.
        if old_len == 0 && v.flags & (VM_SHARED | VM_MAYSHARE) == 0 {
            return Err(EINVAL);
        }
        if new_len != old_len && v.pgoff_of(addr).checked_add(new_len / PAGE).is_none() {
            return Err(EINVAL);
        }
        Ok((v.start, v.end, v.flags))
    }

    /// Move `[addr, addr + old_len)` to `[to, to + new_len)`, a free range: a new VMA with
    /// the old one's flags, file and offset, the page-table entries moved over, the old range
    /// unmapped unless MREMAP_DONTUNMAP (which leaves it mapped and empty).
    fn move_vma(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        to: u64,
        flags: u64,
    ) -> KResult<u64> {
        // Linux's margin (`map_count >= sysctl_max_map_count - 3`): the move may split the old
        // VMA at both ends and adds the new one.
        if !self.vmas.has_room_for(3) {
            return Err(ENOMEM);
        }
        let v = self.vmas.vma_lookup(addr).ok_or(EFAULT)?;
        let new = Vma {
            start: to,
            end: to + new_len,
            flags: v.flags,
            pgoff: v.pgoff_of(addr),
            file: v.file.clone(),
            image: v.image.clone(),
        };
        if !self.pgd.move_range(addr, to, old_len) {
            return Err(ENOMEM);
        }
        flush_tlb_range(self, addr, addr + old_len);
        if flags & MREMAP_DONTUNMAP == 0 {
            // Nothing is mapped there any more: just drop the VMAs.
            self.vmas.remove_range(addr, addr + old_len);
        }
        let locked = new.flags & VM_LOCKED != 0;
        self.vmas.insert(new);
        if locked && new_len > old_len {
            self.populate(to + old_len, to + new_len);
        }
        Ok(to)
    }
}
