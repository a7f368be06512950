//! The LRU lists (Linux's mm/swap.c and mm_inline.h): every user page and page-cache page is
//! on one of four lists, inactive or active × anon or file, newest at the head.
//!
//! Second chance, as Linux does it: a page starts inactive; an access seen once marks it
//! referenced (PG_referenced, or a young page-table entry found by reclaim), seen again it is
//! promoted to the active list (`mark_page_accessed`, `folio_check_references`). Reclaim takes
//! pages from the inactive tails; when the inactive file list gets short, active pages are
//! moved back to it (`shrink_active_list`). With no swap, anonymous pages are never scanned
//! (as in Linux without swap): their lists exist for the counts in /proc/meminfo.
//!
//! Links are frame numbers in each `Page` (`lru_next`/`lru_prev`), guarded by `LRU_LOCK`
//! together with the PG_lru/PG_active flags. A page leaves its list when freed (`put_page`'s
//! last reference) or when reclaim isolates it, holding a reference (taken only while the
//! count is not zero, so a page on its way to the allocator is never taken).
//!
//! Lock order: the mm lock, a page cache's lock, then the LRU lock; nothing allocates under
//! the LRU lock except the isolation vector (GFP_ATOMIC, like all heap memory).

#![deny(unsafe_code)]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use spin::Mutex;

use super::buddy::PAGE_SIZE;
use super::mem_map::{Page, NO_PFN, PG_ACTIVE, PG_FILE, PG_LRU, PG_REFERENCED, PG_SWAPBACKED};
use super::page_alloc::{pfn_to_page, put_page};
use super::vmstat::{count_vm_events, VmEvent};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum LruList {
    InactiveAnon,
    ActiveAnon,
    InactiveFile,
    ActiveFile,
}
pub const NR_LRU_LISTS: usize = 4;

impl LruList {
    /// The list for a page with `flags`: swap-backed cache pages (tmpfs) go with anonymous
    /// memory (Linux's `folio_is_file_lru`).
    pub fn of(flags: u32) -> LruList {
        let file = flags & (PG_FILE | PG_SWAPBACKED) == PG_FILE;
        match (file, flags & PG_ACTIVE != 0) {
            (false, false) => LruList::InactiveAnon,
            (false, true) => LruList::ActiveAnon,
            (true, false) => LruList::InactiveFile,
            (true, true) => LruList::ActiveFile,
        }
    }
}

/// The node's lists (Linux's `lruvec`): head and tail frame of each.
struct Lruvec {
    head: [u32; NR_LRU_LISTS],
    tail: [u32; NR_LRU_LISTS],
}

static LRU_LOCK: Mutex<Lruvec> = Mutex::new(Lruvec {
    head: [NO_PFN; NR_LRU_LISTS],
    tail: [NO_PFN; NR_LRU_LISTS],
});
/// Pages on each list (`NR_INACTIVE_ANON` …), read without the lock.
static NR_LRU: [AtomicU64; NR_LRU_LISTS] = [const { AtomicU64::new(0) }; NR_LRU_LISTS];

fn page(pfn: u32) -> &'static Page {
    pfn_to_page(pfn as u64).expect("LRU: frame without a page")
}

impl Lruvec {
    fn add(&mut self, pfn: u32, p: &Page, lru: LruList) {
        let l = lru as usize;
        let head = self.head[l];
        p.lru_prev.store(NO_PFN, Relaxed);
        p.lru_next.store(head, Relaxed);
        if head == NO_PFN {
            self.tail[l] = pfn;
        } else {
            page(head).lru_prev.store(pfn, Relaxed);
        }
        self.head[l] = pfn;
        NR_LRU[l].fetch_add(1, Relaxed);
    }

    fn del(&mut self, p: &Page, lru: LruList) {
        let l = lru as usize;
        let (next, prev) = (p.lru_next.load(Relaxed), p.lru_prev.load(Relaxed));
        if prev == NO_PFN {
            self.head[l] = next;
        } else {
            page(prev).lru_next.store(next, Relaxed);
        }
        if next == NO_PFN {
            self.tail[l] = prev;
        } else {
            page(next).lru_prev.store(prev, Relaxed);
        }
        NR_LRU[l].fetch_sub(1, Relaxed);
    }
}

/// Pages on list `lru`.
pub fn nr_lru_pages(lru: LruList) -> u64 {
    NR_LRU[lru as usize].load(Relaxed)
}

/// Put a new page on the LRU list its flags name (Linux's `folio_add_lru`).
pub fn lru_cache_add(phys: u64) {
    let pfn = (phys / PAGE_SIZE) as u32;
    let Some(p) = pfn_to_page(pfn as u64) else {
        return;
    };
    let mut lru = LRU_LOCK.lock();
    let flags = p.flags.load(Relaxed);
    if flags & PG_LRU == 0 {
        p.set_flags(PG_LRU);
        lru.add(pfn, p, LruList::of(flags));
    }
}

/// Set `flags` on a page, moving it to the list they name if it is on one (a clean cache
/// page becoming swap-backed moves to the anon lists).
pub fn lru_set_flags(phys: u64, flags: u32) {
    let pfn = (phys / PAGE_SIZE) as u32;
    let Some(p) = pfn_to_page(pfn as u64) else {
        return;
    };
    let mut lru = LRU_LOCK.lock();
    let old = p.flags.load(Relaxed);
    if old & PG_LRU != 0 {
        lru.del(p, LruList::of(old));
        lru.add(pfn, p, LruList::of(old | flags));
    }
    p.set_flags(flags);
}

/// Take a page that is being freed off its list (`__page_cache_release`).
pub fn lru_del_freed(p: &Page) {
    let mut lru = LRU_LOCK.lock();
    let flags = p.flags.load(Relaxed);
    if flags & PG_LRU != 0 {
        p.clear_flags(PG_LRU);
        lru.del(p, LruList::of(flags));
    }
}

/// An access to the page at `phys` (Linux's `folio_mark_accessed`): the first marks it
/// referenced, the second promotes an inactive page to the active list.
pub fn mark_page_accessed(phys: u64) {
    let pfn = (phys / PAGE_SIZE) as u32;
    let Some(p) = pfn_to_page(pfn as u64) else {
        return;
    };
    let flags = p.flags.load(Relaxed);
    if flags & PG_REFERENCED == 0 {
        p.set_flags(PG_REFERENCED);
        return;
    }
    if flags & PG_ACTIVE != 0 {
        return;
    }
    let mut lru = LRU_LOCK.lock();
    let flags = p.flags.load(Relaxed);
    if flags & (PG_LRU | PG_ACTIVE) == PG_LRU {
        lru.del(p, LruList::of(flags));
        p.set_flags(PG_ACTIVE);
        p.clear_flags(PG_REFERENCED);
        lru.add(pfn, p, LruList::of(flags | PG_ACTIVE));
        count_vm_events(VmEvent::PgActivate, 1);
    }
}

/// Take up to `nr` pages from the tail of `list`, each with a reference of ours and off any
/// list (Linux's `isolate_lru_folios`); returns them and how many were scanned.
pub fn isolate_lru_pages(list: LruList, nr: usize) -> (Vec<u64>, usize) {
    let mut taken = Vec::new();
    if taken.try_reserve(nr).is_err() {
        return (taken, 0);
    }
    let mut lru = LRU_LOCK.lock();
    let mut scanned = 0;
    let mut pfn = lru.tail[list as usize];
    while pfn != NO_PFN && taken.len() < nr && scanned < 2 * nr {
        let p = page(pfn);
        let prev = p.lru_prev.load(Relaxed);
        scanned += 1;
        // A page whose last reference is being dropped stays for its freer to remove.
        if p.try_get() {
            lru.del(p, list);
            p.clear_flags(PG_LRU);
            taken.push(pfn as u64 * PAGE_SIZE);
        }
        pfn = prev;
    }
    (taken, scanned)
}

/// Take the page at `phys` off its list with a reference of ours, if it is on one and not
/// being freed (Linux's `folio_isolate_lru`): compaction's migrate scanner.
pub fn isolate_lru_page(phys: u64) -> bool {
    let Some(p) = pfn_to_page(phys / PAGE_SIZE) else {
        return false;
    };
    let mut lru = LRU_LOCK.lock();
    let flags = p.flags.load(Relaxed);
    if flags & PG_LRU == 0 || !p.try_get() {
        return false;
    }
    lru.del(p, LruList::of(flags));
    p.clear_flags(PG_LRU);
    true
}

/// Return an isolated page to the list its flags now name, and drop the isolation reference
/// (`folio_putback_lru`).
pub fn putback_lru_page(phys: u64) {
    lru_cache_add(phys);
    put_page(phys);
}

#[cfg(test)]
mod tests {
    use super::super::emu::machine;
    use super::super::page_alloc::{alloc_user_page, page_count};
    use super::*;

    #[test]
    fn pages_are_promoted_on_the_second_access_and_leave_when_freed() {
        let _m = machine();
        let before = [LruList::InactiveFile, LruList::ActiveFile].map(nr_lru_pages);
        let a = alloc_user_page(PG_FILE, false).unwrap();
        let b = alloc_user_page(PG_FILE, false).unwrap();
        assert_eq!(nr_lru_pages(LruList::InactiveFile), before[0] + 2);
        mark_page_accessed(a);
        assert_eq!(nr_lru_pages(LruList::ActiveFile), before[1]);
        mark_page_accessed(a);
        assert_eq!(nr_lru_pages(LruList::ActiveFile), before[1] + 1);
        assert_eq!(nr_lru_pages(LruList::InactiveFile), before[0] + 1);
        // Isolation takes the oldest inactive page with a reference; putback returns it.
        let (taken, _) = isolate_lru_pages(LruList::InactiveFile, 1);
        assert_eq!(taken, [b]);
        assert_eq!(page_count(b), 2);
        putback_lru_page(b);
        assert_eq!(page_count(b), 1);
        put_page(a);
        put_page(b);
        assert_eq!(
            [LruList::InactiveFile, LruList::ActiveFile].map(nr_lru_pages),
            before
        );
    }
}
