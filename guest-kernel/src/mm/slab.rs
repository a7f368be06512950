//! kmalloc: the kernel heap behind Rust's global allocator, and `/proc/slabinfo`.
//!
//! Requests up to 8 KiB come from the `kmalloc-8` … `kmalloc-8k` caches (powers of two plus
//! `kmalloc-96` and `kmalloc-192`, as Linux has them), each a SLUB cache (`slub.rs`) with
//! per-CPU freelists. Anything larger is a block straight from the buddy allocator. Every
//! page held, slab or large block, is counted in `Slab` of /proc/meminfo.
//!
//! The heap cannot tell where it is called from (interrupts, spinlocks held), so its pages
//! are `GFP_ATOMIC`: never reclaim, but may use part of the reserve below the min watermark,
//! which is what keeps the kernel running while user memory is exhausted.

use alloc::string::String;

use super::buddy::PAGE_SIZE;
use super::slub::{for_each_cache, KmemCache};

/// The largest size served by a kmalloc cache (`KMALLOC_MAX_CACHE_SIZE`).
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;

const fn kmalloc_cache(name: &'static str, size: usize) -> KmemCache {
    // Linux aligns power-of-two kmalloc objects naturally; the slab stride does that here.
    KmemCache::new(name, size, 8, 0)
}

/// The kmalloc caches, smallest first.
pub static KMALLOC_CACHES: [KmemCache; 13] = [
    kmalloc_cache("kmalloc-8", 8),
    kmalloc_cache("kmalloc-16", 16),
    kmalloc_cache("kmalloc-32", 32),
    kmalloc_cache("kmalloc-64", 64),
    kmalloc_cache("kmalloc-96", 96),
    kmalloc_cache("kmalloc-128", 128),
    kmalloc_cache("kmalloc-192", 192),
    kmalloc_cache("kmalloc-256", 256),
    kmalloc_cache("kmalloc-512", 512),
    kmalloc_cache("kmalloc-1k", 1024),
    kmalloc_cache("kmalloc-2k", 2048),
    kmalloc_cache("kmalloc-4k", 4096),
    kmalloc_cache("kmalloc-8k", 8192),
];

/// The cache for sizes up to 192, by (size - 1) / 8 (Linux's `size_index`).
const SIZE_INDEX: [u8; 24] = [
    0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6,
];

/// The kmalloc cache for `size` bytes aligned to `align` (`kmalloc_slab`), or None for the
/// page allocator. A cache guarantees the alignment of the largest power of two dividing its
/// size (its objects sit at multiples of it in a naturally aligned slab): a stricter request
/// moves up a class.
pub fn kmalloc_slab(size: usize, align: usize) -> Option<usize> {
    let size = size.max(1);
    if size > KMALLOC_MAX_CACHE_SIZE || align > KMALLOC_MAX_CACHE_SIZE {
        return None;
    }
    let mut i = if size <= 192 {
        SIZE_INDEX[(size - 1) / 8] as usize
    } else {
        // 256 is index 7, each power of two above one more.
        (usize::BITS - (size - 1).leading_zeros()) as usize - 1
    };
    while KMALLOC_CACHES[i].size & KMALLOC_CACHES[i].size.wrapping_neg() < align {
        i += 1;
    }
    Some(i)
}

/// Buddy order for a large allocation (`get_order`), aligned as asked.
pub fn page_order(size: usize, align: usize) -> usize {
    let pages = size.max(align).div_ceil(PAGE_SIZE as usize).max(1);
    pages.next_power_of_two().trailing_zeros() as usize
}

/// Free the kmalloc caches' empty slabs (for reclaim); returns pages freed.
pub fn kmalloc_shrink() -> u64 {
    KMALLOC_CACHES.iter().map(KmemCache::shrink).sum()
}

/// `/proc/slabinfo`: every cache, newest first, then the kmalloc caches, largest first (the
/// order Linux lists them in).
pub fn slabinfo_show(out: &mut String) {
    out.push_str("slabinfo - version: 2.1\n");
    out.push_str(
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> \
         : tunables <limit> <batchcount> <sharedfactor> \
         : slabdata <active_slabs> <num_slabs> <sharedavail>\n",
    );
    for_each_cache(|c| c.slabinfo_line(out));
    for c in KMALLOC_CACHES.iter().rev() {
        c.slabinfo_line(out);
    }
}

#[cfg(not(test))]
pub use heap::{kmalloc_bench, KernelHeap};

#[cfg(not(test))]
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ptr::null_mut;

    use super::*;
    use crate::arch::{phys_to_virt, virt_to_phys};
    use crate::mm::gfp::GFP_ATOMIC;
    use crate::mm::page_alloc::{alloc_pages, free_pages};
    use crate::mm::vmstat::{mod_node_page_state, NodeStat};

    pub struct KernelHeap;

    /// Straight from the buddy allocator, for sizes above the largest class
    /// (`kmalloc_large`).
    fn alloc_large(order: usize) -> *mut u8 {
        match alloc_pages(GFP_ATOMIC, order) {
            Some(phys) => {
                mod_node_page_state(NodeStat::SlabUnreclaimable, 1 << order);
                phys_to_virt(phys) as *mut u8
            }
            None => null_mut(),
        }
    }

    // SAFETY: every object handed out is exclusively owned until `dealloc` (the caches hand
    // out each free object once), and aligned as the layout asks (`kmalloc_slab`).
    unsafe impl GlobalAlloc for KernelHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let (ptr, bytes_alloc) = match kmalloc_slab(layout.size(), layout.align()) {
                Some(i) => (KMALLOC_CACHES[i].alloc(), KMALLOC_CACHES[i].size),
                None => {
                    let order = page_order(layout.size(), layout.align());
                    (alloc_large(order), (PAGE_SIZE as usize) << order)
                }
            };
            if !ptr.is_null() {
                crate::trace::trace_kmalloc(ptr as u64, layout.size(), bytes_alloc);
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            crate::trace::trace_kfree(ptr as u64);
            match kmalloc_slab(layout.size(), layout.align()) {
                // SAFETY: the caller gives back an object `alloc` took from this cache.
                Some(i) => unsafe { KMALLOC_CACHES[i].free(ptr) },
                None => {
                    let order = page_order(layout.size(), layout.align());
                    mod_node_page_state(NodeStat::SlabUnreclaimable, -(1 << order));
                    free_pages(virt_to_phys(ptr as u64), order);
                }
            }
        }
    }

    /// `test.kmalloc_bench=SIZE`: kmalloc/kfree pairs of SIZE bytes through the global
    /// allocator for about half a second, reported on the console.
    pub fn kmalloc_bench(size: usize) {
        let layout = Layout::from_size_align(size.max(1), 8).expect("kmalloc_bench size");
        let clock = crate::arch::tsc::ns_since_boot;
        let start = clock();
        let mut pairs = 0u64;
        while clock() - start < 500_000_000 {
            for _ in 0..1000 {
                // SAFETY: a non-zero-sized layout; the object is freed at once, unused.
                unsafe {
                    let p = alloc::alloc::alloc(core::hint::black_box(layout));
                    alloc::alloc::dealloc(core::hint::black_box(p), layout);
                }
            }
            pairs += 1000;
        }
        let ns = clock() - start;
        crate::pr_notice!(
            "kmalloc: {} pairs/s (size {}), {} ns per pair",
            pairs * 1_000_000_000 / ns,
            size,
            ns / pairs
        );
    }
}

#[cfg(test)]
#[path = "slab_tests.rs"]
mod tests;
