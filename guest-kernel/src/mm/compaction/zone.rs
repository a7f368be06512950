//! Compaction of the kernel's zones: the scanners' view of a zone ([`ZoneEnv`]), direct
//! compaction, `kcompactd0`, and `/proc/sys/vm/compact_memory`.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::super::buddy::PAGE_SIZE;
use super::super::gfp::ALLOC_WMARK_MIN;
use super::super::mem_map::{PG_ANON, PG_FILE, PG_LRU, PG_SLAB};
use super::super::migrate::migrate_page;
use super::super::mmzone::{WMARK_LOW, WMARK_MIN};
use super::super::page_alloc::{
    drain_local_pages, free_block_containing, free_one_page, isolate_free_block, pfn_to_page,
    populated_zones, wmark_pages, zone_free_pages, zone_has_free_block, zone_span,
    zone_watermark_ok_flags,
};
use super::super::swap::{isolate_lru_page, putback_lru_page};
use super::*;

/// A zone of the page allocator, as the scanners see it.
pub struct ZoneEnv {
    pub zone: ZoneType,
}

impl CompactEnv for ZoneEnv {
    fn isolate_migrate(&mut self, pfn: u64) -> Scan {
        let Some(p) = pfn_to_page(pfn) else {
            return Scan::skip(PAGEBLOCK_NR_PAGES);
        };
        // Free (a block passed whole), or a frame of a larger allocation, or being freed.
        if p.count() == 0 {
            return match free_block_containing(pfn) {
                Some((head, order)) => Scan::skip(head + (1 << order) - pfn),
                None => Scan::NEXT,
            };
        }
        // Only user pages on an LRU list move; the kernel's own (slab, page tables, stacks)
        // have no reverse map and stay.
        let flags = p.flags.load(Relaxed);
        if flags & PG_LRU == 0 || flags & PG_SLAB != 0 || flags & (PG_ANON | PG_FILE) == 0 {
            return Scan::NEXT;
        }
        if !isolate_lru_page(pfn * PAGE_SIZE) {
            return Scan::NEXT;
        }
        Scan {
            advance: 1,
            isolated: 1,
        }
    }

    fn isolate_free(&mut self, pfn: u64, list: &mut Vec<u64>) -> Scan {
        if pfn_to_page(pfn).is_some_and(|p| p.count() != 0) {
            return Scan::NEXT;
        }
        match isolate_free_block(pfn, PAGEBLOCK_ORDER) {
            Ok((head, order)) => {
                list.extend(head..head + (1 << order));
                Scan {
                    advance: head + (1 << order) - pfn,
                    isolated: 1 << order,
                }
            }
            Err(Some((head, order))) => Scan::skip(head + (1 << order) - pfn),
            Err(None) => Scan::NEXT,
        }
    }

    fn migrate(&mut self, from: u64, to: u64) -> bool {
        if migrate_page(from * PAGE_SIZE, to * PAGE_SIZE).is_err() {
            return false;
        }
        free_one_page(from);
        true
    }

    fn putback(&mut self, pfn: u64) {
        putback_lru_page(pfn * PAGE_SIZE);
    }

    fn release_free(&mut self, pfn: u64) {
        free_one_page(pfn);
    }

    fn free_block(&mut self, order: usize) -> bool {
        zone_has_free_block(self.zone, order)
    }

    fn cond_resched(&mut self) {
        #[cfg(not(test))]
        crate::sched::cond_resched();
    }
}

/// Whether zone `z` has free memory enough for compaction for `order` to work with
/// (`compaction_suitable`): above the low watermark by twice the block (`compact_gap`).
pub fn compaction_suitable(z: ZoneType, order: usize) -> bool {
    zone_free_pages(z) > wmark_pages(z, WMARK_LOW) + (2 << order)
}

/// Compact zone `z` for `order` (`None`: all of it), counting and tracing the run.
fn compact_zone_counted(z: ZoneType, order: Option<usize>, kcompactd: bool) -> CompactResult {
    let (start, end) = zone_span(z);
    let mut cc = CompactControl::new(start, end, order);
    // This CPU's free page list holds frames the free scanner cannot see.
    drain_local_pages();
    #[cfg(not(test))]
    crate::trace::trace_mm_compaction_begin(start, cc.migrate_pfn, cc.free_pfn, end, true);
    let result = compact_zone(&mut ZoneEnv { zone: z }, &mut cc);
    #[cfg(not(test))]
    crate::trace::trace_mm_compaction_end(
        start,
        cc.migrate_pfn,
        cc.free_pfn,
        end,
        true,
        result as i32,
    );
    count_vm_events(VmEvent::CompactMigrateScanned, cc.nr_migrate_scanned);
    count_vm_events(VmEvent::CompactFreeScanned, cc.nr_free_scanned);
    count_vm_events(VmEvent::CompactIsolated, cc.nr_isolated);
    if kcompactd {
        count_vm_events(VmEvent::CompactDaemonMigrateScanned, cc.nr_migrate_scanned);
        count_vm_events(VmEvent::CompactDaemonFreeScanned, cc.nr_free_scanned);
    }
    result
}

/// Compact the zones up to `highest` whose back-off allows it, for `order`, until one has a
/// block of it; `kcompactd` skips zones already above their min watermark with such a block.
fn compact_zones_for(highest: ZoneType, order: usize, kcompactd: bool) -> Option<CompactResult> {
    let mut last = None;
    for z in populated_zones().filter(|&z| z <= highest) {
        if kcompactd
            && zone_watermark_ok_flags(z, order, WMARK_MIN, z, ALLOC_WMARK_MIN)
            && zone_has_free_block(z, order)
        {
            continue;
        }
        if DEFERRAL.lock()[z as usize].deferred(order) {
            last = Some(CompactResult::Deferred);
            continue;
        }
        if !compaction_suitable(z, order) {
            last = Some(CompactResult::Skipped);
            continue;
        }
        let result = compact_zone_counted(z, Some(order), kcompactd);
        let mut d = DEFERRAL.lock();
        if result == CompactResult::Success {
            d[z as usize].reset(order);
            return Some(result);
        }
        d[z as usize].defer(order);
        last = Some(result);
    }
    last
}

/// Direct compaction by an allocation of `order` that may use zones up to `highest`
/// (`try_to_compact_pages`); whether compaction ran (the caller counts a stall, then whether
/// its allocation succeeded). Never nests in another compaction.
pub fn try_to_compact_pages(highest: ZoneType, order: usize) -> bool {
    let Some(_g) = CompactingGuard::try_new() else {
        return false;
    };
    matches!(
        compact_zones_for(highest, order, false),
        Some(CompactResult::Success | CompactResult::Complete)
    )
}

/// Compact every zone whole (`compact_nodes`); false if a compaction was running already.
pub fn compact_nodes() -> bool {
    let Some(_g) = CompactingGuard::try_new() else {
        return false;
    };
    for z in populated_zones() {
        compact_zone_counted(z, None, false);
    }
    true
}

/// kcompactd0's request: the largest order asked for and the highest zone (0: none).
static KCOMPACTD_ORDER: AtomicUsize = AtomicUsize::new(0);
static KCOMPACTD_HIGHEST_ZONE: AtomicUsize = AtomicUsize::new(0);

/// Ask kcompactd0 to compact for an allocation of `order` up to zone `highest` that failed
/// (`wakeup_kcompactd`), if some zone is worth compacting; the request is delivered with
/// kswapd's (`kcompactd_wake_pending`), where waking a task is safe.
pub fn wakeup_kcompactd(order: usize, highest: ZoneType) {
    if order == 0
        || !populated_zones()
            .filter(|&z| z <= highest)
            .any(|z| compaction_suitable(z, order))
    {
        return;
    }
    KCOMPACTD_HIGHEST_ZONE.fetch_max(highest as usize, Relaxed);
    KCOMPACTD_ORDER.fetch_max(order, Relaxed);
}

/// kcompactd0's work after a wake-up (`kcompactd_do_work`).
#[inline(never)] // a symbol for kfunc:kcompactd_do_work
pub fn kcompactd_do_work(order: usize, highest: ZoneType) {
    count_vm_events(VmEvent::CompactDaemonWake, 1);
    if let Some(_g) = CompactingGuard::try_new() {
        compact_zones_for(highest, order, true);
    }
}

#[cfg(not(test))]
pub use kthread::{kcompactd_init, kcompactd_wake_pending, sysctl_compaction_handler};

/// The kernel thread itself, and the sysctl that waits for a running compaction.
#[cfg(not(test))]
mod kthread {
    use core::sync::atomic::Ordering::{Relaxed, SeqCst};

    use spin::Once;

    use super::*;
    use crate::kernel::task::{current, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};

    static KCOMPACTD: Once<TaskRef> = Once::new();

    /// Deliver a recorded request (call only where waking a task is safe).
    pub fn kcompactd_wake_pending() {
        if KCOMPACTD_ORDER.load(Relaxed) != 0 {
            if let Some(t) = KCOMPACTD.get() {
                crate::sched::wake_up_process(t);
            }
        }
    }

    /// Sleep until asked; the state is set before the request is checked, so a request made
    /// in between wakes us.
    fn kcompactd_try_to_sleep() {
        loop {
            current().state.store(TASK_INTERRUPTIBLE, SeqCst);
            if KCOMPACTD_ORDER.load(SeqCst) != 0 {
                current().state.store(TASK_RUNNING, SeqCst);
                return;
            }
            crate::sched::schedule();
        }
    }

    fn kcompactd() {
        loop {
            kcompactd_try_to_sleep();
            let order = KCOMPACTD_ORDER.swap(0, SeqCst);
            let highest = match KCOMPACTD_HIGHEST_ZONE.swap(0, Relaxed) {
                0 => ZoneType::Dma32,
                _ => ZoneType::Normal,
            };
            crate::trace::trace_mm_compaction_kcompactd_wake(0, order as i32, highest as i32);
            kcompactd_do_work(order, highest);
        }
    }

    /// Start `kcompactd0` (`kcompactd_init` → `kcompactd_run`).
    pub fn kcompactd_init() {
        match crate::kernel::kthread::kthread_run("kcompactd0", kcompactd) {
            Some(t) => {
                KCOMPACTD.call_once(|| t);
            }
            None => crate::pr_err!("Failed to start kcompactd on node 0"),
        }
    }

    /// A write to `/proc/sys/vm/compact_memory` (`sysctl_compaction_handler`): compact every
    /// zone now, in the writer's context, after any compaction already running.
    pub fn sysctl_compaction_handler() {
        while !compact_nodes() {
            crate::sched::cond_resched();
        }
    }
}
