//! Page migration (Linux's mm/migrate.c): move a page in use to another frame and point
//! everything that refers to it at the new one, so that its users never notice. Compaction
//! (`compaction.rs`) uses it to empty the bottom of a zone.
//!
//! Which pages move: user pages isolated from an LRU list, that is private anonymous pages
//! (found through the address they were first mapped at, `Page::anon_index`, as Linux finds
//! an anonymous page through its `index`) and page-cache pages (through their cache and
//! index, `rmap.rs`). Shared anonymous memory (PG_SHMEM: no reverse map reaches its pages)
//! and what the kernel allocated for itself (slab, page tables, stacks) stay where they are.
//!
//! Every holder of a reference must be found, or the page stays: each page-table entry
//! mapping it holds one, the page cache one, and the isolation one. The walk locks each
//! address space that maps the page (never waiting: a busy one makes the count fall short)
//! and then the cache; the count is then frozen at zero if it is exactly what was found
//! (`folio_ref_freeze`). Nobody can take a reference past that: to find the page one needs a
//! lock held here or a reference already. The entries are cleared and flushed from every TLB
//! before the copy, so no write lands in the old frame after it; a fault on the page
//! meanwhile waits for its mm lock and then finds the new frame mapped.

#![deny(unsafe_code)]

use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;

use super::buddy::PAGE_SIZE;
use super::mem_map::{Page, PG_ANON, PG_FILE};
use super::mmap::MmStruct;
use super::page_alloc::{copy_page, pfn_to_page};
use super::rmap::{file_places, mm_list};
use super::swap::lru_cache_add;
use super::tlb::flush_tlb_page;
use super::vma::TASK_SIZE;
use super::vmstat::{count_vm_event, VmEvent};

/// Why a page stayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// Not a page migration knows how to move (or its file let go of it).
    NotMovable,
    /// Someone holds or is using it now (an address space or its cache busy, a reference
    /// nobody maps): maybe next time.
    Busy,
}

/// A page-table entry mapping the page: which locked address space, where, its flags.
struct Place {
    mm: usize,
    va: u64,
    flags: u64,
}

/// Move the isolated page at `old` (the caller holds the isolation reference) to the free
/// frame `new`, which the caller took from the allocator and nobody else knows of (Linux's
/// `migrate_folio` with `remove_migration_ptes`). On success the new page has the old one's
/// state, references and list, and the old frame's count is zero: the caller frees it. On
/// failure nothing changed.
pub fn migrate_page(old: u64, new: u64) -> Result<(), MigrateError> {
    let (Some(op), Some(np)) = (page_of(old), page_of(new)) else {
        return Err(MigrateError::NotMovable);
    };
    let flags = op.flags.load(Relaxed);
    let result = if flags & PG_ANON != 0 {
        migrate_anon_page(old, new, op, np)
    } else if flags & PG_FILE != 0 {
        migrate_file_page(old, new, op, np)
    } else {
        Err(MigrateError::NotMovable)
    };
    count_vm_event(if result.is_ok() {
        VmEvent::PgMigrateSuccess
    } else {
        VmEvent::PgMigrateFail
    });
    result
}

fn page_of(phys: u64) -> Option<&'static Page> {
    pfn_to_page(phys / PAGE_SIZE)
}

/// The address spaces in which `candidates(mm)` finds entries mapping `old`, locked, and
/// those entries.
fn lock_mappers<'a>(
    mms: &'a [super::MmRef],
    old: u64,
    mut candidates: impl FnMut(&MmStruct) -> Vec<u64>,
) -> (Vec<spin::MutexGuard<'a, MmStruct>>, Vec<Place>) {
    let (mut guards, mut places) = (Vec::new(), Vec::new());
    for mm in mms {
        let Some(mut g) = mm.try_lock() else {
            continue;
        };
        let before = places.len();
        for va in candidates(&g) {
            if let Some((phys, flags)) = g.pgd.lookup(va) {
                if phys == old {
                    places.push(Place {
                        mm: guards.len(),
                        va,
                        flags,
                    });
                }
            }
        }
        if places.len() > before {
            guards.push(g);
        }
    }
    (guards, places)
}

fn migrate_anon_page(old: u64, new: u64, op: &Page, np: &Page) -> Result<(), MigrateError> {
    let va = op.anon_index().saturating_mul(PAGE_SIZE);
    let mms = mm_list();
    let (mut guards, places) = lock_mappers(&mms, old, |mm| {
        // Only where a VMA is: the index of a page never mapped is stale.
        if va < TASK_SIZE && mm.vmas.vma_lookup(va).is_some() {
            alloc::vec![va]
        } else {
            Vec::new()
        }
    });
    // An anonymous page nobody maps is on its way out: its last holder frees it.
    if places.is_empty() {
        return Err(MigrateError::Busy);
    }
    move_page(old, new, op, np, &mut guards, &places, 0)
}

fn migrate_file_page(old: u64, new: u64, op: &Page, np: &Page) -> Result<(), MigrateError> {
    let (mapping, index) = (op.mapping.load(Relaxed), op.index.load(Relaxed) as u64);
    let inode = super::filemap::mapping_inode(mapping).ok_or(MigrateError::NotMovable)?;
    let mms = mm_list();
    let (mut guards, places) = lock_mappers(&mms, old, |mm| file_places(mm, mapping, index));
    // Lock order: the mm locks, then the cache.
    let mut pages = inode.i_mapping.try_lock_pages().ok_or(MigrateError::Busy)?;
    if pages.get(&index) != Some(&old) {
        return Err(MigrateError::NotMovable);
    }
    move_page(old, new, op, np, &mut guards, &places, 1)?;
    pages.insert(index, new);
    Ok(())
}

/// The move itself, with every mapper in `guards` locked (and the cache, holding `cache`
/// references): freeze the count if the entries, the cache and the isolation are all its
/// holders; unmap and flush; copy; map the new frame where the old one was.
fn move_page(
    old: u64,
    new: u64,
    op: &Page,
    np: &Page,
    guards: &mut [spin::MutexGuard<'_, MmStruct>],
    places: &[Place],
    cache: u32,
) -> Result<(), MigrateError> {
    let expected = places.len() as u32 + cache + 1;
    if !op.ref_freeze(expected) {
        return Err(MigrateError::Busy);
    }
    for p in places {
        let mm = &mut guards[p.mm];
        mm.pgd.unmap_range(p.va, p.va + PAGE_SIZE, |_| {});
        flush_tlb_page(mm, p.va);
    }
    copy_page(new, old);
    // The isolation reference is not carried over; the new page goes on the LRU below.
    np.migrate_from(op, expected - 1);
    for p in places {
        // The table that held the old entry is still there: this cannot run out of memory.
        let mapped = guards[p.mm].pgd.map(p.va, new, p.flags);
        debug_assert!(mapped);
    }
    lru_cache_add(new);
    Ok(())
}
