//! The page allocator's side of compaction (parts of Linux's mm/page_alloc.c and
//! mm/page_isolation.c): a zone's span, its free blocks seen frame by frame, and free frames
//! taken out of the buddy allocator and given back to it directly, past the per-CPU lists.

use core::sync::atomic::Ordering::Relaxed;

use super::{pfn_to_page, with_free_area, zone_of, ZoneType, ZONES};

/// The frames zone `z` spans, `[start, end)`.
pub fn zone_span(z: ZoneType) -> (u64, u64) {
    let zone = &ZONES[z as usize];
    let start = zone.start_pfn.load(Relaxed);
    (start, start + zone.spanned.load(Relaxed))
}

/// Whether zone `z` has a free block of `order` or more.
pub fn zone_has_free_block(z: ZoneType, order: usize) -> bool {
    with_free_area(z, |a| a.has_free_block(order))
}

/// The free block holding frame `pfn`: (first frame, order). For compaction's scanners.
pub(in crate::mm) fn free_block_containing(pfn: u64) -> Option<(u64, usize)> {
    with_free_area(zone_of(pfn), |a| a.free_block_containing(pfn))
}

/// Take the free block holding `pfn` out of the allocator if its order is below `max_order`
/// (`__isolate_free_page`); Err with the block if it is bigger, or None if `pfn` is not free.
pub(in crate::mm) fn isolate_free_block(
    pfn: u64,
    max_order: usize,
) -> Result<(u64, usize), Option<(u64, usize)>> {
    with_free_area(zone_of(pfn), |a| a.isolate_block_containing(pfn, max_order))
}

/// Give the frame `pfn` straight back to the buddy allocator, where it merges with its free
/// buddies (`__free_one_page`): compaction's sources and unused targets, which the per-CPU
/// lists would keep apart.
pub(in crate::mm) fn free_one_page(pfn: u64) {
    if let Some(p) = pfn_to_page(pfn) {
        p.clear();
    }
    with_free_area(zone_of(pfn), |area| area.free(pfn, 0));
}
