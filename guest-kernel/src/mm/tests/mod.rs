//! Address spaces on the emulated machine (`emu`): faults, copy-on-write across `dup_mmap`,
//! shared memory, mremap, madvise, mprotect, stack growth, accounting, and that teardown
//! gives back every page. A user access is simulated as the MMU and the fault handler
//! together do it: the page-table entry is checked, and `handle_mm_fault` runs until the
//! access is allowed or refused.

use alloc::string::String;

use super::arch::paging::{PTE_PRESENT, PTE_WRITE};
use super::arch::phys_to_virt;
use super::emu::machine;
use super::fault::{handle_mm_fault, FaultError};
use super::madvise::*;
use super::mmap::*;
use super::mremap::*;
use super::page_alloc::{free_page_count, is_zero_page, page_count};
use super::vma::{TASK_SIZE, VM_EXEC, VM_GROWSDOWN, VM_WIPEONFORK};
use super::vmstat::{node_page_state, vm_event, NodeStat, VmEvent};
use crate::kernel::errno::*;

mod compaction;
mod filemap;
mod mm_users;
mod mmap;
mod vma;

const P: u64 = PAGE;
const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;
const SHARED: u64 = MAP_SHARED | MAP_ANONYMOUS;

/// A user access at `va`: returns the frame it reached.
fn touch(mm: &mut MmStruct, va: u64, write: bool) -> Result<u64, FaultError> {
    for _ in 0..3 {
        match mm.pgd.lookup(va & !(P - 1)) {
            Some((phys, f)) if f & PTE_PRESENT != 0 && (!write || f & PTE_WRITE != 0) => {
                return Ok(phys)
            }
            Some((_, f)) => handle_mm_fault(mm, va, write, f & PTE_PRESENT != 0)?,
            None => handle_mm_fault(mm, va, write, false)?,
        }
    }
    panic!("the fault at {va:#x} never resolves");
}

fn write(mm: &mut MmStruct, va: u64, value: u8) -> Result<(), FaultError> {
    let phys = touch(mm, va, true)?;
    // SAFETY: the frame is mapped writable at `va` in `mm`; the emulated direct map covers it.
    unsafe { *((phys_to_virt(phys) + (va & (P - 1))) as *mut u8) = value };
    Ok(())
}

fn read(mm: &mut MmStruct, va: u64) -> Result<u8, FaultError> {
    let phys = touch(mm, va, false)?;
    // SAFETY: the frame is mapped at `va` in `mm`; the emulated direct map covers it.
    Ok(unsafe { *((phys_to_virt(phys) + (va & (P - 1))) as *const u8) })
}

fn frame(mm: &mut MmStruct, va: u64) -> Option<(u64, bool)> {
    mm.pgd
        .lookup(va)
        .map(|(phys, f)| (phys, f & PTE_WRITE != 0))
}

fn anon_mm(pages: u64) -> (MmStruct, u64) {
    let mut mm = MmStruct::new().unwrap();
    let addr = mm.do_mmap(0, pages * P, RW, ANON).unwrap();
    (mm, addr)
}

#[test]
fn reads_share_the_zero_page_and_writes_get_private_pages() {
    let _m = machine();
    let (mut mm, a) = anon_mm(3);
    assert_eq!(read(&mut mm, a).unwrap(), 0);
    assert_eq!(read(&mut mm, a + P).unwrap(), 0);
    let (zero, writable) = frame(&mut mm, a).unwrap();
    assert!(is_zero_page(zero) && !writable);
    assert_eq!(frame(&mut mm, a + P).unwrap().0, zero);
    assert_eq!(mm.get_mm_rss(), 0);
    write(&mut mm, a, 7).unwrap();
    let (page, writable) = frame(&mut mm, a).unwrap();
    assert!(!is_zero_page(page) && writable);
    assert_eq!(page_count(page), 1);
    assert_eq!(
        (read(&mut mm, a).unwrap(), read(&mut mm, a + P).unwrap()),
        (7, 0)
    );
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 1);
    // A write fault straight on an untouched page needs no zero page.
    write(&mut mm, a + 2 * P, 1).unwrap();
    assert_eq!(mm.get_mm_counter(MM_ANONPAGES), 2);
}

#[test]
fn dup_mmap_shares_private_pages_copy_on_write() {
    let _m = machine();
    let (mut parent, a) = anon_mm(2);
    write(&mut parent, a, 1).unwrap();
    write(&mut parent, a + P, 2).unwrap();
    let (page, _) = frame(&mut parent, a).unwrap();
    let mut child = parent.dup_mmap().unwrap();
    assert_eq!(page_count(page), 2);
    assert_eq!(frame(&mut parent, a), Some((page, false)));
    assert_eq!(frame(&mut child, a), Some((page, false)));
    assert_eq!(child.get_mm_counter(MM_ANONPAGES), 2);
    // Reads share; the child's write copies.
    assert_eq!(read(&mut child, a).unwrap(), 1);
    let copies = vm_event(VmEvent::CowFault);
    write(&mut child, a, 10).unwrap();
    assert_eq!(vm_event(VmEvent::CowFault), copies + 1);
    let (copy, writable) = frame(&mut child, a).unwrap();
    assert!(copy != page && writable);
    assert_eq!((page_count(page), page_count(copy)), (1, 1));
    assert_eq!(
        (read(&mut parent, a).unwrap(), read(&mut child, a).unwrap()),
        (1, 10)
    );
    // The parent is the last holder now: its write reuses the page.
    let reuses = vm_event(VmEvent::PgReuse);
    write(&mut parent, a, 3).unwrap();
    assert_eq!(frame(&mut parent, a), Some((page, true)));
    assert_eq!(vm_event(VmEvent::PgReuse), reuses + 1);
    assert_eq!(read(&mut child, a).unwrap(), 10);
    // A grandchild shares the second page three ways.
    let (second, _) = frame(&mut parent, a + P).unwrap();
    let mut grandchild = child.dup_mmap().unwrap();
    assert_eq!(page_count(second), 3);
    write(&mut grandchild, a + P, 30).unwrap();
    assert_eq!(page_count(second), 2);
    drop(child);
    assert_eq!(page_count(second), 1);
    assert_eq!(read(&mut parent, a + P).unwrap(), 2);
    assert_eq!(read(&mut grandchild, a + P).unwrap(), 30);
}

#[test]
fn the_zero_page_survives_fork_and_mprotect() {
    let _m = machine();
    let (mut parent, a) = anon_mm(2);
    read(&mut parent, a).unwrap();
    let mut child = parent.dup_mmap().unwrap();
    assert!(is_zero_page(frame(&mut child, a).unwrap().0));
    // mprotect back to writable must not make the zero page writable.
    parent.mprotect(a, 2 * P, PROT_READ).unwrap();
    parent.mprotect(a, 2 * P, RW).unwrap();
    assert!(!frame(&mut parent, a).unwrap().1);
    write(&mut parent, a, 5).unwrap();
    assert_eq!(read(&mut child, a).unwrap(), 0);
    assert_eq!(read(&mut parent, a + P).unwrap(), 0);
}

#[test]
fn mprotect_keeps_shared_cow_pages_read_only() {
    let _m = machine();
    let (mut parent, a) = anon_mm(1);
    write(&mut parent, a, 1).unwrap();
    let mut child = parent.dup_mmap().unwrap();
    parent.mprotect(a, P, PROT_READ).unwrap();
    parent.mprotect(a, P, RW).unwrap();
    assert!(!frame(&mut parent, a).unwrap().1);
    write(&mut parent, a, 2).unwrap();
    assert_eq!(read(&mut child, a).unwrap(), 1);
    // Once the child is gone the page is exclusive, and mprotect may make it writable.
    drop(child);
    parent.mprotect(a, P, PROT_READ).unwrap();
    parent.mprotect(a, P, RW).unwrap();
    assert!(frame(&mut parent, a).unwrap().1);
}

#[test]
fn shared_anonymous_memory_is_shared_across_dup_mmap() {
    let _m = machine();
    let mut parent = MmStruct::new().unwrap();
    let a = parent.do_mmap(0, 2 * P, RW, SHARED).unwrap();
    write(&mut parent, a, 1).unwrap();
    let mut child = parent.dup_mmap().unwrap();
    assert!(frame(&mut parent, a).unwrap().1);
    assert_eq!(read(&mut child, a).unwrap(), 1);
    write(&mut child, a, 2).unwrap();
    assert_eq!(read(&mut parent, a).unwrap(), 2);
    // A page neither had touched before fork is shared too.
    write(&mut child, a + P, 3).unwrap();
    assert_eq!(read(&mut parent, a + P).unwrap(), 3);
    assert_eq!(parent.get_mm_counter(MM_SHMEMPAGES), 2);
    assert_eq!(parent.get_mm_counter(MM_ANONPAGES), 0);
    let mut maps = String::new();
    parent.proc_maps(&mut maps, None);
    assert!(maps.contains(" rw-s 00000000 00:01 "), "{maps}");
    assert!(maps.ends_with(" /dev/zero (deleted)\n"), "{maps}");
}

#[test]
fn teardown_gives_back_every_page() {
    let _m = machine();
    let free = free_page_count();
    let (anon, shmem, tables) = (
        node_page_state(NodeStat::AnonPages),
        node_page_state(NodeStat::Shmem),
        node_page_state(NodeStat::PageTables),
    );
    {
        let (mut parent, a) = anon_mm(8);
        for i in 0..8 {
            write(&mut parent, a + i * P, i as u8).unwrap();
        }
        let s = parent.do_mmap(0x4000_0000, 4 * P, RW, SHARED).unwrap();
        write(&mut parent, s, 1).unwrap();
        read(&mut parent, s + P).unwrap();
        let mut child = parent.dup_mmap().unwrap();
        write(&mut child, a, 9).unwrap();
        write(&mut child, s + 2 * P, 9).unwrap();
        let b = child.mremap(a, 8 * P, 16 * P, MREMAP_MAYMOVE, 0).unwrap();
        write(&mut child, b + 12 * P, 1).unwrap();
        child.munmap(b + P, P).unwrap();
        parent.madvise(a + 2 * P, 2 * P, MADV_DONTNEED).unwrap();
        assert!(free_page_count() < free);
        assert!(node_page_state(NodeStat::AnonPages) > anon);
    }
    assert_eq!(free_page_count(), free);
    assert_eq!(node_page_state(NodeStat::AnonPages), anon);
    assert_eq!(node_page_state(NodeStat::Shmem), shmem);
    assert_eq!(node_page_state(NodeStat::PageTables), tables);
}

#[test]
fn proc_files_describe_a_small_process() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    mm.insert_vma(0x40_0000, 0x40_1000, PROT_READ);
    mm.insert_vma(0x40_1000, 0x40_3000, PROT_READ | PROT_EXEC);
    mm.insert_vma(0x40_3000, 0x40_4000, PROT_READ | PROT_WRITE);
    mm.start_code = 0x40_1000;
    mm.end_code = 0x40_2800;
    mm.start_brk = 0x40_6000;
    mm.brk = mm.start_brk;
    mm.set_brk(0x40_8000);
    let sp = STACK_TOP - 0x100;
    mm.setup_stack(STACK_TOP, sp, false).unwrap();
    for va in [0x40_3000, 0x40_6000, 0x40_7000, sp] {
        write(&mut mm, va, 1).unwrap();
    }
    let mut maps = String::new();
    mm.proc_maps(&mut maps, None);
    let lines: Vec<&str> = maps.lines().collect();
    assert_eq!(lines.len(), 5, "{maps}");
    assert_eq!(lines[0], "00400000-00401000 r--p 00000000 00:00 0 ");
    assert_eq!(lines[1], "00401000-00403000 r-xp 00000000 00:00 0 ");
    assert_eq!(lines[2], "00403000-00404000 rw-p 00000000 00:00 0 ");
    assert_eq!(
        lines[3],
        format!(
            "00406000-00408000 rw-p 00000000 00:00 0{}[heap]",
            " ".repeat(34)
        )
    );
    assert_eq!(
        lines[4],
        format!(
            "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0{}[stack]",
            " ".repeat(26)
        )
    );
    let mut status = String::new();
    mm.proc_status_vm(&mut status);
    let field = |name: &str| -> String {
        status
            .lines()
            .find(|l| l.starts_with(&format!("{name}:\t")))
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(field("VmRSS"), "      16 kB");
    assert_eq!(field("RssAnon"), "      16 kB");
    // 1 + 2 + 1 pages of program, 2 of heap, 33 of stack.
    assert_eq!(field("VmSize"), "     156 kB");
    assert_eq!(field("VmData"), "      12 kB");
    assert_eq!(field("VmStk"), "     132 kB");
    assert_eq!(field("VmExe"), "       8 kB");
    assert_eq!(field("VmLib"), "       0 kB");
    assert!(field("VmPTE").trim().starts_with(|c: char| c != '0'));
    mm.munmap(0x40_6000, 2 * P).unwrap();
    let mut status = String::new();
    mm.proc_status_vm(&mut status);
    assert!(
        status.contains("VmHWM:\t      16 kB\nVmRSS:\t       8 kB\n"),
        "{status}"
    );
    assert!(
        status.contains("VmPeak:\t     156 kB\nVmSize:\t     148 kB\n"),
        "{status}"
    );
}

#[test]
fn split_and_moved_shared_mappings_keep_their_file_offsets() {
    let _m = machine();
    let mut mm = MmStruct::new().unwrap();
    let a = mm.do_mmap(0, 4 * P, RW, SHARED).unwrap();
    for i in 0..4 {
        write(&mut mm, a + i * P, 0x60 + i as u8).unwrap();
    }
    // Split in three, drop every mapping: each piece refaults its own pages of the file.
    mm.mprotect(a + P, P, PROT_READ).unwrap();
    assert_eq!(mm.vmas.iter().count(), 3);
    mm.madvise(a, 4 * P, MADV_DONTNEED).unwrap();
    assert_eq!(mm.get_mm_counter(MM_SHMEMPAGES), 0);
    for i in 0..4 {
        assert_eq!(read(&mut mm, a + i * P).unwrap(), 0x60 + i as u8);
    }
    // Move the last two pages elsewhere: same pages, same offsets.
    let b = mm
        .mremap(a + 2 * P, 2 * P, 3 * P, MREMAP_MAYMOVE, 0)
        .unwrap();
    assert_eq!(read(&mut mm, b).unwrap(), 0x62);
    assert_eq!(read(&mut mm, b + P).unwrap(), 0x63);
    assert_eq!(read(&mut mm, b + 2 * P).unwrap(), 0);
    mm.madvise(b, 2 * P, MADV_DONTNEED).unwrap();
    assert_eq!(read(&mut mm, b + P).unwrap(), 0x63);
    let mut maps = String::new();
    mm.proc_maps(&mut maps, None);
    assert!(maps.contains(" rw-s 00002000 00:01 "), "{maps}");
}

#[test]
fn access_remote_vm_reads_across_pages_and_stops_at_holes() {
    let _m = machine();
    let (mut mm, a) = anon_mm(3);
    // Bytes straddling the first page boundary; the second page is never touched.
    for (i, b) in b"hello\0world\0".iter().enumerate() {
        write(&mut mm, a + P - 6 + i as u64, *b).unwrap();
    }
    let mut buf = [0xffu8; 12];
    assert_eq!(mm.access_remote_vm(a + P - 6, &mut buf), 12);
    assert_eq!(&buf, b"hello\0world\0");
    // Untouched memory reads as zeros, without taking a page of its own.
    let rss = mm.get_mm_rss();
    let mut buf = [0xffu8; 8];
    assert_eq!(mm.access_remote_vm(a + 2 * P, &mut buf), 8);
    assert_eq!(buf, [0; 8]);
    assert_eq!(mm.get_mm_rss(), rss);
    // Reading runs into the end of the mapping: a short read.
    let mut buf = [0u8; 16];
    assert_eq!(mm.access_remote_vm(a + 3 * P - 4, &mut buf), 4);
    assert_eq!(mm.access_remote_vm(TASK_SIZE - 4, &mut buf), 0);
}

#[test]
fn a_cpu_that_kept_an_address_space_loaded_flushes_after_changes_made_elsewhere() {
    let _m = machine();
    let (mut mm, va) = anon_mm(2);
    write(&mut mm, va, 1).unwrap();
    mm.pgd.tlb().activate();
    assert!(!mm.pgd.tlb().tlb_stale_here());
    // The emulated CPU never has the table loaded, so these flushes stand for changes made
    // while the task ran on another CPU: this one's TLB is now behind.
    super::tlb::flush_tlb_page(&mm, va);
    assert!(mm.pgd.tlb().tlb_stale_here());
    mm.pgd.tlb().sync_lazy_tlb();
    assert!(!mm.pgd.tlb().tlb_stale_here());
    super::tlb::flush_tlb_range(&mm, va, va + 2 * 4096);
    super::tlb::flush_tlb_mm(&mm);
    assert!(mm.pgd.tlb().tlb_stale_here());
    mm.pgd.tlb().sync_lazy_tlb();
    assert!(!mm.pgd.tlb().tlb_stale_here());
}

#[test]
fn the_cpu_mask_follows_the_tasks_a_cpu_runs_and_a_returning_cpu_catches_up() {
    use super::arch::tlb::{enter_lazy_tlb, switch_mm_irqs_off};
    let _m = machine();
    let (mut a, va) = anon_mm(1);
    let (b, _) = anon_mm(1);
    write(&mut a, va, 1).unwrap();
    let (ta, tb) = (a.pgd.tlb().clone(), b.pgd.tlb().clone());
    // A task of `a` runs here: CPU 0 joins its mask, and is the only CPU to flush.
    switch_mm_irqs_off(None, &ta);
    assert_eq!((ta.cpumask(), ta.other_cpus()), (1, 0));
    // A task of `b` next: CPU 0 moves from one mask to the other.
    switch_mm_irqs_off(Some(&ta), &tb);
    assert_eq!((ta.cpumask(), tb.cpumask()), (0, 1));
    // A kernel thread borrows `b`: CPU 0 leaves its mask and misses a change made meanwhile.
    enter_lazy_tlb(&tb);
    assert_eq!(tb.cpumask(), 0);
    super::tlb::flush_tlb_mm(&b);
    assert!(tb.tlb_stale_here());
    // `b`'s task comes back: CPU 0 rejoins and catches up.
    switch_mm_irqs_off(Some(&tb), &tb);
    assert_eq!(tb.cpumask(), 1);
    assert!(!tb.tlb_stale_here());
    // Leave the per-CPU state as the next test expects it: no address space running.
    enter_lazy_tlb(&tb);
}

#[test]
fn allocations_stop_at_the_watermark_their_flags_allow() {
    use super::gfp::*;
    use super::page_alloc::{alloc_pages, free_page, min_free_kbytes, set_min_free_kbytes};
    let _m = machine();
    let saved = min_free_kbytes();
    // 64 MiB: min_free_kbytes = sqrt(16 * ~64 MiB in kB) ~ 1 MiB.
    assert!((900..1100).contains(&saved), "{saved}");
    // A big reserve so the test's numbers are clear: min 4096 pages.
    set_min_free_kbytes(16_384);
    let mut taken = Vec::new();
    let take = |gfp: Gfp, taken: &mut Vec<u64>| {
        while let Some(p) = alloc_pages(gfp, 0) {
            taken.push(p);
        }
    };
    // GFP_NOWAIT-like (no __GFP_HIGH, no __GFP_ATOMIC): down to min.
    take(__GFP_KSWAPD_RECLAIM, &mut taken);
    let free = free_page_count();
    // What is left: min, plus at most a per-CPU batch.
    assert!((4096..4096 + 64).contains(&free), "{free}");
    // GFP_ATOMIC may go to min - min/2 - min/8.
    take(GFP_ATOMIC, &mut taken);
    let free = free_page_count();
    assert!((1536..1536 + 64).contains(&free), "{free}");
    // __GFP_ZERO hands out zeroed pages even from a dirty pool.
    for &p in &taken[..4] {
        // SAFETY: our page, in the emulated direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(p) as *mut u8, 0xaa, P as usize) };
    }
    taken.iter().rev().for_each(|&p| free_page(p));
    set_min_free_kbytes(saved);
    let z = alloc_pages(GFP_KERNEL | __GFP_ZERO, 0).unwrap();
    assert_eq!(z, taken[0], "the last page freed comes back first");
    // SAFETY: as above.
    let bytes = unsafe { core::slice::from_raw_parts(phys_to_virt(z) as *const u8, P as usize) };
    assert!(bytes.iter().all(|&b| b == 0));
    free_page(z);
}
