//! TLB maintenance for user address spaces (the entry points of Linux's arch/x86/mm/tlb.c):
//! the flushes that follow page-table changes, and the address-space switch of the scheduler.
//!
//! Page-table range operations (`arch::paging`) change entries without flushing; mm calls one
//! of these afterwards, once per operation, so a large munmap or fork costs one CR3 reload
//! rather than an `invlpg` per page.
//!
//! A flush reaches every CPU that may hold the old translations: this one at once; the other
//! CPUs running a task of the address space through a shootdown that is waited for
//! (`arch::tlb::native_flush_tlb_multi`), so that when a flush returns the caller may free or
//! reuse the frames it unmapped; and CPUs that only keep the address space loaded (lazy TLB:
//! kernel threads, idle) through the generation they check before running its task again
//! (`switch_mm_irqs_off`). A single-threaded process, or threads all on this CPU, costs no
//! shootdown: nobody else is in the address space's CPU mask.

#![deny(unsafe_code)]

use super::arch::tlb as arch_tlb;
use super::mmap::MmStruct;
use super::MmRef;

/// Beyond this many pages a range flush reloads CR3 instead (Linux's
/// `tlb_single_page_flush_ceiling`).
const SINGLE_PAGE_FLUSH_CEILING: u64 = 33;

/// Forget every translation of `mm`.
pub fn flush_tlb_mm(mm: &MmStruct) {
    flush_tlb_mm_range(mm, None);
}

/// Forget the translations of `[start, end)` in `mm`.
pub fn flush_tlb_range(mm: &MmStruct, start: u64, end: u64) {
    let pages = end.saturating_sub(start) / 4096;
    let range = (pages <= SINGLE_PAGE_FLUSH_CEILING).then_some((start, pages));
    flush_tlb_mm_range(mm, range);
}

/// Forget the translation of the page at `addr` in `mm`.
pub fn flush_tlb_page(mm: &MmStruct, addr: u64) {
    flush_tlb_mm_range(mm, Some((addr, 1)));
}

/// Flush `range` (`(start, pages)`, or everything) of `mm` here and on every other CPU
/// running it, and return when all have (Linux's `flush_tlb_mm_range`). The new generation
/// comes first, so a CPU that starts running `mm` meanwhile either is in the mask read after
/// it or finds itself behind.
fn flush_tlb_mm_range(mm: &MmStruct, range: Option<(u64, u64)>) {
    let tlb = mm.pgd.tlb();
    let gen = tlb.bump_tlb_gen();
    tlb.flush_local(gen, range);
    let others = tlb.other_cpus();
    if others != 0 {
        arch_tlb::native_flush_tlb_multi(others, tlb, gen, range);
    }
}

/// The scheduler is about to run a task of `next` on this CPU, which has `loaded` loaded
/// (Linux's `switch_mm_irqs_off`): load `next`, or catch up with what changed in it meanwhile.
pub fn switch_mm_irqs_off(loaded: Option<&MmRef>, next: &MmRef) {
    arch_tlb::switch_mm_irqs_off(loaded.map(|m| m.tlb()), next.tlb());
}

/// The scheduler is about to run a kernel thread on this CPU, which keeps `loaded` loaded
/// (Linux's `enter_lazy_tlb`): flushes of `loaded` need not be sent here any more.
#[inline]
pub fn enter_lazy_tlb(loaded: Option<&MmRef>) {
    // Nothing loaded yet (the boot, before init's exec): nothing to leave.
    if let Some(mm) = loaded {
        arch_tlb::enter_lazy_tlb(mm.tlb());
    }
}
