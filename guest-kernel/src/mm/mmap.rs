//! A process address space (`mm_struct`): its page table and its VMAs, kept in an ordered map
//! by start address; `brk`, anonymous `mmap`, `munmap`, `mprotect`, and teardown.
//!
//! Pages are allocated on first touch (`fault.rs`); a VMA records what may be mapped there.

use alloc::collections::BTreeMap;

use crate::arch::paging::{PageTable, PTE_NX, PTE_USER, PTE_WRITE};
use crate::kernel::errno::*;
use crate::mm::page_alloc::free_page;

pub const PAGE: u64 = 4096;
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const PROT_EXEC: u64 = 4;
/// Anonymous mappings are placed top-down from here (below the stack).
pub const MMAP_BASE: u64 = 0x7f00_0000_0000;
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
pub const STACK_SIZE: u64 = 8 << 20;

#[derive(Clone, Copy, Debug)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u64,
}

impl Vma {
    pub fn pte_flags(&self) -> u64 {
        let mut f = PTE_USER;
        if self.prot & PROT_WRITE != 0 {
            f |= PTE_WRITE;
        }
        if self.prot & PROT_EXEC == 0 {
            f |= PTE_NX;
        }
        f
    }
}

pub struct MmStruct {
    pub pgd: PageTable,
    /// VMAs by start address; they never overlap.
    pub vmas: BTreeMap<u64, Vma>,
    pub start_brk: u64,
    pub brk: u64,
    mmap_next: u64,
}

pub fn page_align_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(|v| v & !(PAGE - 1))
}

impl MmStruct {
    pub fn new() -> KResult<Self> {
        Ok(MmStruct {
            pgd: PageTable::new_user().ok_or(ENOMEM)?,
            vmas: BTreeMap::new(),
            start_brk: 0,
            brk: 0,
            mmap_next: MMAP_BASE,
        })
    }

    /// A copy of this address space for fork (`dup_mmap`). Eager for now: every present page
    /// is copied; copy-on-write replaces this.
    pub fn dup_mmap(&mut self) -> KResult<MmStruct> {
        let mut new = MmStruct::new()?;
        new.start_brk = self.start_brk;
        new.brk = self.brk;
        new.mmap_next = self.mmap_next;
        for v in self.vmas.values() {
            new.vmas.insert(v.start, *v);
            let mut va = v.start;
            while va < v.end {
                if let Some((phys, _)) = self.pgd.lookup(va) {
                    let copy = crate::mm::page_alloc::alloc_page().ok_or(ENOMEM)?;
                    // SAFETY: both frames are whole pages reachable through the direct map;
                    // the copy is fresh and private to us.
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            crate::arch::phys_to_virt(phys) as *const u8,
                            crate::arch::phys_to_virt(copy) as *mut u8,
                            PAGE as usize,
                        )
                    };
                    if !new.pgd.map(va, copy, v.pte_flags()) {
                        free_page(copy);
                        return Err(ENOMEM);
                    }
                }
                va += PAGE;
            }
        }
        Ok(new)
    }

    pub fn find_vma(&self, addr: u64) -> Option<Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, v)| *v)
            .filter(|v| addr < v.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// Insert a VMA over `[start, end)`, replacing whatever was mapped there.
    pub fn insert_vma(&mut self, start: u64, end: u64, prot: u64) {
        self.unmap_range(start, end);
        self.vmas.insert(start, Vma { start, end, prot });
    }

    /// Take the VMAs overlapping `[start, end)` out of the tree, putting back the parts outside
    /// it; returns the parts inside, clipped to the range.
    fn split_out(&mut self, start: u64, end: u64) -> alloc::vec::Vec<Vma> {
        let hit: alloc::vec::Vec<Vma> = self
            .vmas
            .range(..end)
            .map(|(_, v)| *v)
            .filter(|v| v.end > start)
            .collect();
        let mut inside = alloc::vec::Vec::with_capacity(hit.len());
        for v in hit {
            self.vmas.remove(&v.start);
            if v.start < start {
                self.vmas.insert(v.start, Vma { end: start, ..v });
            }
            if v.end > end {
                self.vmas.insert(end, Vma { start: end, ..v });
            }
            inside.push(Vma {
                start: v.start.max(start),
                end: v.end.min(end),
                ..v
            });
        }
        inside
    }

    /// Remove mappings in `[start, end)`, splitting VMAs at the edges and freeing pages.
    pub fn unmap_range(&mut self, start: u64, end: u64) {
        for v in self.split_out(start, end) {
            self.pgd.unmap_range(v.start, v.end, free_page);
        }
    }

    /// Anonymous private mapping; `hint` honoured when `fixed`.
    pub fn mmap_anon(&mut self, hint: u64, len: u64, prot: u64, fixed: bool) -> KResult<u64> {
        let len = page_align_up(len).filter(|&l| l > 0).ok_or(EINVAL)?;
        if fixed {
            if hint % PAGE != 0 || hint.checked_add(len).is_none_or(|e| e > STACK_TOP) {
                return Err(EINVAL);
            }
            self.insert_vma(hint, hint + len, prot);
            return Ok(hint);
        }
        // Top-down search below the last placement.
        let mut end = self.mmap_next;
        loop {
            let start = end.checked_sub(len).ok_or(ENOMEM)?;
            if start < self.brk + (1 << 30) {
                return Err(ENOMEM);
            }
            match self.vmas.range(..end).next_back() {
                Some((_, v)) if v.end > start => end = v.start,
                _ => {
                    self.vmas.insert(
                        start,
                        Vma {
                            start,
                            end: start + len,
                            prot,
                        },
                    );
                    self.mmap_next = start;
                    return Ok(start);
                }
            }
        }
    }

    pub fn munmap(&mut self, addr: u64, len: u64) -> KResult<()> {
        let len = page_align_up(len).ok_or(EINVAL)?;
        if addr % PAGE != 0
            || len == 0
            || addr.checked_add(len).is_none_or(|e| e > STACK_TOP + PAGE)
        {
            return Err(EINVAL);
        }
        self.unmap_range(addr, addr + len);
        Ok(())
    }

    pub fn mprotect(&mut self, addr: u64, len: u64, prot: u64) -> KResult<()> {
        let len = page_align_up(len).ok_or(EINVAL)?;
        if addr % PAGE != 0 {
            return Err(EINVAL);
        }
        let end = addr.checked_add(len).ok_or(ENOMEM)?;
        // Every page in the range must be mapped.
        let mut cursor = addr;
        while cursor < end {
            let v = self.find_vma(cursor).ok_or(ENOMEM)?;
            cursor = v.end;
        }
        for v in self.split_out(addr, end) {
            let new = Vma { prot, ..v };
            self.vmas.insert(new.start, new);
            self.pgd.protect_range(new.start, new.end, new.pte_flags());
        }
        Ok(())
    }

    /// Linux `brk`: returns the new break, or the old one if the request can't be met.
    pub fn set_brk(&mut self, new: u64) -> u64 {
        if new < self.start_brk {
            return self.brk;
        }
        let (old_end, new_end) = (
            page_align_up(self.brk).unwrap(),
            match page_align_up(new) {
                Some(e) => e,
                None => return self.brk,
            },
        );
        if new_end > old_end {
            if self.overlaps(old_end, new_end) {
                return self.brk;
            }
            let start = page_align_up(self.start_brk).unwrap();
            self.vmas.remove(&start);
            self.vmas.insert(
                start,
                Vma {
                    start,
                    end: new_end,
                    prot: PROT_READ | PROT_WRITE,
                },
            );
        } else if new_end < old_end {
            self.unmap_range(new_end, old_end);
        }
        self.brk = new;
        new
    }
}

impl Drop for MmStruct {
    fn drop(&mut self) {
        for v in self.vmas.values() {
            self.pgd.unmap_range(v.start, v.end, free_page);
        }
    }
}
