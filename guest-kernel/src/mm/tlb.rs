//! TLB maintenance for user address spaces (the entry points of Linux's arch/x86/mm/tlb.c).
//!
//! Page-table range operations (`arch::paging`) change entries without flushing; mm calls one
//! of these afterwards, once per operation, so a large munmap or fork costs one CR3 reload
//! rather than an `invlpg` per page.
//!
//! These flush this CPU only. A CPU that keeps the address space loaded without running it
//! (lazy TLB: kernel threads, idle) catches up when the task comes back: each flush bumps the
//! page table's generation, and the scheduler flushes a CPU whose generation is behind
//! (`PageTable::sync_lazy_tlb`). TODO(smp): threads of one mm running on several CPUs at the
//! same time also need the others shot down (an IPI to the mm's CPU mask, waiting for the
//! acknowledgements) before the caller frees or reuses any frame it unmapped.

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
    mm.pgd.flush_local_range(start, pages);
}

/// Forget the translation of the page at `addr` in `mm`.
pub fn flush_tlb_page(mm: &MmStruct, addr: u64) {
    mm.pgd.flush_local_page(addr);
}
