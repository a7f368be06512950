//! A file's page cache (Linux's `address_space`, `mm/filemap.c`), as far as mappings need it:
//! the frames holding the file's pages, each read in once and then mapped by every private
//! mapping of the file (an executable's segments in every process that runs it), read-only
//! there, so that a write copies it first (copy-on-write). The first process to run a program
//! reads its pages; the next ones find them here.
//!
//! Any change to the file drops the cache (writes to mapped files are rare here); mappings keep
//! the pages they already have, and later faults read the new contents.
//!
//! Cached pages are on the file LRU lists and are what reclaim frees first: they are clean
//! (the file's bytes live in tmpfs), so dropping one costs only a later re-read. Each page
//! records its cache (`Page::mapping`, an id registered in `MAPPINGS` with the inode) and its
//! index, which is the reverse map: reclaim finds the inode, and through the mappings of the
//! inode in each address space (`rmap.rs`), the page-table entries that map the page.
//!
//! Lock order: the mm lock, then `pages`, then the file's data.

#![deny(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use spin::Mutex;

use super::buddy::PAGE_SIZE;
use super::mem_map::PG_FILE;
use super::page_alloc::{alloc_user_page, get_page, pfn_to_page, put_page};
use super::swap::mark_page_accessed;
use super::vmstat::{mod_node_page_state, NodeStat};
use crate::fs::inode::Inode;

#[derive(Default)]
pub struct AddressSpace {
    /// Frame of each cached page, by page offset. The cache holds one reference on each.
    pages: Mutex<BTreeMap<u64, u64>>,
    /// This cache's id in `MAPPINGS` (0 until its first page).
    id: AtomicU32,
}

/// The caches that hold pages, by id: how reclaim gets from a page to its file.
static MAPPINGS: Mutex<BTreeMap<u32, Weak<Inode>>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// The inode whose cache has id `id`, if it is still there.
pub fn mapping_inode(id: u32) -> Option<Arc<Inode>> {
    MAPPINGS.lock().get(&id)?.upgrade()
}

impl AddressSpace {
    pub const fn new() -> Self {
        AddressSpace {
            pages: Mutex::new(BTreeMap::new()),
            id: AtomicU32::new(0),
        }
    }

    /// This cache's id, registering it for `inode` (whose `i_mapping` it is) on first use.
    fn id_for(&self, inode: &Arc<Inode>) -> u32 {
        let id = self.id.load(Relaxed);
        if id != 0 {
            return id;
        }
        let id = NEXT_ID.fetch_add(1, Relaxed);
        MAPPINGS.lock().insert(id, Arc::downgrade(inode));
        self.id.store(id, Relaxed);
        id
    }

    /// Whether a page's recorded cache is this one.
    pub fn is(&self, id: u32) -> bool {
        id != 0 && self.id.load(Relaxed) == id
    }

    /// The frame of page `pgoff` of `inode` (whose cache this is), read in by `fill(frame)`
    /// if it is not cached yet (Linux's `filemap_fault`). The caller gets a reference of its
    /// own, for the mapping it makes.
    pub fn find_or_read_page(
        &self,
        inode: &Arc<Inode>,
        pgoff: u64,
        fill: impl FnOnce(u64),
    ) -> Option<u64> {
        let index = u32::try_from(pgoff).ok()?;
        let mut pages = self.pages.lock();
        let phys = match pages.get(&pgoff) {
            Some(&phys) => {
                mark_page_accessed(phys);
                phys
            }
            None => {
                let id = self.id_for(inode);
                let phys = alloc_user_page(PG_FILE, false)?;
                if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
                    p.index.store(index, Relaxed);
                    p.mapping.store(id, Relaxed);
                }
                fill(phys);
                pages.insert(pgoff, phys);
                mod_node_page_state(NodeStat::FilePages, 1);
                phys
            }
        };
        get_page(phys);
        Some(phys)
    }

    /// Pages cached.
    #[cfg(test)]
    pub fn nr_pages(&self) -> usize {
        self.pages.lock().len()
    }

    /// Drop page `pgoff` if it is still `phys` and nobody but the cache and `extra` other
    /// references hold it (reclaim's `__remove_mapping`, which holds an isolation reference).
    /// Never waits: a busy cache keeps its page this time.
    pub fn remove_page_if_unused(&self, pgoff: u64, phys: u64, extra: u32) -> bool {
        let Some(mut pages) = self.pages.try_lock() else {
            return false;
        };
        if pages.get(&pgoff) != Some(&phys) || super::page_alloc::page_count(phys) != 1 + extra {
            return false;
        }
        pages.remove(&pgoff);
        drop(pages);
        delete_from_page_cache(phys);
        true
    }

    /// The file changed: forget every cached page (`invalidate_mapping_pages`).
    pub fn invalidate(&self) {
        let gone = core::mem::take(&mut *self.pages.lock());
        gone.into_values().for_each(delete_from_page_cache);
    }
}

/// The cache lets go of a page: it no longer belongs to the file (mappings may still hold
/// it) and the cache's reference goes.
fn delete_from_page_cache(phys: u64) {
    if let Some(p) = pfn_to_page(phys / PAGE_SIZE) {
        p.mapping.store(0, Relaxed);
    }
    mod_node_page_state(NodeStat::FilePages, -1);
    put_page(phys);
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        self.invalidate();
        let id = self.id.load(Relaxed);
        if id != 0 {
            MAPPINGS.lock().remove(&id);
        }
    }
}
