//! Migration and compaction on the emulated machine (`mm/migrate.rs`, `mm/compaction.rs`):
//! a page moves with its bytes, every mapping (a fork's copy-on-write one too) and its page
//! cache entry follow it, a page someone else holds stays, and compacting the zone keeps
//! every process's data.

use alloc::sync::Arc;

use super::*;
use crate::mm::buddy::PAGE_SIZE;
use crate::mm::compaction::compact_nodes;
use crate::mm::migrate::{migrate_page, MigrateError};
use crate::mm::page_alloc::{alloc_page, free_one_page, free_page, get_page, put_page};
use crate::mm::swap::{isolate_lru_page, nr_lru_pages, putback_lru_page, LruList};
use crate::mm::vma::FileImage;
use crate::mm::{Mm, MmRef};

/// Move the page at `old` to a fresh frame the way the compaction scanners do; the new
/// frame, or why not (the page is back on its list then).
fn migrate(old: u64) -> Result<u64, MigrateError> {
    assert!(isolate_lru_page(old));
    let new = alloc_page().unwrap();
    match migrate_page(old, new) {
        Ok(()) => {
            free_one_page(old / PAGE_SIZE);
            Ok(new)
        }
        Err(e) => {
            free_page(new);
            putback_lru_page(old);
            Err(e)
        }
    }
}

fn anon_process(pages: u64) -> (MmRef, u64) {
    let (mm, a) = anon_mm(pages);
    let mm = Mm::new(mm);
    for i in 0..pages {
        write(&mut mm.lock(), a + i * P, i as u8 + 1).unwrap();
    }
    (mm, a)
}

#[test]
fn an_anonymous_page_moves_with_its_bytes_and_both_sides_of_a_fork_follow() {
    let _m = machine();
    let (parent, a) = anon_process(2);
    let child = Mm::new(parent.lock().dup_mmap().unwrap());
    let (old, _) = frame(&mut parent.lock(), a).unwrap();
    assert_eq!(page_count(old), 2);
    let anon = node_page_state(NodeStat::AnonPages);
    let lru = nr_lru_pages(LruList::InactiveAnon) + nr_lru_pages(LruList::ActiveAnon);
    let new = migrate(old).unwrap();
    assert_ne!(new, old);
    // Both address spaces map the new frame, still copy-on-write, with two references.
    for mm in [&parent, &child] {
        assert_eq!(frame(&mut mm.lock(), a), Some((new, false)));
        assert_eq!(read(&mut mm.lock(), a).unwrap(), 1);
    }
    assert_eq!(page_count(new), 2);
    assert_eq!(page_count(old), 0);
    assert_eq!(node_page_state(NodeStat::AnonPages), anon);
    let lru_now = nr_lru_pages(LruList::InactiveAnon) + nr_lru_pages(LruList::ActiveAnon);
    assert_eq!(lru_now, lru);
    // Copy-on-write still works from the moved page: the child's write is its own.
    write(&mut child.lock(), a, 42).unwrap();
    assert_eq!(read(&mut parent.lock(), a).unwrap(), 1);
    assert_eq!(read(&mut child.lock(), a).unwrap(), 42);
    assert_eq!(page_count(new), 1);
    // And the parent's next write reuses it, as the last holder.
    write(&mut parent.lock(), a, 7).unwrap();
    assert_eq!(frame(&mut parent.lock(), a), Some((new, true)));
}

#[test]
fn a_page_someone_else_holds_or_a_busy_address_space_keeps_it_in_place() {
    let _m = machine();
    let (mm, a) = anon_process(1);
    let (old, _) = frame(&mut mm.lock(), a).unwrap();
    // A reference no page table accounts for (a kernel user of the page).
    get_page(old);
    assert_eq!(migrate(old), Err(MigrateError::Busy));
    put_page(old);
    // The address space is locked by someone else (its owner faulting).
    {
        let _busy = mm.lock();
        assert_eq!(migrate(old), Err(MigrateError::Busy));
    }
    assert_eq!(frame(&mut mm.lock(), a).unwrap().0, old);
    assert_eq!(page_count(old), 1);
    assert_eq!(read(&mut mm.lock(), a).unwrap(), 1);
    assert!(migrate(old).is_ok());
}

#[test]
fn a_page_cache_page_moves_and_its_cache_entry_and_mappings_follow() {
    let _m = machine();
    let inode = super::filemap::image_file(alloc::vec![b'f'; 2 * P as usize]);
    let image = Arc::new(FileImage {
        path: None,
        inode: inode.clone(),
        file_end: 2 * P,
    });
    let mut mm = MmStruct::new().unwrap();
    mm.insert_file_vma(0x40_0000, 0x40_2000, PROT_READ, 0, image);
    let mm = Mm::new(mm);
    assert_eq!(read(&mut mm.lock(), 0x40_1000).unwrap(), b'f');
    let (old, _) = frame(&mut mm.lock(), 0x40_1000).unwrap();
    let mapped = node_page_state(NodeStat::FileMapped);
    let new = migrate(old).unwrap();
    assert_eq!(frame(&mut mm.lock(), 0x40_1000).unwrap().0, new);
    assert_eq!(read(&mut mm.lock(), 0x40_1000).unwrap(), b'f');
    let cached = inode.i_mapping.find_get_page(1).unwrap();
    assert_eq!(cached, new);
    put_page(cached);
    // The cache's reference and the mapping's.
    assert_eq!(page_count(new), 2);
    assert_eq!(node_page_state(NodeStat::FileMapped), mapped);
}

#[test]
fn compacting_the_zone_keeps_every_process_data() {
    let _m = machine();
    let n = 600;
    let (parent, a) = anon_process(n);
    // Free every other page: the zone's free memory is scattered between them.
    for i in (0..n).step_by(2) {
        parent.lock().madvise(a + i * P, P, MADV_DONTNEED).unwrap();
    }
    let child = Mm::new(parent.lock().dup_mmap().unwrap());
    let scanned = vm_event(VmEvent::CompactMigrateScanned);
    let migrated = vm_event(VmEvent::PgMigrateSuccess);
    assert!(compact_nodes());
    assert!(vm_event(VmEvent::CompactMigrateScanned) > scanned);
    assert!(vm_event(VmEvent::PgMigrateSuccess) >= migrated);
    for mm in [&parent, &child] {
        let mut mm = mm.lock();
        for i in 0..n {
            let want = if i % 2 == 0 { 0 } else { i as u8 + 1 };
            assert_eq!(read(&mut mm, a + i * P).unwrap(), want, "page {i}");
        }
    }
    // Parent and child still share each page they shared.
    for i in (1..n).step_by(2) {
        let f = frame(&mut parent.lock(), a + i * P).unwrap().0;
        assert_eq!(frame(&mut child.lock(), a + i * P).unwrap().0, f);
        assert_eq!(page_count(f), 2);
    }
}
