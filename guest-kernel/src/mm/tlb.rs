//! TLB maintenance for user address spaces (the entry points of Linux's arch/x86/mm/tlb.c).
//!
//! Page-table range operations (`arch::paging`) change entries without flushing; mm calls one
//! of these afterwards, once per operation, so a large munmap or fork costs one CR3 reload
//! rather than an `invlpg` per page.
//!
//! TODO(smp): these flush this CPU only. That is enough while an address space runs on one CPU
//! at a time, which is all the kernel does today. Once threads of one mm run on several CPUs,
//! each must also shoot down the other CPUs that have the mm loaded (an IPI to the mm's CPU
//! mask, waiting for the acknowledgements) before the caller frees or reuses any frame it
//! unmapped. These three functions are the hook points for the scheduler's side of that.

#![deny(unsafe_code)]

use super::mmap::MmStruct;

/// Beyond this many pages a range flush reloads CR3 instead (Linux's
/// `tlb_single_page_flush_ceiling`).
const SINGLE_PAGE_FLUSH_CEILING: u64 = 33;

/// Forget every translation of `mm`.
pub fn flush_tlb_mm(mm: &MmStruct) {
    mm.pgd.flush_local();
}

/// Forget the translations of `[start, end)` in `mm`.
pub fn flush_tlb_range(mm: &MmStruct, start: u64, end: u64) {
    let pages = end.saturating_sub(start) / 4096;
    if pages > SINGLE_PAGE_FLUSH_CEILING {
        mm.pgd.flush_local();
        return;
    }
    if mm.pgd.is_active() {
        for i in 0..pages {
            super::arch::cpu::invlpg(start + i * 4096);
        }
    }
}

/// Forget the translation of the page at `addr` in `mm`.
pub fn flush_tlb_page(mm: &MmStruct, addr: u64) {
    mm.pgd.flush_local_page(addr);
}
