//! The per-CPU free page lists (Linux's `per_cpu_pages`): single pages, by far the most
//! common request (page faults, page tables, slab), come from a small per-CPU stack of free
//! pages per zone that is refilled from and drained to the buddy allocator in batches: a push
//! or pop with interrupts off instead of the buddy lock and a split or merge through every
//! order each time.
//!
//! A CPU touches only its own lists, with interrupts off; the counts are atomics so that
//! other CPUs may read them (MemFree, /proc/zoneinfo).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::super::arch::cpu;
use super::super::arch::percpu::{cpu_id, MAX_CPUS};
use super::super::gfp::{ZoneType, MAX_NR_ZONES};
use super::{with_free_area, zone_of};

/// Free pages a CPU keeps at most per zone, and moves to or from the buddy allocator at once.
pub(super) const PCP_HIGH: usize = 64;
pub(super) const PCP_BATCH: usize = 16;

/// Each CPU's stack of free pages (frame numbers) per zone; the first `PCP_COUNT` are valid.
struct PcpLists([[UnsafeCell<[u64; PCP_HIGH]>; MAX_CPUS]; MAX_NR_ZONES]);

// SAFETY: each CPU touches only its own lists, and only with interrupts disabled, so accesses
// to a list never overlap.
unsafe impl Sync for PcpLists {}

static PCP: PcpLists =
    PcpLists([const { [const { UnsafeCell::new([0; PCP_HIGH]) }; MAX_CPUS] }; MAX_NR_ZONES]);
/// Pages on each CPU's lists; atomic so that other CPUs may read them for MemFree.
pub(super) static PCP_COUNT: [[AtomicUsize; MAX_CPUS]; MAX_NR_ZONES] =
    [const { [const { AtomicUsize::new(0) }; MAX_CPUS] }; MAX_NR_ZONES];

/// Run `f` on this CPU's page list of zone `z` and its count.
fn with_pcp<R>(z: ZoneType, f: impl FnOnce(&mut [u64; PCP_HIGH], &AtomicUsize) -> R) -> R {
    cpu::without_interrupts(|| {
        let cpu = cpu_id();
        // SAFETY: interrupts are off, so nothing else on this CPU runs until we return, and
        // no other CPU touches this CPU's lists (see `PcpLists`).
        f(
            unsafe { &mut *PCP.0[z as usize][cpu].get() },
            &PCP_COUNT[z as usize][cpu],
        )
    })
}

pub(super) fn pcp_alloc(z: ZoneType) -> Option<u64> {
    with_pcp(z, |pfns, count| {
        let mut n = count.load(Relaxed);
        if n == 0 {
            with_free_area(z, |area| {
                while n < PCP_BATCH {
                    let Some(pfn) = area.alloc(0) else { break };
                    pfns[n] = pfn;
                    n += 1;
                }
            });
        }
        let n = n.checked_sub(1)?;
        count.store(n, Relaxed);
        Some(pfns[n])
    })
}

pub(super) fn pcp_free(pfn: u64) {
    let z = zone_of(pfn);
    with_pcp(z, |pfns, count| {
        let mut n = count.load(Relaxed);
        if n == PCP_HIGH {
            with_free_area(z, |area| {
                for &p in &pfns[n - PCP_BATCH..n] {
                    area.free(p, 0);
                }
            });
            n -= PCP_BATCH;
        }
        pfns[n] = pfn;
        count.store(n + 1, Relaxed);
    })
}

/// Free pages of zone `z` on the CPUs' lists.
pub(super) fn pcp_pages(z: ZoneType) -> u64 {
    PCP_COUNT[z as usize]
        .iter()
        .map(|c| c.load(Relaxed) as u64)
        .sum()
}

/// Give this CPU's free pages back to the buddy allocators (`drain_local_pages`), where
/// compaction can see them and they can merge.
pub fn drain_local_pages() {
    for z in [ZoneType::Dma32, ZoneType::Normal] {
        with_pcp(z, |pfns, count| {
            let n = count.swap(0, Relaxed);
            with_free_area(z, |area| {
                for &p in &pfns[..n] {
                    area.free(p, 0);
                }
            });
        });
    }
}
