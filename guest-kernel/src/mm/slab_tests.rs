//! Host tests of the slab allocator, on the emulated machine's page allocator.

use super::*;
use crate::mm::emu::machine;
use crate::mm::page_alloc::free_page_count;
use crate::mm::slub::{
    calculate_order, kmem_cache_create, object_stride, SLAB_HWCACHE_ALIGN, SLAB_RECLAIM_ACCOUNT,
};
use crate::mm::vmstat::{node_page_state, NodeStat};

fn name(size: usize, align: usize) -> Option<&'static str> {
    kmalloc_slab(size, align).map(|i| KMALLOC_CACHES[i].name)
}

#[test]
fn kmalloc_picks_linux_classes() {
    assert_eq!(name(0, 1), Some("kmalloc-8"));
    assert_eq!(name(8, 8), Some("kmalloc-8"));
    assert_eq!(name(9, 8), Some("kmalloc-16"));
    assert_eq!(name(24, 8), Some("kmalloc-32"));
    assert_eq!(name(65, 8), Some("kmalloc-96"));
    assert_eq!(name(96, 8), Some("kmalloc-96"));
    assert_eq!(name(97, 8), Some("kmalloc-128"));
    assert_eq!(name(129, 8), Some("kmalloc-192"));
    assert_eq!(name(193, 8), Some("kmalloc-256"));
    assert_eq!(name(1000, 8), Some("kmalloc-1k"));
    assert_eq!(name(4097, 8), Some("kmalloc-8k"));
    assert_eq!(name(8192, 8), Some("kmalloc-8k"));
    assert_eq!(name(8193, 8), None);
    // Alignment beyond what a class guarantees moves up: 96 only aligns to 32.
    assert_eq!(name(70, 64), Some("kmalloc-128"));
    assert_eq!(name(150, 128), Some("kmalloc-256"));
    assert_eq!(name(8, 4096), Some("kmalloc-4k"));
    assert_eq!(name(8, 16384), None);
    assert_eq!(page_order(8193, 8), 2);
    assert_eq!(page_order(4096 * 5, 8), 3);
    assert_eq!(page_order(8193, 32768), 3);
}

#[test]
fn slab_orders_follow_linux_calculate_order() {
    // (size, order) on 2 CPUs, as Linux's /proc/slabinfo shows them.
    for (size, order) in [
        (8, 0),
        (96, 0),
        (192, 0),
        (512, 1),
        (1024, 2),
        (2048, 3),
        (4096, 3),
        (8192, 3),
    ] {
        assert_eq!(calculate_order(size, 2), order, "size {size}");
    }
    // Odd sizes avoid waste: 700-byte objects fit 23 in 4 pages (16 KiB, 284 bytes left).
    assert_eq!(calculate_order(700, 2), 2);
    assert_eq!(object_stride(24, 8, SLAB_HWCACHE_ALIGN), 32);
    assert_eq!(object_stride(40, 8, SLAB_HWCACHE_ALIGN), 64);
    assert_eq!(object_stride(40, 8, 0), 40);
    assert_eq!(object_stride(1, 1, 0), 8);
    assert_eq!(object_stride(100, 128, 0), 128);
}

#[test]
fn a_freed_object_is_handed_out_again_last_in_first_out() {
    let _m = machine();
    let cache = KmemCache::new("test-lifo", 64, 8, 0);
    let a = cache.alloc();
    let b = cache.alloc();
    assert!(!a.is_null() && !b.is_null() && a != b);
    // SAFETY: objects of this cache, not used after being freed.
    unsafe { cache.free(a) };
    assert_eq!(cache.alloc(), a);
    // SAFETY: as above.
    unsafe {
        cache.free(b);
        cache.free(a);
    }
    assert_eq!(cache.alloc(), a);
    assert_eq!(cache.alloc(), b);
    // SAFETY: as above.
    unsafe {
        cache.free(a);
        cache.free(b);
    }
    assert_eq!(cache.counts().0, 0);
    cache.shrink();
    assert_eq!(cache.counts().1, 0);
}

#[test]
fn slabs_go_full_partial_empty_and_back_to_the_page_allocator() {
    let _m = machine();
    let before = free_page_count();
    let slab_before = node_page_state(NodeStat::SlabUnreclaimable);
    let cache = KmemCache::new("test-states", 1000, 8, 0);
    let (order, per_slab) = cache.order_objects();
    let objs: Vec<usize> = (0..per_slab + 1).map(|_| cache.alloc() as usize).collect();
    assert!(objs.iter().all(|&p| p != 0));
    // The first slab is full (on no list), the second is the CPU's.
    assert_eq!(cache.counts(), (per_slab + 1, 2, 0));
    assert_eq!(
        node_page_state(NodeStat::SlabUnreclaimable) - slab_before,
        2 << order
    );
    // A free to the full slab makes it partial.
    // SAFETY: objects of this cache, not used after being freed.
    unsafe { cache.free(objs[0] as *mut u8) };
    assert_eq!(cache.counts(), (per_slab, 2, 1));
    // Emptied, it stays cached: the cache keeps up to min_partial partial slabs.
    for &p in &objs[1..per_slab] {
        // SAFETY: as above.
        unsafe { cache.free(p as *mut u8) };
    }
    assert_eq!(cache.counts(), (1, 2, 1));
    // SAFETY: as above.
    unsafe { cache.free(objs[per_slab] as *mut u8) };
    // Shrinking returns every page.
    assert_eq!(cache.shrink(), 2 << order);
    assert_eq!(cache.counts(), (0, 0, 0));
    assert_eq!(free_page_count(), before);
    assert_eq!(node_page_state(NodeStat::SlabUnreclaimable), slab_before);
}

#[test]
fn empty_slabs_past_min_partial_go_back_at_once() {
    let _m = machine();
    let before = free_page_count();
    let cache = KmemCache::new("test-min-partial", 2048, 8, 0);
    let (order, per_slab) = cache.order_objects();
    let objs: Vec<usize> = (0..per_slab * 12).map(|_| cache.alloc() as usize).collect();
    assert_eq!(cache.counts().1, 12);
    for &p in &objs {
        // SAFETY: objects of this cache, not used after being freed.
        unsafe { cache.free(p as *mut u8) };
    }
    // min_partial for 2 KiB objects is 5 (ilog2(2048) / 2, at least 5): as in Linux, a slab
    // emptied while the list (itself included) holds that many goes back, so 4 stay, plus
    // the CPU slab.
    let (active, slabs, partial) = cache.counts();
    assert_eq!((active, partial), (0, 4));
    assert_eq!(slabs, 5);
    assert_eq!(before - free_page_count(), 5 << order);
    cache.shrink();
    assert_eq!(free_page_count(), before);
}

#[test]
fn objects_are_aligned_and_distinct() {
    let _m = machine();
    let cache = KmemCache::new("test-align", 40, 64, 0);
    assert_eq!(cache.size, 64);
    let objs: Vec<usize> = (0..200).map(|_| cache.alloc() as usize).collect();
    assert!(objs.iter().all(|&p| p != 0 && p % 64 == 0));
    let mut sorted = objs.clone();
    sorted.sort_unstable();
    assert!(sorted.windows(2).all(|w| w[1] - w[0] >= 64));
    for &p in &objs {
        // SAFETY: objects of this cache, not used after being freed.
        unsafe { cache.free(p as *mut u8) };
    }
    cache.shrink();
    assert_eq!(cache.counts(), (0, 0, 0));
}

#[test]
fn slabinfo_lists_created_caches_in_linux_format() {
    let _m = machine();
    let before = node_page_state(NodeStat::SlabReclaimable);
    let cache = kmem_cache_create("test_dentry", 192, 8, SLAB_RECLAIM_ACCOUNT);
    let p = cache.alloc();
    assert_eq!(node_page_state(NodeStat::SlabReclaimable) - before, 1);
    let mut s = String::new();
    slabinfo_show(&mut s);
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
    assert!(lines
        .next()
        .unwrap()
        .starts_with("# name            <active_objs>"));
    let line = s.lines().find(|l| l.starts_with("test_dentry ")).unwrap();
    assert_eq!(
        line,
        "test_dentry            1     21    192   21    1 : tunables    0    0    0 \
         : slabdata      1      1      0"
    );
    let k8 = s.lines().position(|l| l.starts_with("kmalloc-8 "));
    let k8k = s.lines().position(|l| l.starts_with("kmalloc-8k "));
    assert!(k8k < k8, "kmalloc caches are listed largest first");
    // SAFETY: an object of this cache, not used after.
    unsafe { cache.free(p) };
    assert_eq!(cache.shrink(), 1);
    assert_eq!(node_page_state(NodeStat::SlabReclaimable), before);
}
