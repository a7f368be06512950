//! The reverse map of page-cache pages (Linux's mm/rmap.c for file folios): from a page to
//! the page-table entries that map it, for reclaim to check their accessed bits
//! (`folio_referenced`) and to take them away (`try_to_unmap`).
//!
//! A page knows its cache and index (`filemap.rs`); an address space maps it wherever one of
//! its VMAs maps that file over that index. Linux keeps each file's VMAs in the file's
//! `i_mmap` tree; here reclaim walks the list of address spaces (`MMLIST`, Linux's
//! `init_mm.mmlist`) and their VMAs, which is the same search over a handful of processes.
//! Pages no page table maps (`mapcount` 0, reclaim's common case) need no walk at all.
//!
//! Anonymous pages are found by the address they were first mapped at, which fork keeps
//! (`page_add_new_anon_rmap`); migration (`migrate.rs`) looks there in every address space.
//!
//! Reclaim never waits for an mm lock: an address space that is busy (its owner is faulting,
//! perhaps the very allocation that is reclaiming) is skipped, and its pages kept this time.

#![deny(unsafe_code)]

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;

use spin::Mutex;

use super::buddy::PAGE_SIZE;
use super::mem_map::{Page, PG_FILE, PG_SHMEM};
use super::mmap::{MmStruct, MM_FILEPAGES};
use super::page_alloc::{is_file_page, pfn_to_page, put_page};
use super::tlb::flush_tlb_page;
use super::vma::{Vma, VM_EXEC};
use super::vmstat::{mod_node_page_state, NodeStat};
use super::{MmRef, MmWeak};

/// Every address space, for the reverse map (dead entries are pruned as they are met).
static MMLIST: Mutex<Vec<MmWeak>> = Mutex::new(Vec::new());

/// Register a new address space (`mmlist`).
pub fn mmlist_add(mm: &MmRef) {
    let mut list = MMLIST.lock();
    list.retain(|w| w.strong_count() > 0);
    list.push(Arc::downgrade(mm));
}

/// Drop the entries of address spaces that are gone (`mmput`'s `list_del(&mm->mmlist)`): a
/// dead entry would keep its `mm_struct` object allocated.
pub fn mmlist_prune() {
    MMLIST.lock().retain(|w| w.strong_count() > 0);
}

fn page_of(phys: u64) -> Option<&'static Page> {
    pfn_to_page(phys / PAGE_SIZE)
}

/// The page at `phys` if its mappings are counted: a page-cache page (a file's, tmpfs's) or
/// shared anonymous memory (Linux keeps that in shmem's page cache too). Private anonymous
/// pages are not.
fn mapcounted_page(phys: u64) -> Option<&'static Page> {
    page_of(phys).filter(|p| p.has(PG_FILE | PG_SHMEM))
}

/// A page-table entry now maps the page at `phys` (`page_add_file_rmap`): the first one
/// makes it count in Mapped (`NR_FILE_MAPPED`). Private anonymous pages are ignored.
pub fn page_add_file_rmap(phys: u64) {
    if let Some(p) = mapcounted_page(phys) {
        if p.mapcount.fetch_add(1, Relaxed) == 0 {
            mod_node_page_state(NodeStat::FileMapped, 1);
        }
    }
}

/// One entry mapping the page at `phys` went (`page_remove_rmap`): the last one takes it
/// out of Mapped. Private anonymous pages are ignored.
pub fn page_remove_rmap(phys: u64) {
    if let Some(p) = mapcounted_page(phys) {
        if p.mapcount.fetch_sub(1, Relaxed) == 1 {
            mod_node_page_state(NodeStat::FileMapped, -1);
        }
    }
}

/// Whether `v` maps the file whose cache has id `mapping`.
fn maps_file(v: &Vma, mapping: u32) -> bool {
    v.image
        .as_ref()
        .is_some_and(|i| i.inode.i_mapping.is(mapping))
}

/// Every address space alive now.
pub fn mm_list() -> Vec<MmRef> {
    MMLIST.lock().iter().filter_map(Weak::upgrade).collect()
}

/// Where `mm`'s VMAs map index `index` of the cache with id `mapping` (what a page there
/// may be mapped at).
pub fn file_places(mm: &MmStruct, mapping: u32, index: u64) -> Vec<u64> {
    mm.vmas
        .iter()
        .filter(|v| maps_file(v, mapping) && index >= v.pgoff && index < v.pgoff + v.pages())
        .map(|v| v.start + (index - v.pgoff) * PAGE_SIZE)
        .collect()
}

/// A new anonymous page is mapped at `va` (`folio_add_new_anon_rmap`): the address is its
/// reverse map (`Page::set_anon_index`).
pub fn page_add_new_anon_rmap(phys: u64, va: u64) {
    if let Some(p) = page_of(phys) {
        p.set_anon_index(va / PAGE_SIZE);
    }
}

/// Call `f(mm, va)` for each place a VMA maps index `index` of the cache with id `mapping`
/// to the frame `phys`, in each address space not busy; returns false if one was busy.
fn rmap_walk(phys: u64, mapping: u32, index: u64, mut f: impl FnMut(&mut MmStruct, u64)) -> bool {
    let mut complete = true;
    for mm in mm_list() {
        let Some(mut mm) = mm.inner.try_lock() else {
            complete = false;
            continue;
        };
        for va in file_places(&mm, mapping, index) {
            if mm.pgd.lookup(va).is_some_and(|(p, _)| p == phys) {
                f(&mut mm, va);
            }
        }
    }
    complete
}

/// How many entries mapping the page at `phys` were accessed since the last look (clearing
/// their accessed bits), and whether any of them is in an executable mapping (Linux's
/// `folio_referenced` with its `vm_flags`).
pub fn folio_referenced(phys: u64) -> (u32, bool) {
    let Some(p) = page_of(phys) else {
        return (0, false);
    };
    if p.mapcount.load(Relaxed) == 0 {
        return (0, false);
    }
    let (mut referenced, mut exec) = (0, false);
    let index = p.index.load(Relaxed) as u64;
    rmap_walk(phys, p.mapping.load(Relaxed), index, |mm, va| {
        if mm.pgd.test_and_clear_young(va) {
            referenced += 1;
            exec |= mm
                .vmas
                .vma_lookup(va)
                .is_some_and(|v| v.flags & VM_EXEC != 0);
        }
    });
    (referenced, exec)
}

/// Take the cache page at `phys` out of every page table that maps it (Linux's
/// `try_to_unmap`); true if none maps it any more.
pub fn try_to_unmap(phys: u64) -> bool {
    let Some(p) = page_of(phys) else {
        return false;
    };
    if p.mapcount.load(Relaxed) == 0 {
        return true;
    }
    let index = p.index.load(Relaxed) as u64;
    rmap_walk(phys, p.mapping.load(Relaxed), index, |mm, va| {
        zap_file_pte(mm, va, phys)
    });
    p.mapcount.load(Relaxed) == 0
}

fn zap_file_pte(mm: &mut MmStruct, va: u64, phys: u64) {
    mm.pgd.unmap_range(va, va + PAGE_SIZE, |_| {});
    flush_tlb_page(mm, va);
    mm.add_mm_counter(MM_FILEPAGES, -1);
    page_remove_rmap(phys);
    put_page(phys);
}

/// Take the pages of the file whose cache has id `mapping`, from page `index` on, out of every
/// page table (Linux's `unmap_mapping_range`), waiting for busy address spaces: the file
/// shrank. Private copies made by writes stay. Call with no mm lock held.
pub fn unmap_mapping_range(mapping: u32, index: u64) {
    for mm in mm_list() {
        let mut mm = mm.inner.lock();
        let ranges: Vec<(u64, u64)> = mm
            .vmas
            .iter()
            .filter(|v| maps_file(v, mapping) && v.pgoff + v.pages() > index)
            .map(|v| (v.start + index.saturating_sub(v.pgoff) * PAGE_SIZE, v.end))
            .collect();
        for (start, end) in ranges {
            for va in (start..end).step_by(PAGE_SIZE as usize) {
                if let Some((phys, _)) = mm.pgd.lookup(va).filter(|&(p, _)| is_file_page(p)) {
                    zap_file_pte(&mut mm, va, phys);
                }
            }
        }
    }
}
