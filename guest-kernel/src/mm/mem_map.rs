//! `struct page` and the `mem_map` array: what the kernel knows about each page frame.
//!
//! One [`Page`] per frame from pfn 0 to the highest usable pfn, in an array carved from boot
//! memory before the buddy allocator gets the rest (`page_alloc::init`). The array is *not*
//! initialized at boot: zeroing it would cost tens of milliseconds under instruction emulation,
//! and nothing needs it. The page allocator writes a frame's entry when it hands the frame out
//! (count 1, no flags) and when it takes it back (count 0); entries of frames never allocated
//! since boot hold whatever RAM held then (zero, on the VMMs we boot on) and are never read.
//!
//! Reference counts (Linux's `_refcount`): whoever allocated the frame holds the first
//! reference; each user mapping of it and each shared-memory slot holding it holds one. Fork's
//! copy-on-write shares private frames this way and a write fault copies only while the count
//! says someone else still holds the frame. `put_page` frees the frame when the last goes.
//! Dropping a reference nobody holds is a kernel bug; it is reported, never a double free.

#![deny(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

/// Private anonymous memory of a process (counted in AnonPages).
pub const PG_ANON: u32 = 1 << 0;
/// A page of shared anonymous memory (Linux: swap-backed page-cache page; counted in Shmem).
pub const PG_SHMEM: u32 = 1 << 1;
/// Never freed (the shared zero page).
pub const PG_RESERVED: u32 = 1 << 2;
/// A page of a file's page cache (counted in Cached; Mapped while in page tables). Stays set
/// after the page leaves the cache, for as long as mappings keep it.
pub const PG_FILE: u32 = 1 << 3;
/// On an LRU list (`swap.rs`); the LRU flags change under the LRU lock.
pub const PG_LRU: u32 = 1 << 4;
pub const PG_ACTIVE: u32 = 1 << 5;
pub const PG_REFERENCED: u32 = 1 << 6;
/// Part of a slab (`slub.rs`), whose metadata then lives in this entry's other fields.
pub const PG_SLAB: u32 = 1 << 7;
/// A page-cache page that is the only copy of its data (tmpfs; Linux's PG_swapbacked):
/// counted in Shmem, kept on the anon lists, never dropped by reclaim (there is no swap).
pub const PG_SWAPBACKED: u32 = 1 << 8;
/// Written since it was read in (Linux's PG_dirty); on tmpfs it stays dirty.
pub const PG_DIRTY: u32 = 1 << 9;

/// No frame (an LRU list's end).
pub const NO_PFN: u32 = u32::MAX;

#[repr(C)]
pub struct Page {
    /// `PG_*`; written by whoever owns the frame, before it is shared, except the LRU flags.
    pub flags: AtomicU32,
    refcount: AtomicU32,
    /// Neighbours on its LRU list (frame numbers); guarded by the LRU lock.
    pub lru_next: AtomicU32,
    pub lru_prev: AtomicU32,
    /// The page cache holding it (`filemap::AddressSpace`'s id; 0: none) and its page index
    /// there: Linux's `mapping` and `index`, the reverse map of a file page.
    pub mapping: AtomicU32,
    pub index: AtomicU32,
    /// Page-table entries mapping it (`_mapcount` + 1), kept for page-cache pages only.
    pub mapcount: AtomicU32,
    /// The high half of an anonymous page's index (`anon_index`).
    index_hi: AtomicU32,
}

/// What dropping a reference did.
#[derive(Debug, PartialEq, Eq)]
pub enum Put {
    /// Others still hold the page.
    Held,
    /// That was the last reference: the caller frees the page. Carries the flags it had.
    Last(u32),
    /// Nobody held it (a bug): nothing changed.
    Underflow,
}

impl Page {
    /// A fresh allocation: one reference, no flags (Linux's `set_page_refcounted`).
    pub fn prep_new(&self) {
        self.flags.store(0, Ordering::Relaxed);
        self.refcount.store(1, Ordering::Relaxed);
        self.mapping.store(0, Ordering::Relaxed);
        self.mapcount.store(0, Ordering::Relaxed);
    }

    /// Back in the allocator.
    pub fn clear(&self) {
        self.refcount.store(0, Ordering::Relaxed);
    }

    pub fn count(&self) -> u32 {
        self.refcount.load(Ordering::Acquire)
    }

    /// Take one more reference (Linux's `get_page`); the caller already holds one, directly or
    /// through a mapping it has locked.
    pub fn get(&self) {
        self.refcount.fetch_add(1, Ordering::Relaxed);
    }

    /// Drop one reference (Linux's `put_page_testzero`).
    pub fn put(&self) -> Put {
        match self.refcount.fetch_sub(1, Ordering::AcqRel) {
            0 => {
                self.refcount.fetch_add(1, Ordering::Relaxed);
                Put::Underflow
            }
            1 => Put::Last(self.flags.load(Ordering::Relaxed)),
            _ => Put::Held,
        }
    }

    /// A reference unless the page is being freed (Linux's `get_page_unless_zero`): how
    /// reclaim takes pages off an LRU list that their last holder may be releasing.
    pub fn try_get(&self) -> bool {
        self.refcount
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |c| {
                (c != 0).then_some(c + 1)
            })
            .is_ok()
    }

    pub fn set_flags(&self, flags: u32) {
        self.flags.fetch_or(flags, Ordering::Relaxed);
    }

    pub fn clear_flags(&self, flags: u32) {
        self.flags.fetch_and(!flags, Ordering::Relaxed);
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    /// An anonymous page's reverse map: the virtual page number it was first mapped at, the
    /// same in every address space that shares it after fork (Linux's anonymous
    /// `page->index`, here without `anon_vma`: migration looks there in every address space).
    pub fn set_anon_index(&self, vpn: u64) {
        self.index.store(vpn as u32, Ordering::Relaxed);
        self.index_hi.store((vpn >> 32) as u32, Ordering::Relaxed);
    }

    pub fn anon_index(&self) -> u64 {
        (self.index_hi.load(Ordering::Relaxed) as u64) << 32
            | self.index.load(Ordering::Relaxed) as u64
    }

    /// Set the count to zero if it is `expected` (Linux's `folio_ref_freeze`): from then on
    /// nobody can take a reference (`try_get` fails, and `get` needs one held already).
    pub fn ref_freeze(&self, expected: u32) -> bool {
        self.refcount
            .compare_exchange(expected, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Take over a frozen page's state with `count` references: migration's new page
    /// (`folio_migrate_flags` and `folio_ref_unfreeze`), off any LRU list for now.
    pub fn migrate_from(&self, old: &Page, count: u32) {
        let o = Ordering::Relaxed;
        self.flags.store(old.flags.load(o) & !PG_LRU, o);
        self.mapping.store(old.mapping.load(o), o);
        self.index.store(old.index.load(o), o);
        self.index_hi.store(old.index_hi.load(o), o);
        self.mapcount.store(old.mapcount.load(o), o);
        self.refcount.store(count, Ordering::Release);
    }
}

/// The array, indexed by pfn.
pub struct MemMap<'a> {
    pages: &'a [Page],
}

impl<'a> MemMap<'a> {
    pub fn new(pages: &'a [Page]) -> Self {
        MemMap { pages }
    }

    /// Linux's `pfn_to_page`; None beyond the highest managed frame.
    pub fn page(&self, pfn: u64) -> Option<&'a Page> {
        self.pages.get(usize::try_from(pfn).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(n: usize) -> Vec<Page> {
        (0..n)
            .map(|_| Page {
                flags: AtomicU32::new(0),
                refcount: AtomicU32::new(0),
                lru_next: AtomicU32::new(0),
                lru_prev: AtomicU32::new(0),
                mapping: AtomicU32::new(0),
                index: AtomicU32::new(0),
                mapcount: AtomicU32::new(0),
                index_hi: AtomicU32::new(0),
            })
            .collect()
    }

    #[test]
    fn the_last_put_frees_and_reports_the_flags() {
        let backing = pages(4);
        let map = MemMap::new(&backing);
        let p = map.page(2).unwrap();
        p.prep_new();
        p.set_flags(PG_ANON);
        p.get(); // fork: the child maps it too
        assert_eq!(p.count(), 2);
        assert_eq!(p.put(), Put::Held);
        assert_eq!(p.count(), 1);
        assert_eq!(p.put(), Put::Last(PG_ANON));
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn a_put_too_many_is_reported_not_wrapped() {
        let backing = pages(1);
        let p = &backing[0];
        p.prep_new();
        assert_eq!(p.put(), Put::Last(0));
        assert_eq!(p.put(), Put::Underflow);
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn reallocation_resets_count_and_flags() {
        let backing = pages(1);
        let p = &backing[0];
        p.prep_new();
        p.set_flags(PG_SHMEM);
        p.get();
        p.clear();
        p.prep_new();
        assert_eq!((p.count(), p.flags.load(Ordering::Relaxed)), (1, 0));
    }

    #[test]
    fn reclaim_cannot_take_a_page_being_freed() {
        let backing = pages(1);
        let p = &backing[0];
        p.prep_new();
        assert!(p.try_get());
        assert_eq!(p.put(), Put::Held);
        assert_eq!(p.put(), Put::Last(0));
        assert!(!p.try_get());
        assert_eq!(p.count(), 0);
    }

    #[test]
    fn migration_freezes_only_an_exact_count_and_carries_the_state_over() {
        let backing = pages(2);
        let (old, new) = (&backing[0], &backing[1]);
        old.prep_new();
        old.set_flags(PG_ANON | PG_LRU | PG_ACTIVE);
        old.set_anon_index(0x0007_ffff_ffff);
        old.get();
        assert!(!old.ref_freeze(3));
        assert!(old.ref_freeze(2));
        assert!(!old.try_get());
        new.migrate_from(old, 1);
        assert_eq!(new.count(), 1);
        assert_eq!(new.flags.load(Ordering::Relaxed), PG_ANON | PG_ACTIVE);
        assert_eq!(new.anon_index(), 0x0007_ffff_ffff);
    }

    #[test]
    fn frames_beyond_the_array_have_no_page() {
        let backing = pages(8);
        let map = MemMap::new(&backing);
        assert!(map.page(7).is_some());
        assert!(map.page(8).is_none());
        assert!(map.page(u64::MAX).is_none());
        assert_eq!(core::mem::size_of::<Page>(), 32);
    }
}
