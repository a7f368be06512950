//! Memory compaction (Linux's mm/compaction.c): make free blocks of high order out of a zone
//! whose free memory is scattered, by moving pages in use from the bottom of the zone into
//! free pages at its top.
//!
//! `compact_zone` runs two scanners towards each other, a pageblock (512 frames) at a time:
//! the migrate scanner from the zone's first frame up isolates movable pages (user pages on an
//! LRU list, at most `COMPACT_CLUSTER_MAX` per batch); the free scanner from the zone's last
//! pageblock down isolates free frames, from blocks below pageblock order (a whole free
//! pageblock is what compaction makes, not what it spends). Each batch is migrated
//! (`migrate.rs`) into the free frames, the sources go back to the buddy allocator, which
//! merges them with their free neighbours. It stops when a block of the wanted order is free
//! or when the scanners meet; free frames left over go back.
//!
//! Who runs it:
//! - `kcompactd0`, woken (`wakeup_kcompactd`) when an allocation of order > 0 takes the slow
//!   path, compacts the zones below their watermark for that order.
//! - Such an allocation, if it may block, compacts itself once before reclaiming (direct
//!   compaction: compact_stall, then compact_success or compact_fail), unless compaction
//!   failed there recently (`compaction_deferred`, Linux's exponential back-off).
//! - A write of 1 to `/proc/sys/vm/compact_memory` compacts every zone whole.
//!
//! One compaction runs at a time (`COMPACTING`); the heap allocations it makes may recurse
//! into the page allocator, whose slow path then skips compaction instead of nesting.
//!
//! The scanners are generic over [`CompactEnv`], what they see of a zone and do to it: the
//! kernel's is [`ZoneEnv`], the host tests' a simulated zone.

#![deny(unsafe_code)]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::gfp::{ZoneType, MAX_NR_ZONES};
use super::vmstat::{count_vm_events, VmEvent};

/// Pages isolated for migration per batch (Linux's `COMPACT_CLUSTER_MAX`).
pub const COMPACT_CLUSTER_MAX: usize = 32;
/// The unit the scanners move in (Linux's `pageblock_order` on x86_64: 2 MiB).
pub const PAGEBLOCK_ORDER: usize = 9;
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;

/// How a compaction ended (Linux's `enum compact_result`, with its values: the tracepoints
/// report them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum CompactResult {
    /// Not enough free memory to be worth it: reclaim first.
    Skipped = 1,
    /// Failed here recently: not tried.
    Deferred = 2,
    /// The scanners met: the whole zone was done.
    Complete = 5,
    /// A free block of the wanted order exists.
    Success = 8,
}

/// What a scanner did at a frame: how many frames to move on (a free block is passed whole)
/// and how many it isolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    pub advance: u64,
    pub isolated: u64,
}

impl Scan {
    pub const NEXT: Scan = Scan {
        advance: 1,
        isolated: 0,
    };

    pub fn skip(frames: u64) -> Scan {
        Scan {
            advance: frames.max(1),
            isolated: 0,
        }
    }
}

/// What the scanners see of a zone and do to it.
pub trait CompactEnv {
    /// The migrate scanner at `pfn`: isolate the page there if it is movable.
    fn isolate_migrate(&mut self, pfn: u64) -> Scan;
    /// The free scanner at `pfn`: isolate the free block there if it is below pageblock
    /// order, pushing its frames onto `list`.
    fn isolate_free(&mut self, pfn: u64, list: &mut Vec<u64>) -> Scan;
    /// Move the isolated page at `from` to the isolated free frame `to`; on success `from`
    /// is free again, on failure nothing changed.
    fn migrate(&mut self, from: u64, to: u64) -> bool;
    /// Return an isolated page that did not move to its list.
    fn putback(&mut self, pfn: u64);
    /// Return an isolated free frame to the allocator.
    fn release_free(&mut self, pfn: u64);
    /// Whether a free block of `order` or more exists.
    fn free_block(&mut self, order: usize) -> bool;
    /// Between batches: let other tasks run (a whole zone takes seconds when emulated).
    fn cond_resched(&mut self) {}
}

/// One compaction of one zone (Linux's `compact_control`).
pub struct CompactControl {
    /// The order wanted; `None` compacts the whole zone (`/proc/sys/vm/compact_memory`).
    pub order: Option<usize>,
    pub zone_start: u64,
    pub zone_end: u64,
    /// The next frame the migrate scanner looks at.
    pub migrate_pfn: u64,
    /// The pageblock the free scanner works in, and its next frame there.
    pub free_pfn: u64,
    free_pos: u64,
    migratepages: Vec<u64>,
    freepages: Vec<u64>,
    pub nr_migrate_scanned: u64,
    pub nr_free_scanned: u64,
    pub nr_isolated: u64,
    pub nr_migrated: u64,
    pub nr_failed: u64,
}

fn pageblock_start(pfn: u64) -> u64 {
    pfn & !(PAGEBLOCK_NR_PAGES - 1)
}

impl CompactControl {
    /// A compaction of the frames `[start, end)` for `order`: the migrate scanner at the
    /// bottom, the free scanner in the last pageblock.
    pub fn new(start: u64, end: u64, order: Option<usize>) -> Self {
        let free_pfn = pageblock_start(end.saturating_sub(1)).max(start);
        CompactControl {
            order,
            zone_start: start,
            zone_end: end,
            migrate_pfn: start,
            free_pfn,
            free_pos: free_pfn,
            migratepages: Vec::new(),
            freepages: Vec::new(),
            nr_migrate_scanned: 0,
            nr_free_scanned: 0,
            nr_isolated: 0,
            nr_migrated: 0,
            nr_failed: 0,
        }
    }

    /// The scanners are in the same pageblock, or have passed each other
    /// (`compact_scanners_met`).
    pub fn scanners_met(&self) -> bool {
        self.free_pfn / PAGEBLOCK_NR_PAGES <= self.migrate_pfn / PAGEBLOCK_NR_PAGES
            || self.free_pfn < self.zone_start
    }
}

/// Compact one zone (Linux's `compact_zone`); see the module comment.
pub fn compact_zone<E: CompactEnv>(env: &mut E, cc: &mut CompactControl) -> CompactResult {
    let result = loop {
        if let Some(order) = cc.order {
            if env.free_block(order) {
                break CompactResult::Success;
            }
        }
        if cc.scanners_met() {
            break CompactResult::Complete;
        }
        env.cond_resched();
        isolate_migratepages(env, cc);
        if !cc.migratepages.is_empty() && !migrate_pages(env, cc) {
            // No free frame is left above the migrate scanner.
            break CompactResult::Complete;
        }
    };
    for pfn in cc.freepages.drain(..) {
        env.release_free(pfn);
    }
    result
}

/// Isolate up to a batch of movable pages from the rest of the migrate scanner's pageblock
/// (`isolate_migratepages`).
fn isolate_migratepages<E: CompactEnv>(env: &mut E, cc: &mut CompactControl) {
    let end = (pageblock_start(cc.migrate_pfn) + PAGEBLOCK_NR_PAGES).min(cc.zone_end);
    if cc.migratepages.try_reserve(COMPACT_CLUSTER_MAX).is_err() {
        cc.migrate_pfn = end;
        return;
    }
    while cc.migrate_pfn < end && cc.migratepages.len() < COMPACT_CLUSTER_MAX {
        let s = env.isolate_migrate(cc.migrate_pfn);
        cc.nr_migrate_scanned += 1;
        if s.isolated != 0 {
            cc.migratepages.push(cc.migrate_pfn);
            cc.nr_isolated += 1;
        }
        cc.migrate_pfn += s.advance.max(1);
    }
}

/// Isolate free frames from the free scanner's pageblocks, moving down, until there are
/// `want` or the scanners meet (`isolate_freepages`).
fn isolate_freepages<E: CompactEnv>(env: &mut E, cc: &mut CompactControl, want: usize) {
    while cc.freepages.len() < want && !cc.scanners_met() {
        let block_end = (cc.free_pfn + PAGEBLOCK_NR_PAGES).min(cc.zone_end);
        if cc.free_pos >= block_end {
            // Below the first pageblock the scanners have met.
            cc.free_pfn = cc.free_pfn.saturating_sub(PAGEBLOCK_NR_PAGES);
            cc.free_pos = cc.free_pfn.max(cc.zone_start);
            continue;
        }
        // A block below pageblock order is at most half a pageblock.
        if cc
            .freepages
            .try_reserve(PAGEBLOCK_NR_PAGES as usize / 2)
            .is_err()
        {
            return;
        }
        let s = env.isolate_free(cc.free_pos, &mut cc.freepages);
        cc.nr_free_scanned += 1;
        cc.nr_isolated += s.isolated;
        cc.free_pos += s.advance.max(1);
    }
}

/// Migrate the isolated batch into free frames (`migrate_pages`); false if the free scanner
/// found no more (the rest of the batch is put back).
fn migrate_pages<E: CompactEnv>(env: &mut E, cc: &mut CompactControl) -> bool {
    let pages = core::mem::take(&mut cc.migratepages);
    let mut out_of_free = false;
    for (i, &pfn) in pages.iter().enumerate() {
        if out_of_free {
            env.putback(pfn);
            continue;
        }
        if cc.freepages.is_empty() {
            isolate_freepages(env, cc, pages.len() - i);
        }
        match cc.freepages.pop() {
            None => {
                out_of_free = true;
                env.putback(pfn);
            }
            Some(to) if env.migrate(pfn, to) => cc.nr_migrated += 1,
            Some(to) => {
                cc.freepages.push(to);
                env.putback(pfn);
                cc.nr_failed += 1;
            }
        }
    }
    cc.migratepages = pages;
    cc.migratepages.clear();
    !out_of_free
}

/// Failures in a row put off compaction of a zone for 2^shift attempts, shift at most this
/// (Linux's `COMPACT_MAX_DEFER_SHIFT`).
const COMPACT_MAX_DEFER_SHIFT: u32 = 6;

/// A zone's back-off after failed compactions (Linux's `compact_considered`,
/// `compact_defer_shift`, `compact_order_failed`).
#[derive(Clone, Copy, Debug)]
pub struct Deferral {
    considered: u32,
    defer_shift: u32,
    order_failed: usize,
}

impl Deferral {
    pub const fn new() -> Self {
        Deferral {
            considered: 0,
            defer_shift: 0,
            order_failed: usize::MAX,
        }
    }

    /// Compaction for `order` failed (`defer_compaction`).
    pub fn defer(&mut self, order: usize) {
        self.considered = 0;
        self.defer_shift = (self.defer_shift + 1).min(COMPACT_MAX_DEFER_SHIFT);
        self.order_failed = self.order_failed.min(order);
    }

    /// Whether to skip compaction for `order` this time (`compaction_deferred`).
    pub fn deferred(&mut self, order: usize) -> bool {
        if order < self.order_failed {
            return false;
        }
        self.considered = (self.considered + 1).min(1 << COMPACT_MAX_DEFER_SHIFT);
        self.considered < 1 << self.defer_shift
    }

    /// Compaction for `order` succeeded (`compaction_defer_reset`).
    pub fn reset(&mut self, order: usize) {
        self.considered = 0;
        self.defer_shift = 0;
        if order >= self.order_failed {
            self.order_failed = order + 1;
        }
    }
}

static DEFERRAL: spin::Mutex<[Deferral; MAX_NR_ZONES]> =
    spin::Mutex::new([Deferral::new(); MAX_NR_ZONES]);

/// Only one compaction at a time; see the module comment.
static COMPACTING: AtomicBool = AtomicBool::new(false);

struct CompactingGuard;

impl CompactingGuard {
    fn try_new() -> Option<Self> {
        COMPACTING
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(CompactingGuard)
    }
}

impl Drop for CompactingGuard {
    fn drop(&mut self) {
        COMPACTING.store(false, Ordering::Release);
    }
}

mod zone;
pub use zone::*;

#[cfg(test)]
mod tests;
