//! The mapping system calls on the emulated machine: mremap, madvise, fork advice,
//! mprotect(PROT_NONE), mmap's flags, stack growth, brk, mincore and msync.

use super::*;

#[test]
fn mremap_moves_page_table_entries_not_data() {
    let _m = machine();
    let (mut mm, a) = anon_mm(4);
    for i in 0..4 {
        write(&mut mm, a + i * P, 0x40 + i as u8).unwrap();
    }
    let frames: Vec<u64> = (0..4)
        .map(|i| frame(&mut mm, a + i * P).unwrap().0)
        .collect();
    // Block growth in place.
    mm.do_mmap(a + 4 * P, P, PROT_READ, ANON | MAP_FIXED)
        .unwrap();
    assert_eq!(mm.mremap(a, 4 * P, 8 * P, 0, 0), Err(ENOMEM));
    let b = mm.mremap(a, 4 * P, 8 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert_ne!(a, b);
    for i in 0..4 {
        assert_eq!(frame(&mut mm, b + i * P).unwrap().0, frames[i as usize]);
        assert_eq!(read(&mut mm, b + i * P).unwrap(), 0x40 + i as u8);
    }
    assert!(mm.vmas.vma_lookup(a).is_none());
    assert_eq!(read(&mut mm, b + 7 * P).unwrap(), 0);
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 4);
    // Shrinking works in place, growing into free space too.
    assert_eq!(mm.mremap(b, 8 * P, 2 * P, 0, 0), Ok(b));
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 2);
    assert_eq!(mm.mremap(b, 2 * P, 3 * P, 0, 0), Ok(b));
    assert_eq!(mm.vmas.vma_lookup(b).unwrap().end, b + 3 * P);
    // MREMAP_FIXED replaces what is at the target; overlapping ranges are refused.
    let c = 0x5000_0000;
    mm.do_mmap(c, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(mm.mremap(b, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, c), Ok(c));
    assert_eq!(read(&mut mm, c).unwrap(), 0x40);
    assert_eq!(
        mm.mremap(c, P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, c),
        Err(EINVAL)
    );
    // Bad arguments.
    assert_eq!(mm.mremap(c + 1, P, P, 0, 0), Err(EINVAL));
    assert_eq!(mm.mremap(c, P, 0, 0, 0), Err(EINVAL));
    assert_eq!(mm.mremap(c, P, P, MREMAP_FIXED, c + P), Err(EINVAL));
    assert_eq!(
        mm.mremap(0x6000_0000, P, 2 * P, MREMAP_MAYMOVE, 0),
        Err(EFAULT)
    );
    assert_eq!(mm.mremap(c, 2 * P, 4 * P, MREMAP_MAYMOVE, 0), Err(EFAULT));
    // Duplicating private memory is refused.
    assert_eq!(mm.mremap(c, 0, P, MREMAP_MAYMOVE, 0), Err(EINVAL));
}

#[test]
fn mremap_of_zero_length_duplicates_a_shared_mapping() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    let a = mm.do_mmap(0, 2 * P, RW, SHARED).unwrap();
    write(&mut mm, a + P, 5).unwrap();
    let b = mm.mremap(a, 0, 2 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert_ne!(a, b);
    assert_eq!(read(&mut mm, b + P).unwrap(), 5);
    write(&mut mm, b, 6).unwrap();
    assert_eq!(read(&mut mm, a).unwrap(), 6);
    assert_eq!(frame(&mut mm, a).unwrap().0, frame(&mut mm, b).unwrap().0);
}

#[test]
fn madvise_dontneed_zeroes_private_memory_and_keeps_shared_memory() {
    let _m = machine();
    let (mut mm, a) = anon_mm(2);
    write(&mut mm, a, 1).unwrap();
    write(&mut mm, a + P, 2).unwrap();
    mm.madvise(a, P, MADV_DONTNEED).unwrap();
    assert_eq!(read(&mut mm, a).unwrap(), 0);
    assert_eq!(read(&mut mm, a + P).unwrap(), 2);
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 1);
    mm.madvise(a + P, P, MADV_FREE).unwrap();
    assert_eq!(read(&mut mm, a + P).unwrap(), 0);
    let s = mm.do_mmap(0, P, RW, SHARED).unwrap();
    write(&mut mm, s, 3).unwrap();
    mm.madvise(s, P, MADV_DONTNEED).unwrap();
    assert!(frame(&mut mm, s).is_none());
    assert_eq!(read(&mut mm, s).unwrap(), 3);
    assert_eq!(mm.madvise(s, P, MADV_FREE), Err(EINVAL));
    mm.madvise(s, P, MADV_REMOVE).unwrap();
    assert_eq!(read(&mut mm, s).unwrap(), 0);
    assert_eq!(mm.madvise(a, P, MADV_REMOVE), Err(EINVAL));
    // Holes: the mapped part is advised, the result is ENOMEM.
    write(&mut mm, a, 4).unwrap();
    assert_eq!(mm.madvise(a, 64 * P, MADV_DONTNEED), Err(ENOMEM));
    assert_eq!(read(&mut mm, a).unwrap(), 0);
    assert_eq!(mm.madvise(a + 1, P, MADV_DONTNEED), Err(EINVAL));
    assert_eq!(mm.madvise(a, P, 12345), Err(EINVAL));
    assert_eq!(mm.madvise(a, P, 14), Err(EINVAL));
    assert_eq!(mm.madvise(a, 0, MADV_DONTNEED), Ok(()));
    assert_eq!(mm.madvise(a, 2 * P, MADV_WILLNEED), Ok(()));
    mm.madvise(a, 2 * P, MADV_POPULATE_WRITE).unwrap();
    assert!(frame(&mut mm, a + P).unwrap().1);
}

#[test]
fn fork_advice_leaves_out_or_empties_mappings() {
    let _m = machine();
    let (mut mm, a) = anon_mm(3);
    for i in 0..3 {
        write(&mut mm, a + i * P, 1).unwrap();
    }
    mm.madvise(a, P, MADV_DONTFORK).unwrap();
    mm.madvise(a + P, P, MADV_WIPEONFORK).unwrap();
    assert_eq!(mm.vmas.iter().count(), 3);
    assert!(mm.vmas.vma_lookup(a + P).unwrap().flags & VM_WIPEONFORK != 0);
    let mut child = mm.dup_mmap().unwrap();
    assert!(child.vmas.vma_lookup(a).is_none());
    assert_eq!(read(&mut child, a + P).unwrap(), 0);
    assert_eq!(read(&mut child, a + 2 * P).unwrap(), 1);
    assert_eq!(child.vmas.total_vm, 2);
    mm.madvise(a, 2 * P, MADV_DOFORK).unwrap();
    mm.madvise(a, 2 * P, MADV_KEEPONFORK).unwrap();
    assert_eq!(mm.vmas.iter().count(), 1);
}

#[test]
fn prot_none_keeps_pages_but_refuses_access() {
    let _m = machine();
    let (mut mm, a) = anon_mm(2);
    write(&mut mm, a, 9).unwrap();
    mm.mprotect(a, P, 0).unwrap();
    let (_, flags) = mm.pgd.lookup(a).unwrap();
    assert_eq!(flags & PTE_PRESENT, 0);
    assert_eq!(read(&mut mm, a), Err(FaultError::Access));
    assert_eq!(write(&mut mm, a, 1), Err(FaultError::Access));
    assert_eq!(mm.vmas.iter().count(), 2);
    mm.mprotect(a, P, RW).unwrap();
    assert_eq!(mm.vmas.iter().count(), 1);
    assert_eq!(read(&mut mm, a).unwrap(), 9);
    // Rights are checked against the VMA.
    mm.mprotect(a, 2 * P, PROT_READ).unwrap();
    assert_eq!(write(&mut mm, a + P, 1), Err(FaultError::Access));
    assert_eq!(mm.mprotect(a + 1, P, RW), Err(EINVAL));
    assert_eq!(mm.mprotect(a, 4 * P, RW), Err(ENOMEM));
    assert_eq!(mm.mprotect(a, P, 0x10), Err(EINVAL));
    assert_eq!(mm.mprotect(a, 0, RW), Ok(()));
    assert_eq!(read(&mut mm, 0x1000), Err(FaultError::NoVma));
    assert_eq!(FaultError::NoVma.si_code(), Some(1));
    assert_eq!(FaultError::Access.si_code(), Some(2));
}

#[test]
fn mmap_flags_fixed_noreplace_populate_growsdown() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    let a = 0x2000_0000;
    assert_eq!(mm.do_mmap(a, 4 * P, RW, ANON | MAP_FIXED), Ok(a));
    write(&mut mm, a + P, 1).unwrap();
    assert_eq!(
        mm.do_mmap(a + 3 * P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE),
        Err(EEXIST)
    );
    assert_eq!(
        mm.do_mmap(a + 4 * P, P, RW, ANON | MAP_FIXED_NOREPLACE),
        Ok(a + 4 * P)
    );
    // MAP_FIXED over the middle replaces it and frees its page.
    assert_eq!(mm.do_mmap(a + P, P, PROT_READ, ANON | MAP_FIXED), Ok(a + P));
    assert_eq!(read(&mut mm, a + P).unwrap(), 0);
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 0);
    assert_eq!(mm.vmas.iter().count(), 3);
    // A free hint is honoured, a taken one is not.
    assert_eq!(mm.do_mmap(0x3000_0000, P, RW, ANON), Ok(0x3000_0000));
    let other = mm.do_mmap(0x3000_0000, P, RW, ANON).unwrap();
    assert_ne!(other, 0x3000_0000);
    assert!(other < MMAP_BASE);
    // Top-down: the next mapping ends where the previous one starts.
    let next = mm.do_mmap(0, P, PROT_READ, ANON).unwrap();
    assert_eq!(next + P, other);
    // MAP_POPULATE faults everything in, writable.
    let p = mm.do_mmap(0, 3 * P, RW, ANON | MAP_POPULATE).unwrap();
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 3);
    assert!(frame(&mut mm, p + 2 * P).unwrap().1);
    // MAP_32BIT stays in the second GiB.
    let low = mm.do_mmap(0, P, RW, ANON | MAP_32BIT).unwrap();
    assert!((0x4000_0000..0x8000_0000).contains(&low));
    // Errors.
    assert_eq!(mm.do_mmap(0, 0, RW, ANON), Err(EINVAL));
    assert_eq!(mm.do_mmap(0, P, RW, MAP_ANONYMOUS), Err(EINVAL));
    assert_eq!(mm.do_mmap(0, P, RW, MAP_ANONYMOUS | 3), Err(EINVAL));
    assert_eq!(mm.do_mmap(a + 1, P, RW, ANON | MAP_FIXED), Err(EINVAL));
    assert_eq!(mm.do_mmap(0, u64::MAX, RW, ANON), Err(ENOMEM));
    assert_eq!(mm.do_mmap(TASK_SIZE, P, RW, ANON | MAP_FIXED), Err(ENOMEM));
    assert_eq!(mm.do_mmap(0, P, RW, SHARED | MAP_GROWSDOWN), Err(EINVAL));
    // MAP_GROWSDOWN makes a stack that grows on faults below it.
    let g = mm
        .do_mmap(0x6000_0000, 2 * P, RW, ANON | MAP_GROWSDOWN)
        .unwrap();
    write(&mut mm, g - 3 * P, 1).unwrap();
    let v = mm.vmas.vma_lookup(g - 3 * P).unwrap();
    assert_eq!((v.start, v.flags & VM_GROWSDOWN), (g - 3 * P, VM_GROWSDOWN));
}

#[test]
fn the_stack_grows_on_faults_within_its_limit() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    let sp = STACK_TOP - 0x800;
    mm.setup_stack(STACK_TOP, sp, false).unwrap();
    let v = mm.vmas.vma_lookup(sp).unwrap();
    let bottom = v.start;
    assert_eq!(bottom, STACK_TOP - P - (128 << 10));
    assert_eq!(v.flags & VM_EXEC, 0);
    assert_eq!(mm.vmas.stack_vm, 33);
    write(&mut mm, bottom - 100 * P, 1).unwrap();
    assert_eq!(mm.vmas.vma_lookup(sp).unwrap().start, bottom - 100 * P);
    assert_eq!(mm.vmas.stack_vm, 133);
    assert_eq!(
        write(&mut mm, STACK_TOP - STACK_SIZE - P, 1),
        Err(FaultError::NoVma)
    );
    write(&mut mm, STACK_TOP - STACK_SIZE, 1).unwrap();
    // A mapping just below the stack's limit keeps it from growing into its guard gap...
    let (mut mm, _) = anon_mm(1);
    mm.setup_stack(STACK_TOP, sp, false).unwrap();
    let below = STACK_TOP - (1 << 20) - 8 * P;
    mm.do_mmap(below - P, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(write(&mut mm, below + P, 1), Err(FaultError::NoVma));
    // ...and the kernel doesn't place mappings inside the gap.
    let bottom = mm.vmas.vma_lookup(sp).unwrap().start;
    assert!(!mm.vmas.range_fits(bottom - P, P));
}

#[test]
fn brk_grows_merges_and_shrinks() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    mm.insert_vma(0x40_0000, 0x40_2000, PROT_READ | PROT_WRITE);
    mm.start_brk = 0x40_2000;
    mm.brk = mm.start_brk;
    assert_eq!(mm.set_brk(0x40_2800), 0x40_2800);
    // The heap continues the data segment: one VMA.
    assert_eq!(mm.vmas.iter().count(), 1);
    write(&mut mm, 0x40_2000, 1).unwrap();
    assert_eq!(mm.set_brk(0x40_5000), 0x40_5000);
    write(&mut mm, 0x40_4000, 1).unwrap();
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 2);
    assert_eq!(mm.set_brk(0x40_2001), 0x40_2001);
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 1);
    assert_eq!(mm.vmas.iter().next().unwrap().end, 0x40_3000);
    // Below the start, or into another mapping: the old break stays.
    assert_eq!(mm.set_brk(0x40_0000), 0x40_2001);
    mm.do_mmap(0x40_8000, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(mm.set_brk(0x40_8000), 0x40_2001);
    assert_eq!(mm.set_brk(u64::MAX), 0x40_2001);
    let mut maps = String::new();
    mm.proc_maps(&mut maps, None);
    assert!(
        maps.starts_with("00400000-00403000 rw-p 00000000 00:00 0"),
        "{maps}"
    );
    assert!(maps.lines().next().unwrap().ends_with(" [heap]"), "{maps}");
}

#[test]
fn mincore_and_msync() {
    let _m = machine();
    let (mut mm, a) = anon_mm(4);
    write(&mut mm, a + P, 1).unwrap();
    read(&mut mm, a + 3 * P).unwrap();
    let mut vec = [9u8; 4];
    assert_eq!(mm.do_mincore(a, &mut vec), Ok(4));
    assert_eq!(vec, [0, 1, 0, 1]);
    assert_eq!(mm.do_mincore(a + 8 * P, &mut vec), Err(ENOMEM));
    // Shared memory counts pages its file has, even if not mapped here.
    let s = mm.do_mmap(0, 2 * P, RW, SHARED).unwrap();
    write(&mut mm, s + P, 1).unwrap();
    mm.madvise(s + P, P, MADV_DONTNEED).unwrap();
    assert_eq!(mm.do_mincore(s, &mut vec), Ok(2));
    assert_eq!(vec[..2], [0, 1]);
    assert_eq!(mm.msync(a, 4 * P, MS_SYNC), Ok(()));
    assert_eq!(mm.msync(a, 3, MS_ASYNC | MS_INVALIDATE), Ok(()));
    assert_eq!(mm.msync(a + 1, P, MS_SYNC), Err(EINVAL));
    assert_eq!(mm.msync(a, P, MS_SYNC | MS_ASYNC), Err(EINVAL));
    assert_eq!(mm.msync(a, P, 8), Err(EINVAL));
    assert_eq!(mm.msync(a, 5 * P, MS_SYNC), Err(ENOMEM));
    assert_eq!(mm.msync(a, 0, MS_SYNC), Ok(()));
    assert_eq!(mm.msync(a, u64::MAX, MS_SYNC), Err(ENOMEM));
}
