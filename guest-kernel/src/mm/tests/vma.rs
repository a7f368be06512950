//! The VMA tree (`mm/vma.rs`): lookup, split, merge, the free-area search, stack growth and
//! the counters, and that every VMA is an object of the `vm_area_struct` cache. The cache
//! is shared by every address space, so these tests hold the emulated machine's lock.

use alloc::string::String;

use super::machine;
use crate::mm::shmem::ShmemFile;
use crate::mm::vma::*;

const P: u64 = PAGE_SIZE;
const RW: VmFlags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
const RO: VmFlags = VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

fn layout(t: &VmaTree) -> Vec<(u64, u64, VmFlags)> {
    t.iter().map(|v| (v.start, v.end, v.flags)).collect()
}

#[test]
fn find_vma_returns_the_containing_or_next_mapping() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x10000, 0x12000, RW));
    t.insert(Vma::anon(0x20000, 0x21000, RO));
    assert_eq!(t.find_vma(0x11fff).unwrap().start, 0x10000);
    assert_eq!(t.find_vma(0x12000).unwrap().start, 0x20000);
    assert!(t.vma_lookup(0x12000).is_none());
    assert!(t.find_vma(0x21000).is_none());
    assert!(t.covers(0x10000, 0x12000));
    assert!(!t.covers(0x10000, 0x13000));
    assert!(!t.is_free(0x11000, 0x20001));
    assert!(t.is_free(0x12000, 0x20000));
}

#[test]
fn adjacent_compatible_mappings_merge_and_others_do_not() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x10000, 0x11000, RW));
    t.insert(Vma::anon(0x12000, 0x13000, RW));
    // Filling the hole joins all three into one.
    assert_eq!(t.insert(Vma::anon(0x11000, 0x12000, RW)), 0x10000);
    assert_eq!(layout(&t), [(0x10000, 0x13000, RW)]);
    // Different protection: no merge.
    t.insert(Vma::anon(0x13000, 0x14000, RO));
    assert_eq!(t.iter().count(), 2);
    // Shared memory merges only with the same object at the right offset.
    let file = ShmemFile::new();
    let shared = |start, end, pgoff| Vma {
        start,
        end,
        flags: RW | VM_SHARED | VM_MAYSHARE,
        pgoff,
        file: Some(file.clone()),
        image: None,
    };
    t.insert(shared(0x20000, 0x21000, 0));
    t.insert(shared(0x21000, 0x22000, 5));
    assert_eq!(t.iter().count(), 4);
    t.insert(Vma {
        file: Some(ShmemFile::new()),
        ..shared(0x22000, 0x23000, 6)
    });
    assert_eq!(t.iter().count(), 5);
    t.insert(shared(0x1f000, 0x20000, u64::MAX));
    assert_eq!(t.iter().count(), 6);
    assert_eq!(t.total_vm, 8);
}

#[test]
fn munmap_of_a_middle_page_splits_in_two() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x10000, 0x10000 + 5 * P, RW));
    let gone = t.remove_range(0x12000, 0x13000);
    assert_eq!(gone.len(), 1);
    assert_eq!((gone[0].start, gone[0].end), (0x12000, 0x13000));
    assert_eq!(gone[0].pgoff, 0x12);
    assert_eq!(layout(&t), [(0x10000, 0x12000, RW), (0x13000, 0x15000, RW)]);
    assert_eq!(t.iter().nth(1).unwrap().pgoff, 0x13);
    assert_eq!((t.total_vm, t.data_vm), (4, 4));
    // Mapping the page again merges everything back.
    t.insert(Vma::anon(0x12000, 0x13000, RW));
    assert_eq!(layout(&t), [(0x10000, 0x15000, RW)]);
}

#[test]
fn mprotect_of_the_middle_splits_into_three_and_back_into_one() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x40000, 0x40000 + 3 * P, RW));
    let changed = t.change_flags(0x41000, 0x42000, |v| v.flags & !VM_WRITE);
    assert_eq!(changed.len(), 1);
    assert_eq!(
        layout(&t),
        [
            (0x40000, 0x41000, RW),
            (0x41000, 0x42000, RO),
            (0x42000, 0x43000, RW)
        ]
    );
    assert_eq!((t.total_vm, t.data_vm), (3, 2));
    t.change_flags(0x41000, 0x42000, |v| v.flags | VM_WRITE);
    assert_eq!(layout(&t), [(0x40000, 0x43000, RW)]);
    assert_eq!((t.total_vm, t.data_vm), (3, 3));
}

#[test]
fn map_fixed_over_existing_mappings_replaces_their_overlap() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x10000, 0x14000, RW));
    t.insert(Vma::anon(0x15000, 0x18000, RO));
    // MAP_FIXED [0x13000, 0x16000): unmap what is there, then map.
    let gone = t.remove_range(0x13000, 0x16000);
    let spans: Vec<(u64, u64)> = gone.iter().map(|v| (v.start, v.end)).collect();
    assert_eq!(spans, [(0x13000, 0x14000), (0x15000, 0x16000)]);
    t.insert(Vma::anon(0x13000, 0x16000, VM_READ | VM_EXEC));
    assert_eq!(
        layout(&t),
        [
            (0x10000, 0x13000, RW),
            (0x13000, 0x16000, VM_READ | VM_EXEC),
            (0x16000, 0x18000, RO)
        ]
    );
    assert_eq!(t.total_vm, 8);
    assert_eq!(t.exec_vm, 3);
}

#[test]
fn get_unmapped_area_takes_the_highest_hole_that_fits() {
    let _m = machine();
    let mut t = VmaTree::new();
    let high = 0x100_0000;
    t.insert(Vma::anon(high - 2 * P, high, RW));
    t.insert(Vma::anon(high - 4 * P, high - 3 * P, RW));
    // A one-page hole right below the top mapping.
    assert_eq!(t.get_unmapped_area(P, 0x10000, high), Some(high - 3 * P));
    // Two pages don't fit there, but below the lower mapping they do.
    assert_eq!(
        t.get_unmapped_area(2 * P, 0x10000, high),
        Some(high - 6 * P)
    );
    // Nothing fits between `low` and `high`.
    assert_eq!(t.get_unmapped_area(P, high - 4 * P, high - 3 * P), None);
    assert_eq!(t.get_unmapped_area(0, 0x10000, high), None);
    // The search ignores mappings above `high`.
    assert_eq!(
        t.get_unmapped_area(P, 0x10000, high - 4 * P),
        Some(high - 5 * P)
    );
}

#[test]
fn the_guard_gap_below_a_stack_is_not_handed_out() {
    let _m = machine();
    let mut t = VmaTree::new();
    let stack = 0x7000_0000;
    t.insert(Vma::anon(stack, stack + 32 * P, RW | VM_GROWSDOWN));
    let got = t.get_unmapped_area(P, 0x10000, stack + 32 * P).unwrap();
    assert_eq!(got, stack - STACK_GUARD_GAP - P);
    // A hint inside the gap is refused; one below it is fine.
    assert!(!t.range_fits(stack - P, P));
    assert!(t.range_fits(stack - STACK_GUARD_GAP - P, P));
    // A mapping whose end is above `high` still casts its gap below it.
    assert_eq!(
        t.get_unmapped_area(P, 0x10000, stack - P),
        Some(stack - STACK_GUARD_GAP - P)
    );
}

#[test]
fn the_stack_grows_down_within_rlimit_and_keeps_its_guard_gap() {
    let _m = machine();
    let mut t = VmaTree::new();
    let top = 0x7fff_0000_0000;
    let stack = top - 32 * P;
    t.insert(Vma::anon(stack, top, RW | VM_GROWSDOWN));
    let below = stack - 300 * P;
    t.insert(Vma::anon(below - 4 * P, below, RW));
    let rlimit = 8 << 20;
    // A touch 10 pages below grows it by 10 pages.
    let new = stack - 10 * P;
    assert_eq!(t.expand_downwards(stack, new + 8, rlimit), Some(new));
    assert_eq!(t.stack_vm, 42);
    assert_eq!(t.vma_lookup(new).unwrap().pgoff, new / P);
    // Growing to within 256 pages (the guard gap) of the mapping below is refused;
    // to just outside it is fine.
    assert_eq!(t.expand_downwards(new, below + 255 * P, rlimit), None);
    let new = below + 256 * P;
    assert_eq!(t.expand_downwards(stack - 10 * P, new, rlimit), Some(new));
    assert_eq!(t.stack_vm, 76);
    // Growing beyond the rlimit is refused.
    assert_eq!(t.expand_downwards(new, new - P, 76 * P), None);
    // And a VMA that doesn't grow down never grows.
    assert_eq!(
        t.expand_downwards(below - 4 * P, below - 5 * P, rlimit),
        None
    );
    assert_eq!(t.stack_vm, 76);
}

#[test]
fn counters_follow_linux_classification() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x40_0000, 0x40_1000, VM_READ | VM_EXEC));
    t.insert(Vma::anon(0x50_0000, 0x50_2000, RW | VM_ACCOUNT));
    t.insert(Vma::anon(0x60_0000, 0x60_3000, RW | VM_SHARED | VM_LOCKED));
    t.insert(Vma::anon(0x70_0000, 0x70_4000, RW | VM_GROWSDOWN));
    assert_eq!(t.total_vm, 10);
    assert_eq!((t.exec_vm, t.data_vm, t.stack_vm), (1, 2, 4));
    assert_eq!((t.locked_vm, t.committed), (3, 2));
    t.remove_range(0, TASK_SIZE);
    assert_eq!((t.total_vm, t.hiwater_vm, t.committed), (0, 10, 0));
    assert_eq!(t.iter().count(), 0);
}

#[test]
fn extend_end_grows_in_place_and_merges() {
    let _m = machine();
    let mut t = VmaTree::new();
    t.insert(Vma::anon(0x10000, 0x11000, RW));
    t.insert(Vma::anon(0x13000, 0x14000, RW));
    assert_eq!(t.extend_end(0x10000, 0x13000), Some(0x10000));
    assert_eq!(layout(&t), [(0x10000, 0x14000, RW)]);
    assert_eq!(t.total_vm, 4);
    assert_eq!(t.extend_end(0x20000, 0x21000), None);
}

/// `vm_area_struct`'s active objects and object size as /proc/slabinfo shows them (none
/// before the first VMA made the cache).
fn vm_area_struct() -> (u64, u64) {
    let mut s = String::new();
    crate::mm::slab::slabinfo_show(&mut s);
    s.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("vm_area_struct")).then(|| {
                let n: Vec<u64> = w.take(3).map(|v| v.parse().unwrap()).collect();
                (n[0], n[2])
            })
        })
        .unwrap_or((0, 0))
}

/// `n` one-page VMAs a page apart, alternating read-only and read-write (none merge).
fn scattered(n: u64) -> VmaTree {
    let mut t = VmaTree::new();
    // Inserted out of order: the tree sorts them.
    for i in (0..n)
        .rev()
        .step_by(2)
        .chain((0..n).rev().skip(1).step_by(2))
    {
        let start = 0x100_0000 + 2 * i * P;
        t.insert(Vma::anon(
            start,
            start + P,
            if i % 2 == 0 { RO } else { RW },
        ));
    }
    t
}

#[test]
fn the_tree_iterates_in_address_order_whatever_the_insertion_order() {
    let _m = machine();
    let t = scattered(100);
    let starts: Vec<u64> = t.iter().map(|v| v.start).collect();
    let want: Vec<u64> = (0..100).map(|i| 0x100_0000 + 2 * i * P).collect();
    assert_eq!(starts, want);
    let back: Vec<u64> = t.iter().rev().map(|v| v.start).collect();
    assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(t.total_vm, 100);
}

#[test]
fn find_vma_in_gaps_and_on_boundaries() {
    let _m = machine();
    let t = scattered(50);
    let first = 0x100_0000;
    assert_eq!(t.find_vma(0).unwrap().start, first);
    assert_eq!(t.find_vma(first - 1).unwrap().start, first);
    assert!(t.vma_lookup(first - 1).is_none());
    for i in 0..50 {
        let start = first + 2 * i * P;
        // First and last byte: this VMA.
        assert_eq!(t.find_vma(start).unwrap().start, start);
        assert_eq!(t.vma_lookup(start + P - 1).unwrap().start, start);
        // Its end and the gap above it: the next one, or none after the last.
        let next = t.find_vma(start + P).map(|v| v.start);
        assert_eq!(next, (i < 49).then_some(start + 2 * P));
        assert_eq!(t.find_vma(start + 2 * P - 1).map(|v| v.start), next);
        assert!(t.vma_lookup(start + P).is_none());
    }
    assert!(t.find_vma(u64::MAX).is_none());
    let spans: Vec<u64> = t
        .overlapping(first + P, first + 5 * P)
        .map(|v| v.start)
        .collect();
    assert_eq!(spans, [first + 2 * P, first + 4 * P]);
}

#[test]
fn each_vma_is_an_object_of_the_vm_area_struct_cache() {
    let _m = machine();
    let (before, size) = vm_area_struct();
    let mut t = scattered(20);
    let (n, objsize) = vm_area_struct();
    assert_eq!(n, before + 20);
    assert_eq!(objsize, core::mem::size_of::<Vma>() as u64);
    assert!(size == 0 || size == objsize);
    // A hole punched in the middle of one: a split, one more object.
    let a = 0x100_0000 + 4 * P;
    t.insert(Vma::anon(0x200_0000, 0x200_0000 + 3 * P, RW));
    assert_eq!(vm_area_struct().0, before + 21);
    t.remove_range(0x200_0000 + P, 0x200_0000 + 2 * P);
    assert_eq!(vm_area_struct().0, before + 22);
    // Filling it merges the three pieces: two objects go back.
    t.insert(Vma::anon(0x200_0000 + P, 0x200_0000 + 2 * P, RW));
    assert_eq!(vm_area_struct().0, before + 21);
    // mprotect of a middle page: three objects; undone: one.
    t.change_flags(0x200_0000 + P, 0x200_0000 + 2 * P, |v| v.flags & !VM_WRITE);
    assert_eq!(t.iter().count(), 23);
    assert_eq!(vm_area_struct().0, before + 23);
    t.change_flags(0x200_0000 + P, 0x200_0000 + 2 * P, |v| v.flags | VM_WRITE);
    assert_eq!(vm_area_struct().0, before + 21);
    // Unmapping a VMA frees its object; a range over several frees them all.
    t.remove_range(a, a + P);
    assert_eq!(vm_area_struct().0, before + 20);
    t.remove_range(0x100_0000, 0x100_0000 + 10 * P);
    assert_eq!(t.iter().count(), 16);
    assert_eq!(vm_area_struct().0, before + 16);
    // Fork's copy is a new object per VMA (`vm_area_dup`).
    let mut child = VmaTree::new();
    child.dup_from(&t, |_| true);
    assert_eq!(vm_area_struct().0, before + 32);
    assert_eq!(layout(&child), layout(&t));
    assert_eq!((child.total_vm, child.data_vm), (t.total_vm, t.data_vm));
    // Left-out VMAs (VM_DONTCOPY) get no object.
    let mut ro_only = VmaTree::new();
    ro_only.dup_from(&t, |v| v.flags & VM_WRITE == 0);
    assert_eq!(vm_area_struct().0, before + 39);
    assert_eq!(ro_only.total_vm, 7);
    drop(ro_only);
    // Dropping the sets (exit_mmap) returns every object.
    drop(child);
    drop(t);
    assert_eq!(vm_area_struct().0, before);
}

#[test]
fn a_large_set_splits_and_merges_back_to_one() {
    let _m = machine();
    let mut t = VmaTree::new();
    let base = 0x4000_0000;
    t.insert(Vma::anon(base, base + 400 * P, RW));
    // Every other page read-only: 400 VMAs, a tree several levels deep.
    for i in (1..400).step_by(2) {
        t.change_flags(base + i * P, base + (i + 1) * P, |v| v.flags & !VM_WRITE);
    }
    assert_eq!(t.iter().count(), 400);
    assert_eq!(t.data_vm, 200);
    assert_eq!(t.vma_lookup(base + 201 * P).unwrap().flags, RO);
    assert_eq!(t.find_vma(base + 200 * P).unwrap().end, base + 201 * P);
    // The guard-free top-down search sees the whole set.
    assert_eq!(
        t.get_unmapped_area(P, 0x10000, base + 400 * P),
        Some(base - P)
    );
    for i in (1..400).step_by(2) {
        t.change_flags(base + i * P, base + (i + 1) * P, |v| v.flags | VM_WRITE);
    }
    assert_eq!(layout(&t), [(base, base + 400 * P, RW)]);
    assert_eq!(t.iter().next().unwrap().pgoff, base / P);
}
