//! Page-table-wide operations on an address space (the parts of Linux's mm/memory.c and
//! kernel/fork.c that copy and tear down mappings): `dup_mmap` for fork, and zapping ranges.
//!
//! Frames taken out of page tables are released only after the TLB flush that makes them
//! unreachable ([`MmuGather`]), so once flushes reach other CPUs no CPU can write a frame that
//! has already gone back to the allocator.

#![deny(unsafe_code)]

use alloc::vec::Vec;

use super::arch::paging::{ADDR_MASK, PTE_WRITE};
use super::fault::handle_mm_fault;
use super::mmap::{rss_member, MmStruct, MM_FILEPAGES, PAGE};
use super::page_alloc::{get_page, is_file_page, is_zero_page, memcpy_from_page, put_page};
use super::rmap::{page_add_file_rmap, page_remove_rmap};
use super::tlb::{flush_tlb_mm, flush_tlb_range};
use super::vma::{VmFlags, TASK_SIZE, VM_DONTCOPY, VM_WIPEONFORK};
use crate::kernel::errno::*;

/// Frames unmapped and waiting for the TLB flush (Linux's `mmu_gather`).
pub struct MmuGather {
    frames: Vec<u64>,
}

impl MmuGather {
    pub fn new() -> Self {
        MmuGather { frames: Vec::new() }
    }

    fn with_capacity(frames: usize) -> Self {
        MmuGather {
            frames: Vec::with_capacity(frames),
        }
    }

    /// Release the gathered frames; call after the flush.
    pub fn finish(self) {
        self.frames.into_iter().for_each(put_page);
    }
}

impl MmStruct {
    /// Unmap the pages of `[start, end)`, which lies in one VMA with `flags`, gathering their
    /// frames in `tlb` and uncounting them from RSS. The zero page is never counted.
    pub fn zap_pages(&mut self, start: u64, end: u64, flags: VmFlags, tlb: &mut MmuGather) {
        let frames = &mut tlb.frames;
        let before = frames.len();
        let mut file = 0;
        self.pgd.unmap_range(start, end, |phys| {
            if is_zero_page(phys) {
                return;
            }
            if is_file_page(phys) {
                file += 1;
            }
            page_remove_rmap(phys);
            frames.push(phys);
        });
        let n = (tlb.frames.len() - before) as i64;
        self.add_mm_counter(rss_member(flags), -(n - file));
        self.add_mm_counter(MM_FILEPAGES, -file);
    }

    /// Unmap the pages of `[start, end)` (in one VMA with `flags`) and free what nobody else
    /// holds (Linux's `zap_page_range`). The VMA stays: the next touch faults in afresh.
    /// Never inlined, so that `kfunc:zap_page_range` finds it as on Linux.
    #[inline(never)]
    pub fn zap_page_range(&mut self, start: u64, end: u64, flags: VmFlags) {
        let mut tlb = MmuGather::new();
        self.zap_pages(start, end, flags, &mut tlb);
        flush_tlb_range(self, start, end);
        tlb.finish();
    }

    /// Remove `[start, end)` from the address space: split VMAs at the edges, release pages.
    pub fn unmap_region(&mut self, start: u64, end: u64) {
        let mut tlb = MmuGather::new();
        for v in self.vmas.remove_range(start, end) {
            self.zap_pages(v.start, v.end, v.flags, &mut tlb);
        }
        flush_tlb_range(self, start, end);
        tlb.finish();
    }

    /// Tear everything down (exit, exec's old image).
    #[inline(never)] // a symbol for kfunc:exit_mmap, as on Linux
    pub(crate) fn exit_mmap(&mut self) {
        let mut tlb = MmuGather::with_capacity(self.get_mm_rss() as usize);
        for v in self.vmas.remove_range(0, u64::MAX) {
            self.zap_pages(v.start, v.end, v.flags, &mut tlb);
        }
        flush_tlb_mm(self);
        tlb.finish();
    }

    /// Fork's copy of this address space (Linux's `dup_mmap`; what `copy_mm` calls). The child
    /// gets the same VMAs, each page-table entry, and one more reference on each frame:
    /// private pages become copy-on-write (write-protected here and there; the first write on
    /// either side copies, or reuses the page once it is the last holder), shared pages stay
    /// shared and writable, the zero page is shared as it is. VM_DONTCOPY VMAs are left out
    /// and VM_WIPEONFORK ones come empty. This address space's TLB is flushed, as its entries
    /// lost their write permission.
    pub fn dup_mmap(&mut self) -> KResult<MmStruct> {
        let mut child = self.dup_fields()?;
        let copied = self.copy_vmas(&mut child);
        // Even a partial copy has write-protected entries here.
        flush_tlb_mm(self);
        copied?;
        child.hiwater_rss = child.get_mm_rss();
        child.vmas.hiwater_vm = child.vmas.total_vm;
        Ok(child)
    }

    /// Read `buf.len()` bytes at `addr` of this address space, which need not be the one
    /// loaded (Linux's `access_remote_vm` for reads: /proc/<pid>/cmdline and environ). A page
    /// of a mapping not touched yet is faulted in as a read would; returns how many bytes
    /// were read, short at the first page that can't be.
    pub fn access_remote_vm(&mut self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            // Only the user half: the kernel's mappings are in every page table too.
            let va = match addr.checked_add(done as u64) {
                Some(va) if va < TASK_SIZE => va,
                _ => break,
            };
            let page = va & !(PAGE - 1);
            let offset = (va - page) as usize;
            let n = (PAGE as usize - offset).min(buf.len() - done);
            let phys = match self.pgd.lookup(page) {
                Some((phys, _)) => phys,
                None => {
                    // Inside a mapping only: a read from here must not grow the stack.
                    if self.vmas.vma_lookup(page).is_none()
                        || handle_mm_fault(self, page, false, false).is_err()
                    {
                        break;
                    }
                    match self.pgd.lookup(page) {
                        Some((phys, _)) => phys,
                        None => break,
                    }
                }
            };
            memcpy_from_page(&mut buf[done..done + n], phys, offset);
            done += n;
        }
        done
    }

    fn copy_vmas(&mut self, child: &mut MmStruct) -> KResult<()> {
        child
            .vmas
            .dup_from(&self.vmas, |v| v.flags & VM_DONTCOPY == 0);
        for v in self.vmas.iter() {
            if v.flags & (VM_DONTCOPY | VM_WIPEONFORK) != 0 {
                continue;
            }
            let cow = !v.is_shared();
            let (mut refs, mut file) = (0i64, 0i64);
            let ok = self.pgd.copy_range(&mut child.pgd, v.start, v.end, |pte| {
                let phys = pte & ADDR_MASK;
                if is_zero_page(phys) {
                    return (pte, pte);
                }
                get_page(phys);
                page_add_file_rmap(phys);
                if is_file_page(phys) {
                    file += 1;
                }
                refs += 1;
                if cow {
                    (pte & !PTE_WRITE, pte & !PTE_WRITE)
                } else {
                    (pte, pte)
                }
            });
            child.add_mm_counter(rss_member(v.flags), refs - file);
            child.add_mm_counter(MM_FILEPAGES, file);
            if !ok {
                return Err(ENOMEM);
            }
        }
        Ok(())
    }
}

impl Default for MmuGather {
    fn default() -> Self {
        Self::new()
    }
}
