//! Page reclaim (Linux's mm/vmscan.c): `kswapd0`, direct reclaim, and the LRU scanning both
//! share.
//!
//! - An allocation that finds a zone below its low watermark wakes `kswapd0`
//!   (`wakeup_kswapd`), which reclaims until every zone it was woken for is above its high
//!   watermark or it runs out of priority (`balance_pgdat`), then sleeps again.
//! - An allocation that may block and finds even the min watermark crossed reclaims a batch
//!   itself (`try_to_free_pages`) before it retries; the OOM killer comes after that.
//! - Both scan the file LRU lists (`shrink_node`): the inactive list from its tail, each page
//!   given its second chance (`folio_check_references`) and, if idle, unmapped from every page
//!   table and dropped from its file's cache (`shrink_inactive_list`); the active list is
//!   aged into the inactive one when that gets short (`shrink_active_list`). Page-cache pages
//!   here are always clean (the bytes live in tmpfs), so nothing is ever written back. There
//!   is no swap, so anonymous pages are not scanned, as in Linux without swap.
//!
//! The scan grows with the urgency: 1/4096 of the lists at priority 12, all of them at 0.
//!
//! Waking kswapd from inside the allocator is not safe everywhere (the kernel heap allocates
//! with interrupts off, under any lock, the scheduler's included), so `wakeup_kswapd` only
//! records the request; it is delivered (`kswapd_wake_pending`) where the allocator may block
//! and where the page-fault handler has let go of its locks.

#![deny(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use super::gfp::{Gfp, ZoneType, ALLOC_WMARK_MIN};
use super::mem_map::{PG_ACTIVE, PG_REFERENCED};
use super::mmzone::WMARK_HIGH;
use super::page_alloc::{
    pfn_to_page, populated_zones, put_page, wmark_pages, zone_free_pages, zone_watermark_ok_flags,
};
use super::rmap::{folio_referenced, try_to_unmap};
use super::swap::{isolate_lru_pages, nr_lru_pages, putback_lru_page, LruList};
use super::vmstat::{count_vm_event, count_vm_events, VmEvent};

/// Pages reclaimed per batch (Linux's `SWAP_CLUSTER_MAX`).
pub const SWAP_CLUSTER_MAX: u64 = 32;
const DEF_PRIORITY: u32 = 12;

/// One reclaim pass (Linux's `scan_control`).
pub struct ScanControl {
    pub nr_to_reclaim: u64,
    pub nr_scanned: u64,
    pub nr_reclaimed: u64,
    pub priority: u32,
    /// kswapd's pass (counted in pgscan_kswapd) or an allocation's own (pgscan_direct).
    pub kswapd: bool,
}

impl ScanControl {
    pub fn new(nr_to_reclaim: u64, kswapd: bool) -> Self {
        ScanControl {
            nr_to_reclaim,
            nr_scanned: 0,
            nr_reclaimed: 0,
            priority: DEF_PRIORITY,
            kswapd,
        }
    }
}

/// What second chance says of an inactive page (`folio_check_references`).
#[derive(Debug, PartialEq, Eq)]
enum PageReferences {
    Activate,
    Keep,
    Reclaim,
}

/// Mapped and accessed since the last look: activate if that happened twice (the page flag
/// and the entries together) or the page is executable; otherwise keep it one more round.
/// Unmapped: reclaim, even if PG_referenced (clean cache pages go first, as in Linux).
fn folio_check_references(phys: u64) -> PageReferences {
    let (ptes, exec) = folio_referenced(phys);
    let Some(p) = pfn_to_page(phys / super::buddy::PAGE_SIZE) else {
        return PageReferences::Keep;
    };
    let referenced_page = p.has(PG_REFERENCED);
    p.clear_flags(PG_REFERENCED);
    if ptes > 0 {
        if referenced_page || ptes > 1 || exec {
            return PageReferences::Activate;
        }
        p.set_flags(PG_REFERENCED);
        return PageReferences::Keep;
    }
    PageReferences::Reclaim
}

/// Free a clean, isolated page-cache page: out of every page table, out of its cache, and
/// back to the allocator; false (page kept) if anything still uses it (`shrink_folio_list`).
fn reclaim_file_page(phys: u64) -> bool {
    let Some(p) = pfn_to_page(phys / super::buddy::PAGE_SIZE) else {
        return false;
    };
    let (mapping, index) = (p.mapping.load(Relaxed), p.index.load(Relaxed) as u64);
    // A page its file already let go of (the file changed) is freed by its last mapping.
    let Some(inode) = super::filemap::mapping_inode(mapping) else {
        return false;
    };
    if !try_to_unmap(phys) {
        return false;
    }
    // The cache's reference and our isolation reference are all that may be left.
    if !inode.i_mapping.remove_page_if_unused(index, phys, 1) {
        return false;
    }
    put_page(phys);
    true
}

/// Scan up to `nr_to_scan` pages from the inactive file list's tail (`shrink_inactive_list`).
fn shrink_inactive_list(nr_to_scan: u64, sc: &mut ScanControl) -> u64 {
    let (pages, scanned) = isolate_lru_pages(LruList::InactiveFile, nr_to_scan as usize);
    sc.nr_scanned += scanned as u64;
    let mut reclaimed = 0;
    for phys in pages {
        match folio_check_references(phys) {
            PageReferences::Activate => {
                if let Some(p) = pfn_to_page(phys / super::buddy::PAGE_SIZE) {
                    p.set_flags(PG_ACTIVE);
                }
                count_vm_event(VmEvent::PgActivate);
                putback_lru_page(phys);
            }
            PageReferences::Keep => putback_lru_page(phys),
            PageReferences::Reclaim if reclaim_file_page(phys) => reclaimed += 1,
            PageReferences::Reclaim => putback_lru_page(phys),
        }
    }
    let (scan, steal) = if sc.kswapd {
        (VmEvent::PgScanKswapd, VmEvent::PgStealKswapd)
    } else {
        (VmEvent::PgScanDirect, VmEvent::PgStealDirect)
    };
    count_vm_events(scan, scanned as u64);
    count_vm_events(steal, reclaimed);
    sc.nr_reclaimed += reclaimed;
    reclaimed
}

/// Age up to `nr_to_scan` pages from the active file list's tail into the inactive list;
/// executable pages in use stay (`shrink_active_list`).
fn shrink_active_list(nr_to_scan: u64) {
    let (pages, _) = isolate_lru_pages(LruList::ActiveFile, nr_to_scan as usize);
    for phys in pages {
        let (ptes, exec) = folio_referenced(phys);
        if !(ptes > 0 && exec) {
            if let Some(p) = pfn_to_page(phys / super::buddy::PAGE_SIZE) {
                p.clear_flags(PG_ACTIVE);
            }
            count_vm_event(VmEvent::PgDeactivate);
        }
        putback_lru_page(phys);
    }
}

/// Linux's `inactive_is_low` for the file lists: the inactive list should hold at least
/// 1/sqrt(10 × GiB) of them.
pub fn inactive_is_low(inactive: u64, active: u64) -> bool {
    let gb = (inactive + active) >> (30 - 12);
    let ratio = if gb > 0 { (10 * gb).isqrt() } else { 1 };
    inactive * ratio < active
}

/// One pass over the node's file lists at `sc.priority` (`shrink_node` with
/// `shrink_lruvec`): scan (lists >> priority) pages, at least a batch, aging the active list
/// first when the inactive one is short.
pub fn shrink_node(sc: &mut ScanControl) {
    let lists = nr_lru_pages(LruList::InactiveFile) + nr_lru_pages(LruList::ActiveFile);
    let mut nr = (lists >> sc.priority).max(SWAP_CLUSTER_MAX.min(lists));
    while nr > 0 && sc.nr_reclaimed < sc.nr_to_reclaim {
        let batch = nr.min(SWAP_CLUSTER_MAX);
        if inactive_is_low(
            nr_lru_pages(LruList::InactiveFile),
            nr_lru_pages(LruList::ActiveFile),
        ) {
            shrink_active_list(batch);
        }
        shrink_inactive_list(batch, sc);
        nr -= batch;
    }
}

/// Direct reclaim (`try_to_free_pages`): a batch, raising the priority until it is found or
/// the lists are exhausted; returns pages reclaimed.
pub fn try_to_free_pages(_gfp: Gfp, _order: usize) -> u64 {
    count_vm_event(VmEvent::AllocStall);
    let mut sc = ScanControl::new(SWAP_CLUSTER_MAX, false);
    // Empty slabs first: free pages without touching anyone's data (`shrink_slab`).
    sc.nr_reclaimed += super::slub::shrink_slab();
    loop {
        shrink_node(&mut sc);
        if sc.nr_reclaimed >= sc.nr_to_reclaim || sc.priority == 0 {
            if sc.nr_reclaimed > 0 {
                // Reclaim works again: kswapd may try again too.
                KSWAPD_FAILURES.store(0, Relaxed);
            }
            return sc.nr_reclaimed;
        }
        sc.priority -= 1;
    }
}

/// Is any zone kswapd works for above its high watermark (`pgdat_balanced`)?
pub fn pgdat_balanced(order: usize, highest: ZoneType) -> bool {
    let mut any = false;
    for z in populated_zones().filter(|&z| z <= highest) {
        any = true;
        if zone_watermark_ok_flags(z, order, WMARK_HIGH, highest, ALLOC_WMARK_MIN) {
            return true;
        }
    }
    !any
}

/// kswapd's work after a wake-up (`balance_pgdat`): reclaim until balanced, raising the
/// priority whenever a pass falls short of the pages missing to the high watermarks.
#[inline(never)] // a symbol for kfunc:balance_pgdat
pub fn balance_pgdat(order: usize, highest: ZoneType) -> u64 {
    let mut priority = DEF_PRIORITY;
    let mut total = super::slub::shrink_slab();
    while !pgdat_balanced(order, highest) {
        let missing: u64 = populated_zones()
            .filter(|&z| z <= highest)
            .map(|z| wmark_pages(z, WMARK_HIGH).saturating_sub(zone_free_pages(z)))
            .sum();
        let mut sc = ScanControl::new(missing.max(SWAP_CLUSTER_MAX), true);
        sc.priority = priority;
        shrink_node(&mut sc);
        total += sc.nr_reclaimed;
        if sc.nr_reclaimed < sc.nr_to_reclaim {
            if priority == 0 {
                break;
            }
            priority -= 1;
        }
    }
    total
}

/// kswapd0's request: wanted, and for which order and zones.
static KSWAPD_WANTED: AtomicBool = AtomicBool::new(false);
/// Runs in a row that left the zones unbalanced without reclaiming anything; at
/// `MAX_RECLAIM_RETRIES` kswapd is no longer woken until direct reclaim succeeds again
/// (`kswapd_failures`).
static KSWAPD_FAILURES: AtomicUsize = AtomicUsize::new(0);
pub const MAX_RECLAIM_RETRIES: usize = 16;
static KSWAPD_ORDER: AtomicUsize = AtomicUsize::new(0);
static KSWAPD_HIGHEST_ZONE: AtomicUsize = AtomicUsize::new(0);

/// Ask kswapd0 to balance the zones up to `highest` (Linux's `wakeup_kswapd`); only records
/// the request, which `kswapd_wake_pending` delivers.
pub fn wakeup_kswapd(order: usize, highest: ZoneType) {
    if KSWAPD_WANTED.load(Relaxed)
        || KSWAPD_FAILURES.load(Relaxed) >= MAX_RECLAIM_RETRIES
        || pgdat_balanced(order, highest)
    {
        return;
    }
    KSWAPD_ORDER.fetch_max(order, Relaxed);
    KSWAPD_HIGHEST_ZONE.fetch_max(highest as usize, Relaxed);
    KSWAPD_WANTED.store(true, Relaxed);
}

#[cfg(not(test))]
pub use kthread::{kswapd_init, kswapd_wake_pending};

/// The kernel thread itself.
#[cfg(not(test))]
mod kthread {
    use core::sync::atomic::Ordering::{Relaxed, SeqCst};

    use spin::Once;

    use super::*;
    use crate::kernel::task::{current, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};

    static KSWAPD: Once<TaskRef> = Once::new();

    /// Deliver a recorded kswapd request: call only where waking a task is safe (no
    /// scheduler or wait-queue lock held, not from the allocator's insides).
    pub fn kswapd_wake_pending() {
        if KSWAPD_WANTED.load(Relaxed) {
            if let Some(t) = KSWAPD.get() {
                crate::sched::wake_up_process(t);
            }
        }
        // kcompactd's requests are made beside kswapd's and go out with them.
        crate::mm::compaction::kcompactd_wake_pending();
    }

    /// Sleep until asked (`kswapd_try_to_sleep`); the state is set before the request is
    /// checked, so a request made in between wakes us.
    fn kswapd_try_to_sleep() {
        crate::trace::trace_mm_vmscan_kswapd_sleep(0);
        loop {
            current().state.store(TASK_INTERRUPTIBLE, SeqCst);
            if KSWAPD_WANTED.load(SeqCst) {
                current().state.store(TASK_RUNNING, SeqCst);
                return;
            }
            crate::sched::schedule();
        }
    }

    fn kswapd() {
        loop {
            kswapd_try_to_sleep();
            let order = KSWAPD_ORDER.swap(0, Relaxed);
            let highest = match KSWAPD_HIGHEST_ZONE.swap(0, Relaxed) {
                0 => ZoneType::Dma32,
                _ => ZoneType::Normal,
            };
            crate::trace::trace_mm_vmscan_kswapd_wake(0, highest as i32, order as i32);
            if balance_pgdat(order, highest) == 0 && !pgdat_balanced(order, highest) {
                KSWAPD_FAILURES.fetch_add(1, Relaxed);
            } else {
                KSWAPD_FAILURES.store(0, Relaxed);
            }
            KSWAPD_WANTED.store(false, SeqCst);
        }
    }

    /// Start `kswapd0` (`kswapd_init` → `kswapd_run`).
    pub fn kswapd_init() {
        match crate::kernel::kthread::kthread_run("kswapd0", kswapd) {
            Some(t) => {
                KSWAPD.call_once(|| t);
            }
            None => crate::pr_err!("Failed to start kswapd on node 0"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inactive_file_list_may_shrink_to_one_over_sqrt_ten_gib() {
        assert!(!inactive_is_low(100, 100));
        assert!(inactive_is_low(99, 100));
        // 4 GiB of file pages: ratio sqrt(40) = 6.
        let total = 4 << 18;
        assert!(!inactive_is_low(total / 7 + 1, total - total / 7 - 1));
        assert!(inactive_is_low(total / 8, total - total / 8));
    }
}
